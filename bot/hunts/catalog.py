"""The catalog of named hunts: the built-ins shipped in the package, plus HUNTS_DIR.

A file in HUNTS_DIR adds a hunt or replaces the built-in of the same name. Every file is
validated on its own; an invalid one becomes a `HuntFileError` naming its path and the field at
fault, and the rest of the catalog loads without it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.errors import HuntFileError, UnknownHunt
from bot.hunts.model import Hunt, LoadedHunt, identifiers_in
from bot.hunts.pivots import check_pivots
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

    def find(self, name: str) -> Hunt | None:
        """The built-in or file hunt called `name`, or None (saved hunts are looked up apart)."""
        entry = self.entries.get(name.strip().lower())
        return None if entry is None else entry.hunt

    def source(self, name: str) -> str | None:
        """Where a hunt comes from: BUILTIN or FILE; None if it is not here."""
        entry = self.entries.get(name.strip().lower())
        if entry is None:
            return None
        return BUILTIN if entry.builtin else FILE

    def listings(self) -> list[Listing]:
        return [Listing(hunt, self.source(hunt.name) or FILE) for hunt in self]

    def _suggest(self, name: str, others: Iterable[str] = ()) -> str:
        return suggest(name, [*self.entries, *others])


def suggest(name: str, names: Iterable[str]) -> str:
    """Did you mean ...? for a name that is not there, among `names`."""
    close = difflib.get_close_matches(name.lower(), list(names), n=3, cutoff=0.5)
    if close:
        return f"Did you mean {' or '.join(f'`{c}`' for c in close)}? {LIST_HINT}"
    return LIST_HINT


# Where a hunt comes from, as `/hunt list` says it.
BUILTIN, FILE, SAVED = "built-in", "file", "saved"


@dataclass(frozen=True)
class Listing:
    """A hunt as `/hunt list` shows it: where it comes from, and for a saved one its version."""

    hunt: Hunt
    source: str  # BUILTIN, FILE or SAVED
    version: int | None = None
    saved_by: str | None = None  # a Slack user id, or "import"


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass(frozen=True)
class Search:
    """`/hunt list phish table=EmailEvents tactic=InitialAccess`: every part must match."""

    words: tuple[str, ...] = ()
    table: str | None = None
    tactic: str | None = None

    @classmethod
    def parse(cls, text: str) -> Search:
        words, table, tactic = [], None, None
        for token in text.split():
            key, sep, value = token.partition("=")
            if sep and key.lower() == "table" and value:
                table = value
            elif sep and key.lower() == "tactic" and value:
                tactic = value
            else:
                words.append(token.lower())
        return cls(tuple(words), table, tactic)

    def __bool__(self) -> bool:
        return bool(self.words or self.table or self.tactic)

    def describe(self) -> str:
        parts = [*self.words]
        if self.table:
            parts.append(f"table={self.table}")
        if self.tactic:
            parts.append(f"tactic={self.tactic}")
        return " ".join(parts)

    def matches(self, hunt: Hunt) -> bool:
        text = " ".join([hunt.name, hunt.title, hunt.description, *hunt.techniques]).lower()
        if any(word not in text for word in self.words):
            return False
        if self.table and self.table.lower() not in {
            name.lower() for name in identifiers_in(hunt.query)
        }:
            return False
        return not self.tactic or _squash(self.tactic) in {_squash(t) for t in hunt.tactics}


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
    check_pivots(catalog.entries, catalog.problems)  # a pivot names another hunt: all loaded now
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
