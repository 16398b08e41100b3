"""The lab tenant: sample Defender data in DuckDB, hunted with real KQL through duckdb-kql.

Names are imported on first use: the process that makes a big lab's rows imports the generator
alone, without DuckDB.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.defender.lab.generate import DEFAULT_ROWS, generate_rows
    from bot.defender.lab.scenarios import PLANTED, PlantedCase
    from bot.defender.lab.schema import create_tables, empty_schema_connection, load_schema
    from bot.defender.lab.store import LabSummary, create_lab
    from bot.defender.lab.tenant import LabTenant

_WHERE = {
    "DEFAULT_ROWS": "generate",
    "generate_rows": "generate",
    "PLANTED": "scenarios",
    "PlantedCase": "scenarios",
    "create_tables": "schema",
    "empty_schema_connection": "schema",
    "load_schema": "schema",
    "LabSummary": "store",
    "create_lab": "store",
    "LabTenant": "tenant",
}

__all__ = [
    "DEFAULT_ROWS",
    "PLANTED",
    "LabSummary",
    "LabTenant",
    "PlantedCase",
    "create_lab",
    "create_tables",
    "empty_schema_connection",
    "generate_rows",
    "load_schema",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
