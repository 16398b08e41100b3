"""The tenant's hunting quota and per-channel pacing, shared through Redis by every process."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from bot.state.pacing import ChannelPacer
from bot.state.quota import HuntingQuota


@pytest.fixture
def client(redis: aioredis.Redis) -> aioredis.Redis:
    """The session's Redis, flushed (a server of its own took 4 s to shut down per test)."""
    return redis


async def test_hunts_beyond_the_quota_wait_in_arrival_order_and_learn_their_place(client):
    quota = HuntingQuota(client, per_minute=3)
    assert [await quota.acquire(f"h{i}") for i in range(3)] == [None, None, None]
    fourth = await quota.acquire("h4")
    fifth = await quota.acquire("h5")
    assert (fourth.position, fifth.position) == (1, 2)
    # Their turns come when the first calls leave the 60 s window, not sooner.
    assert 59 < fourth.seconds <= 60 and 59 < fifth.seconds <= 60
    assert (await quota.acquire("h6")).position == 3
    assert 119 < (await quota.acquire("h7")).seconds <= 120  # the next window's


async def test_no_window_ever_holds_more_calls_than_the_limit(client):
    # Windows and sleeps here leave half a second either side: a busy CI runner stalls this much.
    quota = HuntingQuota(client, per_minute=3, window_ms=1500)
    assert [await quota.acquire(f"h{i}") for i in range(3)] == [None, None, None]
    assert await quota.acquire("h4") is not None
    await asyncio.sleep(0.75)
    assert await quota.acquire("h4") is not None  # half the window later: still full
    await asyncio.sleep(0.85)
    assert await quota.acquire("h5") is not None  # room now, but h4 is ahead
    assert await quota.acquire("h4") is None
    assert await quota.acquire("h5") is None


async def test_a_call_counts_from_when_its_answer_came(client):
    quota = HuntingQuota(client, per_minute=1, window_ms=1000)
    assert await quota.acquire("slow", call_id="slow:0") is None
    await asyncio.sleep(0.75)  # Microsoft took 0.75 s to answer: it may have counted the call late
    await quota.answered("slow:0")
    await asyncio.sleep(0.5)
    assert await quota.acquire("next") is not None  # 1.25 s after it was sent, 0.5 s after answered
    await asyncio.sleep(0.6)
    assert await quota.acquire("next") is None


async def test_a_pause_from_retry_after_holds_every_process_and_says_why(client):
    first, second = HuntingQuota(client, per_minute=45), HuntingQuota(client, per_minute=45)
    assert await first.pause(1.5, "cpu") == pytest.approx(1.5, abs=0.05)
    assert await second.pause(0.1, "calls") == pytest.approx(1.5, abs=0.5)  # never shortened
    wait = await second.acquire("h1")
    assert wait is not None and wait.quota == "cpu" and 0.5 < wait.paused_for <= 1.5
    assert wait.position == 1 and wait.seconds >= wait.paused_for
    await asyncio.sleep(1.55)
    assert await first.acquire("h1") is None


async def test_after_a_pause_one_call_probes_before_the_others_follow(client):
    first, second = HuntingQuota(client, per_minute=45), HuntingQuota(client, per_minute=45)
    await first.pause(0.2, "cpu")
    await asyncio.sleep(0.25)
    assert await first.acquire("probe", call_id="probe:0") is None
    wait = await second.acquire("h2")  # the window has room, but the probe has not answered
    assert wait is not None and wait.position == 1 and wait.paused_for == 0
    await first.answered("probe:0", throttled=True)  # a 429 again: its pause comes next
    assert await second.acquire("h2") is not None
    await first.pause(0.2, "cpu")
    await asyncio.sleep(0.25)
    assert await second.acquire("h2", call_id="h2:0") is None  # the new probe
    assert await first.acquire("h3") is not None
    await second.answered("h2:0")  # answered: the quota is back, everyone follows
    assert await first.acquire("h3") is None
    assert await first.acquire("h4") is None


async def test_processes_racing_for_the_window_never_overrun_it(client):
    window, limit = 0.5, 4
    quotas = [HuntingQuota(client, per_minute=limit, window_ms=int(window * 1000)) for _ in "ab"]
    admitted: list[float] = []

    async def hunt(i: int) -> None:
        quota = quotas[i % 2]
        while await quota.acquire(f"h{i}"):
            await asyncio.sleep(0.01)
        admitted.append(time.monotonic())

    await asyncio.gather(*(hunt(i) for i in range(12)))
    admitted.sort()
    assert len(admitted) == 12
    for i in range(len(admitted) - limit):
        assert admitted[i + limit] - admitted[i] >= window - 0.02


async def test_a_retry_goes_ahead_of_queued_hunts_and_a_leaver_holds_nobody_up(client):
    quota = HuntingQuota(client, per_minute=1, window_ms=300)
    assert await quota.acquire("h1") is None
    assert (await quota.acquire("h2")).position == 1
    assert (await quota.acquire("h3")).position == 2
    started = time.monotonic()
    await quota.retry_slot()  # ahead of h2 and h3
    assert 0.25 < time.monotonic() - started < 1.5
    await quota.leave("h2")
    assert (await quota.acquire("h3")).position == 1


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


async def test_hunts_arriving_in_the_same_millisecond_keep_their_order_and_their_place(client):
    quota = HuntingQuota(client, per_minute=1)
    assert await quota.acquire("first") is None
    # Ids that sort the other way from their arrival: a tie must not be ordered by id.
    names = ["zulu", "yankee", "mike", "bravo", "alpha"]
    told = [(await quota.acquire(n, arrived_ms=1_800_000_000_000)).position for n in names]
    assert told == [1, 2, 3, 4, 5]
    again = [(await quota.acquire(n, arrived_ms=1_800_000_000_000)).position for n in names]
    assert again == told
