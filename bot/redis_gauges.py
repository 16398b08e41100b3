"""The metrics that live in Redis rather than in a process, read when /metrics is asked.

Only `serve` reads them, so they are counted once however many workers run, and at a bounded
cost: a few commands, and at most RECENT_APPROVALS + the open approvals' states read in one
pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.metrics import (
    APPROVAL_STATES,
    APPROVALS_RECENT,
    JOBS_PENDING,
    OPEN_APPROVALS,
    RECENT_APPROVALS,
    redis_error,
)
from bot.state import keys
from bot.state.approvals import ID_PREFIX

log = logging.getLogger(__name__)

# More entries than this waiting is reported as this many (the count is bounded work).
WAITING_COUNT_CAP = 10_000


async def read(redis: aioredis.Redis) -> None:
    """Queue depth and approvals by state, from Redis; a Redis error is counted and the
    gauges keep their last values."""
    try:
        await _read_queue(redis)
        await _read_approvals(redis)
    except (RedisError, OSError) as exc:
        redis_error("scrape")
        log.warning("/metrics: Redis did not answer (%s)", type(exc).__name__)


async def _read_queue(redis: aioredis.Redis) -> None:
    stream = keys.job_stream()
    if not await redis.exists(stream):
        JOBS_PENDING.labels("waiting").set(0)
        JOBS_PENDING.labels("running").set(0)
        return
    groups = await redis.xinfo_groups(stream)
    if not groups:
        JOBS_PENDING.labels("waiting").set(await redis.xlen(stream))
        JOBS_PENDING.labels("running").set(0)
        return
    group = groups[0]
    running = int(group.get("pending", 0))
    lag = group.get("lag")  # Redis 7 says how many entries the group has not read
    if lag is None:
        delivered = _text(group.get("last-delivered-id")) or "0-0"
        entries = await redis.xrange(stream, f"({delivered}", "+", count=WAITING_COUNT_CAP)
        waiting = len(entries or [])
    else:
        waiting = int(lag)
    JOBS_PENDING.labels("waiting").set(waiting)
    JOBS_PENDING.labels("running").set(running)


async def _read_approvals(redis: aioredis.Redis) -> None:
    pipe = redis.pipeline(transaction=False)
    pipe.zcard(keys.approvals_expiring())
    pipe.zrange(keys.approvals_to_run(), 0, RECENT_APPROVALS - 1)
    pipe.get(keys.approval_sequence())
    pending, to_run, sequence = await pipe.execute()
    newest = int(_text(sequence) or 0)
    recent = [f"{ID_PREFIX}{n}" for n in range(newest, max(0, newest - RECENT_APPROVALS), -1)]
    ids = [_text(i) for i in to_run]
    pipe = redis.pipeline(transaction=False)
    for approval_id in [*ids, *recent]:
        pipe.hget(keys.approval(approval_id), "state")
    states = [_text(s) for s in await pipe.execute()]
    running = _count(states[: len(ids)])
    OPEN_APPROVALS.labels("pending").set(int(pending))
    OPEN_APPROVALS.labels("approved").set(running.get("approved", 0))
    OPEN_APPROVALS.labels("executing").set(running.get("executing", 0))
    by_state = _count(states[len(ids) :])
    for state in APPROVAL_STATES:
        APPROVALS_RECENT.labels(state).set(by_state.get(state, 0))


def _count(states: Iterable[str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for state in states:
        if state:
            counted[state] = counted.get(state, 0) + 1
    return counted


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
