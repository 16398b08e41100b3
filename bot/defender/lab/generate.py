"""Deterministic sample data for the lab tenant, and loading it into DuckDB.

Everything random comes from one `random.Random(seed)` and every timestamp is an offset from the
`anchor`, so the same seed and anchor give the same rows, byte for byte.
"""

from __future__ import annotations

import json
import random
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from bot.defender.lab.background_devices import add_alerts, add_device_noise, add_inventory
from bot.defender.lab.background_mail import (
    add_cloud_app_noise,
    add_directory,
    add_identity_noise,
    add_mail_noise,
)
from bot.defender.lab.background_more import add_remaining_tables
from bot.defender.lab.company import Ids, build_company
from bot.defender.lab.rows import LabRows
from bot.defender.lab.scenarios import CAST_ROLES, plant_scenarios
from bot.defender.lab.schema import DUCKDB_TYPES, load_schema

# Approximate rows in each of the big tables (EmailEvents, IdentityLogonEvents,
# DeviceProcessEvents); the others scale from it. Small enough to create in about a second.
DEFAULT_ROWS = 5_000


def generate_rows(*, anchor: datetime, seed: int = 0, rows: int | None = None) -> LabRows:
    """The lab's rows: planted scenarios first, then background noise sized by `rows`."""
    if anchor.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    size = max(rows if rows is not None else DEFAULT_ROWS, 100)
    rng = random.Random(seed)
    ids = Ids(rng)
    # A bigger lab is a bigger company, not the same 50 people doing 20 times as much.
    company = build_company(rng, ids, CAST_ROLES, staff_size=max(30, min(400, size // 100)))
    out = LabRows()
    plant_scenarios(out, ids, company, anchor)
    add_mail_noise(out, ids, company, anchor, size)
    add_identity_noise(out, ids, company, anchor, size)
    add_directory(out, ids, company, anchor)
    add_cloud_app_noise(out, ids, company, anchor, size // 5)
    add_device_noise(out, ids, company, anchor, size)
    add_inventory(out, ids, company, anchor)
    add_alerts(out, ids, company, anchor, max(3, size // 1_000))
    # Last, so the rows above come out the same whatever this adds.
    add_remaining_tables(out, ids, company, anchor)
    out.check_columns()
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in the lab")


def load_rows(con: duckdb.DuckDBPyConnection, rows: LabRows) -> None:
    """Insert every table's rows into the (existing, empty) tables on `con`.

    Through a newline-delimited JSON file and `read_json`, because DuckDB's `executemany` takes
    seconds for what this does in milliseconds. Columns a table's rows never set stay NULL.
    """
    schema = load_schema()
    with tempfile.TemporaryDirectory(prefix="hunt-bot-lab-") as scratch:
        for table, table_rows in rows.tables.items():
            if not table_rows:
                continue
            kinds = dict(schema[table].columns)
            used: dict[str, None] = {}
            for row in table_rows:
                used.update(dict.fromkeys(row))
            path = Path(scratch) / f"{table}.ndjson"
            with path.open("w", encoding="utf-8") as out:
                encode = json.JSONEncoder(default=_json_value, ensure_ascii=False).encode
                out.writelines(encode(row) + "\n" for row in table_rows)
            # Column names and types come from the packaged schema, never from data.
            spec = ", ".join(f"'{name}': '{DUCKDB_TYPES[kinds[name]]}'" for name in used)
            con.execute(
                f'INSERT INTO "{table}" BY NAME SELECT * FROM read_json(?, '
                f"format = 'newline_delimited', columns = {{{spec}}})",
                [str(path)],
            )
