"""The tenant's hunting quota, shared by every process: a token bucket and a queue in Redis.

Graph allows about 45 hunting calls a minute per tenant. A hunt takes a token to run; when none is
left it joins a queue ordered by arrival, and learns its place so the person can be told. Tokens
go to the head of the queue first, so nobody is overtaken. Both steps are one Lua script, atomic
across processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.state import keys

# A waiter that vanished (its worker died) must not block the queue for ever.
STALE_WAITER_MS = 10 * 60 * 1000

_ACQUIRE = """
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local id = ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or capacity)
local last = tonumber(redis.call('HGET', KEYS[1], 'at') or now)
tokens = math.min(capacity, tokens + (now - last) * rate)
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if tokens >= 1 and (head == nil or head == id) then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(now))
  redis.call('ZREM', KEYS[2], id)
  return {0, 0}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('ZADD', KEYS[2], 'NX', now, id)
local position = redis.call('ZRANK', KEYS[2], id) + 1
local wait = math.ceil((math.max(0, 1 - tokens) + (position - 1)) / rate)
return {position, wait}
"""


@dataclass(frozen=True)
class QuotaWait:
    position: int  # 1 = next in line
    seconds: float  # roughly how long until its turn


class HuntingQuota:
    def __init__(self, redis: aioredis.Redis, per_minute: float | None) -> None:
        """`per_minute` None means no quota (the lab tenant)."""
        self._redis = redis
        self._rate_per_ms = None if per_minute is None else per_minute / 60_000
        self._capacity = per_minute or 0
        self._script = redis.register_script(_ACQUIRE)

    async def acquire(self, request_id: str) -> QuotaWait | None:
        """None: go ahead (a token was taken). Otherwise: wait, with the place in the queue."""
        if self._rate_per_ms is None:
            return None
        position, wait_ms = await self._script(
            keys=[keys.hunting_quota(), keys.hunting_queue()],
            args=[
                int(time.time() * 1000),
                self._rate_per_ms,
                self._capacity,
                request_id,
                STALE_WAITER_MS,
            ],
        )
        if int(position) == 0:
            return None
        return QuotaWait(position=int(position), seconds=max(0.2, int(wait_ms) / 1000))

    async def leave(self, request_id: str) -> None:
        await self._redis.zrem(keys.hunting_queue(), request_id)
