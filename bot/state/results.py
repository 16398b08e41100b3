"""Hunt results kept in Redis for paging and export, from any process.

Rows are stored compressed in chunks of `CHUNK_ROWS`, so turning a page reads one chunk rather
than the whole result; export reads them all. Everything expires after the results TTL.
"""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel

from bot.defender.results import Column, HuntResult
from bot.errors import HuntBotError
from bot.state import keys

CHUNK_ROWS = 100


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
    message_ts: str | None = None
    thread_ts: str | None = None


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$td" in value:
            return timedelta(seconds=value["$td"])
    return value


def _pack(rows: list[dict[str, Any]]) -> bytes:
    data = [{k: _encode(v) for k, v in row.items()} for row in rows]
    return zlib.compress(json.dumps(data, ensure_ascii=False, default=str).encode(), 6)


def _unpack(blob: bytes | str) -> list[dict[str, Any]]:
    assert isinstance(blob, bytes), "ResultStore needs a Redis client that answers bytes"
    return [{k: _decode(v) for k, v in row.items()} for row in json.loads(zlib.decompress(blob))]


class ResultStore:
    def __init__(self, redis: aioredis.Redis, ttl: timedelta) -> None:
        """`redis` must answer bytes (RedisConnection.binary): chunks are compressed."""
        self._redis = redis
        self._ttl = ttl

    async def save(self, meta: StoredResult, result: HuntResult) -> None:
        chunks = {
            str(i // CHUNK_ROWS): _pack(result.rows[i : i + CHUNK_ROWS])
            for i in range(0, len(result.rows), CHUNK_ROWS)
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.result_meta(meta.id), meta.model_dump_json(), ex=self._ttl)
            if chunks:
                pipe.hset(keys.result_chunks(meta.id), mapping=chunks)  # type: ignore[arg-type]
                pipe.expire(keys.result_chunks(meta.id), self._ttl)
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

    async def all_rows(self, result_id: str) -> list[dict[str, Any]]:
        meta = await self.meta(result_id)
        return await self.rows(result_id, 0, meta.row_count)

    async def as_result(self, result_id: str) -> tuple[StoredResult, HuntResult]:
        meta = await self.meta(result_id)
        rows = await self.rows(result_id, 0, meta.row_count)
        return meta, HuntResult(columns=meta.columns, rows=rows, truncated=meta.truncated)


def now() -> datetime:
    return datetime.now(UTC)
