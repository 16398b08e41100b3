"""What an incident is, as read back from Redis, and the errors its changes raise.

The store is bot/state/incidents.py; the Lua scripts behind it are bot/state/incident_scripts.py.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.errors import HuntBotError
from bot.state.audit import from_ms


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


def _with_time(record: dict[str, Any], *names: str) -> dict[str, Any]:
    """Epoch-ms strings (as the scripts store them) to datetimes."""
    return {k: from_ms(int(v)) if k in names and v else v for k, v in record.items()}


def incident_from(
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
