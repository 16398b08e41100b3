"""The tenant's hunting quota, shared by every process: a rolling 60 s window, a queue and a pause.

Graph allows each tenant a number of hunting calls a minute (at least 45; GRAPH_HUNTS_PER_MINUTE)
and a CPU allocation renewed every 15 minutes; a 429 says which ran out and when to come back.
Three Redis keys carry it, changed only by Lua scripts (atomic across processes), on Redis's own
clock (`TIME`), so processes on different hosts need not agree on the time:

- the call log, a sorted set of every call still inside the window. A call enters when it is let
  through and is stamped again when Microsoft's answer comes back (`answered`); it leaves 60 s
  after that. Microsoft saw the call somewhere between the two, so no 60 s window as Microsoft
  counts it ever holds more calls than the limit.
- the queue of hunts waiting, by arrival: the head goes first, nobody is overtaken, and each
  waiter learns its place. A waiter that stops asking (its worker died) is dropped after a while.
- "paused until": set from a 429's Retry-After (`pause`). Nobody is let through before then, in
  any process; waiters are told why and for how long. When it ends, one call goes first (the
  probe) and the rest follow once Microsoft has answered it without a 429 (a 429 comes back at
  once, so after PROBE_MS they follow anyway): a quota still spent is learnt from one call, not
  from everyone who was waiting.
"""

from __future__ import annotations

import asyncio
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.state import keys

WINDOW_MS = 60_000
# A waiter that stopped asking (its worker died) must not block the queue for ever.
STALE_WAITER_MS = 2 * 60 * 1000
# Retries of a call that already had its turn (a 5xx, a timeout) wait ahead of every queued hunt.
RETRY_ARRIVAL = 0
# A hunt back in the queue after a 429 waits ahead of hunts that have not had a turn.
RETURNING_ARRIVAL = 1
PROBE_MS = 5_000

# The call this task was last let through for: what `answered()` stamps when given no id, so the
# code that sends the call (bot/defender/hunting.py) needs no id from the code that queued it.
_LET_THROUGH: ContextVar[str | None] = ContextVar("hunting_call_let_through", default=None)

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: call log, queue, last-seen of waiters, pause, arrival counter.
# ARGV: limit, window ms, waiter id, arrival (ms; -1 = now), stale ms, call id, probe ms.
# Returns {0} when the call may go (it is logged), else {position, wait ms, paused ms, quota}.
_ACQUIRE = (
    _NOW
    + """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local id = ARGV[3]
local arrival = tonumber(ARGV[4])
if arrival < 0 then arrival = now end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[5]))) do
  redis.call('ZREM', KEYS[2], gone)
  redis.call('ZREM', KEYS[3], gone)
end
local paused = tonumber(redis.call('HGET', KEYS[4], 'until') or 0)
local probe_at = tonumber(redis.call('HGET', KEYS[4], 'probe_at') or 0)
local probing = paused > 0 and now >= paused and now - probe_at < tonumber(ARGV[7])
local used = redis.call('ZCARD', KEYS[1])
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if now >= paused and not probing and used < limit and (head == nil or head == id) then
  redis.call('ZADD', KEYS[1], now, ARGV[6])
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  if paused > 0 then
    redis.call('HSET', KEYS[4], 'probe', ARGV[6], 'probe_at', now)
  end
  return {0}
end
if not redis.call('ZSCORE', KEYS[2], id) then
  -- Hunts arriving in the same millisecond keep their order of arrival (a tie would be ordered
  -- by id, so a later hunt could take a place already told to an earlier one).
  local tie = redis.call('INCR', KEYS[5]) % 1000
  redis.call('ZADD', KEYS[2], arrival + tie / 1000, id)
end
redis.call('ZADD', KEYS[3], now, id)
local position = redis.call('ZRANK', KEYS[2], id) + 1
-- Its turn comes when enough logged calls have left the window (and any pause is over).
local at = now
local k = position - (limit - used)
if k > 0 then
  local wave = math.floor((k - 1) / limit)
  local entry = redis.call('ZRANGE', KEYS[1], (k - 1) % limit, (k - 1) % limit, 'WITHSCORES')
  if entry[2] then
    at = tonumber(entry[2]) + window * (wave + 1)
  else
    at = now + window * wave
  end
end
local paused_ms = math.max(0, paused - now)
if paused_ms > 0 then
  at = math.max(at, paused + window * math.floor((position - 1) / limit))
elseif probing then
  at = math.max(at, now + 250)  -- the probe's answer is due any moment
end
return {position, at - now, paused_ms, redis.call('HGET', KEYS[4], 'quota') or ''}
"""
)

# KEYS: call log, pause. ARGV: call id, "1" if it was a 429. Stamp a logged call with the time its
# answer came back; a probe answered without a 429 ends the pause for everyone.
_ANSWERED = (
    _NOW
    + """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
end
if ARGV[2] ~= '1' and redis.call('HGET', KEYS[2], 'probe') == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return 0
"""
)

