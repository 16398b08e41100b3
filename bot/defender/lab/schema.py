"""The documented advanced-hunting schema, as DuckDB tables.

`defender-schema.json` (packaged next to this module) lists Defender's tables and their columns
with Kusto types. The lab tenant creates exactly those tables, so a hunt that binds here names
only columns Defender documents; the hunt catalog uses `empty_schema_connection()` for that check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import duckdb
import duckdb_kql

# Kusto type -> DuckDB column type. `dynamic` is JSON rather than VARCHAR because duckdb-kql
# translates member access (`AdditionalFields.Foo`, `Col["key"]`) into JSON path extraction only
# on a JSON column, and reports a JSON column back as `dynamic`: the same query text works on the
# lab and on Defender, where a VARCHAR column would need a `parse_json()` Defender does not.
DUCKDB_TYPES: dict[str, str] = {
    "datetime": "TIMESTAMPTZ",
    "string": "VARCHAR",
    "long": "BIGINT",
    "int": "INTEGER",
    "bool": "BOOLEAN",
    "dynamic": "JSON",
    "real": "DOUBLE",
    "double": "DOUBLE",
    "guid": "UUID",
    "timespan": "INTERVAL",
}


@dataclass(frozen=True)
class TableSchema:
    name: str
    description: str
    # (column name, Kusto type), in documented order.
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def columns_of_type(self, kusto_type: str) -> list[str]:
        return [name for name, kind in self.columns if kind == kusto_type]

    def create_sql(self) -> str:
        body = ", ".join(f'"{name}" {DUCKDB_TYPES[kind]}' for name, kind in self.columns)
        return f'CREATE TABLE "{self.name}" ({body})'


@cache
def load_schema() -> dict[str, TableSchema]:
    """Every documented table by name, read once from the packaged JSON."""
    text = resources.files(__package__).joinpath("defender-schema.json").read_text("utf-8")
    tables = json.loads(text)["tables"]
    return {
        name: TableSchema(
            name=name,
            description=spec.get("description", ""),
            columns=tuple((column, kind) for column, kind in spec["columns"]),
        )
        for name, spec in tables.items()
    }


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every documented table, empty, on `con`."""
    for table in load_schema().values():
        con.execute(table.create_sql())


def empty_schema_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory KQL-ready connection holding every documented table, with no rows.

    Cheap (a few milliseconds): binding a query here checks its table and column names and
    its types against the documented schema without any data.
    """
    con = duckdb_kql.connect()
    create_tables(con)
    return con
