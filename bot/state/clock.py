"""The time schedules run by: the real time, plus an offset the console's `wait` moves.

Only a lab-tenant bot honours the offset (a real tenant's schedules follow the wall clock); it
lives in Redis so every process of one bot sees the same time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from bot.state import keys


class ScheduleClock:
    def __init__(self, redis: aioredis.Redis, *, movable: bool) -> None:
        self._redis = redis
        self._movable = movable

    async def now(self) -> datetime:
        real = datetime.now(UTC)
        if not self._movable:
            return real
        offset = await self._redis.get(keys.clock_offset())
        return real + timedelta(seconds=float(offset or 0))

    async def advance(self, span: timedelta) -> datetime:
        """Moves the schedules' time forward (the console's `wait`); the new time."""
        if not self._movable:
            raise ValueError("only a lab-tenant bot's clock can be moved")
        await self._redis.incrbyfloat(keys.clock_offset(), span.total_seconds())
        return await self.now()
