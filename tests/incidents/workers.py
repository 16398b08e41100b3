"""What one OS process does in the simultaneous-handoff test: its people hand the incident off
and take it over, all at once with the other processes, many times. Run in spawned processes."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from bot.state.audit import AuditLog
from bot.state.incident_records import IncidentRefused
from bot.state.incidents import IncidentStore

from .conftest import THREAD_IDS

ROUNDS = 25


def hand_off_and_take(redis_url: str, people: list[str], barrier: Any, results: Any) -> None:
    results.put(asyncio.run(_hand_off_and_take(redis_url, people, barrier)))


async def _hand_off_and_take(redis_url: str, people: list[str], barrier: Any) -> dict[str, int]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True, max_connections=32)
    store = IncidentStore(client, AuditLog(client))
    counts = {"changed": 0, "refused": 0}

    async def attempt(change: Any) -> None:
        try:
            await change
            counts["changed"] += 1
        except IncidentRefused:
            counts["refused"] += 1

    try:
        for n in range(ROUNDS):
            await asyncio.to_thread(barrier.wait)  # every process changes owner together
            giver, taker = people[n % len(people)], people[(n + 1) % len(people)]
            await asyncio.gather(
                attempt(store.hand_off(*THREAD_IDS, by=giver, to=taker, note=f"round {n}")),
                attempt(store.take(*THREAD_IDS, by=giver)),
            )
    finally:
        await client.aclose()
    return counts
