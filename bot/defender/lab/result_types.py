"""DuckDB result columns and values, reported the way Graph's runHuntingQuery reports them."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

# DuckDB type name -> Graph `schema[].type`.
GRAPH_TYPES: dict[str, str] = {
    "TIMESTAMP WITH TIME ZONE": "DateTime",
    "TIMESTAMP": "DateTime",
    "TIMESTAMP_S": "DateTime",
    "TIMESTAMP_MS": "DateTime",
    "TIMESTAMP_NS": "DateTime",
    "DATE": "DateTime",
    "VARCHAR": "String",
    "BLOB": "String",
    "BIGINT": "Int64",
    "UBIGINT": "Int64",
    "HUGEINT": "Int64",
    "UHUGEINT": "Int64",
    "UINTEGER": "Int64",
    "INTEGER": "Int32",
    "SMALLINT": "Int32",
    "TINYINT": "Int32",
    "USMALLINT": "Int32",
    "UTINYINT": "Int32",
    "BOOLEAN": "Boolean",
    "DOUBLE": "Double",
    "FLOAT": "Double",
    "JSON": "Object",
    "UUID": "Guid",
    "INTERVAL": "TimeSpan",
    "TIME": "TimeSpan",
}
# Lists, structs and maps are what KQL calls dynamic.
_COMPOSITE = re.compile(r"(\[\d*\]$|^STRUCT|^MAP|^UNION|^LIST)")


def graph_type(duckdb_type: object) -> str:
    name = str(duckdb_type).upper()
    if name in GRAPH_TYPES:
        return GRAPH_TYPES[name]
    if name.startswith("DECIMAL"):
        return "Double"
    if _COMPOSITE.search(name):
        return "Object"
    return "String"


def graph_value(kind: str, value: Any) -> Any:
    """A DuckDB value as the matching Graph value: aware UTC datetimes, parsed dynamic values,
    GUIDs as text. TimeSpan stays a `timedelta`."""
    if value is None:
        return None
    if kind == "DateTime":
        if isinstance(value, datetime):
            # A KQL `datetime(...)` literal comes back naive; KQL datetimes are UTC.
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if kind == "Object" and isinstance(value, str):
        return json.loads(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value
