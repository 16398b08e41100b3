"""Incidents against a real Redis: each test gets a flushed database and a clock it can move."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from bot.state.audit import AuditLog
from bot.state.incidents import IncidentStore

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC).timestamp()
TEAM, CHANNEL, THREAD = "T0SOC", "C0SOC", "1700000000.000100"
THREAD_IDS = (TEAM, CHANNEL, THREAD)


class Clock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(redis: aioredis.Redis, clock: Clock) -> IncidentStore:
    return IncidentStore(redis, AuditLog(redis), clock=clock)


async def alices_incident(store: IncidentStore, thread_ts: str = THREAD):
    """Alice ran spam-emails in a new thread."""
    return await store.open_or_get(TEAM, CHANNEL, thread_ts, title="Spam emails", owner="U0ALICE")
