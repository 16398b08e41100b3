"""Choosing result rows by what they say: `LatestDeliveryLocation = Inbox`,
`Subject contains invoice`, `SenderFromAddress ends with @evil.example`, joined with `and`.

Values compare as text, case-insensitively, as a person reading the table would expect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import BadArgument
from bot.formats import cell_text

_TESTS: dict[str, Callable[[str, str], bool]] = {
    "=": lambda cell, value: cell == value,
    "!=": lambda cell, value: cell != value,
    "contains": lambda cell, value: value in cell,
    "starts with": lambda cell, value: cell.startswith(value),
    "ends with": lambda cell, value: cell.endswith(value),
}
_CONDITION = re.compile(
    r"^\s*(?P<column>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?P<op>==|!=|=|contains|starts\s+with|ends\s+with)\s*(?P<value>.+?)\s*$",
    re.IGNORECASE,
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: str

    def matches(self, row: dict[str, Any]) -> bool:
        cell = cell_text(row.get(self.column)).casefold()
        return _TESTS[self.op](cell, self.value.casefold())

    def describe(self) -> str:
        return f"{self.column} {self.op} {self.value}"


@dataclass(frozen=True)
class RowFilter:
    conditions: tuple[Condition, ...]

    def matches(self, row: dict[str, Any]) -> bool:
        return all(c.matches(row) for c in self.conditions)

    def describe(self) -> str:
        return " and ".join(c.describe() for c in self.conditions)


def looks_like_filter(text: str) -> bool:
    """Row numbers are digits, commas and dashes; anything with a letter is a filter."""
    return any(ch.isalpha() for ch in text)


def parse_row_filter(text: str, columns: Sequence[str]) -> RowFilter:
    """The filter `text` says, its columns matched to the result's; BadArgument when unclear."""
    by_name = {c.casefold(): c for c in columns}
    conditions = []
    for part in _AND.split(text.strip()):
        match = _CONDITION.match(part)
        if match is None:
            raise BadArgument(
                f"`{part.strip()}` is neither rows (1-5, 8) nor a filter such as "
                "`LatestDeliveryLocation = Inbox` or `Subject contains invoice`."
            )
        column = by_name.get(match["column"].casefold())
        if column is None:
            raise BadArgument(f"These results have no column `{match['column']}`.")
        op = " ".join(match["op"].lower().split()).replace("==", "=")
        conditions.append(Condition(column, op, match["value"].strip().strip("\"'")))
    return RowFilter(tuple(conditions))
