"""The lab tenant's DuckDB file: creating it, and keeping its data live as days pass.

Generated data is timed relative to an *anchor* (the moment it was generated). The anchor is
stored in `_hunt_bot_lab`; whenever the lab is opened, every datetime column moves forward by
(now - anchor) and the anchor becomes now, so `ago(7d)` still finds last week's planted rows a
month after the file was made.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql

from bot.defender.lab.generate import DEFAULT_ROWS, generate_rows, load_rows
from bot.defender.lab.schema import create_tables, load_schema
from bot.errors import LabError

META_TABLE = "_hunt_bot_lab"
# Bumped when the generator changes what a lab holds, so an old file can be told apart.
LAB_FORMAT = 1
# Shifting rewrites every datetime column; below this drift it is not worth it.
REBASE_THRESHOLD = timedelta(minutes=1)


@dataclass(frozen=True)
class LabSummary:
    path: Path
    seed: int
    anchor: datetime
    rows: dict[str, int]  # per table
    seconds: float


def create_lab(path: Path, *, rows: int | None = None, seed: int = 0) -> LabSummary:
    """(Re)create the lab file at `path`: the documented tables, planted scenarios, noise.

    Built next to the target and moved into place, so a lab that fails halfway never replaces a
    working one.
    """
    started = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    _remove_database(partial)
    anchor = datetime.now(UTC)
    generated = generate_rows(anchor=anchor, seed=seed, rows=rows)
    con = duckdb_kql.connect(str(partial))
    try:
        create_tables(con)
        load_rows(con, generated)
        con.execute(
            f"CREATE TABLE {META_TABLE} (anchor TIMESTAMPTZ, seed BIGINT, size BIGINT, "
            "format INTEGER, created TIMESTAMPTZ)"
        )
        con.execute(
            f"INSERT INTO {META_TABLE} VALUES (?, ?, ?, ?, ?)",
            [anchor, seed, rows if rows is not None else DEFAULT_ROWS, LAB_FORMAT, anchor],
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    _remove_database(path)
    os.replace(partial, path)
    return LabSummary(path, seed, anchor, generated.counts(), time.perf_counter() - started)


def _remove_database(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)


def read_anchor(con: duckdb.DuckDBPyConnection) -> datetime:
    try:
        row = con.execute(f"SELECT anchor FROM {META_TABLE}").fetchone()
    except duckdb.CatalogException:
        row = None
    if row is None:
        raise LabError(
            "This DuckDB file is not a hunt-bot lab tenant (it has no lab metadata).",
            hint="Recreate it with `hunt-bot lab init`, or point LAB_DB at another file.",
        )
    anchor: datetime = row[0]
    return anchor.astimezone(UTC)


def rebase(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> timedelta:
    """Shift every datetime column so the anchor becomes `now`; returns the shift applied."""
    now = now or datetime.now(UTC)
    shift = now - read_anchor(con)
    if abs(shift) < REBASE_THRESHOLD:
        return timedelta(0)
    con.execute("BEGIN TRANSACTION")
    try:
        for table in load_schema().values():
            columns = table.columns_of_type("datetime")
            if columns:
                assignments = ", ".join(f'"{c}" = "{c}" + ?' for c in columns)
                con.execute(f'UPDATE "{table.name}" SET {assignments}', [shift] * len(columns))
        con.execute(f"UPDATE {META_TABLE} SET anchor = ?", [now])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return shift



def insert_row(con: duckdb.DuckDBPyConnection, table: str, values: dict[str, Any]) -> None:
    """One row into a Defender table, naming only the columns it sets (the rest stay NULL)."""
    columns = ", ".join(f'"{name}"' for name in values)
    marks = ", ".join("?" for _ in values)
    con.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(values.values()))
