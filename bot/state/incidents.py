"""Incidents in Redis: the thread is the incident.

One incident per (team, channel, thread ts), opened by the first hunt run in the thread: its
title, its owner and who owned it before, the hunts run in it, notes, and whether it is open.
The thread's approvals are the ApprovalStore's (`in_thread`), not kept twice here.

Every change is one Lua script that checks the state, makes the change and appends its audit
entry (bot/state/audit.py) in the same step, so two processes handing off or taking over at once
leave one owner and a history in which each change starts from the owner the previous one left.
A refused change is audited too and changes nothing. Incidents never expire; the scripts touch
several keys, so like the approvals they need a single Redis node.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict

from bot.errors import HuntBotError
from bot.state import keys
from bot.state.audit import AUDIT_LUA, AuditEvent, AuditLog, from_ms

__all__ = [
    "HuntRun",
    "Incident",
    "IncidentError",
    "IncidentNotFound",
    "IncidentRefused",
    "IncidentState",
    "IncidentStore",
    "Note",
    "OwnerChange",
    "OwnerChangeKind",
    "Refusal",
]


class IncidentState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class OwnerChangeKind(StrEnum):
    OPENED = "opened"  # the first owner: whoever ran the first hunt
    HANDOFF = "handoff"
    TAKEN = "taken"


class Refusal(StrEnum):
    CLOSED = "closed"
    TO_SELF = "to_self"
    ALREADY_OWNER = "already_owner"
    ALREADY_CLOSED = "already_closed"
    ALREADY_OPEN = "already_open"


class IncidentError(HuntBotError):
    pass


class IncidentNotFound(IncidentError):
    def __init__(self) -> None:
        super().__init__(
            "This thread is not an incident.", hint="Run a hunt in the channel to start one."
        )


class IncidentRefused(IncidentError):
    """A change that makes no sense; `code` says which, the message says so to the person."""

    def __init__(self, code: Refusal, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class OwnerChange(BaseModel):
    """`from_user` gave up ownership and `to_user` took it, at `at`, because `by` said so."""

    model_config = ConfigDict(frozen=True)
    kind: OwnerChangeKind
    from_user: str | None = None
    to_user: str
    by: str
    at: datetime
    note: str = ""


class HuntRun(BaseModel):
    model_config = ConfigDict(frozen=True)
    hunt: str
    result_id: str
    user: str
    at: datetime
    rows: int


class Note(BaseModel):
    model_config = ConfigDict(frozen=True)
    user: str
    at: datetime
    text: str


class Incident(BaseModel):
    model_config = ConfigDict(frozen=True)
    team: str
    channel: str
    thread_ts: str
    title: str
    owner: str
    state: IncidentState
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    closed_by: str | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    reopened_by: str | None = None
    reopened_at: datetime | None = None
    owner_history: tuple[OwnerChange, ...] = ()
    hunts: tuple[HuntRun, ...] = ()
    notes: tuple[Note, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.state is IncidentState.OPEN


# -- the scripts ------------------------------------------------------------------------------
# `base` is a JSON object of audit fields known to the caller (at, team, channel, thread_ts,
# user_id); the script adds what happened. Times are epoch ms, kept as strings in the records.

_PRELUDE = AUDIT_LUA

# KEYS: incident, owners, open index, audit. ARGV: title, owner, now, thread ts, audit base.
# Invariant: an incident is created once, by whoever comes first; later callers change nothing.
_OPEN = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local title, owner, now = ARGV[1], ARGV[2], ARGV[3]
redis.call('HSET', KEYS[1], 'title', title, 'owner', owner, 'state', 'open', 'opened_by', owner,
           'opened_at', now, 'updated_at', now)
redis.call('RPUSH', KEYS[2], cjson.encode({kind = 'opened', to_user = owner, by = owner, at = now}))
redis.call('ZADD', KEYS[3], now, ARGV[4])
audit(KEYS[4], ARGV[5], {event = 'incident_opened', title = title, to_user = owner})
return 1
"""
)

# KEYS: incident, owners, audit. ARGV: kind, event, by, to, note, now, audit base.
# Invariants: only an open incident changes owner; never to the current owner, nor handed off
# by someone to themselves; each history entry's from_user is the owner the previous one left.
_CHANGE_OWNER = (
    _PRELUDE
    + """
local kind, event, by, to, note, now, base = unpack(ARGV)
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found', ''} end
local owner = redis.call('HGET', KEYS[1], 'owner')
local function refuse(code, reason)
  audit(KEYS[3], base, {event = 'refused', reason = reason, from_user = owner, to_user = to,
                        note = note})
  return {code, owner}
end
if state ~= 'open' then return refuse('closed', kind .. ': the incident is closed') end
if kind == 'handoff' and to == by then return refuse('to_self', 'handoff: to oneself') end
if to == owner then return refuse('already_owner', kind .. ': already the owner') end
redis.call('HSET', KEYS[1], 'owner', to, 'updated_at', now)
redis.call('RPUSH', KEYS[2], cjson.encode({kind = kind, from_user = owner, to_user = to, by = by,
                                           at = now, note = note}))
audit(KEYS[3], base, {event = event, from_user = owner, to_user = to, note = note})
return {'changed', owner}
"""
)

