"""`hunt-bot hunts import DIR` and `hunt-bot hunts export DIR`: saved hunts to and from files.

Import reads hunt files (our format) and Microsoft's published hunting-query YAML. A Microsoft
query has no display or entity columns: they are what the query returns when run once on the
configured backend (the lab by default) with a row limit, else what its last `project` names,
else what the schema check binds; the report says which. Each becomes a saved hunt by "import"
(audited like any save); a name a built-in or hunt file has is refused; an unchanged file is
left as it is. Export writes each saved hunt as a hunt file, for review in git.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.defender.results import HuntingBackend
from bot.errors import HuntBotError, HuntFileError
from bot.hunts import Catalog, Hunt
from bot.hunts.adhoc import declare_parameters, derive_columns, projected_columns
from bot.hunts.catalog import load_hunt_file
from bot.hunts.microsoft_yaml import is_microsoft_format, read_microsoft_query
from bot.hunts.schema_check import SchemaChecker
from bot.state.saved_hunts import HUNTS_IMPORTED_BY, SavedHunts

IMPORT_ROW_LIMIT = 10
FIELD_ORDER = (
    "name",
    "title",
    "description",
    "tactics",
    "techniques",
    "parameters",
    "query",
    "columns",
    "key",
    "entities",
)


@dataclass(frozen=True)
class FileReport:
    path: str
    outcome: str  # imported, updated, unchanged, skipped
    name: str = ""
    detail: str = ""  # why skipped, or where its columns came from


async def import_folder(
    store: SavedHunts,
    catalog: Catalog,
    backend: HuntingBackend | None,
    directory: Path,
    *,
    row_limit: int = IMPORT_ROW_LIMIT,
) -> list[FileReport]:
    """Every *.yaml / *.yml under `directory`, one report each."""
    if not directory.is_dir():
        raise HuntBotError(f"{directory} is not a directory.", hint="Give a folder of hunt files.")
    files = sorted({*directory.rglob("*.yaml"), *directory.rglob("*.yml")})
    checker = SchemaChecker()
    reports = []
    try:
        for path in files:
            shown = str(path.relative_to(directory))
            try:
                hunt, how = await _read(path, checker, backend, row_limit)
            except HuntFileError as exc:
                reports.append(FileReport(shown, "skipped", detail=f"{exc.field}: {exc.detail}"))
                continue
            reports.append(await _save(store, catalog, hunt, shown, how))
    finally:
        checker.close()
    return reports


async def _save(
    store: SavedHunts, catalog: Catalog, hunt: Hunt, shown: str, how: str
) -> FileReport:
    source = catalog.source(hunt.name)
    if source is not None:
        return FileReport(shown, "skipped", hunt.name, f"a {source} hunt is called {hunt.name}")
    existing = await store.get(hunt.name)
    if existing is not None and existing.hunt == hunt:
        return FileReport(shown, "unchanged", hunt.name, f"version {existing.version}")
    saved = await store.save(
        hunt, HUNTS_IMPORTED_BY, expected_version=existing.version if existing else 0
    )
    outcome = "updated" if existing else "imported"
    return FileReport(shown, outcome, hunt.name, f"version {saved.version}; {how}")


async def _read(
    path: Path, checker: SchemaChecker, backend: HuntingBackend | None, row_limit: int
) -> tuple[Hunt, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise HuntFileError(str(path), "file", f"cannot be read: {type(exc).__name__}") from None
    if not is_microsoft_format(data):
        hunt = load_hunt_file(path)
        checker.check(hunt, path)
        return hunt, "a hunt file"
    found = read_microsoft_query(data, str(path))
    declared = declare_parameters(found.query)
    draft = _hunt(found.name, found.title, found.description, declared, ("Timestamp",))
    draft = draft.model_copy(update={"tactics": found.tactics, "techniques": found.techniques})
    kql = draft.render({p.name: p.example for p in draft.parameters}).kql
    checked = checker.check_query(kql, str(path))  # HuntFileError when surely wrong
    returned, how = await _returned_columns(kql, backend, row_limit)
    if returned is None:
        returned = projected_columns(declared.query)
        how = f"columns from its last project or distinct ({how or 'not run, as asked'})"
    if not returned and checked.columns:
        returned, how = checked.columns, "columns from the schema check"
    if not returned:
        raise HuntFileError(str(path), "query", "could not tell which columns it returns")
    columns, entities = derive_columns(returned)
    return draft.model_copy(update={"columns": columns, "entities": entities}), how


async def _returned_columns(
    kql: str, backend: HuntingBackend | None, row_limit: int
) -> tuple[list[str] | None, str]:
    if backend is None:
        return None, ""
    try:
        result = await backend.run_query(f"{kql}\n| take {row_limit}")
    except HuntBotError as exc:
        return None, f"it did not run on {backend.name}: {exc.message}"
    return result.column_names, f"columns from running it on {backend.name}"


def _hunt(name: str, title: str, description: str, declared: Any, columns: tuple[str, ...]) -> Hunt:
    try:
        return Hunt(
            name=name,
            title=title,
            description=description,
            parameters=declared.parameters,
            query=declared.query,
            columns=columns,
        )
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "file"
        raise HuntFileError(name, where, str(error["msg"]).removeprefix("Value error, ")) from None


# -- export ------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def hunt_file_text(hunt: Hunt, comment: str = "") -> str:
    """The hunt as a hunt file (what `load_hunt_file` reads back as the same hunt)."""
    data = hunt.model_dump(mode="json", exclude_defaults=True)
    ordered = {key: data[key] for key in FIELD_ORDER if key in data}
    ordered |= {key: value for key, value in data.items() if key not in ordered}
    for param in ordered.get("parameters", []):
        param["default"] = str(param["default"]) if "default" in param else None
        if param["default"] is None:
            del param["default"]
    text = yaml.dump(ordered, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return header + text


async def export_folder(store: SavedHunts, directory: Path) -> list[tuple[str, Path]]:
    """Every saved hunt as DIR/NAME.yaml; (name, file) for each written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for saved in await store.all():
        path = directory / f"{saved.hunt.name}.yaml"
        comment = (
            f"Saved hunt {saved.hunt.name}, version {saved.version}, saved by {saved.saved_by} "
            f"on {saved.saved_at:%Y-%m-%d %H:%M} UTC (hunt-bot hunts export)."
        )
        path.write_text(hunt_file_text(saved.hunt, comment), encoding="utf-8")
        written.append((saved.hunt.name, path))
    return written
