"""Typed hunt parameters: parse chat text into a value, render the value as a KQL literal.

This is the only road from chat text into KQL. A value is parsed by its declared type (anything
that does not parse is refused with the expected form and an example) and rendered as a literal
of that type; strings are escaped by KQL's rules, so no value can change a query's structure.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ParamType(StrEnum):
    TIMESPAN = "timespan"
    INT = "int"
    BOOL = "bool"
    DATETIME = "datetime"
    ENUM = "enum"
    EMAIL = "email"
    STRING = "string"
    DEVICE_ID = "device_id"
    SHA1 = "sha1"
    SHA256 = "sha256"
    FILE_HASH = "file_hash"  # SHA-1 or SHA-256: what threat intelligence hands an analyst
    GUID = "guid"


# What to tell a person who typed the wrong thing: the expected form and an example.
EXPECTED: dict[ParamType, tuple[str, str]] = {
    ParamType.TIMESPAN: ("a timespan: a number and d, h, m, s or ms", "7d"),
    ParamType.INT: ("a whole number", "10"),
    ParamType.BOOL: ("true or false", "true"),
    ParamType.DATETIME: (
        "a date or date-time in ISO 8601, UTC unless it says",
        "2026-11-01T08:00Z",
    ),
    ParamType.ENUM: ("one of the listed values", ""),
    ParamType.EMAIL: ("an email address", "alex@contoso.com"),
    ParamType.STRING: ("text (quote it if it has spaces)", '"invoice due"'),
    ParamType.DEVICE_ID: (
        "a Defender device id (32 or 40 hex characters)",
        "4f2c1e0b9d8a7c6b5e4f3a2b1c0d9e8f7a6b5c4d",
    ),
    ParamType.SHA1: (
        "a SHA-1 hash (40 hex characters)",
        "3395856ce81f2b7382dee72602f798b642f14140",
    ),
    ParamType.SHA256: (
        "a SHA-256 hash (64 hex characters)",
        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
    ),
    ParamType.FILE_HASH: (
        "a SHA-1 or SHA-256 hash (40 or 64 hex characters)",
        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
    ),
    ParamType.GUID: ("a GUID", "74be27de-1e4e-49d9-b579-fe0b331d3642"),
}

STRING_MAX_LENGTH = 1000
TIMESPAN_MAX = timedelta(days=365)

_TIMESPAN = re.compile(r"(?P<n>\d{1,9}(?:\.\d{1,6})?)\s*(?P<unit>ms|d|h|m|s)", re.IGNORECASE)
_UNIT = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_INT = re.compile(r"[+-]?\d{1,18}")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# Deliberately plain: what Exchange accepts in practice, and nothing that needs quoting.
_EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253})")
_HEX = {
    ParamType.DEVICE_ID: re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}"),
    ParamType.SHA1: re.compile(r"[0-9a-fA-F]{40}"),
    ParamType.SHA256: re.compile(r"[0-9a-fA-F]{64}"),
    ParamType.FILE_HASH: re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}"),
}
_NAME = r"^[a-z][a-z0-9_]{0,39}$"
# KQL words a `let` cannot rebind (operators, keywords, type names): a parameter named `limit`
# would turn the query into nonsense.
RESERVED_NAMES = frozenset(
    [
        "access",
        "alias",
        "and",
        "as",
        "asc",
        "between",
        "by",
        "cluster",
        "consume",
        "contains",
        "count",
        "database",
        "datatable",
        "datetime",
        "decimal",
        "declare",
        "default",
        "desc",
        "distinct",
        "double",
        "dynamic",
        "evaluate",
        "extend",
        "externaldata",
        "facet",
        "false",
        "filter",
        "find",
        "flags",
        "fork",
        "from",
        "getschema",
        "guid",
        "has",
        "in",
        "int",
        "invoke",
        "join",
        "kind",
        "let",
        "like",
        "limit",
        "long",
        "lookup",
        "make",
        "materialize",
        "not",
        "null",
        "on",
        "or",
        "order",
        "parse",
        "partition",
        "pattern",
        "print",
        "project",
        "range",
        "real",
        "reduce",
        "render",
        "restrict",
        "sample",
        "scan",
        "search",
        "serialize",
        "set",
        "sort",
        "string",
        "summarize",
        "table",
        "take",
        "time",
        "timespan",
        "to",
        "top",
        "toscalar",
        "true",
        "typeof",
        "union",
        "where",
        "with",
    ]
)


class Param(BaseModel):
    """One declared parameter of a hunt, as written in its YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME)
    # Names it also answers to: a renamed parameter keeps working in saved schedules, pivots and
    # people's habits.
    aliases: tuple[Annotated[str, Field(pattern=_NAME)], ...] = ()
    type: ParamType
    description: str = Field(min_length=1, max_length=300)
    default: Any = None
    values: tuple[str, ...] | None = None
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        for name in (self.name, *self.aliases):
            if name in RESERVED_NAMES:
                raise ValueError(f"'{name}' is a KQL keyword; choose another parameter name")
        if self.name in self.aliases or len(set(self.aliases)) != len(self.aliases):
            raise ValueError("'aliases' repeats a name")
        if self.type is ParamType.ENUM:
            if not self.values:
                raise ValueError("an enum parameter needs 'values'")
            if len({v.casefold() for v in self.values}) != len(self.values):
                raise ValueError("'values' repeats a value")
        elif self.values is not None:
            raise ValueError("'values' is only for enum parameters")
        if self.type is not ParamType.INT and (self.min is not None or self.max is not None):
            raise ValueError("'min' and 'max' are only for int parameters")
        if self.default is not None:
            try:
                self.parse(_default_text(self.default))
            except ValueError as exc:
                raise ValueError(f"default {self.default!r} is not valid: {exc}") from None
        return self

    @property
    def required(self) -> bool:
        return self.default is None

    @property
    def expected(self) -> str:
        text, _ = EXPECTED[self.type]
        if self.type is ParamType.ENUM:
            return "one of " + ", ".join(self.values or ())
        if self.type is ParamType.INT and (self.min is not None or self.max is not None):
            low = "" if self.min is None else f" from {self.min}"
            high = "" if self.max is None else f" up to {self.max}"
            return f"{text}{low}{high}"
        return text

    @property
    def example(self) -> str:
        if self.default is not None:
            return _default_text(self.default)
        if self.type is ParamType.ENUM:
            return (self.values or ("",))[0]
        return EXPECTED[self.type][1]

    def parse(self, text: str) -> Any:
        """The typed value of `text`, or ValueError saying what was expected."""
        value = _PARSERS[self.type](text.strip() if self.type is not ParamType.STRING else text)
        if self.type is ParamType.ENUM:
            return self._enum_value(value)
        if self.type is ParamType.INT:
            if self.min is not None and value < self.min:
                raise ValueError(f"must be at least {self.min}")
            if self.max is not None and value > self.max:
                raise ValueError(f"must be at most {self.max}")
        return value

    def default_value(self) -> Any:
        return None if self.default is None else self.parse(_default_text(self.default))

    def render(self, value: Any) -> str:
        """The KQL literal for a value this parameter parsed."""
        return _RENDERERS[self.type](value)

    def _enum_value(self, text: str) -> str:
        for allowed in self.values or ():
            if allowed.casefold() == text.casefold():
                return allowed
        raise ValueError("must be one of " + ", ".join(self.values or ()))


