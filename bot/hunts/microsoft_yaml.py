"""Microsoft's published hunting-query YAML (the Azure-Sentinel repository's "Hunting Queries"):
`id`, `name`, `description`, `tactics`, `relevantTechniques`, `query`.

Only those fields are read. A file in this format has no display or entity columns; the import
(bot/flows/hunt_files.py) works them out from what the query returns. Hunt files in our own
format (they have `columns`) are read by bot/hunts/catalog.py `load_hunt_file`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import HuntFileError
from bot.hunts.adhoc import normalise_name

TITLE_MAX, DESCRIPTION_MAX = 150, 1000


@dataclass(frozen=True)
class MicrosoftQuery:
    id: str
    name: str  # normalised to the catalog's pattern
    title: str  # Microsoft's name, as written
    description: str
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    query: str


def is_microsoft_format(data: Any) -> bool:
    """A mapping shaped like Microsoft's files rather than ours (which list `columns`)."""
    return (
        isinstance(data, dict)
        and "columns" not in data
        and any(k in data for k in ("id", "relevantTechniques", "requiredDataConnectors"))
    )


def read_microsoft_query(data: dict[str, Any], path: str) -> MicrosoftQuery:
    """The fields we use, or HuntFileError naming what is missing."""
    title = _text(data.get("name"))
    if not title:
        raise HuntFileError(path, "name", "is required")
    query = _text(data.get("query"))
    if not query:
        raise HuntFileError(path, "query", "is missing: there is nothing to run")
    name = normalise_name(title)
    if not name:
        raise HuntFileError(path, "name", f"{title!r} has no letters or digits to name it by")
    description = " ".join(_text(data.get("description")).split()) or title
    return MicrosoftQuery(
        id=_text(data.get("id")),
        name=name,
        title=_clip(title, TITLE_MAX),
        description=_clip(description, DESCRIPTION_MAX),
        tactics=_words(data.get("tactics")),
        techniques=_words(data.get("relevantTechniques")),
        query=query.strip() + "\n",
    )


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _words(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