# KEYS: pause. ARGV: ms from now, quota ("calls", "cpu" or ""). Only ever lengthens a pause; the
# first call after it is a new probe. Forgotten 10 minutes after it ends if nobody calls.
_PAUSE = (
    _NOW
    + """
local till = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'until') or 0)
redis.call('HDEL', KEYS[1], 'probe', 'probe_at')
if till > current then
  redis.call('HSET', KEYS[1], 'until', till, 'quota', ARGV[2])
  redis.call('PEXPIREAT', KEYS[1], till + 600000)
  return till - now
end
return current - now
"""
)


# KEYS: pause. How much longer it holds (ms) and for which quota.
_PAUSED = (
    _NOW
    + """
local till = tonumber(redis.call('HGET', KEYS[1], 'until') or 0)
return {math.max(0, till - now), redis.call('HGET', KEYS[1], 'quota') or ''}
"""
)


@dataclass(frozen=True)
class QuotaWait:
    position: int  # 1 = next in line
    seconds: float  # how long until its turn, as far as can be known now
    paused_for: float = 0.0  # Microsoft asked every caller to wait this much longer (a 429)
    quota: str = ""  # which quota the pause is for: "calls", "cpu" or "" (not said)


class HuntingQuota:
    def __init__(
        self, redis: aioredis.Redis, per_minute: int | None, *, window_ms: int = WINDOW_MS
    ) -> None:
        """`per_minute` None means no quota (the lab tenant)."""
        self._redis = redis
        self.per_minute = per_minute
        self._window_ms = window_ms
        self._acquire = redis.register_script(_ACQUIRE)
        self._answered = redis.register_script(_ANSWERED)
        self._pause = redis.register_script(_PAUSE)
        self._paused = redis.register_script(_PAUSED)

    async def acquire(
        self, request_id: str, *, call_id: str | None = None, arrived_ms: int | None = None
    ) -> QuotaWait | None:
        """None: go ahead (the call `call_id` is logged). Otherwise wait, with the place in line.

        `arrived_ms` keeps a hunt's place when it comes back to the queue (after a 429); by
        default it queues from now.
        """
        if self.per_minute is None:
            return None
        answer = await self._acquire(
            keys=[
                keys.hunting_calls(),
                keys.hunting_queue(),
                keys.hunting_waiters_seen(),
                keys.hunting_pause(),
                keys.hunting_arrivals(),
            ],
            args=[
                self.per_minute,
                self._window_ms,
                request_id,
                -1 if arrived_ms is None else arrived_ms,
                STALE_WAITER_MS,
                call_id or request_id,
                PROBE_MS,
            ],
        )
        if int(answer[0]) == 0:
            _LET_THROUGH.set(call_id or request_id)
            return None
        position, wait_ms, paused_ms, quota = answer
        if isinstance(quota, bytes):
            quota = quota.decode()
        return QuotaWait(
            position=int(position),
            seconds=max(0.2, int(wait_ms) / 1000),
            paused_for=int(paused_ms) / 1000,
            quota=str(quota),
        )

    async def answered(self, call_id: str | None = None, *, throttled: bool = False) -> None:
        """Microsoft has answered `call_id` (default: the call this task was last let through
        for), with a 429 if `throttled`: it counts for 60 s from now."""
        call_id = call_id or _LET_THROUGH.get()
        if self.per_minute is not None and call_id:
            await self._answered(
                keys=[keys.hunting_calls(), keys.hunting_pause()],
                args=[call_id, "1" if throttled else "0"],
            )

    async def pause(self, seconds: float, quota: str = "") -> float:
        """Nobody hunts for `seconds` (a 429's Retry-After), in any process; the pause left."""
        if self.per_minute is None:
            return 0.0
        left = await self._pause(
            keys=[keys.hunting_pause()], args=[max(1, round(seconds * 1000)), quota]
        )
        return int(left) / 1000

    async def paused(self) -> tuple[float, str]:
        """How much longer every process must not hunt (seconds, 0 if it may) and which quota
        Microsoft said ran out: a last look before a call that was let through is sent."""
        if self.per_minute is None:
            return 0.0, ""
        left, quota = await self._paused(keys=[keys.hunting_pause()])
        return int(left) / 1000, quota.decode() if isinstance(quota, bytes) else str(quota)

    async def retry_slot(self) -> str:
        """For a call that already had its turn (a retry after a 5xx): wait, ahead of the
        queue, until the window has room and no pause holds; the call's id."""
        waiter = f"retry:{uuid.uuid4().hex}"
        try:
            while wait := await self.acquire(waiter, call_id=waiter, arrived_ms=RETRY_ARRIVAL):
                await asyncio.sleep(min(wait.seconds, 1.0))
        except BaseException:
            await asyncio.shield(self.leave(waiter))
            raise
        return waiter

    async def leave(self, request_id: str) -> None:
        await self._redis.zrem(keys.hunting_queue(), request_id)
        await self._redis.zrem(keys.hunting_waiters_seen(), request_id)
