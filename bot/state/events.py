"""Slack redelivers an event when it thinks we missed it; each event id is handled once."""

from __future__ import annotations

from datetime import timedelta

import redis.asyncio as aioredis

from bot.state import keys

# Slack retries for about five minutes; keep ids well beyond that.
SEEN_FOR = timedelta(hours=1)


async def first_delivery(redis: aioredis.Redis, event_id: str) -> bool:
    """True the first time an event id is seen, by any process; False for redeliveries."""
    if not event_id:
        return True
    return bool(await redis.set(keys.seen_event(event_id), "1", nx=True, ex=SEEN_FOR))
