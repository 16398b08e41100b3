"""Closing stale incidents in bulk: `/hunt incidents close-stale [older-than=7d]` (or Close stale
ones… under `/hunt incidents`) shows which open incidents have been idle that long, and which are
kept because approvals in them are still open; Close them closes the shown ones that are still
idle, says so in each thread (paced), and answers with what it did.

Activity is what the bot sees: a hunt, a note, a handoff or take-over, a reopen (the incident's
`updated_at`), and an approval asked for or voted on in the thread.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta

from slack_sdk.errors import SlackApiError

from bot.errors import HuntBotError
from bot.flows.incidents import Thread, post_in_thread
from bot.services import Services
from bot.slack.blocks import Message, render_notice
from bot.slack.incident import (
    OPEN_STATES,
    STALE_DEFAULT_DAYS,
    IdleIncident,
    idle_words,
    render_closed_as_stale,
    render_stale_preview,
    render_stale_summary,
)
from bot.state.approval_records import Approval, ApprovalState
from bot.state.incident_records import Incident, IncidentError

VERB = "close-stale"
MAX_AT_ONCE = 40  # incidents shown and closed by one press: each is a paced post in its thread
MIN_IDLE, MAX_IDLE = timedelta(hours=1), timedelta(days=365)
_SPAN = re.compile(r"(?:older-than=)?(\d{1,4})([hdw])", re.IGNORECASE)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
USAGE = "/hunt incidents close-stale older-than=7d (hours, days or weeks: 12h, 7d, 2w)"


def asked_for(text: str) -> bool:
    """Is this `/hunt` text `incidents close-stale …`?"""
    words = text.lower().split()
    return words[:2] == ["incidents", VERB]


def acknowledge() -> Message:
    return render_notice("Looking for stale incidents in this channel…")


def idle_span(arguments: str) -> timedelta:
    """`older-than=7d` (or `7d`, `12h`, `2w`); a week when nothing is said."""
    words = arguments.split()
    if not words:
        return timedelta(days=STALE_DEFAULT_DAYS)
    match = _SPAN.fullmatch(words[0]) if len(words) == 1 else None
    if match is None:
        raise HuntBotError(f"I can't read {' '.join(words)!r} as an age.", hint=f"Try {USAGE}.")
    span = int(match[1]) * _UNITS[match[2].lower()]
    if not MIN_IDLE <= span <= MAX_IDLE:
        raise HuntBotError(
            "An incident counts as stale after an hour at the least and a year at the most.",
            hint=f"Try {USAGE}.",
        )
    return span


async def preview(services: Services, user: str, team: str, channel: str, text: str) -> Message:
    """Which incidents Close them would close, and which are kept; nothing changes yet."""
    await _may_hunt_here(services, user, channel)
    words = text.split()
    if asked_for(text):
        words = words[2:]
    idle = idle_span(" ".join(words))
    now = datetime.now(UTC)
    stale: list[IdleIncident] = []
    kept: list[IdleIncident] = []
    for incident in await services.incidents.open_in_channel(team, channel):
        found = await _idle(services, incident, now, idle)
        if found is None:
            continue
        (kept if found.open_approvals else stale).append(found)
    stale = stale[:MAX_AT_ONCE]
    links = await _permalinks(services, channel, [s.incident for s in [*stale, *kept]])
    return render_stale_preview(stale, kept, idle, links, shown_to=user)


async def close(
    services: Services,
    user: str,
    team: str,
    channel: str,
    idle: timedelta,
    threads: list[str],
    kept_threads: list[str],
) -> Message:
    """Close the incidents shown in the preview (`threads`) that are still idle and have no open
    approval; each thread is told, paced as every post in the channel is. Those the preview
    said were kept (`kept_threads`) are named again in the answer."""
    await _may_hunt_here(services, user, channel)
    if not MIN_IDLE <= idle <= MAX_IDLE:
        raise HuntBotError("This button no longer says how old is stale.", hint=f"Try {USAGE}.")
    closed: list[Incident] = []
    kept: list[IdleIncident] = []
    active = gone = untold = 0
    reason = f"stale: idle for more than {idle_words(idle)}"
    for thread_ts in threads[:MAX_AT_ONCE]:
        now = datetime.now(UTC)
        incident = await services.incidents.get(team, channel, thread_ts)
        if incident is None or not incident.is_open:
            gone += 1
            continue
        found = await _idle(services, incident, now, idle)
        if found is None:
            active += 1
            continue
        if found.open_approvals:
            kept.append(found)
            continue
        try:
            done = await services.incidents.close_if_idle(
                team, channel, thread_ts, by=user, reason=reason, since=now - idle
            )
        except IncidentError:  # closed by someone else a moment ago
            gone += 1
            continue
        if done is None:
            active += 1
            continue
        closed.append(done)
        try:
            await post_in_thread(
                services, Thread(team, channel, thread_ts), render_closed_as_stale(user, idle)
            )
        except SlackApiError:  # its first message was deleted: closed all the same
            untold += 1
    for thread_ts in kept_threads[:MAX_AT_ONCE]:
        incident = await services.incidents.get(team, channel, thread_ts)
        if incident is not None and incident.is_open:
            approvals = await services.approvals.in_thread(channel, thread_ts)
            now = datetime.now(UTC)
            waiting = tuple(a for a in approvals if _still_open(a, now))
            kept.append(IdleIncident(incident, incident.updated_at, waiting))
    return render_stale_summary(closed, kept, idle, active=active, gone=gone, untold=untold)


async def _may_hunt_here(services: Services, user: str, channel: str) -> None:
    decision = await services.access.check(user, channel)
    if not decision.allowed:
        raise HuntBotError(decision.reason)


async def _idle(
    services: Services, incident: Incident, now: datetime, idle: timedelta
) -> IdleIncident | None:
    """The incident with its last activity and open approvals, if it has been idle for `idle`;
    None when something happened in it more recently."""
    approvals = await services.approvals.in_thread(incident.channel, incident.thread_ts)
    last = max([incident.updated_at, *(_last_touched(a) for a in approvals)])
    if now - last <= idle:
        return None
    still_open = tuple(a for a in approvals if _still_open(a, now))
    return IdleIncident(incident, last, still_open)


def _last_touched(approval: Approval) -> datetime:
    return max([approval.created_at, *(vote.at for vote in approval.votes)])


def _still_open(approval: Approval, now: datetime) -> bool:
    """Waiting for votes (and not past its expiry), approved, or running."""
    if approval.state is ApprovalState.PENDING:
        return approval.expires_at > now
    return approval.state in OPEN_STATES


async def _permalinks(
    services: Services, channel: str, incidents: list[Incident]
) -> dict[str, str]:
    links: dict[str, str] = {}
    for incident in incidents:
        with contextlib.suppress(SlackApiError):  # a deleted first message: shown unlinked
            answer = await services.slack.chat_getPermalink(
                channel=channel, message_ts=incident.thread_ts
            )
            if answer.get("permalink"):
                links[incident.thread_ts] = str(answer["permalink"])
    return links
