"""The lab tenant: sample Defender data in DuckDB, hunted with real KQL through duckdb-kql."""

from bot.defender.lab.generate import DEFAULT_ROWS, generate_rows
from bot.defender.lab.scenarios import PLANTED, PlantedCase
from bot.defender.lab.schema import create_tables, empty_schema_connection, load_schema
from bot.defender.lab.store import LabSummary, create_lab
from bot.defender.lab.tenant import LabTenant

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
