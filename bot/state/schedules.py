"""Scheduled hunts: what runs when, which tick each run is, and which rows a schedule has posted.

Any number of processes call `claim_due` every few seconds; a Lua script moves each due schedule
to its next tick in the same step that hands it out, so a tick runs once however many processes
ask, and a schedule whose processes were all down across several ticks is handed out once (its
next tick is the first one still in the future), not once per missed tick.

"New" is decided here too: `first_seen` adds a run's row keys to the schedule's seen set and
answers only those no earlier run added, in one atomic step, so two runs that overlap can never
both post the same row.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from pydantic import BaseModel

from bot.errors import HuntBotError
from bot.state import keys

# Keys of posted rows are kept this long after their last sighting: longer than any lookback
# Defender allows (30 days), so a row can never come back as new while it is still huntable.
SEEN_TTL = timedelta(days=31)
CLAIM_BATCH = 50

# KEYS[1] the due set (id -> next tick, epoch s); ARGV[1] now, ARGV[2] the schedule key prefix.
# Every due schedule's score moves to its first tick after now; the ids and the ticks they were
# due at are returned, flat. A missing schedule (deleted meanwhile) just leaves the set.
_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, 50)
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #due, 2 do
  local id, tick = due[i], tonumber(due[i + 1])
  local every = tonumber(redis.call('HGET', ARGV[2] .. id, 'every'))
  if not every or every <= 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    local next_tick = tick + every * (math.floor((now - tick) / every) + 1)
    redis.call('ZADD', KEYS[1], next_tick, id)
    redis.call('HSET', ARGV[2] .. id, 'next', next_tick)
    table.insert(out, id)
    table.insert(out, tostring(tick))
  end
end
return out
"""

# KEYS[1] the seen set, KEYS[2] this run's fresh keys; ARGV[1] the TTL in seconds, ARGV[2..] the
# row keys. The keys no other run saw first; a run asking again (its job redelivered after a
# crash) gets the same answer, so what it should post is never lost between claim and post.
_FIRST_SEEN = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  local kept = redis.call('SMEMBERS', KEYS[2])
  for i, key in ipairs(kept) do if key == '' then table.remove(kept, i) break end end
  return kept
end
local fresh = {}
redis.call('SADD', KEYS[2], '')  -- marks the run as answered, even when nothing is new
for i = 2, #ARGV do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    table.insert(fresh, ARGV[i])
    redis.call('SADD', KEYS[2], ARGV[i])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], 86400)
