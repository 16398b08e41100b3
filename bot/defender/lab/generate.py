"""Deterministic sample data for the lab tenant, and loading it into DuckDB.

The lab is made in parts (the planted scenarios, the mail noise, the device noise...). Each part
draws from its own `random.Random` seeded from the lab's seed and the part's name, and every
timestamp is an offset from the `anchor`, so the same seed and anchor give the same rows, byte
for byte; a part's rows do not change when another part changes.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from bot.defender.lab.background_devices import add_alerts, add_device_noise, add_inventory
from bot.defender.lab.background_mail import (
    SPAN,
    add_cloud_app_noise,
    add_directory,
    add_identity_noise,
    add_mail_noise,
)
from bot.defender.lab.background_more import add_remaining_tables
from bot.defender.lab.company import Company, Ids, build_company
from bot.defender.lab.loader import BackgroundInserter, Inserter, to_record_batch
from bot.defender.lab.rows import Columns, LabRows
from bot.defender.lab.scenarios import CAST_ROLES, plant_scenarios
from bot.defender.lab.schema import load_schema

if TYPE_CHECKING:
    import duckdb
    from _typeshed import SupportsLenAndGetItem

T = TypeVar("T")
# Told how many rows are made so far, and about how many there will be.
Progress = Callable[[int, int], None]

# Approximate rows in each of the big tables (EmailEvents, IdentityLogonEvents,
# DeviceProcessEvents); the others scale from it. Small enough to create in about a second.
DEFAULT_ROWS = 5_000


class QuickRandom(random.Random):
    """`random.Random` whose `choice` and `randrange` of whole numbers, which the generator calls
    a few million times, scale one `random()` draw instead of looping over `getrandbits` in
    Python: a few times faster, and as even as a 53-bit float allows."""

    def choice(self, seq: SupportsLenAndGetItem[T]) -> T:
        n = len(seq)
        if not n:
            raise IndexError("Cannot choose from an empty sequence")
        return seq[int(self.random() * n)]

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            start, stop = 0, start
        if step != 1 or type(start) is not int or type(stop) is not int or stop <= start:
            return super().randrange(start, stop, step)  # raises where it would
        return start + int(self.random() * (stop - start))


def expected_rows(rows: int | None = None) -> int:
    """About how many rows a lab of this size holds in all (for a progress bar)."""
    size = _size(rows)
    return int(6.6 * size) + (SPAN.days + 2) * _staff_size(size) + 1_800


def _size(rows: int | None) -> int:
    return max(rows if rows is not None else DEFAULT_ROWS, 100)


def _staff_size(size: int) -> int:
    # A bigger lab is a bigger company, not the same 50 people doing 20 times as much.
    return max(30, min(400, size // 100))


@dataclass(frozen=True)
class Part:
    """One independent part of the lab, made from the company, the anchor and the lab's size."""

    name: str
    make: Callable[[LabRows, Ids, Company, datetime, int], None]


