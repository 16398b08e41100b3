"""Hunt results kept in Redis for paging and export, from any process.

Rows are stored compressed in chunks of `CHUNK_ROWS`, so turning a page reads one chunk rather
than the whole result; export reads them all. A filter's matching row positions are kept as a
`Selection` beside the rows, so paging through a filtered view reads only the chunks it shows.
Everything expires after the results TTL.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from array import array
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel

from bot.defender.results import Column, HuntResult
from bot.errors import HuntBotError
from bot.state import keys

CHUNK_ROWS = 100
SCAN_CHUNKS = 20  # chunks read per Redis call when a filter scans a result
SAVE_CHUNKS = 100  # chunks written per pipeline step while a result is saved
# zlib's fastest level: a 100,000-row result packs in a fraction of the time level 6 takes,
# for a few percent more bytes in Redis.
PACK_LEVEL = 1


class ResultExpired(HuntBotError):
    pass


class StoredResult(BaseModel):
    """What a results message needs to render any page, and to re-run the hunt."""

    id: str
    hunt: str
    title: str
    arguments: dict[str, str]  # as typed, for Re-run
    parameters: dict[str, str]  # as bound, for display
    requested_by: str
    team: str
    channel: str
    backend: str
    started_at: datetime
    seconds: float
    columns: list[Column]
    display_columns: list[str]
    entity_kinds: list[str]
    entity_columns: dict[str, list[str]] = {}
    sender_copy_possible: bool = False  # EmailEvents/EmailPostDeliveryEvents with sender columns
    row_count: int
    truncated: bool
    lookback: str | None = None
    schedule_id: str | None = None  # the schedule whose run this is: rows hold only new ones
    found: int | None = None  # a scheduled run's rows before the ones posted earlier were left out
    message_ts: str | None = None
    thread_ts: str | None = None


def _encode(value: Any) -> Any:
    """What JSON cannot hold as it is (called by the encoder for those values only)."""
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    return str(value)


def _decode(value: dict[str, Any]) -> Any:
    """Every JSON object as it is read: a time or a span back from its marker, else as it is."""
    if len(value) == 1:
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$td" in value:
            return timedelta(seconds=value["$td"])
    return value


_to_json = json.JSONEncoder(ensure_ascii=False, default=_encode).encode
_from_json = json.JSONDecoder(object_hook=_decode).decode


def _pack(names: list[str], rows: list[dict[str, Any]]) -> bytes:
    """A chunk: the column names once, then each row's values in that order. The C encoder does
    the work; only times and spans call back into Python."""
    try:
        values = list(map(itemgetter(*names), rows)) if len(names) > 1 else None
    except KeyError:  # a row without some column
        values = None
    if values is None:
        values = [[row.get(name) for name in names] for row in rows]
    return zlib.compress(_to_json({"c": names, "r": values}).encode(), PACK_LEVEL)


def _unpack_values(blob: bytes | str) -> tuple[list[str], list[list[Any]]]:
    """A chunk's column names, and each row's values in that order."""
    assert isinstance(blob, bytes), "ResultStore needs a Redis client that answers bytes"
    data = _from_json(zlib.decompress(blob).decode())
    if isinstance(data, list):  # stored before chunks named their columns once
        names = list(dict.fromkeys(name for row in data for name in row))
        return names, [[row.get(name) for name in names] for row in data]
    return data["c"], data["r"]


def _unpack(blob: bytes | str) -> list[dict[str, Any]]:
    names, values = _unpack_values(blob)
    return [dict(zip(names, row, strict=True)) for row in values]


class Selection(BaseModel):
    """The rows of a result a filter matched: their positions (0-based) in the whole result."""

    id: str
    text: str  # the filter as the person typed it (normalised by the flow)
    positions: list[int]


def _selection_key(result_id: str, selection_id: str) -> str:
    return f"{keys.result_meta(result_id).removesuffix(':meta')}:selection:{selection_id}"


def selection_id(text: str) -> str:
    """The same filter on the same result is the same selection (a short, stable id)."""
    return "f" + hashlib.sha256(text.encode()).hexdigest()[:11]  # never all digits


class ResultStore:
    def __init__(self, redis: aioredis.Redis, ttl: timedelta) -> None:
        """`redis` must answer bytes (RedisConnection.binary): chunks are compressed."""
        self._redis = redis
        self._ttl = ttl

    async def save(self, meta: StoredResult, result: HuntResult) -> None:
        """The rows in chunks, then the meta (what says the result exists), in one transaction;
        each chunk is packed as it is queued, so only compressed chunks are held."""
        names = result.column_names
        key = keys.result_chunks(meta.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            for first in range(0, len(result.rows), CHUNK_ROWS * SAVE_CHUNKS):
                mapping = {
                    str(i // CHUNK_ROWS): _pack(names, result.rows[i : i + CHUNK_ROWS])
                    for i in range(
                        first, min(first + CHUNK_ROWS * SAVE_CHUNKS, len(result.rows)), CHUNK_ROWS
                    )
                }
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            if result.rows:
                pipe.expire(key, self._ttl)
            pipe.set(keys.result_meta(meta.id), meta.model_dump_json(), ex=self._ttl)
            await pipe.execute()

    async def exists(self, result_id: str) -> bool:
        return bool(await self._redis.exists(keys.result_meta(result_id)))

    async def meta(self, result_id: str) -> StoredResult:
        raw = await self._redis.get(keys.result_meta(result_id))
        if raw is None:
            raise ResultExpired(
                "These results are no longer kept.",
                hint="Results are kept for a limited time; press Re-run or run the hunt again.",
            )
        return StoredResult.model_validate_json(raw)  # bytes are fine here

    async def update_meta(self, meta: StoredResult) -> None:
        await self._redis.set(keys.result_meta(meta.id), meta.model_dump_json(), keepttl=True)

    async def rows(self, result_id: str, start: int, stop: int) -> list[dict[str, Any]]:
        """Rows [start, stop) of a stored result."""
        first, last = start // CHUNK_ROWS, max(start, stop - 1) // CHUNK_ROWS
        fields = [str(n) for n in range(first, last + 1)]
        blobs = await self._redis.hmget(keys.result_chunks(result_id), fields)  # type: ignore[misc]
        rows: list[dict[str, Any]] = []
        for blob in blobs:
            if blob is None:
                break
            rows.extend(_unpack(blob))
        offset = first * CHUNK_ROWS
        return rows[start - offset : stop - offset]

    async def rows_at(self, result_id: str, positions: list[int]) -> list[dict[str, Any]]:
        """The rows at these positions, in the order given (reading only their chunks)."""
        chunks = sorted({p // CHUNK_ROWS for p in positions})
        if not chunks:
            return []
        blobs = await self._redis.hmget(  # type: ignore[misc]
            keys.result_chunks(result_id), [str(n) for n in chunks]
        )
        unpacked = {n: _unpack(b) for n, b in zip(chunks, blobs, strict=True) if b is not None}
        found = []
        for p in positions:
            chunk = unpacked.get(p // CHUNK_ROWS, [])
            if p % CHUNK_ROWS < len(chunk):
                found.append(chunk[p % CHUNK_ROWS])
        return found

    async def scan(
        self, result_id: str, row_count: int
    ) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """Every stored row with its position, a few chunks per Redis call (memory stays small)."""
        position = 0
        async for rows in self.scan_chunks(result_id, row_count):
            for row in rows:
                yield position, row
                position += 1

    async def scan_chunks(
        self, result_id: str, row_count: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every stored row in order, as the rows of `SCAN_CHUNKS` chunks per Redis call."""
        chunk_count = -(-row_count // CHUNK_ROWS)
        for first in range(0, chunk_count, SCAN_CHUNKS):
            fields = [str(n) for n in range(first, min(first + SCAN_CHUNKS, chunk_count))]
            blobs = await self._redis.hmget(keys.result_chunks(result_id), fields)  # type: ignore[misc]
            rows: list[dict[str, Any]] = []
            for blob in blobs:
                if blob is None:
                    break
                rows.extend(_unpack(blob))
            if rows:
                yield rows
            if len(rows) < len(fields) * CHUNK_ROWS:
                return

    async def scan_columns(
        self, result_id: str, row_count: int, columns: list[str]
    ) -> AsyncIterator[list[list[Any]]]:
        """Every stored row in order, `SCAN_CHUNKS` chunks per Redis call, given column by
        column: for each of `columns`, its values (None where a row has no such column). What
        an export writes, without making a dict of each row."""
        chunk_count = -(-row_count // CHUNK_ROWS)
        for first in range(0, chunk_count, SCAN_CHUNKS):
            fields = [str(n) for n in range(first, min(first + SCAN_CHUNKS, chunk_count))]
            blobs = await self._redis.hmget(keys.result_chunks(result_id), fields)  # type: ignore[misc]
            found: list[list[Any]] = [[] for _ in columns]
            missing = None in blobs
            for blob in blobs[: blobs.index(None)] if missing else blobs:
                assert blob is not None
                names, rows = _unpack_values(blob)
                by_name = dict(zip(names, zip(*rows, strict=True), strict=False))
                nothing = [None] * len(rows)
                for values, name in zip(found, columns, strict=True):
                    values.extend(by_name.get(name, nothing))
            if found and found[0]:
                yield found
            if missing:
                return

    async def save_selection(self, result_id: str, text: str, positions: list[int]) -> Selection:
        """Keep a filter's matching positions as long as the result is kept."""
        selection = Selection(id=selection_id(text), text=text, positions=positions)
        packed = zlib.compress(array("I", positions).tobytes(), 6)
        blob = json.dumps({"text": text}).encode() + b"\n" + packed
        await self._redis.set(_selection_key(result_id, selection.id), blob, ex=self._ttl)
        return selection

    async def selection(self, result_id: str, selection_id: str) -> Selection | None:
        blob = await self._redis.get(_selection_key(result_id, selection_id))
        if blob is None:
            return None
        assert isinstance(blob, bytes), "ResultStore needs a Redis client that answers bytes"
        head, _, packed = blob.partition(b"\n")
        positions = array("I")
        positions.frombytes(zlib.decompress(packed))
        return Selection(
            id=selection_id, text=json.loads(head)["text"], positions=positions.tolist()
        )

    async def all_rows(self, result_id: str) -> list[dict[str, Any]]:
        meta = await self.meta(result_id)
        return await self.rows(result_id, 0, meta.row_count)

    async def as_result(self, result_id: str) -> tuple[StoredResult, HuntResult]:
        meta = await self.meta(result_id)
        rows = await self.rows(result_id, 0, meta.row_count)
        return meta, HuntResult(columns=meta.columns, rows=rows, truncated=meta.truncated)


def now() -> datetime:
    return datetime.now(UTC)
