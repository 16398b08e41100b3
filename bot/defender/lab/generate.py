"""Deterministic sample data for the lab tenant, and loading it into DuckDB.

Everything random comes from one `random.Random(seed)` and every timestamp is an offset from the
`anchor`, so the same seed and anchor give the same rows, byte for byte.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from itertools import repeat
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from bot.defender.lab.background_devices import add_alerts, add_device_noise, add_inventory
from bot.defender.lab.background_mail import (
    SPAN,
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
from bot.errors import LabError

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

T = TypeVar("T")
# Told how many rows are made so far, and about how many there will be.
Progress = Callable[[int, int], None]

# Approximate rows in each of the big tables (EmailEvents, IdentityLogonEvents,
# DeviceProcessEvents); the others scale from it. Small enough to create in about a second.
DEFAULT_ROWS = 5_000


class QuickRandom(random.Random):
    """`random.Random` drawing exactly the same numbers, with fewer Python calls in the two
    methods the generator calls a few million times (`choice`, `randrange` of whole numbers)."""

    def choice(self, seq: SupportsLenAndGetItem[T]) -> T:
        n = len(seq)
        if not n:
            raise IndexError("Cannot choose from an empty sequence")
        k, getrandbits = n.bit_length(), self.getrandbits
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return seq[r]

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None and step == 1 and type(start) is int:
            start, stop = 0, start
        if step != 1 or type(start) is not int or type(stop) is not int:
            return super().randrange(start, stop, step)
        n = stop - start
        if n <= 0:
            return super().randrange(start, stop)  # raises as it would
        k, getrandbits = n.bit_length(), self.getrandbits
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return start + r


def expected_rows(rows: int | None = None) -> int:
    """About how many rows a lab of this size holds in all (for a progress bar)."""
    size = max(rows if rows is not None else DEFAULT_ROWS, 100)
    staff = max(30, min(400, size // 100))
    return int(6.6 * size) + (SPAN.days + 2) * staff + 1_800


def generate_rows(
    *,
    anchor: datetime,
    seed: int = 0,
    rows: int | None = None,
    into: LabRows | None = None,
    progress: Progress | None = None,
) -> LabRows:
    """The lab's rows: planted scenarios first, then background noise sized by `rows`.

    Into `into` when given (a `LabRows` handing its rows on as they come), else kept in memory.
    """
    if anchor.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    size = max(rows if rows is not None else DEFAULT_ROWS, 100)
    rng = QuickRandom(seed)
    ids = Ids(rng)
    # A bigger lab is a bigger company, not the same 50 people doing 20 times as much.
    company = build_company(rng, ids, CAST_ROLES, staff_size=max(30, min(400, size // 100)))
    out = into if into is not None else LabRows()
    expected = expected_rows(rows)

    def step(make: Callable[[], None]) -> None:
        make()
        if progress is not None:
            progress(sum(out.counts().values()), expected)

    step(lambda: plant_scenarios(out, ids, company, anchor))
    step(lambda: add_mail_noise(out, ids, company, anchor, size))
    step(lambda: add_identity_noise(out, ids, company, anchor, size))
    step(lambda: add_directory(out, ids, company, anchor))
    step(lambda: add_cloud_app_noise(out, ids, company, anchor, size // 5))
    step(lambda: add_device_noise(out, ids, company, anchor, size))
    step(lambda: add_inventory(out, ids, company, anchor))
    step(lambda: add_alerts(out, ids, company, anchor, max(3, size // 1_000)))
    # Last, so the rows above come out the same whatever this adds.
    step(lambda: add_remaining_tables(out, ids, company, anchor))
    out.check_columns()
    out.flush()
    return out


def generate_into(
    con: duckdb.DuckDBPyConnection,
    *,
    anchor: datetime,
    seed: int = 0,
    rows: int | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Generate the lab's rows straight into the (existing, empty) tables on `con`, a batch at
    a time, DuckDB storing one batch while the next is made; the rows per table."""
    # One thread storing while Python generates: DuckDB's own would only contend for the cores.
    con.execute("SET threads = 1")
    loader = BatchLoader(con)
    expected = expected_rows(rows)

    def store(table: str, batch: list[dict[str, Any]]) -> None:
        loader(table, batch)
        if progress is not None:
            progress(sum(into.counts().values()), expected)

    into = LabRows(sink=store)
    try:
        generated = generate_rows(anchor=anchor, seed=seed, rows=rows, into=into, progress=progress)
    finally:
        loader.close()
    return generated.counts()


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in the lab")


