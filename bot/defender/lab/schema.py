"""The documented advanced-hunting schema, as DuckDB tables.

`defender-schema.json` (packaged next to this module) lists Defender's tables and their columns
with Kusto types, and Defender's own functions. The lab tenant creates exactly those tables, so
a hunt that binds here names only columns Defender documents; the hunt catalog uses
`empty_schema_connection()` for that check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

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
def _document() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("defender-schema.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def load_functions() -> dict[str, dict[str, Any]]:
    """Defender's own functions (FileProfile, DeviceFromIP, ...): what each takes and returns."""
    functions: dict[str, dict[str, Any]] = _document().get("functions", {})
    return functions


@cache
def load_schema() -> dict[str, TableSchema]:
    """Every documented table by name, read once from the packaged JSON."""
    tables = _document()["tables"]
    return {
        name: TableSchema(
            name=name,
            description=spec.get("description", ""),
            columns=tuple((column, kind) for column, kind in spec["columns"]),
        )
        for name, spec in tables.items()
    }


# The lab's own tables (the data behind Defender's functions, bot/defender/lab/functions.py)
# start with a prefix no Defender table has; the hunt validator refuses queries naming them.
HELPER_PREFIX = "_Lab"


def helper_tables() -> list[TableSchema]:
    profile = load_functions()["FileProfile"]["returns"]
    return [
        TableSchema(
            "_LabFileProfiles",
            "FileProfile() answers",
            tuple((name, kind) for name, kind in profile),
        ),
        TableSchema(
            "_LabSeenBy", "SeenBy() answers", (("DeviceId", "string"), ("SeenBy", "dynamic"))
        ),
    ]


def lab_tables() -> list[TableSchema]:
    """The documented tables, then the lab's own helper tables (Defender's functions' data)."""
    return [*load_schema().values(), *helper_tables()]


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every documented table, and the lab's helper tables, empty, on `con`."""
    for table in lab_tables():
        con.execute(table.create_sql())


def empty_schema_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory KQL-ready connection holding every documented table, with no rows.

    Cheap (a few milliseconds): binding a query here checks its table and column names and
    its types against the documented schema without any data.
    """
    con = duckdb_kql.connect()
    create_tables(con)
    return con
