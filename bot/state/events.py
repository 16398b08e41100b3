"""Slack redelivers an event when it thinks we missed it; each event id is handled once.

An attempt first marks the event "in progress" with a short expiry, and marks it "handled" only
after it succeeded. A failed attempt releases its mark, so Slack's redelivery is let through; an
attempt that dies (the process killed) leaves a mark that lapses on its own before Slack's last
retry (about five minutes after the first). A redelivery while an attempt is in progress, or
after one succeeded, is dropped: a successful event is never handled twice.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.state import keys

# Slack retries for about five minutes; keep handled ids well beyond that.
SEEN_FOR = timedelta(hours=1)
# Longer than any one attempt takes, shorter than the gap to Slack's later retries.
IN_PROGRESS_FOR = timedelta(seconds=60)

HANDLED = "handled"
_IN_PROGRESS = "in progress:"

# Delete the mark only if it is still this attempt's (it may have lapsed and been taken since).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@asynccontextmanager
async def handling_once(
    redis: aioredis.Redis, event_id: str, *, in_progress_for: timedelta = IN_PROGRESS_FOR
) -> AsyncIterator[bool]:
    """Yields True if this attempt should handle the event, False if another did or does.

    On a clean exit the event is marked handled; if the body raises, the mark is released
    (best effort: if Redis is the thing that failed, the mark lapses after `in_progress_for`).
    An empty event id cannot be told apart and is always handled.
    """
    if not event_id:
        yield True
        return
    key = keys.seen_event(event_id)
    attempt = _IN_PROGRESS + uuid.uuid4().hex
    if not await redis.set(key, attempt, nx=True, ex=in_progress_for):
        yield False
        return
    try:
        yield True
    except BaseException:
        with suppress(RedisError):
            await redis.eval(_RELEASE, 1, key, attempt)
        raise
    await redis.set(key, HANDLED, ex=SEEN_FOR)
