"""A named hunt: its KQL, typed parameters, display columns and entity columns.

`Hunt.render` turns raw argument text into a query: each value is parsed by its parameter's type
and becomes a `let` statement in front of the hunt's KQL. Nothing else from the caller reaches
the query.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.errors import BadArgument
from bot.hunts.arguments import BARE
from bot.hunts.params import Param, display_value

# The Take-actions wizard's column contract (microsoft-apis.md §6).
EMAIL_KEY_COLUMNS = ("NetworkMessageId", "RecipientEmailAddress")
EMAIL_SENDER_COLUMNS = ("EmailDirection", "SenderFromAddress")
FILE_HASH_COLUMNS = ("SHA1", "InitiatingProcessSHA1", "SHA256", "InitiatingProcessSHA256")
DEVICE_COLUMN = "DeviceId"

MAX_DISPLAY_COLUMNS = 20  # a Slack table row holds at most 20 cells
# A results page offers each row's pivots in one menu of at most 100 options (10 rows a page).
MAX_PIVOTS = 5
PIVOT_LABEL_MAX = 30  # leaves room in a 75-character option for the row and its value


class Entities(BaseModel):
    """Which result columns name things the Take-actions flow can act on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: tuple[str, ...] | None = None
    device: tuple[str, ...] | None = None
    file: tuple[str, ...] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, columns: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if columns is None:
            return None
        extra = set(columns) - set(EMAIL_KEY_COLUMNS) - set(EMAIL_SENDER_COLUMNS)
        if extra or not set(EMAIL_KEY_COLUMNS) <= set(columns):
            raise ValueError(
                "email entities are NetworkMessageId and RecipientEmailAddress, optionally with "
                "EmailDirection and SenderFromAddress"
            )
        if len(set(columns) & set(EMAIL_SENDER_COLUMNS)) == 1:
            raise ValueError("give EmailDirection and SenderFromAddress together, or neither")
        return columns

    @field_validator("device")
    @classmethod
    def _device(cls, columns: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if columns is not None and tuple(columns) != (DEVICE_COLUMN,):
            raise ValueError("the device entity is the DeviceId column")
        return columns

    @field_validator("file")
    @classmethod
    def _file(cls, columns: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if columns is None:
            return None
        hashes = [c for c in columns if c in FILE_HASH_COLUMNS]
        extra = set(columns) - set(FILE_HASH_COLUMNS) - {DEVICE_COLUMN}
        if extra or not hashes or DEVICE_COLUMN not in columns:
            raise ValueError(
                "file entities are DeviceId plus one or more of " + ", ".join(FILE_HASH_COLUMNS)
            )
        return columns

    @property
    def columns(self) -> set[str]:
        return {c for group in (self.email, self.device, self.file) if group for c in group}

    @property
    def kinds(self) -> list[str]:
        return [kind for kind in ("email", "device", "file") if getattr(self, kind)]


class Pivot(BaseModel):
    """A follow-up hunt offered on each row of the results ("Go hunt"): `hunt`, with its
    `parameter` filled from the row's value in `column`. Whether `hunt` and `parameter` exist is
    checked once the whole catalog is loaded (bot/hunts/pivots.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)
    hunt: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=60)
    parameter: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=PIVOT_LABEL_MAX)


class Hunt(BaseModel):
    """One hunt file, validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=60)
    title: str = Field(min_length=1, max_length=150)
    description: str = Field(min_length=1, max_length=1000)
    parameters: tuple[Param, ...] = ()
    query: str = Field(min_length=1, max_length=30_000)
    columns: tuple[str, ...] = Field(min_length=1, max_length=MAX_DISPLAY_COLUMNS)
    entities: Entities = Entities()
    # The columns that make a row the same row in a later run, for schedules that post only new
    # rows; none: the whole row (rows with computed times then always look new).
    key: tuple[str, ...] = Field(default=(), max_length=10)
    # MITRE ATT&CK tactics (InitialAccess) and techniques (T1566) it hunts for: `/hunt list
    # tactic=...` finds it by them.
    tactics: tuple[str, ...] = Field(default=(), max_length=20)
    techniques: tuple[str, ...] = Field(default=(), max_length=50)
    # Follow-up hunts offered per row of the results (bot/hunts/pivots.py checks their targets).
    pivots: tuple[Pivot, ...] = Field(default=(), max_length=MAX_PIVOTS)

    @model_validator(mode="after")
    def _parameters_match_query(self) -> Hunt:
        names = [p.name for p in self.parameters]
        every = [*names, *(a for p in self.parameters for a in p.aliases)]
        duplicates = {n for n in every if every.count(n) > 1}
        if duplicates:
            raise ValueError(f"parameters: declared twice: {', '.join(sorted(duplicates))}")
        used = identifiers_in(self.query)
        unused = [n for n in names if n not in used]
        if unused:
            raise ValueError(f"parameters: declared but not used by the query: {', '.join(unused)}")
        redeclared = [n for n in names if re.search(rf"\blet\s+{n}\s*=", self.query)]
        if redeclared:
            raise ValueError(f"query: declares its own let for parameter {', '.join(redeclared)}")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("columns: a column is listed twice")
        if len(set(self.key)) != len(self.key):
            raise ValueError("key: a column is listed twice")
        strangers = [c for c in self.key if c not in self.columns]
        if strangers:
            raise ValueError(f"key: not among the columns: {', '.join(strangers)}")
        self._check_pivots()
        return self

    def _check_pivots(self) -> None:
        seen: set[tuple[str, str, str]] = set()
        for index, pivot in enumerate(self.pivots):
            if pivot.column not in self.columns:
                raise ValueError(
                    f"pivots[{index}].column: `{pivot.column}` is not among the columns, so no "
                    "row would show the value it hunts for"
                )
            if (pivot.column, pivot.hunt, pivot.parameter) in seen:
                raise ValueError(
                    f"pivots[{index}]: `{pivot.column}` into `{pivot.hunt}` is declared twice"
                )
            seen.add((pivot.column, pivot.hunt, pivot.parameter))

    @property
    def source_table(self) -> str | None:
        """The table the query starts from (the sender's-copy rule depends on it)."""
        for line in self.query.splitlines():
            stripped = line.strip()
            if stripped and not stripped.startswith("//"):
                match = re.match(r"[A-Za-z_]\w*", stripped)
                return match[0] if match else None
        return None

    def param(self, name: str) -> Param | None:
        """The parameter called `name`, or answering to it (its aliases)."""
        return next((p for p in self.parameters if name == p.name or name in p.aliases), None)

    def render(self, arguments: Mapping[str, str]) -> RenderedHunt:
        """The query with every argument parsed by type and bound as a `let`; defaults fill in."""
        values = self.bind(arguments)
        lets = [f"let {p.name} = {p.render(values[p.name])};" for p in self.parameters]
        kql = "\n".join([*lets, self.query.strip()]) if lets else self.query.strip()
        return RenderedHunt(hunt=self, values=values, kql=kql)

    def bind(self, arguments: Mapping[str, str]) -> dict[str, Any]:
        """Typed values for every parameter, or BadArgument saying what is wrong and what to do."""
        names = [p.name for p in self.parameters]
        arguments = self.name_arguments(arguments)
        for name in arguments:
            if name not in names:
                raise BadArgument(
                    f"`{self.name}` has no parameter `{name}`.", hint=self._unknown_hint(name)
                )
        values: dict[str, Any] = {}
        missing = []
        for param in self.parameters:
            if param.name in arguments:
                try:
                    values[param.name] = param.parse(arguments[param.name])
                except ValueError as exc:
                    raise BadArgument(
                        f"`{param.name}` is not valid: {exc}.",
                        hint=f"For example: /hunt {self.name} {param.name}={param.example}",
                    ) from None
            elif param.required:
                missing.append(param)
            else:
                values[param.name] = param.default_value()
        if missing:
            example = " ".join(f"{p.name}={p.example}" for p in missing)
            raise BadArgument(
                f"`{self.name}` needs "
                + ", ".join(f"`{p.name}` ({p.expected})" for p in missing)
                + ".",
                hint=f"For example: /hunt {self.name} {example}",
            )
        return values

    def name_arguments(self, arguments: Mapping[str, str]) -> dict[str, str]:
        """A value given without `name=` belongs to the hunt's one required parameter (or its
        only parameter); anywhere else it is ambiguous, and said so. An alias becomes the name."""
        arguments = self._unalias(arguments)
        if BARE not in arguments:
            return dict(arguments)
        value = arguments[BARE]
        required = [p for p in self.parameters if p.required]
        target = required or list(self.parameters)
        if len(target) != 1:
            raise BadArgument(
                f"`{value}` is not of the form name=value.",
                hint=f"Try: /hunt {self.usage()}",
            )
        name = target[0].name
        if name in arguments:
            raise BadArgument(f"`{name}` is given twice; give it once.")
        return {**{k: v for k, v in arguments.items() if k != BARE}, name: value}

    def _unalias(self, arguments: Mapping[str, str]) -> Mapping[str, str]:
        if not any(p.aliases for p in self.parameters):
            return arguments
        named: dict[str, str] = {}
        for given, value in arguments.items():
            param = self.param(given) if given != BARE else None
            name = param.name if param is not None else given
            if name in named:
                raise BadArgument(f"`{name}` is given twice; give it once.")
            named[name] = value
        return named

    def usage(self) -> str:
        parts = [self.name]
        for p in self.parameters:
            parts.append(f"{p.name}=<{p.type.value}>" if p.required else f"[{p.name}={p.example}]")
        return " ".join(parts)

    def _unknown_hint(self, name: str) -> str:
        names = [p.name for p in self.parameters]
        if not names:
            return f"`{self.name}` takes no parameters."
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        known = "Its parameters: " + ", ".join(names) + "."
        return f"Did you mean {' or '.join(close)}? {known}" if close else known


@dataclass(frozen=True)
class RenderedHunt:
    hunt: Hunt
    values: dict[str, Any]
    kql: str

    def describe_values(self) -> dict[str, str]:
        return {name: display_value(value) for name, value in self.values.items()}


@dataclass(frozen=True)
class LoadedHunt:
    """A hunt and where it came from (a built-in, or a file in HUNTS_DIR that may override one)."""

    hunt: Hunt
    path: Path
    builtin: bool
    overrides_builtin: bool = False


# Strings ("..." and '...' with backslash escapes, @"..." and @'...' verbatim) and // comments,
# matched in one pass so a `//` inside a string is not taken for a comment.
_NOT_CODE = re.compile(
    r"""@"[^"\n]*"|@'[^'\n]*'|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|//[^\n]*"""
)
_IDENTIFIER = re.compile(r"(?<![\w.$])[A-Za-z_][A-Za-z0-9_]*")


def identifiers_in(kql: str) -> set[str]:
    """The identifiers a query mentions outside strings and comments."""
    return set(_IDENTIFIER.findall(_NOT_CODE.sub(" ", kql)))
