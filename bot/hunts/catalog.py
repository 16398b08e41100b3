"""The catalog of named hunts: the built-ins shipped in the package, plus HUNTS_DIR.

A file in HUNTS_DIR adds a hunt or replaces the built-in of the same name. Every file is
validated on its own; an invalid one becomes a `HuntFileError` naming its path and the field at
fault, and the rest of the catalog loads without it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.errors import HuntFileError, UnknownHunt
from bot.hunts.model import Hunt, LoadedHunt
from bot.hunts.schema_check import SchemaChecker


def builtin_dir() -> Path:
    return Path(str(resources.files("bot.hunts") / "library"))


@dataclass
class Catalog:
    entries: dict[str, LoadedHunt] = field(default_factory=dict)
    problems: list[HuntFileError] = field(default_factory=list)
    # Hunts that are valid for Defender but that the lab's KQL engine cannot check or run.
    lab_gaps: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Hunt]:
        return (entry.hunt for entry in sorted(self.entries.values(), key=lambda e: e.hunt.name))

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, name: str) -> Hunt:
        entry = self.entries.get(name.strip().lower())
        if entry is None:
            raise UnknownHunt(f"There is no hunt called `{name}`.", hint=self._suggest(name))
        return entry.hunt

    def _suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name.lower(), list(self.entries), n=3, cutoff=0.5)
        if close:
            return f"Did you mean {' or '.join(f'`{c}`' for c in close)}? {LIST_HINT}"
        return LIST_HINT


LIST_HINT = "`/hunt list` in Slack (`hunt-bot hunts` in a shell) lists the hunts there are."


def load_catalog(hunts_dir: Path | None = None, *, check_builtins: bool = False) -> Catalog:
    """Built-ins, then HUNTS_DIR on top.

    Files in HUNTS_DIR are always bound to Defender's tables (the schema check). The built-ins
    ship with the package and are checked by its tests (`check_builtins=True`); skipping them
    at run time keeps start-up under a second.
    """
    catalog = Catalog()
    checker = SchemaChecker()
    try:
        _load_into(catalog, hunts_dir, checker, check_builtins)
    finally:
        checker.close()
    return catalog


def _load_into(
    catalog: Catalog, hunts_dir: Path | None, checker: SchemaChecker, check_builtins: bool
) -> None:
    builtins = _load_dir(
        builtin_dir(), builtin=True, catalog=catalog, checker=checker if check_builtins else None
    )
    for loaded in builtins:
        catalog.entries[loaded.hunt.name] = loaded
    if hunts_dir is not None:
        for loaded in _load_dir(hunts_dir, builtin=False, catalog=catalog, checker=checker):
            previous = catalog.entries.get(loaded.hunt.name)
            if previous is not None and not previous.builtin:
                catalog.problems.append(
                    HuntFileError(
                        str(loaded.path),
                        "name",
                        f"`{loaded.hunt.name}` is already defined by {previous.path.name}",
                    )
                )
                continue
            catalog.entries[loaded.hunt.name] = LoadedHunt(
                loaded.hunt, loaded.path, builtin=False, overrides_builtin=previous is not None
            )


def _load_dir(
    directory: Path, *, builtin: bool, catalog: Catalog, checker: SchemaChecker | None
) -> list[LoadedHunt]:
    loaded = []
    for path in sorted(_hunt_files(directory)):
        try:
            hunt = load_hunt_file(path)
            if checker is not None:
                gap = checker.check(hunt, path)
                if gap:
                    catalog.lab_gaps[hunt.name] = gap
        except HuntFileError as problem:
            # Kept for reporting only: drop the traceback and the DuckDB error it replaced, which
            # would otherwise keep the checker's connection alive.
            problem.__context__ = None
            catalog.problems.append(problem.with_traceback(None))
            continue
        loaded.append(LoadedHunt(hunt, path, builtin=builtin))
    return loaded


def _hunt_files(directory: Path) -> Iterable[Path]:
    return [*directory.glob("*.yaml"), *directory.glob("*.yml")]


def load_hunt_file(path: Path) -> Hunt:
    """Parse and validate one hunt file, or raise HuntFileError naming the field at fault."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise HuntFileError(str(path), "file", f"cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "file"
        raise HuntFileError(str(path), where, f"is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise HuntFileError(str(path), "file", "must be a mapping of hunt fields")
    try:
        return Hunt.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field_name, message = _describe(error, data)
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise HuntFileError(str(path), field_name, message) from None


def _describe(error: Any, data: dict[str, Any]) -> tuple[str, str]:
    """A readable field path (parameters.lookback.default) and message for a validation error."""
    message = str(error["msg"]).removeprefix("Value error, ")
    loc = list(error["loc"])
    if not loc:
        # Whole-model checks say their field as "field: message".
        head, sep, rest = message.partition(": ")
        return (head, rest) if sep else ("file", message)
    parts: list[str] = []
    node: Any = data
    for step in loc:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            item = node[step]
            name = item.get("name") if isinstance(item, dict) else None
            parts[-1:] = [f"{parts[-1]}.{name}" if name else f"{parts[-1]}[{step}]"]
            node = item
        else:
            parts.append(str(step))
            node = node.get(step) if isinstance(node, dict) else None
    if error["type"] == "missing":
        message = "is required"
    elif error["type"] == "extra_forbidden":
        message = "is not a known field"
    return ".".join(parts), message
