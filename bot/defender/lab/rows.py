"""Generated rows, table by table, checked against the documented schema before they are stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.defender.lab.schema import load_schema
from bot.errors import LabError

# Rows a table collects before they are handed on, when they are handed on as they come.
BATCH_ROWS = 10_000

Sink = Callable[[str, list[dict[str, Any]]], None]


class LabRows:
    """Rows per table, each a dict of the columns it sets (the rest stay NULL).

    With a `sink`, a table's rows are checked and handed to it every `batch` rows (and the rest
    on `flush`), so a big lab never holds all its rows at once; `tables` then holds only the
    rows not yet handed on, and `counts` every row added.
    """

    def __init__(self, sink: Sink | None = None, batch: int = BATCH_ROWS) -> None:
        schema = load_schema()
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in schema}
        self._handed: dict[str, int] = dict.fromkeys(schema, 0)
        self._known = {name: frozenset(table.column_names) for name, table in schema.items()}
        self._sink = sink
        self._batch = batch

    def add(self, table: str, **values: Any) -> dict[str, Any]:
        rows = self.tables[table]
        rows.append(values)
        if self._sink is not None and len(rows) >= self._batch:
            self._hand_on(table)
        return values

    def count(self, table: str) -> int:
        return self._handed[table] + len(self.tables[table])

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in self.tables}

    def flush(self) -> None:
        """Hand every row still held to the sink (no-op without one)."""
        if self._sink is not None:
            for name in self.tables:
                if self.tables[name]:
                    self._hand_on(name)

    def _hand_on(self, table: str) -> None:
        assert self._sink is not None
        rows = self.tables[table]
        self._check(table, rows)
        self.tables[table] = []
        self._handed[table] += len(rows)
        self._sink(table, rows)

    def check_columns(self) -> None:
        """Fail loudly if a generator used a column Defender does not document."""
        for name, rows in self.tables.items():
            self._check(name, rows)

    def _check(self, table: str, rows: list[dict[str, Any]]) -> None:
        used: set[str] = set()
        for row in rows:
            used.update(row)
        unknown = used - self._known[table]
        if unknown:
            raise LabError(
                f"lab generator wrote undocumented columns to {table}: {sorted(unknown)}"
            )
