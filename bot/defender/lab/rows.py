"""Generated rows, table by table, checked against the documented schema before they are stored."""

from __future__ import annotations

from typing import Any

from bot.defender.lab.schema import load_schema
from bot.errors import LabError


class LabRows:
    """Rows per table, each a dict of the columns it sets (the rest stay NULL)."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in load_schema()}

    def add(self, table: str, **values: Any) -> dict[str, Any]:
        self.tables[table].append(values)
        return values

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}

    def check_columns(self) -> None:
        """Fail loudly if a generator used a column Defender does not document."""
        schema = load_schema()
        for name, rows in self.tables.items():
            known = set(schema[name].column_names)
            used: set[str] = set()
            for row in rows:
                used.update(row)
            unknown = used - known
            if unknown:
                raise LabError(f"lab generator wrote undocumented columns to {name}: "
                               f"{sorted(unknown)}")
