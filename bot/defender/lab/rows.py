"""Generated rows, table by table, checked against the documented schema before they are stored
(by `check_columns` here, or by the sink turning each batch into a typed record batch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.defender.lab.schema import load_schema
from bot.errors import LabError

# Rows a table collects before they are handed on, when they are handed on as they come.
BATCH_ROWS = 10_000
# Fewer rows than this, added as columns, are kept as rows: not worth a batch of their own.
_FEW = 100



@dataclass(frozen=True)
class Columns:
    """`n` rows of one table as columns: each value a list of one per row, or one for all."""

    n: int
    values: dict[str, Any]

    def rows(self) -> list[dict[str, Any]]:
        names = list(self.values)
        lists = [v if isinstance(v, list) else [v] * self.n for v in self.values.values()]
        return [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]


# Handed a table's rows: as dicts (from `add`) or as columns (from `add_columns`).
Sink = Callable[[str, list[dict[str, Any]] | Columns], None]


class LabRows:
    """Rows per table, each a dict of the columns it sets (the rest stay NULL).

    With a `sink`, a table's rows are handed to it every `batch` rows (and the rest on
    `flush`), so a big lab never holds all its rows at once; `tables` then holds only the rows
    not yet handed on, and `counts` every row added.
    """

    def __init__(self, sink: Sink | None = None, batch: int = BATCH_ROWS) -> None:
        schema = load_schema()
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in schema}
        self._columns: dict[str, list[Columns]] = {name: [] for name in schema}
        self._held_in_columns: dict[str, int] = dict.fromkeys(schema, 0)
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

    def add_columns(self, table: str, n: int, **values: Any) -> None:
        """`n` rows at once: each value a list of one per row, or one value for all of them (so
        a dynamic list value must go in a list of one per row)."""
        for name, value in values.items():
            if isinstance(value, list) and len(value) != n:
                raise LabError(f"{table}.{name}: {len(value)} values for {n} rows")
        columns = Columns(n, values)
        if self._sink is None or n < _FEW:  # a scenario's few rows go in with the other rows
            self.tables[table].extend(columns.rows())
        else:
            self._columns[table].append(columns)
            self._held_in_columns[table] += n
        held = self._held_in_columns[table] + len(self.tables[table])
        if self._sink is not None and held >= self._batch:
            self._hand_on(table)

    def count(self, table: str) -> int:
        return self._handed[table] + len(self.tables[table]) + self._held_in_columns[table]

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in self.tables}

    def flush(self) -> None:
        """Hand every row still held to the sink (no-op without one)."""
        if self._sink is not None:
            for name in self.tables:
                if self.tables[name] or self._columns[name]:
                    self._hand_on(name)

    def _hand_on(self, table: str) -> None:
        assert self._sink is not None
        rows, columns = self.tables[table], self._columns[table]
        self.tables[table], self._columns[table] = [], []
        self._handed[table] += len(rows) + self._held_in_columns[table]
        self._held_in_columns[table] = 0
        if rows:
            self._sink(table, rows)
        for each in columns:
            self._sink(table, each)

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
