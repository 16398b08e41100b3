"""A result as big as Defender returns (100,000 rows) is stored in compressed chunks: a page
reads the rows it shows, an export reads every row in order, column by column."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from bot.defender.results import Column, HuntResult
from bot.state import keys
from bot.state.results import CHUNK_ROWS, ResultStore, StoredResult

ROWS = 100_000
START = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
COLUMNS = [
    Column(name="Timestamp", type="DateTime"),
    Column(name="NetworkMessageId", type="String"),
    Column(name="Subject", type="String"),
    Column(name="EmailSize", type="Int64"),
    Column(name="Detail", type="Object"),
]


def row(n: int) -> dict[str, object]:
    return {
        "Timestamp": START - timedelta(seconds=n),
        "NetworkMessageId": f"{n:08x}-message",
        "Subject": None if n % 7 == 0 else f'=HYPERLINK("{n}")' if n % 11 == 0 else f"s{n}",
        "EmailSize": n * 3,
        "Detail": {"n": n} if n % 5 == 0 else None,
    }


def meta(result_id: str, count: int) -> StoredResult:
    return StoredResult(
        id=result_id,
        hunt="spam-emails",
        title="Spam",
        arguments={},
        parameters={},
        requested_by="U0ALICE",
        team="T0",
        channel="C0SOC",
        backend="lab",
        started_at=START,
        seconds=1.0,
        columns=COLUMNS,
        display_columns=[c.name for c in COLUMNS],
        entity_kinds=[],
        row_count=count,
        truncated=count >= ROWS,
    )


@pytest.fixture
async def store(redis_url: str):
    client = aioredis.Redis.from_url(redis_url)  # bytes, as the bot's binary client answers
    await client.flushdb()
    yield ResultStore(client, timedelta(hours=1))
    await client.aclose()


@pytest.fixture(scope="module")
def big() -> HuntResult:
    return HuntResult.build(COLUMNS, [row(n) for n in range(ROWS)])


async def test_a_page_of_a_100k_row_result_reads_the_right_rows(store, big):
    await store.save(meta("big", ROWS), big)
    assert (await store.meta("big")).row_count == ROWS
    for start in (0, 99_990, 54_321):
        assert await store.rows("big", start, start + 10) == big.rows[start : start + 10]
    assert await store.rows("big", 99_995, 100_010) == big.rows[99_995:]
    assert await store.rows_at("big", [77_777, 3]) == [big.rows[77_777], big.rows[3]]


async def test_an_export_reads_every_row_in_order_column_by_column(store, big):
    await store.save(meta("big", ROWS), big)
    names = [c.name for c in COLUMNS]
    read: list[list[object]] = [[] for _ in names]
    batches = 0
    async for columns in store.scan_columns("big", ROWS, names):
        batches += 1
        for kept, values in zip(read, columns, strict=True):
            kept.extend(values)
    assert batches > 1  # a few chunks per Redis call, never the whole result at once
    for name, values in zip(names, read, strict=True):
        assert values == [r[name] for r in big.rows], name


async def test_a_column_a_row_lacks_reads_as_empty(store):
    rows = [{"Timestamp": START, "NetworkMessageId": "a"}, {"NetworkMessageId": "b"}]
    await store.save(meta("sparse", 2), HuntResult(columns=COLUMNS[:2], rows=rows))
    assert await store.rows("sparse", 0, 2) == [
        {"Timestamp": START, "NetworkMessageId": "a"},
        {"Timestamp": None, "NetworkMessageId": "b"},
    ]
    columns = [c async for c in store.scan_columns("sparse", 2, ["NetworkMessageId", "Subject"])]
    assert columns == [[["a", "b"], [None, None]]]


async def test_results_stored_before_chunks_named_their_columns_still_read(store, redis_url):
    # Kept for the results TTL: a bot upgraded meanwhile must still page and export them.
    old = [{"Timestamp": {"$dt": START.isoformat()}, "Subject": "x"}] * (CHUNK_ROWS + 1)
    await store.save(meta("old", CHUNK_ROWS + 1), HuntResult(columns=COLUMNS, rows=[]))
    client = aioredis.Redis.from_url(redis_url)
    await client.hset(
        keys.result_chunks("old"),
        mapping={
            "0": zlib.compress(json.dumps(old[:CHUNK_ROWS]).encode()),
            "1": zlib.compress(json.dumps(old[CHUNK_ROWS:]).encode()),
        },
    )
    await client.aclose()
    assert (
        await store.rows("old", CHUNK_ROWS - 1, CHUNK_ROWS + 1)
        == [{"Timestamp": START, "Subject": "x"}] * 2
    )
    columns = [c async for c in store.scan_columns("old", CHUNK_ROWS + 1, ["Subject"])]
    assert columns == [[["x"] * (CHUNK_ROWS + 1)]]