def load_rows(con: duckdb.DuckDBPyConnection, rows: LabRows) -> None:
    """Insert every table's rows into the (existing, empty) tables on `con`."""
    loader = BatchLoader(con)
    try:
        for table, table_rows in rows.tables.items():
            if table_rows:
                loader(table, table_rows)
    finally:
        loader.close()


class BatchLoader:
    """Stores batches of a table's rows into DuckDB, on a thread of its own.

    A batch goes in as one text per column (values joined by a separator DuckDB splits on), cast
    to the column's type in SQL: Python does one join per column instead of encoding every row,
    and DuckDB stores one batch while Python makes the next. Columns a batch never sets stay
    NULL; a dynamic column holds each value as JSON (a string as a JSON string).
    """

    # Batches waiting to be stored, at most: bounds memory.
    AHEAD = 2

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con.cursor()  # its own handle for the loading thread
        self._kinds = {name: dict(table.columns) for name, table in load_schema().items()}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lab-load")
        self._pending: list[Future[None]] = []

    def __call__(self, table: str, rows: list[dict[str, Any]]) -> None:
        used: dict[str, None] = {}
        for row in rows:
            used.update(dict.fromkeys(row))
        kinds = self._kinds[table]
        # One output row per row; each column either split from its text or the same in every row.
        names, texts, select = [], [], [f"unnest(range({len(rows)})) AS c0"]
        for name in used:
            values = list(map(dict.get, rows, repeat(name, len(rows))))
            same = values.count(values[0]) == len(values)
            if same and values[0] is None:
                continue  # NULL in every row, as if left out
            texts.append(_column_text(values[:1] if same else values, kinds[name] == "dynamic"))
            names.append(name)
            n = len(names)
            select.append(
                f"${n} AS c{n}"
                if same
                else f"unnest(string_split(${n}, chr({ord(_SEPARATOR)}))) AS c{n}"
            )
        # Column names and types come from the packaged schema, never from data.
        cast = ", ".join(
            f"json(NULLIF(c{i}, chr({ord(_NULL)})))"
            if kinds[name] == "dynamic"
            else f"NULLIF(c{i}, chr({ord(_NULL)}))::{DUCKDB_TYPES[kinds[name]]}"
            for i, name in enumerate(names, start=1)
        )
        columns = ", ".join(f'"{name}"' for name in names)
        sql = f'INSERT INTO "{table}" ({columns}) SELECT {cast} FROM (SELECT {", ".join(select)})'
        if not names:  # rows of NULLs only
            sql = f'INSERT INTO "{table}" ("{next(iter(kinds))}") SELECT NULL FROM range(?)'
            params: list[Any] = [len(rows)]
        else:
            params = texts
        while len(self._pending) >= self.AHEAD:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._store, sql, params))

    def _store(self, sql: str, params: list[Any]) -> None:
        self._con.execute(sql, params)

    def close(self) -> None:
        """Wait until every batch is stored (raising the first failure)."""
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._con.close()


# Control characters no generated value holds (checked): between values, and standing for NULL.
_SEPARATOR, _NULL = "\x1f", "\x1e"


def _column_text(values: list[Any], dynamic: bool) -> str:
    """One column's values as one text for `string_split`, in as few Python steps as may be."""
    if dynamic:
        texts = [
            _NULL if v is None else json.dumps(v, default=_json_value, ensure_ascii=False)
            for v in values
        ]
        joined = _SEPARATOR.join(texts)
    else:
        kinds = set(map(type, values))
        has_null = type(None) in kinds
        kinds.discard(type(None))
        if kinds <= {str}:
            texts = [_NULL if v is None else v for v in values] if has_null else values
            joined = _SEPARATOR.join(texts)
        elif kinds <= _PLAIN:
            # None prints as "None", which no number, flag or time does.
            joined = _SEPARATOR.join(map(str, values))
            if has_null:
                joined = joined.replace("None", _NULL)
        else:
            joined = _SEPARATOR.join([_NULL if v is None else _text(v) for v in values])
    if joined.count(_SEPARATOR) != len(values) - 1:
        raise LabError("a lab value holds a control character the loader uses")
    return joined


# Types whose str() DuckDB casts as they are: ISO 8601 with the offset for times, True/False.
_PLAIN = {int, float, bool, datetime}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    return str(value)
