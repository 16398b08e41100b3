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
from typing import Any, cast, overload

import redis.asyncio as aioredis

from bot.state import incident_scripts as lua
from bot.state import keys
from bot.state.audit import AuditEvent, AuditLog
from bot.state.incident_records import (
    Incident,
    IncidentNotFound,
    IncidentRefused,
    IncidentState,
    OwnerChangeKind,
    Refusal,
    incident_from,
)

# `Incident` is here only for bot/slack/incident.py, until it imports bot.state.incident_records.
__all__ = ["Incident", "IncidentStore"]


class IncidentStore:
    def __init__(
        self, redis: aioredis.Redis, audit: AuditLog, *, clock: Callable[[], float] = time.time
    ) -> None:
        """`redis` answers str (decode_responses=True); `clock` gives epoch seconds."""
        self._redis = redis
        self.audit = audit
        self._clock = clock
        self._open = redis.register_script(lua.OPEN)
        self._change_owner = redis.register_script(lua.CHANGE_OWNER)
        self._set_state = redis.register_script(lua.SET_STATE)
        self._append = redis.register_script(lua.APPEND)

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
        return incident_from(
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

    async def close_if_idle(
        self, team: str, channel: str, thread_ts: str, *, by: str, reason: str, since: datetime
    ) -> Incident | None:
        """Close it unless a hunt, note or owner change came after `since`: then None, and it
        stays as it is (decided in the same step as the close, so nothing slips in between)."""
        return await self._state_change(
            IncidentState.CLOSED,
            AuditEvent.INCIDENT_CLOSED,
            (team, channel, thread_ts),
            by,
            reason,
            idle_before=str(int(since.timestamp() * 1000)),
        )

    async def reopen(self, team: str, channel: str, thread_ts: str, *, by: str) -> Incident:
        return await self._state_change(
            IncidentState.OPEN, AuditEvent.INCIDENT_REOPENED, (team, channel, thread_ts), by, ""
        )

    @overload
    async def _state_change(
        self, to: IncidentState, event: AuditEvent, ids: tuple[str, str, str], by: str, reason: str
    ) -> Incident: ...

    @overload
    async def _state_change(
        self,
        to: IncidentState,
        event: AuditEvent,
        ids: tuple[str, str, str],
        by: str,
        reason: str,
        *,
        idle_before: str,
    ) -> Incident | None: ...

    async def _state_change(
        self,
        to: IncidentState,
        event: AuditEvent,
        ids: tuple[str, str, str],
        by: str,
        reason: str,
        *,
        idle_before: str = "",
    ) -> Incident | None:
        now = self._now()
        team, channel, thread_ts = ids
        base = self._base(*ids, now, by)
        code = await self._set_state(
            keys=[keys.incident(*ids), keys.incidents_open(team, channel), keys.audit_stream()],
            args=[to.value, event.value, by, reason, now, thread_ts, base, idle_before],
        )
        if code == "active":
            return None
        if code == "not_found":
            raise IncidentNotFound()
        if code == Refusal.ALREADY_CLOSED:
            raise IncidentRefused(Refusal.ALREADY_CLOSED, "This incident is already closed.")
        if code == Refusal.ALREADY_OPEN:
            raise IncidentRefused(Refusal.ALREADY_OPEN, "This incident is already open.")
        return await self._require(*ids)