return fresh
"""


class ScheduleNotFound(HuntBotError):
    pass


class LastRun(BaseModel):
    at: datetime
    found: int = 0  # rows the hunt returned
    new: int = 0  # of those, rows no earlier run had posted
    result_id: str | None = None  # the results message of the rows posted, if any
    error: str = ""  # what stopped the run, in words for people


class Schedule(BaseModel):
    id: str  # "SCH-3": short enough to say in a channel
    team: str
    channel: str
    hunt: str
    arguments: dict[str, str] = {}
    every: timedelta
    owner: str
    created_at: datetime
    paused: bool = False
    next_run_at: datetime
    last_run: LastRun | None = None


class Due(BaseModel):
    schedule_id: str
    tick: datetime  # the tick it was due at (the earliest, when ticks were missed)


class ScheduleStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._claim = redis.register_script(_CLAIM_DUE)
        self._first_seen = redis.register_script(_FIRST_SEEN)

    async def create(
        self,
        *,
        team: str,
        channel: str,
        hunt: str,
        arguments: dict[str, str],
        every: timedelta,
        owner: str,
        now: datetime,
        first_run_at: datetime | None = None,
    ) -> Schedule:
        number = await self._redis.incr(keys.schedule_sequence())
        schedule = Schedule(
            id=f"SCH-{number}",
            team=team,
            channel=channel,
            hunt=hunt,
            arguments=arguments,
            every=every,
            owner=owner,
            created_at=now,
            next_run_at=first_run_at or now + every,
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.schedule(schedule.id), mapping=_fields(schedule))  # type: ignore[arg-type]
            pipe.zadd(keys.schedules_due(), {schedule.id: schedule.next_run_at.timestamp()})
            pipe.sadd(keys.schedules_in_channel(team, channel), schedule.id)
            await pipe.execute()
        return schedule

    async def get(self, schedule_id: str) -> Schedule:
        fields: dict[str, str] = await self._redis.hgetall(  # type: ignore[misc,assignment]
            keys.schedule(schedule_id)
        )
        if not fields:
            raise ScheduleNotFound(
                f"There is no schedule {schedule_id} (any more).",
                hint="/hunt schedules lists this channel's schedules.",
            )
        return _schedule(fields)

    async def in_channel(self, team: str, channel: str) -> list[Schedule]:
        ids: set[str] = await self._redis.smembers(  # type: ignore[misc,assignment]
            keys.schedules_in_channel(team, channel)
        )
        found = []
        async with self._redis.pipeline(transaction=False) as pipe:
            for schedule_id in sorted(ids):
                pipe.hgetall(keys.schedule(schedule_id))
            stored: list[dict[str, str]] = await pipe.execute()
        for fields in stored:
            if fields:
                found.append(_schedule(fields))
        return sorted(found, key=lambda s: int(s.id.removeprefix("SCH-")))

    async def pause(self, schedule_id: str) -> Schedule:
        schedule = await self.get(schedule_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.schedule(schedule_id), "paused", "1")
            pipe.zrem(keys.schedules_due(), schedule_id)
            await pipe.execute()
        return schedule.model_copy(update={"paused": True})

    async def resume(self, schedule_id: str, now: datetime) -> Schedule:
        """Runs again from its next tick after now (ticks missed while paused never run)."""
        schedule = await self.get(schedule_id)
        period = schedule.every.total_seconds()
        last = schedule.next_run_at.timestamp()
        behind = max(0.0, now.timestamp() - last)
        next_tick = last + period * math.ceil(behind / period) if behind else last
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.schedule(schedule_id), mapping={"paused": "0", "next": str(next_tick)})
            pipe.zadd(keys.schedules_due(), {schedule_id: next_tick})
            await pipe.execute()
        return schedule.model_copy(
            update={"paused": False, "next_run_at": datetime.fromtimestamp(next_tick, UTC)}
        )

    async def delete(self, schedule_id: str) -> Schedule:
        schedule = await self.get(schedule_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.schedule(schedule_id), keys.schedule_seen(schedule_id))

            pipe.zrem(keys.schedules_due(), schedule_id)
            pipe.srem(keys.schedules_in_channel(schedule.team, schedule.channel), schedule_id)
            await pipe.execute()
        return schedule

    async def claim_due(self, now: datetime) -> list[Due]:
        """The schedules due at `now`, each handed to exactly one caller per tick."""
        flat = await self._claim(
            keys=[keys.schedules_due()], args=[now.timestamp(), keys.schedule("")]
        )
        return [
            Due(schedule_id=flat[i], tick=datetime.fromtimestamp(float(flat[i + 1]), UTC))
            for i in range(0, len(flat), 2)
        ]

    async def first_seen(self, schedule_id: str, run_id: str, row_keys: list[str]) -> set[str]:
        """Records `row_keys` as posted by run `run_id`; answers those no other run posted (the
        same answer every time the same run asks)."""
        fresh = await self._first_seen(
            keys=[keys.schedule_seen(schedule_id), keys.schedule_run(run_id)],
            args=[int(SEEN_TTL.total_seconds()), *row_keys],
        )
        return set(fresh)

    async def record_run(self, schedule_id: str, run: LastRun) -> None:
        """What the latest run found; ignored for a schedule deleted while it ran."""
        key = keys.schedule(schedule_id)
        if await self._redis.exists(key):
            await self._redis.hset(key, "last_run", run.model_dump_json())


# What changes after creation lives in its own fields, so no update rewrites the rest.
_CHANGING = {"paused", "next_run_at", "last_run"}


def _fields(schedule: Schedule) -> dict[str, str]:
    return {
        "data": schedule.model_dump_json(exclude=_CHANGING),
        "every": str(schedule.every.total_seconds()),
        "paused": "1" if schedule.paused else "0",
        "next": str(schedule.next_run_at.timestamp()),
    }


def _schedule(fields: dict[str, str]) -> Schedule:
    last = fields.get("last_run")
    return Schedule.model_validate(
        {
            **json.loads(fields["data"]),
            "paused": fields.get("paused") == "1",
            "next_run_at": datetime.fromtimestamp(float(fields["next"]), UTC),
            "last_run": LastRun.model_validate_json(last) if last else None,
        }
    )
