"""Storing generated rows in DuckDB: each batch becomes an Arrow record batch, typed from the
documented schema, that DuckDB inserts in one statement.

pyarrow turns the Python values into columns in C, and DuckDB reads the columns without
converting each value again; the earlier way (one text per column, split and cast in SQL) cost
more CPU than making the rows did.
"""

from __future__ import annotations

import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cache
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from bot.defender.lab.rows import Columns
from bot.defender.lab.schema import load_schema
from bot.errors import LabError

if TYPE_CHECKING:
    import duckdb

# The Arrow type each documented kind travels as; DuckDB casts it to the column's own type
# (a guid as text to UUID, a dynamic value as JSON text to JSON).
_ARROW_TYPES: dict[str, pa.DataType] = {
    "datetime": pa.timestamp("us", tz="UTC"),
    "string": pa.string(),
    "long": pa.int64(),
    "int": pa.int32(),
    "bool": pa.bool_(),
    "dynamic": pa.string(),
    "real": pa.float64(),
    "double": pa.float64(),
    "guid": pa.string(),
    "timespan": pa.duration("us"),
}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in the lab")


_json = json.JSONEncoder(ensure_ascii=False, default=_json_value).encode


@cache
def _kinds(table: str) -> dict[str, str]:
    return dict(load_schema()[table].columns)


def to_record_batch(table: str, batch: list[dict[str, Any]] | Columns) -> pa.RecordBatch:
    """A batch of `table`'s rows as one Arrow record batch, refusing a column Defender does not
    document. Columns every row leaves NULL are left out; a dynamic column holds each value as
    JSON (a string as a JSON string)."""
    kinds = _kinds(table)
    if isinstance(batch, Columns):
        n, columns = batch.n, batch.values
    else:
        n = len(batch)
        columns = {
            name: list(map(dict.get, batch, repeat(name)))
            for name in dict.fromkeys(chain.from_iterable(batch))
        }
    unknown = columns.keys() - kinds.keys()
    if unknown:
        raise LabError(f"lab generator wrote undocumented columns to {table}: {sorted(unknown)}")
    arrays, fields = [], []
    for name, values in columns.items():
        array = _array(f"{table}.{name}", values, kinds[name], n)
        if array is not None:
            arrays.append(array)
            fields.append(pa.field(name, array.type))
    if not arrays:  # rows of NULLs only: one column says how many
        first = next(iter(kinds))
        arrays = [pa.nulls(n, _ARROW_TYPES[kinds[first]])]
        fields = [pa.field(first, arrays[0].type)]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _array(column: str, values: Any, kind: str, n: int) -> pa.Array | None:
    """One column's values (a list of one per row, or one for all) as an Arrow array; None
    when every value is NULL."""
    arrow_type = _ARROW_TYPES[kind]
    if not isinstance(values, list):  # one value for every row
        if values is None:
            return None
        one = _array(column, [values], kind, 1)
        assert one is not None
        return pa.repeat(one[0], n)
    if kind == "dynamic":
        values = [None if v is None else _json(v) for v in values]
    try:
        array = pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
        if kind != "string":
            raise LabError(f"lab value for {column} is not a {kind}: {error}") from None
        array = pa.array([None if v is None else _text(v) for v in values], pa.string())
    return None if array.null_count == n else array


def _text(value: Any) -> str:
    """A non-text value in a string column, as Defender would show it."""
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"
    if isinstance(value, dict | list):
        return _json(value)
    return str(value)


class Inserter:
    """Inserts record batches into the (existing) lab tables on one connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def __call__(self, table: str, batch: pa.RecordBatch) -> None:
        kinds = _kinds(table)
        names = batch.schema.names
        # Column names and types come from the packaged schema, never from data.
        columns = ", ".join(f'"{name}"' for name in names)
        values = ", ".join(_cast(name, kinds[name]) for name in names)
        self._con.register("lab_batch", batch)
        try:
            self._con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {values} FROM lab_batch')
        finally:
            self._con.unregister("lab_batch")


class BackgroundInserter:
    """An `Inserter` on a thread of its own: DuckDB stores one batch while Python makes the
    next. At most `AHEAD` batches wait, which bounds memory; `close` waits for all of them."""

    # Room for DuckDB's checkpoints (a second or so each, a few per big lab) without the
    # generator waiting: 2 cost a 10 s lab about 2.5 s of waiting, 8 about none, for ~15 MB.
    AHEAD = 8

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con.cursor()  # its own handle for the storing thread
        self._insert = Inserter(self._con)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lab-insert")
        self._pending: deque[Future[None]] = deque()

    def __call__(self, table: str, batch: pa.RecordBatch) -> None:
        while len(self._pending) >= self.AHEAD:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._insert, table, batch))

    def close(self) -> None:
        """Wait until every batch is stored (raising the first failure)."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._con.close()


def _cast(name: str, kind: str) -> str:
    if kind == "dynamic":
        return f'json("{name}")'
    if kind == "guid":
        return f'"{name}"::UUID'
    return f'"{name}"'