# Made in this order; each part's rows are the same in any order.
PARTS: tuple[Part, ...] = (
    Part("mail", add_mail_noise),
    Part("devices", add_device_noise),
    Part("identity", add_identity_noise),
    Part("cloud-apps", lambda out, ids, company, anchor, size: add_cloud_app_noise(
        out, ids, company, anchor, size // 5)),
    Part("scenarios", lambda out, ids, company, anchor, size: plant_scenarios(
        out, ids, company, anchor)),
    Part("directory", lambda out, ids, company, anchor, size: add_directory(
        out, ids, company, anchor)),
    Part("inventory", lambda out, ids, company, anchor, size: add_inventory(
        out, ids, company, anchor)),
    Part("alerts", lambda out, ids, company, anchor, size: add_alerts(
        out, ids, company, anchor, max(3, size // 1_000))),
)


def _company(seed: int, size: int) -> Company:
    rng = QuickRandom(seed)
    return build_company(rng, Ids(rng), CAST_ROLES, staff_size=_staff_size(size))


def _ids(seed: int, part: str) -> Ids:
    # A string seed is hashed with SHA-512: the same in every process, whatever PYTHONHASHSEED.
    return Ids(QuickRandom(f"{seed}:{part}"))


def _make_rest(out: LabRows, seed: int, company: Company, anchor: datetime,
               filled: set[str]) -> None:
    """Last, once every other part is made: rows for each table no part filled."""
    add_remaining_tables(out, _ids(seed, "remaining"), company, anchor, filled)


def generate_rows(
    *,
    anchor: datetime,
    seed: int = 0,
    rows: int | None = None,
    into: LabRows | None = None,
    progress: Progress | None = None,
) -> LabRows:
    """The lab's rows, every part made here one after another.

    Into `into` when given (a `LabRows` handing its rows on as they come), else kept in memory.
    """
    if anchor.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    size = _size(rows)
    company = _company(seed, size)
    out = into if into is not None else LabRows()
    expected = expected_rows(rows)
    for part in PARTS:
        part.make(out, _ids(seed, part.name), company, anchor, size)
        if progress is not None:
            progress(sum(out.counts().values()), expected)
    _make_rest(out, seed, company, anchor, {name for name, n in out.counts().items() if n})
    out.check_columns()
    out.flush()
    return out


# While loading: one DuckDB thread (Python makes rows on the other core), and a checkpoint (DuckDB
# writing what it holds to the file) only every 128 MB of log: each costs more as the tables
# grow, and this many keep the lab under 500 MB.
LOAD_SETTINGS = {"threads": "1", "checkpoint_threshold": "128MB"}
# How often Python lets a waiting thread take the interpreter, while a lab is made: DuckDB's
# storing thread needs it briefly and often (to check for Ctrl-C), and at the default 5 ms it
# spent most of its time waiting for the thread making rows.
LOAD_SWITCH_INTERVAL = 0.0001


def generate_into(
    con: duckdb.DuckDBPyConnection,
    *,
    anchor: datetime,
    seed: int = 0,
    rows: int | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Generate the lab's rows straight into the (existing, empty) tables on `con`, a batch at a
    time, DuckDB storing one batch while Python makes the next; the rows per table."""
    if anchor.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    before = {
        name: con.execute("SELECT current_setting(?)", [name]).fetchone()[0]  # type: ignore[index]
        for name in LOAD_SETTINGS
    }
    for name, value in LOAD_SETTINGS.items():
        con.execute(f"SET {name} = '{value}'")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(LOAD_SWITCH_INTERVAL)
    try:
        return _generate_into(con, anchor, seed, _size(rows), expected_rows(rows), progress)
    finally:
        sys.setswitchinterval(interval)
        for name, value in before.items():
            con.execute(f"SET {name} = '{value}'")


def _generate_into(con: duckdb.DuckDBPyConnection, anchor: datetime, seed: int, size: int,
                   expected: int, progress: Progress | None) -> dict[str, int]:
    insert = BackgroundInserter(con)
    counts = dict.fromkeys(load_schema(), 0)

    def store(table: str, batch: list[dict[str, Any]] | Columns) -> None:
        made = to_record_batch(table, batch)
        insert(table, made)
        counts[table] += made.num_rows
        if progress is not None:
            progress(sum(counts.values()), expected)

    try:
        company = _company(seed, size)
        for part in PARTS:
            out = LabRows(sink=store)
            part.make(out, _ids(seed, part.name), company, anchor, size)
            out.flush()
        rest = LabRows(sink=store)
        _make_rest(rest, seed, company, anchor, {name for name, n in counts.items() if n})
        rest.flush()
    finally:
        insert.close()
    return counts


def load_rows(con: duckdb.DuckDBPyConnection, rows: LabRows) -> None:
    """Insert every table's rows into the (existing, empty) tables on `con`."""
    insert = Inserter(con)
    for table, table_rows in rows.tables.items():
        if table_rows:
            insert(table, to_record_batch(table, table_rows))
