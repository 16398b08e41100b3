"""Incidents against a real Redis: each test gets a flushed database and a clock it can move."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from bot.state.audit import AuditLog
from bot.state.incidents import IncidentStore
from tests.clock import START, Clock  # noqa: F401  (tests import them from here)

TEAM, CHANNEL, THREAD = "T0SOC", "C0SOC", "1700000000.000100"
THREAD_IDS = (TEAM, CHANNEL, THREAD)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(redis: aioredis.Redis, clock: Clock) -> IncidentStore:
    return IncidentStore(redis, AuditLog(redis), clock=clock)


async def alices_incident(store: IncidentStore, thread_ts: str = THREAD):
    """Alice ran spam-emails in a new thread."""
    return await store.open_or_get(TEAM, CHANNEL, thread_ts, title="Spam emails", owner="U0ALICE")
