"""Graph's 429 as every process must see it: the real GraphHunting and HuntingQuota against the
Microsoft stand-in over HTTPS and a real Redis. A 429 pauses every process's hunting until its
Retry-After (and says which quota ran out); a retry after a 5xx waits for room in the window."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.defender.auth import TokenProvider
from bot.defender.hunting import GraphHunting
from bot.errors import QuotaExhausted
from bot.state.quota import HuntingQuota
from tests.standins.microsoft import MicrosoftStandIn


def _hunting(microsoft: MicrosoftStandIn, quota: HuntingQuota) -> GraphHunting:
    settings = microsoft.settings()
    tokens = TokenProvider(settings, http_client=microsoft.requests_session())
    return GraphHunting(
        settings, tokens, verify=microsoft.ssl_context(), backoff=0.01, retries=2, quota=quota
    )


@pytest.fixture
async def processes(
    microsoft: MicrosoftStandIn, redis: aioredis.Redis
) -> AsyncIterator[tuple[tuple[HuntingQuota, GraphHunting], tuple[HuntingQuota, GraphHunting]]]:
    """Two processes' worth: each its own quota handle and Graph client, one Redis."""
    quotas = [HuntingQuota(redis, per_minute=45) for _ in "ab"]
    backends = [_hunting(microsoft, quota) for quota in quotas]
    yield (quotas[0], backends[0]), (quotas[1], backends[1])
    for backend in backends:
        await backend.aclose()


@pytest.mark.parametrize(("quota", "said"), [("cpu", "CPU allocation"), ("calls", "call rate")])
async def test_a_429_pauses_every_process_until_its_retry_after(microsoft, processes, quota, said):
    (first_quota, first), (second_quota, _) = processes
    microsoft.throttle_next_query(retry_after=2, quota=quota)
    assert await first_quota.acquire("h1") is None
    with pytest.raises(QuotaExhausted) as caught:
        await first.run_query("EmailEvents | take 1")
    assert caught.value.quota == quota and caught.value.retry_after == 2
    assert said in caught.value.message
    assert len(microsoft.hunting_calls) == 1  # not retried inside the call
    # The other process learns of it from Redis: nobody goes, and each is told why.
    wait = await second_quota.acquire("h2")
    assert wait is not None and wait.quota == quota and 1.5 < wait.paused_for <= 2
    assert wait.position == 1 and wait.seconds >= wait.paused_for


async def test_the_pause_ends_when_microsoft_said(microsoft, processes):
    (first_quota, first), (second_quota, second) = processes
    microsoft.throttle_next_query(retry_after=1, quota="calls")
    assert await first_quota.acquire("h1") is None
    with pytest.raises(QuotaExhausted):
        await first.run_query("EmailEvents | take 1")
    started = time.monotonic()
    while await second_quota.acquire("h2"):
        await _tick()
    assert 0.8 < time.monotonic() - started < 2
    await second.run_query("EmailEvents | take 1")
    assert microsoft.early_calls() == 0
    assert [c.status for c in microsoft.hunting_calls] == [429, 200]


async def test_a_retry_after_a_5xx_waits_for_room_in_the_window(microsoft, redis):
    quota = HuntingQuota(redis, per_minute=1, window_ms=1000)
    backend = _hunting(microsoft, quota)
    try:
        microsoft.fail_next_query(503)
        assert await quota.acquire("h1", call_id="h1:0") is None
        started = time.monotonic()
        await backend.run_query("EmailEvents | take 1")
        await quota.answered("h1:0")
    finally:
        await backend.aclose()
    first, second = microsoft.hunting_calls
    assert (first.status, second.status) == (503, 200)
    # The retry counted against the quota like any call: a whole window after the first.
    assert second.at - first.at >= 1.0 and time.monotonic() - started >= 1.0


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.05)
