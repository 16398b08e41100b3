"""Where each approval's card was posted, so any process can update it."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.state import keys


class CardLocations:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def remember(self, approval_id: str, channel: str, ts: str) -> None:
        await self._redis.hset(
            keys.approval_card(approval_id), mapping={"channel": channel, "ts": ts}
        )  # type: ignore[misc]

    async def find(self, approval_id: str) -> tuple[str, str] | None:
        found = await self._redis.hgetall(keys.approval_card(approval_id))  # type: ignore[misc]
        return (str(found["channel"]), str(found["ts"])) if found else None
