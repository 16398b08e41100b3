"""The audit log: an append-only Redis stream of every request, vote, refusal, state change and
outcome, with the Slack user ids and names of the people involved.

Approval state changes write their entry inside the same Lua script that makes the change
(bot/state/approvals.py), so a change without its entry, or an entry without its change, cannot
happen. Everything else appends here. Entries are flat string fields, readable with redis-cli;
the stream id's millisecond part is when Redis stored the entry, `at` when it happened.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import TextIO, cast

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict

from bot.state import keys

# What XRANGE answers on a str connection: (entry id, fields) pairs.
_Rows = list[tuple[str, dict[str, str]]]


class AuditEvent(StrEnum):
    REQUESTED = "requested"  # an approval was asked for
    VOTED = "voted"  # a vote counted (vote = approve | reject)
    REFUSED = "refused"  # a vote, cancel or request was refused; `reason` says why
    STATE_CHANGED = "state_changed"  # previous_state -> state
    OUTCOME = "outcome"  # a target's outcome was recorded (target, status, detail)
    REMINDED = "reminded"  # the thread was reminded a pending approval needs votes (once)
    # Incidents (bot/state/incidents.py); refusals there are REFUSED with a `reason`.
    INCIDENT_OPENED = "incident_opened"  # title, owner (to_user)
    HANDOFF = "handoff"  # from_user -> to_user by user_id, with the handoff note
    TAKEN = "taken"  # user_id took ownership from from_user
    INCIDENT_CLOSED = "incident_closed"  # by user_id, with a reason
    INCIDENT_REOPENED = "incident_reopened"
    NOTE_ADDED = "note_added"  # the text in `note`
    HUNT_RECORDED = "hunt_recorded"  # hunt, result_id, rows run in the incident's thread
    # Scheduled hunts (bot/flows/schedules.py): target = the schedule id, note = how often.
    SCHEDULE_CREATED = "schedule_created"
    SCHEDULE_PAUSED = "schedule_paused"
    SCHEDULE_RESUMED = "schedule_resumed"
    SCHEDULE_DELETED = "schedule_deleted"
    SCHEDULE_RAN = "schedule_ran"  # a tick ran in its owner's name: result_id, note = the tick


class AuditEntry(BaseModel):
    """One line of the log. Fields other writers add are kept (extra="allow")."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str = ""  # the stream id, known once stored
    at: datetime
    event: str  # an AuditEvent, kept as text so entries from newer versions still read
    approval_id: str | None = None
    action: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    state: str | None = None
    previous_state: str | None = None
    vote: str | None = None
    reason: str | None = None
    target: str | None = None
    status: str | None = None
    detail: str | None = None
    worker: str | None = None
    hunt: str | None = None
    result_id: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    digest: str | None = None
    quorum: str | None = None
    approvals: str | None = None  # approvals counted so far
    targets: str | None = None  # how many targets a request covers
    team: str | None = None
    title: str | None = None
    from_user: str | None = None  # ownership given up by
    to_user: str | None = None  # ownership given to
    note: str | None = None
    rows: str | None = None  # how many rows a hunt returned

    def stream_fields(self) -> dict[str, str]:
        """The entry as the stream stores it: strings, `at` in epoch milliseconds, no blanks."""
        data = self.model_dump(exclude={"id", "at"}, exclude_none=True)
        fields = {name: str(value) for name, value in data.items() if value != ""}
        fields["at"] = str(to_ms(self.at))
        return fields

    @classmethod
    def from_stream(cls, entry_id: str, fields: dict[str, str]) -> AuditEntry:
        data: dict[str, object] = dict(fields)
        data["at"] = from_ms(int(fields.get("at") or entry_id.split("-", 1)[0]))
        data.setdefault("event", "unknown")
        return cls(id=entry_id, **data)  # type: ignore[arg-type]

    def json_line(self) -> str:
        return json.dumps(
            self.model_dump(mode="json", exclude_none=True), ensure_ascii=False, sort_keys=True
        )


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class AuditLog:
    def __init__(self, redis: aioredis.Redis) -> None:
        """`redis` answers str (decode_responses=True)."""
        self._redis = redis
        self._key = keys.audit_stream()

    async def append(self, entry: AuditEntry) -> str:
        return str(await self._redis.xadd(self._key, entry.stream_fields()))  # type: ignore[arg-type]

    async def record(self, event: AuditEvent | str, **fields: str | None) -> str:
        """Append an entry happening now, e.g. a refused request or a hunt that ran."""
        entry = AuditEntry.model_validate({**fields, "at": datetime.now(UTC), "event": event})
        return await self.append(entry)

    async def recent(self, n: int = 20) -> list[AuditEntry]:
        """The last `n` entries, oldest first."""
        if n <= 0:
            return []
        rows = cast(_Rows, await self._redis.xrevrange(self._key, count=n))
        return [AuditEntry.from_stream(entry_id, fields) for entry_id, fields in reversed(rows)]

    async def entries(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        batch: int = 500,
    ) -> AsyncIterator[AuditEntry]:
        """Every entry stored in [since, until], oldest first, read in batches."""
        start = "-" if since is None else str(to_ms(since))
        end = "+" if until is None else str(to_ms(until))
        while True:
            rows = cast(_Rows, await self._redis.xrange(self._key, min=start, max=end, count=batch))
            for entry_id, fields in rows:
                yield AuditEntry.from_stream(entry_id, fields)
            if len(rows) < batch:
                return
            start = "(" + rows[-1][0]  # exclusive: continue after the last one read

    async def export_jsonl(
        self, out: TextIO, since: datetime | None = None, until: datetime | None = None
    ) -> int:
        """Write entries as JSON lines; returns how many were written."""
        count = 0
        async for entry in self.entries(since, until):
            out.write(entry.json_line() + "\n")
            count += 1
        return count

    async def length(self) -> int:
        return int(await self._redis.xlen(self._key))


# The Lua that scripts changing state prepend, so each change and its audit entry are one step:
# `audit(stream, base, extra)` appends `base` (a JSON object of fields the caller knows) plus
# `extra` (what happened), leaving out empty fields.
AUDIT_LUA = """
local function audit(stream, base, extra)
  local entry = cjson.decode(base)
  for k, v in pairs(extra) do entry[k] = v end
  local flat = {}
  for k, v in pairs(entry) do
    if v ~= '' then flat[#flat + 1] = k; flat[#flat + 1] = tostring(v) end
  end
  redis.call('XADD', stream, '*', unpack(flat))
end
"""