# KEYS: incident, open index, audit. ARGV: 'closed'|'open', event, by, reason, now, thread ts,
# audit base. Invariant: closes only an open incident and reopens only a closed one; the
# channel's open index always agrees with the state.
_SET_STATE = (
    _PRELUDE
    + """
local to, event, by, reason, now, thread_ts, base = unpack(ARGV)
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'not_found' end
if state == to then
  audit(KEYS[3], base, {event = 'refused', reason = event .. ': the incident is already ' .. to})
  return 'already_' .. to
end
redis.call('HSET', KEYS[1], 'state', to, 'updated_at', now)
if to == 'closed' then
  redis.call('HSET', KEYS[1], 'closed_by', by, 'closed_at', now, 'close_reason', reason)
  redis.call('ZREM', KEYS[2], thread_ts)
else
  redis.call('HSET', KEYS[1], 'reopened_by', by, 'reopened_at', now)
  redis.call('HDEL', KEYS[1], 'closed_by', 'closed_at', 'close_reason')
  redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'opened_at'), thread_ts)
end
audit(KEYS[3], base, {event = event, state = to, previous_state = state, reason = reason})
return 'changed'
"""
)

# KEYS: incident, list, audit. ARGV: record JSON, now, audit base (with its event).
# Invariant: hunts and notes are recorded only on an incident that exists (open or closed).
_APPEND = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
audit(KEYS[3], ARGV[3], {})
return 1
"""
)


def _with_time(record: dict[str, Any], *names: str) -> dict[str, Any]:
    """Epoch-ms strings (as the scripts store them) to datetimes."""
    return {k: from_ms(int(v)) if k in names and v else v for k, v in record.items()}


def _incident_from(
    fields: dict[str, str], owners: list[str], hunts: list[str], notes: list[str], **ids: str
) -> Incident:
    times = ("opened_at", "updated_at", "closed_at", "reopened_at")
    return Incident.model_validate(
        {
            **ids,
            **_with_time(dict(fields), *times),
            "owner_history": [_with_time(json.loads(o), "at") for o in owners],
            "hunts": [_with_time(json.loads(h), "at") for h in hunts],
            "notes": [_with_time(json.loads(n), "at") for n in notes],
        }
    )


class IncidentStore:
    def __init__(
        self, redis: aioredis.Redis, audit: AuditLog, *, clock: Callable[[], float] = time.time
    ) -> None:
        """`redis` answers str (decode_responses=True); `clock` gives epoch seconds."""
        self._redis = redis
        self.audit = audit
        self._clock = clock
        self._open = redis.register_script(_OPEN)
        self._change_owner = redis.register_script(_CHANGE_OWNER)
        self._set_state = redis.register_script(_SET_STATE)
        self._append = redis.register_script(_APPEND)

    def _now(self) -> str:
        return str(int(self._clock() * 1000))

    @staticmethod
    def _base(team: str, channel: str, thread_ts: str, now: str, user: str, **extra: str) -> str:
        fields = {"at": now, "team": team, "channel": channel, "thread_ts": thread_ts}
        return json.dumps({**fields, "user_id": user, **extra})

    # -- reading ------------------------------------------------------------------------------

    async def get(self, team: str, channel: str, thread_ts: str) -> Incident | None:
        """The incident as one consistent snapshot (read in one MULTI), or None."""
        ids = (team, channel, thread_ts)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys.incident(*ids))
            pipe.lrange(keys.incident_owners(*ids), 0, -1)
            pipe.lrange(keys.incident_hunts(*ids), 0, -1)
            pipe.lrange(keys.incident_notes(*ids), 0, -1)
            fields, owners, hunts, notes = await pipe.execute()
        if not fields:
            return None
        return _incident_from(
            fields, owners, hunts, notes, team=team, channel=channel, thread_ts=thread_ts
        )

    async def _require(self, team: str, channel: str, thread_ts: str) -> Incident:
        incident = await self.get(team, channel, thread_ts)
        if incident is None:
            raise IncidentNotFound()
        return incident

    async def open_in_channel(self, team: str, channel: str) -> list[Incident]:
        """The channel's open incidents, newest first."""
        threads = cast(
            list[str], await self._redis.zrevrange(keys.incidents_open(team, channel), 0, -1)
        )
        found = [await self.get(team, channel, thread_ts) for thread_ts in threads]
        return [i for i in found if i is not None and i.is_open]

    # -- changing -----------------------------------------------------------------------------

    async def open_or_get(
        self, team: str, channel: str, thread_ts: str, *, title: str, owner: str
    ) -> Incident:
        """The thread's incident, opened now with this title and owner if it had none."""
        now = self._now()
        ids = (team, channel, thread_ts)
        await self._open(
            keys=[
                keys.incident(*ids),
                keys.incident_owners(*ids),
                keys.incidents_open(team, channel),
                keys.audit_stream(),
            ],
            args=[title, owner, now, thread_ts, self._base(*ids, now, owner)],
        )
        return await self._require(*ids)

    async def record_hunt(
        self,
        team: str,
        channel: str,
        thread_ts: str,
        *,
        hunt: str,
        result_id: str,
        user: str,
        rows: int,
    ) -> None:
        now = self._now()
        record = {"hunt": hunt, "result_id": result_id, "user": user, "at": now, "rows": rows}
        base = self._base(
            team,
            channel,
            thread_ts,
            now,
            user,
            event=AuditEvent.HUNT_RECORDED,
            hunt=hunt,
            result_id=result_id,
            rows=str(rows),
        )
        await self._add(
            keys.incident_hunts(team, channel, thread_ts),
            record,
            now,
            base,
            team,
            channel,
            thread_ts,
        )

    async def add_note(
        self, team: str, channel: str, thread_ts: str, *, user: str, text: str
    ) -> Incident:
        now = self._now()
        record = {"user": user, "at": now, "text": text}
        base = self._base(
            team, channel, thread_ts, now, user, event=AuditEvent.NOTE_ADDED, note=text
        )
        await self._add(
            keys.incident_notes(team, channel, thread_ts),
            record,
            now,
            base,
            team,
            channel,
            thread_ts,
        )
        return await self._require(team, channel, thread_ts)

    async def _add(self, key: str, record: dict[str, Any], now: str, base: str, *ids: str) -> None:
        added = await self._append(
            keys=[keys.incident(*ids), key, keys.audit_stream()],
            args=[json.dumps(record), now, base],
        )
        if not int(added):
            raise IncidentNotFound()

    async def hand_off(
        self, team: str, channel: str, thread_ts: str, *, by: str, to: str, note: str = ""
    ) -> Incident:
        """Make `to` the owner. Whether `to` is a person in the channel is the caller's check."""
        return await self._owner_change(
            OwnerChangeKind.HANDOFF, AuditEvent.HANDOFF, (team, channel, thread_ts), by, to, note
        )

    async def take(self, team: str, channel: str, thread_ts: str, *, by: str) -> Incident:
        return await self._owner_change(
            OwnerChangeKind.TAKEN, AuditEvent.TAKEN, (team, channel, thread_ts), by, by, ""
        )

    async def _owner_change(
        self,
        kind: OwnerChangeKind,
        event: AuditEvent,
        ids: tuple[str, str, str],
        by: str,
        to: str,
        note: str,
    ) -> Incident:
        now = self._now()
        code, owner = await self._change_owner(
            keys=[keys.incident(*ids), keys.incident_owners(*ids), keys.audit_stream()],
            args=[kind.value, event.value, by, to, note, now, self._base(*ids, now, by)],
        )
        if code == "not_found":
            raise IncidentNotFound()
        if code == Refusal.CLOSED:
            raise IncidentRefused(
                Refusal.CLOSED,
                "This incident is closed, so its ownership cannot change.",
                hint="Reopen it first.",
            )
        if code == Refusal.TO_SELF:
            raise IncidentRefused(Refusal.TO_SELF, "You cannot hand an incident off to yourself.")
        if code == Refusal.ALREADY_OWNER:
            who = "You already own" if to == by else f"<@{owner}> already owns"
            raise IncidentRefused(Refusal.ALREADY_OWNER, f"{who} this incident.")
        return await self._require(*ids)

    async def close(
        self, team: str, channel: str, thread_ts: str, *, by: str, reason: str = ""
    ) -> Incident:
        """Close it. Cancelling its pending approvals first, if asked to, is the caller's step."""
        return await self._state_change(
            IncidentState.CLOSED, AuditEvent.INCIDENT_CLOSED, (team, channel, thread_ts), by, reason
        )

    async def reopen(self, team: str, channel: str, thread_ts: str, *, by: str) -> Incident:
        return await self._state_change(
            IncidentState.OPEN, AuditEvent.INCIDENT_REOPENED, (team, channel, thread_ts), by, ""
        )

    async def _state_change(
        self,
        to: IncidentState,
        event: AuditEvent,
        ids: tuple[str, str, str],
        by: str,
        reason: str,
    ) -> Incident:
        now = self._now()
        team, channel, thread_ts = ids
        code = await self._set_state(
            keys=[keys.incident(*ids), keys.incidents_open(team, channel), keys.audit_stream()],
            args=[to.value, event.value, by, reason, now, thread_ts, self._base(*ids, now, by)],
        )
        if code == "not_found":
            raise IncidentNotFound()
        if code == Refusal.ALREADY_CLOSED:
            raise IncidentRefused(Refusal.ALREADY_CLOSED, "This incident is already closed.")
        if code == Refusal.ALREADY_OPEN:
            raise IncidentRefused(Refusal.ALREADY_OPEN, "This incident is already open.")
        return await self._require(*ids)
