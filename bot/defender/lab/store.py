"""The lab tenant's DuckDB file: creating it, and keeping its data live as days pass.

Generated data is timed relative to an *anchor* (the moment it was generated). The anchor is
stored in `_hunt_bot_lab`; whenever the lab is opened, every datetime column moves forward by
(now - anchor) and the anchor becomes now, so `ago(7d)` still finds last week's planted rows a
month after the file was made.

Sharing the file between processes: DuckDB lets many processes open a file read-only, or one
read-write, and refuses the rest at once with an error naming the file and the holder's PID. So
nobody keeps the file open: each hunt or action opens it for as long as it works (`opened`),
under a lock file beside the database (`<file>.lock`, `flock`): shared to read, exclusive to
write. A second lock (`<file>.lock-gate`) is a turnstile, held while waiting for the first, so a
waiting writer is not starved by a stream of readers. Every wait is bounded (`LabBusy`). Being
`flock` locks on a fresh descriptor each time, they order threads of one process as well as
processes. A process that ignores them (an old bot, the duckdb CLI) still shows up as DuckDB's
lock error, which is retried until the same deadline.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql

from bot.defender.lab.functions import fill_helper_tables
from bot.defender.lab.generate import DEFAULT_ROWS, Progress, generate_into
from bot.defender.lab.schema import create_tables, lab_tables
from bot.errors import LabError

log = logging.getLogger(__name__)

META_TABLE = "_hunt_bot_lab"
# Bumped when the generator changes what a lab holds, so an old file can be told apart.
LAB_FORMAT = 3
# Shifting rewrites every datetime column; below this drift it is not worth it.
REBASE_THRESHOLD = timedelta(minutes=1)
# How long a hunt or action waits for others to be done with the lab before giving up. Each
# holds it for well under a second, so this is only reached when something is stuck.
LAB_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class LabSummary:
    path: Path
    seed: int
    anchor: datetime
    rows: dict[str, int]  # per table
    seconds: float


def create_lab(
    path: Path, *, rows: int | None = None, seed: int = 0, progress: Progress | None = None
) -> LabSummary:
    """(Re)create the lab file at `path`: the documented tables, planted scenarios, noise.

    Built next to the target and moved into place, so a lab that fails halfway never replaces a
    working one. `progress` is told how many rows are made so far, and about how many in all.
    """
    started = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Its own name: two processes creating the lab at once must not share a half-made file.
    partial = path.with_name(f"{path.name}.{os.getpid()}-{random.getrandbits(32):08x}.partial")
    _remove_database(partial)
    anchor = datetime.now(UTC)
    con = duckdb_kql.connect(str(partial))
    try:
        try:
            create_tables(con)
            counts = generate_into(con, anchor=anchor, seed=seed, rows=rows, progress=progress)
            fill_helper_tables(con)
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
        # Nobody is reading or writing the old file (or its WAL) while it is replaced.
        with _locked(path, exclusive=True, deadline=time.monotonic() + LAB_WAIT_SECONDS):
            _remove_database(path)
            os.replace(partial, path)
    finally:
        _remove_database(partial)  # a lab stopped halfway (Ctrl-C, an error) leaves no file
    return LabSummary(path, seed, anchor, counts, time.perf_counter() - started)


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
        for table in lab_tables():
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


# -- sharing the file between processes ------------------------------------------------------


class LabBusy(LabError):
    """Others held the lab for longer than a hunt or action is willing to wait."""


@contextmanager
def opened(
    path: Path, *, write: bool, wait: float = LAB_WAIT_SECONDS
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the lab at `path` for as long as the block runs: read-only and shared
    with other readers, or read-write and alone (`write`). Waits at most `wait` seconds for
    others to finish, then raises `LabBusy`. Blocking: call from a worker thread."""
    path = Path(path)
    deadline = time.monotonic() + wait
    with _locked(path, exclusive=write, deadline=deadline):
        con = _connect(path, read_only=not write, deadline=deadline)
        try:
            yield con
            if write:
                # Folded into the file now, so readers do not each replay the WAL.
                con.execute("CHECKPOINT")
        except duckdb.IOException as exc:
            # The disk, not the query: DuckDB says which file, which is not for people.
            log.warning("lab tenant: reading or writing %s failed: %s", path, exc)
            raise LabError(
                f"The lab tenant could not use its database: {scrub(str(exc), path)}",
                hint="Try again; if it keeps happening, tell whoever runs the bot.",
            ) from None
        finally:
            con.close()


