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


def hunting_calls() -> str:
    """The tenant's hunting calls still inside the rolling 60 s window (shared by every process)."""
    return f"{PREFIX}:quota:hunting:calls"


def hunting_pause() -> str:
    """Until when Microsoft asked every process to stop hunting (a 429's Retry-After)."""
    return f"{PREFIX}:quota:hunting:paused"


def hunting_waiters_seen() -> str:
    """When each queued hunt last asked for its turn: a waiter that stops asking is dropped."""
    return f"{PREFIX}:quota:hunting:seen"


def hunting_arrivals() -> str:
    """A counter that orders hunts joining the queue in the same millisecond."""
    return f"{PREFIX}:quota:hunting:arrivals"


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


def capabilities() -> str:
    return f"{PREFIX}:capabilities"


# -- approvals and audit (bot/state/approvals.py, bot/state/audit.py) --------------------------


def approval(approval_id: str) -> str:
    """A hash: the canonical spec, its digest, who asked, the thread, state, lease."""
    return f"{PREFIX}:approval:{approval_id}"


def approval_votes(approval_id: str) -> str:
    """A hash, field = Slack user id, value = how they voted and when."""
    return f"{PREFIX}:approval:{approval_id}:votes"


def approval_outcomes(approval_id: str) -> str:
    """A hash, field = target key, value = the TargetOutcome as JSON."""
    return f"{PREFIX}:approval:{approval_id}:outcomes"


def approval_intents(approval_id: str) -> str:
    """A hash, field = target key, value = JSON {fence, at}: written (fenced by the lease) just
    before the target is sent to Microsoft; one without an outcome is reconciled, not resent."""
    return f"{PREFIX}:approval:{approval_id}:intents"


def approval_sequence() -> str:
    """The counter approval ids are numbered from."""
    return f"{PREFIX}:approvals:sequence"


def approvals_expiring() -> str:
    """Pending approvals by expiry time (ms), for the expiry sweep."""
    return f"{PREFIX}:approvals:expiring"


def approvals_in_thread(channel: str, thread_ts: str) -> str:
    """The approvals asked for in one incident thread, by creation time (ms)."""
    return f"{PREFIX}:thread:{channel}:{thread_ts}:approvals"


def approvals_to_run() -> str:
    """Approved or executing approvals, by when a sweep should (re-)enqueue them if still there:
    the approval time, then the end of the current execution lease."""
    return f"{PREFIX}:approvals:to-run"


def audit_stream() -> str:
    """The append-only audit log (a Redis stream); never trimmed by the bot."""
    return f"{PREFIX}:audit"


def draft(draft_id: str) -> str:
    return f"{PREFIX}:draft:{draft_id}"


def approval_card(approval_id: str) -> str:
    return f"{PREFIX}:approval:{approval_id}:card"


# -- incidents (bot/state/incidents.py): one per thread, kept until deleted by hand ------------


def incident(team: str, channel: str, thread_ts: str) -> str:
    """A hash: title, owner, state, who opened and closed it and when."""
    return f"{PREFIX}:incident:{team}:{channel}:{thread_ts}"


def incident_owners(team: str, channel: str, thread_ts: str) -> str:
    """A list of OwnerChange JSON, oldest first: the ownership history."""
    return f"{incident(team, channel, thread_ts)}:owners"


def incident_hunts(team: str, channel: str, thread_ts: str) -> str:
    """A list of HuntRun JSON, oldest first."""
    return f"{incident(team, channel, thread_ts)}:hunts"


def incident_notes(team: str, channel: str, thread_ts: str) -> str:
    """A list of Note JSON, oldest first."""
    return f"{incident(team, channel, thread_ts)}:notes"


def incidents_open(team: str, channel: str) -> str:
    """A channel's open incidents: thread ts by when the incident was opened (ms)."""
    return f"{PREFIX}:incidents:{team}:{channel}:open"


# -- scheduled hunts (bot/state/schedules.py) ---------------------------------------------------


def schedule(schedule_id: str) -> str:
    """A hash: the schedule as JSON (`data`), its period, paused flag, next tick, last run."""
    return f"{PREFIX}:schedule:{schedule_id}"


def schedule_seen(schedule_id: str) -> str:
    """A set of the row keys a schedule has posted: what is not new any more."""
    return f"{PREFIX}:schedule-seen:{schedule_id}"


def schedule_run(run_id: str) -> str:
    """A set: the row keys one scheduled run found new (its answer, should it ask again)."""
    return f"{PREFIX}:schedule-run:{run_id}"


def schedule_sequence() -> str:
    return f"{PREFIX}:schedules:sequence"


def schedules_due() -> str:
    """Active schedules by their next tick (epoch seconds); paused ones are not in it."""
    return f"{PREFIX}:schedules:due"


def schedules_in_channel(team: str, channel: str) -> str:
    return f"{PREFIX}:schedules:{team}:{channel}"


def clock_offset() -> str:
    """Seconds the console's `wait` moved the schedules' time ahead of the wall clock (lab only)."""
    return f"{PREFIX}:clock:offset"


# -- saved hunts and ad-hoc queries (bot/state/saved_hunts.py) --------------------------------


def saved_hunt(name: str) -> str:
    """A hash: the current version's hunt (JSON), its number, author, who saved it and when."""
    return f"{PREFIX}:saved-hunt:{name}"


def saved_hunt_versions(name: str) -> str:
    """A list of every version saved, oldest first (JSON: version, by, at, hunt)."""
    return f"{PREFIX}:saved-hunt:{name}:versions"


def saved_hunts() -> str:
    """A set of the saved hunts' names."""
    return f"{PREFIX}:saved-hunts"


def adhoc_hunt(name: str) -> str:
    """An ad-hoc query as the hunt it ran as, kept as long as its results (re-run, save)."""
    return f"{PREFIX}:adhoc-hunt:{name}"
