"""Slack user groups' members, cached in Redis for a minute and shared by every process.

Who is in a group is asked through `lookup` (the Slack directory, given by the composition root),
so neither this cache nor the policies that use it know Slack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import redis.asyncio as aioredis

from bot.state import keys

GROUP_CACHE = timedelta(minutes=1)  # membership changes must take effect quickly

MembersLookup = Callable[[str], Awaitable[set[str]]]


class GroupMembers:
    def __init__(self, redis: aioredis.Redis, lookup: MembersLookup) -> None:
        self._redis = redis
        self._lookup = lookup

    async def cached(self, group: str) -> set[str] | None:
        """From Redis only (fit for an ack path); None when not cached."""
        key = keys.usergroup_members(group)
        members = await self._redis.smembers(key)  # type: ignore[misc]
        if members or await self._redis.exists(key):
            return {str(member) for member in members} - {""}
        return None

    async def __call__(self, group: str) -> set[str]:
        """The group's members, looked up once a minute at most across processes."""
        cached = await self.cached(group)
        if cached is not None:
            return cached
        members = await self._lookup(group)
        key = keys.usergroup_members(group)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.sadd(key, "", *members)  # "" marks a cached empty group
            pipe.expire(key, GROUP_CACHE)
            await pipe.execute()
        return members