def _default_text(default: Any) -> str:
    # YAML turns `2026-01-01` into a date and `true` into a bool; parse defaults like chat text.
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, datetime | date):
        return default.isoformat()
    return str(default)


# -- parsing -----------------------------------------------------------------------------------


def _parse_timespan(text: str) -> timedelta:
    match = _TIMESPAN.fullmatch(text)
    if not match:
        raise ValueError("expected a number and a unit, such as 7d, 24h, 30m, 90s or 500ms")
    value = float(match["n"]) * _UNIT[match["unit"].lower()]
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    if value > TIMESPAN_MAX:
        raise ValueError("must be at most 365d")
    return value


def _parse_int(text: str) -> int:
    if not _INT.fullmatch(text):
        raise ValueError("expected a whole number")
    return int(text)


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def _parse_datetime(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("expected ISO 8601, such as 2026-11-01 or 2026-11-01T08:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_text(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    if len(text) > STRING_MAX_LENGTH:
        raise ValueError(f"must be at most {STRING_MAX_LENGTH} characters")
    for char in text:
        # Tab and newlines are escaped on rendering; other control characters and lone
        # surrogates have no place in a search term and could not be encoded faithfully.
        if char in "\t\n\r":
            continue
        if unicodedata.category(char) in {"Cc", "Cs"}:
            raise ValueError(f"must not contain the control character U+{ord(char):04X}")
    return text


def _parse_email(text: str) -> str:
    if not _EMAIL.fullmatch(text) or ".." in text.split("@", 1)[1]:
        raise ValueError("expected an email address such as alex@contoso.com")
    return text


def _hex_parser(kind: ParamType) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not _HEX[kind].fullmatch(text):
            raise ValueError(f"expected {EXPECTED[kind][0]}")
        # Defender stores hashes and device ids in lower case and compares them exactly.
        return text.lower()

    return parse


def _parse_guid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError("expected a GUID such as 74be27de-1e4e-49d9-b579-fe0b331d3642") from None


_PARSERS: dict[ParamType, Callable[[str], Any]] = {
    ParamType.TIMESPAN: _parse_timespan,
    ParamType.INT: _parse_int,
    ParamType.BOOL: _parse_bool,
    ParamType.DATETIME: _parse_datetime,
    ParamType.ENUM: _parse_text,
    ParamType.EMAIL: _parse_email,
    ParamType.STRING: _parse_text,
    ParamType.DEVICE_ID: _hex_parser(ParamType.DEVICE_ID),
    ParamType.SHA1: _hex_parser(ParamType.SHA1),
    ParamType.SHA256: _hex_parser(ParamType.SHA256),
    ParamType.FILE_HASH: _hex_parser(ParamType.FILE_HASH),
    ParamType.GUID: _parse_guid,
}


# -- rendering ---------------------------------------------------------------------------------

_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def kql_string(text: str) -> str:
    """A double-quoted KQL string literal holding exactly `text`."""
    return '"' + "".join(_STRING_ESCAPES.get(char, char) for char in text) + '"'


def kql_timespan(value: timedelta) -> str:
    """The shortest exact KQL timespan literal: 7d, 36h, 90m, 45s or 1500ms."""
    micros = value // timedelta(microseconds=1)
    for unit, size in (
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
        ("s", 1_000_000),
    ):
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros // 1000}ms" if micros % 1000 == 0 else f"{micros}microsecond"


def kql_datetime(value: datetime) -> str:
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    return f"datetime({text}Z)"


_RENDERERS: dict[ParamType, Callable[[Any], str]] = {
    ParamType.TIMESPAN: kql_timespan,
    ParamType.INT: str,
    ParamType.BOOL: lambda value: "true" if value else "false",
    ParamType.DATETIME: kql_datetime,
    ParamType.ENUM: kql_string,
    ParamType.EMAIL: kql_string,
    ParamType.STRING: kql_string,
    ParamType.DEVICE_ID: kql_string,
    ParamType.SHA1: kql_string,
    ParamType.SHA256: kql_string,
    ParamType.FILE_HASH: kql_string,
    ParamType.GUID: kql_string,
}


def display_value(value: Any) -> str:
    """How a parsed value is shown back to a person (in summaries, not in KQL)."""
    if isinstance(value, timedelta):
        return kql_timespan(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
