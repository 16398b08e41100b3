"""Every Redis key the bot uses, in one place, so the scheme can be read at a glance."""

from __future__ import annotations

PREFIX = "hunt-bot"


def hunt_request(request_id: str) -> str:
    return f"{PREFIX}:hunt-request:{request_id}"


def result_meta(result_id: str) -> str:
    return f"{PREFIX}:result:{result_id}:meta"


def result_chunks(result_id: str) -> str:
    """A hash of compressed row chunks, field = chunk number."""
    return f"{PREFIX}:result:{result_id}:chunks"


def hunting_quota() -> str:
    """The tenant's hunting token bucket (shared by every process)."""
    return f"{PREFIX}:quota:hunting"


def hunting_queue() -> str:
    """Hunts waiting for the quota, by arrival time: the queue position people are told."""
    return f"{PREFIX}:quota:hunting:queue"


def channel_pace(channel: str) -> str:
    return f"{PREFIX}:pace:{channel}"


def usergroup_members(group: str) -> str:
    return f"{PREFIX}:usergroup:{group}"


def job_stream() -> str:
    return f"{PREFIX}:jobs"


def seen_event(event_id: str) -> str:
    return f"{PREFIX}:event:{event_id}"