@contextmanager
def _locked(path: Path, *, exclusive: bool, deadline: float) -> Iterator[None]:
    gate = _lock_descriptor(path, ".lock-gate")
    try:
        _acquire(gate, fcntl.LOCK_EX, deadline)
        data = _lock_descriptor(path, ".lock")
        try:
            _acquire(data, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, deadline)
        except BaseException:
            os.close(data)
            raise
    finally:
        os.close(gate)  # closing releases the flock
    try:
        yield
    finally:
        os.close(data)


@contextmanager
def exclusive_lock(path: Path, suffix: str, wait: float = LAB_WAIT_SECONDS) -> Iterator[None]:
    """An exclusive lock of our own beside the lab at `path` (`<file><suffix>`), for steps
    that must happen once across processes (creating a missing lab)."""
    descriptor = _lock_descriptor(path, suffix)
    try:
        _acquire(descriptor, fcntl.LOCK_EX, time.monotonic() + wait)
        yield
    finally:
        os.close(descriptor)


def _lock_descriptor(path: Path, suffix: str) -> int:
    try:
        return os.open(path.with_name(path.name + suffix), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        log.warning("lab tenant: cannot open its lock file beside %s: %s", path, exc)
        raise LabError(
            "The lab tenant cannot share its database: its lock file cannot be created "
            f"({exc.strerror or type(exc).__name__}).",
            hint="Whoever runs the bot: the folder holding LAB_DB must be writable by the bot.",
        ) from None


def _acquire(descriptor: int, operation: int, deadline: float) -> None:
    delay = 0.002
    while True:
        try:
            fcntl.flock(descriptor, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise busy()
        time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
        delay = min(delay * 2, 0.05)


def _connect(path: Path, *, read_only: bool, deadline: float) -> duckdb.DuckDBPyConnection:
    delay = 0.01
    while True:
        try:
            return duckdb_kql.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not _is_lock_conflict(exc):
                log.warning("lab tenant: cannot open %s: %s", path, exc)
                raise LabError(
                    f"The lab tenant's database cannot be opened: {scrub(str(exc), path)}",
                    hint="Whoever runs the bot: check LAB_DB, or recreate the lab with "
                    "`hunt-bot lab init`.",
                ) from None
            if time.monotonic() >= deadline:
                log.warning("lab tenant: %s is held outside the bot's lock: %s", path, exc)
                raise busy() from None
        time.sleep(delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, 0.2)


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    text = str(exc)
    # Another process holds DuckDB's own lock; or this process still has the file open with
    # the other mode (a connection being closed in another thread).
    return "Could not set lock" in text or "different configuration" in text


def busy() -> LabBusy:
    return LabBusy(
        "The lab tenant is busy: other hunts or actions kept it for longer than this one "
        "could wait.",
        hint="Try again in a minute. If it stays busy, tell whoever runs the bot: another "
        "program may be holding the lab's database open.",
    )


# DuckDB's messages name files ("/data/lab.duckdb") and lock holders ("... (PID 4242)").
_QUOTED_PATH = re.compile(r"\"[^\"]*[/\\][^\"]*\"|'[^']*[/\\][^']*'")
_BARE_PATH = re.compile(r"(?<![\w:/.])(?:~?/|[A-Za-z]:\\)[^\s\"'(),;]+")
_PID = re.compile(r"\s*\(?\bPID:?\s*\d+\)?", re.IGNORECASE)


def scrub(text: str, path: Path | None = None) -> str:
    """`text` with file paths and process ids taken out: what may be shown to people."""
    if path is not None:
        for spelling in {str(path), str(path.resolve()), path.name}:
            text = text.replace(spelling, "the lab's database")
    text = _QUOTED_PATH.sub("a file", text)
    text = _BARE_PATH.sub("a file", text)
    return _PID.sub("", text)
