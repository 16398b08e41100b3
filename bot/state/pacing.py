"""About one message a second per Slack channel, across every process (Slack's own guidance)."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from bot.state import keys

_RESERVE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, last + interval)
redis.call('SET', KEYS[1], tostring(slot), 'PX', interval * 10)
return slot - now
"""


class ChannelPacer:
    def __init__(self, redis: aioredis.Redis, interval: float = 1.0) -> None:
        self._interval_ms = int(interval * 1000)
        self._script = redis.register_script(_RESERVE)

    async def wait_turn(self, channel: str) -> float:
        """Reserve this channel's next slot and sleep until it comes; returns the wait."""
        delay_ms = await self._script(
            keys=[keys.channel_pace(channel)], args=[int(time.time() * 1000), self._interval_ms]
        )
        delay = int(delay_ms) / 1000
        if delay > 0:
            await asyncio.sleep(delay)
        return delay
