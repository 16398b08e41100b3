"""What the app registration may do, as the worker last read it from its tokens.

Listeners may not fetch tokens on the ack path, so the worker records the capabilities it found
and the Take actions modal offers only those. Missing (never read yet) means unknown.
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from bot.state import keys


async def save_capabilities(redis: aioredis.Redis, capabilities: set[str]) -> None:
    await redis.set(keys.capabilities(), json.dumps(sorted(capabilities)))


async def load_capabilities(redis: aioredis.Redis) -> set[str] | None:
    raw = await redis.get(keys.capabilities())
    return None if raw is None else set(json.loads(raw))
