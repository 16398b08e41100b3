"""The scheduled-hunt journey: make, list, pause, resume and delete a channel's schedules; each
tick run once as an ordinary hunt; and of what a run finds, only the rows no earlier run posted.

Ticks come from the workers' housekeeping (every few seconds, in every worker): the store hands a
due tick to exactly one of them. We use our own Redis claim rather than the queue's scheduler
(taskiq's `TaskiqScheduler`): that one must run as exactly one extra process, fires a missed
tick never (or, with several schedulers, more than once), and cannot follow the console's moved
clock; a claim in Redis runs in whichever processes are up and catches up once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from datetime import datetime, timedelta
from typing import Any

from bot.errors import BadArgument, HuntBotError
from bot.flows.hunt_lookup import find_hunt
from bot.hunts import split_arguments
from bot.hunts.adhoc import is_adhoc
from bot.hunts.params import ParamType, kql_timespan
from bot.services import Services
from bot.slack.blocks import Message, render_markup_notice
from bot.slack.mrkdwn import code, frequency, user, when
from bot.slack.schedules import render_schedules
from bot.state.audit import AuditEvent
from bot.state.hunt_requests import HuntRequest
from bot.state.schedules import Due, LastRun, Schedule

log = logging.getLogger(__name__)

DEFENDER_KEEPS = timedelta(days=30)  # no look-back reaches further than Defender keeps data
MIN_EVERY = timedelta(minutes=15)  # Defender's custom detections go no faster than hourly
MAX_EVERY = timedelta(days=7)
SCHEDULE_USAGE = (
    "/hunt schedule NAME every 1h [name=value ...] (every 15m or more: 1h, 3h, 12h, 24h, ...)"
)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> timedelta:
    """'1h' -> one hour; 15 minutes at least, a week at most."""
    number = text.rstrip("mindh")
    unit = text[len(number) :].lower()
    if not number.isdigit() or unit not in _UNITS:
        raise BadArgument(f"`{text}` is not a frequency such as 15m, 1h, 3h, 12h or 24h.")
    every = timedelta(seconds=int(number) * _UNITS[unit])
    if every < MIN_EVERY:
        raise BadArgument("A schedule runs every 15 minutes at most often (every 15m).")
    if every > MAX_EVERY:
        raise BadArgument("A schedule runs at least once a week (every 7d at most).")
    return every


def overlap(every: timedelta) -> timedelta:
    """How far a run looks back beyond its period: Defender's events arrive minutes late, so a
    run that looked back exactly one period would miss a row timed just before its start."""
    return max(MIN_EVERY, every / 4)


async def make_schedule(
    services: Services, user_id: str, team: str, channel: str, text: str
) -> Message:
    """`/hunt schedule NAME every 1h [name=value ...]`: validated now, first run one period on."""
    await _may_schedule(services, user_id, channel)
    words = text.split()
    if len(words) < 3 or words[1].lower() != "every":
        raise BadArgument("Say which hunt and how often.", hint=SCHEDULE_USAGE)
    if is_adhoc(words[0].lower()):
        raise BadArgument(
            "An ad-hoc query is kept only as long as its results.",
            hint="Save it with Save as hunt (or /hunt save), then schedule it by name.",
        )
    hunt = await find_hunt(services, words[0])  # built-in, hunt file or saved
    every = parse_every(words[2])
    arguments = hunt.name_arguments(split_arguments(" ".join(words[3:])))
    hunt.render(arguments)  # a mistake is answered now, not at the first tick
    now = await services.clock.now()
    schedule = await services.schedules.create(
        team=team,
        channel=channel,
        hunt=hunt.name,
        arguments=arguments,
        every=every,
        owner=user_id,
        now=now,
    )
    await _audit(services, AuditEvent.SCHEDULE_CREATED, user_id, schedule)
    shown = [code(f"{k}={v}") for k, v in arguments.items()]
    return render_markup_notice(
        f":calendar: {user(user_id)} scheduled {' '.join([code(hunt.name), *shown])} every "
        f"{frequency(every)} in this channel as *{schedule.id}*. The first run is "
        f"{when(schedule.next_run_at)}; each run posts only rows no earlier run posted, and "
        "posts nothing when nothing is new.",
        "/hunt schedules lists this channel's schedules, with Pause, Resume and Delete.",
        fallback=f"Scheduled {hunt.name} every {frequency(every)} as {schedule.id}",
    )


async def list_schedules(services: Services, team: str, channel: str, user_id: str) -> Message:
    schedules = await services.schedules.in_channel(team, channel)
    return render_schedules(schedules, shown_to=user_id)


async def change_schedule(
    services: Services, schedule_id: str, user_id: str, how: str, team: str, channel: str
) -> Message:
    """Pause, resume or delete (Who.IN_CHANNEL already checked); the channel's list again."""
    await _may_schedule(services, user_id, channel)
    store = services.schedules
    if how == "pause":
        schedule = await store.pause(schedule_id)
        event = AuditEvent.SCHEDULE_PAUSED
    elif how == "resume":
        schedule = await store.resume(schedule_id, await services.clock.now())
        event = AuditEvent.SCHEDULE_RESUMED
    elif how == "delete":
        schedule = await store.delete(schedule_id)
        event = AuditEvent.SCHEDULE_DELETED
    else:
        raise HuntBotError(f"I can't {how} a schedule.")
    await _audit(services, event, user_id, schedule)
    return await list_schedules(services, team, channel, user_id)


async def run_due(services: Services) -> list[Due]:
    """Housekeeping's step: each due tick becomes one hunt request, queued like a person's."""
    now = await services.clock.now()
    due = await services.schedules.claim_due(now)
    for tick in due:
        try:
            schedule = await services.schedules.get(tick.schedule_id)
            request = HuntRequest(
                hunt=schedule.hunt,
                arguments=await run_arguments(services, schedule, now),
                user_id=schedule.owner,
                team_id=schedule.team,
                channel_id=schedule.channel,
                schedule_id=schedule.id,
            )
            await services.hunt_requests.save(request)
            await services.queue.enqueue_hunt(request.id)
            await services.approvals.audit.record(
                AuditEvent.SCHEDULE_RAN,
                user_id=schedule.owner,
                channel=schedule.channel,
                target=schedule.id,
                hunt=schedule.hunt,
                result_id=request.id,
                note=f"tick {tick.tick.isoformat()}",
            )
        except HuntBotError as exc:  # the hunt file went away, a parameter no longer fits
            log.warning("schedule %s did not run: %s", tick.schedule_id, exc.message)
            await services.schedules.record_run(
                tick.schedule_id, LastRun(at=now, error=exc.message)
            )
    return due


async def run_arguments(services: Services, schedule: Schedule, now: datetime) -> dict[str, str]:
    """After its first run, a schedule looks back to its last run plus the overlap (its period,
    after an on-time run; the whole gap after ticks were missed or a run was lost to an outage,
    so catching up once loses nothing), unless its maker fixed the look-back themselves."""
    arguments = dict(schedule.arguments)
    if schedule.last_run is None:
        return arguments
    hunt = await find_hunt(services, schedule.hunt)
    lookback = next(
        (p for p in hunt.parameters if p.name == "lookback" and p.type is ParamType.TIMESPAN),
        None,
    )
    if lookback is not None and "lookback" not in arguments:
        since = max(schedule.every, now - schedule.last_run.at)
        span = min(since + overlap(schedule.every), DEFENDER_KEEPS)
        minutes = math.ceil(span.total_seconds() / 60)  # whole minutes: a readable lookback
        arguments["lookback"] = kql_timespan(timedelta(minutes=minutes))
    return arguments


def row_key(row: dict[str, Any], key_columns: tuple[str, ...]) -> str:
    """What makes a row the same row in a later run: the hunt's `key` columns, else all of it
    (also when the result lacks a key column: a key that is always empty would make every
    later row look old)."""
    present = all(c in row for c in key_columns)
    picked = {c: row.get(c) for c in key_columns} if key_columns and present else row
    text = json.dumps(picked, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


async def only_new(
    services: Services,
    schedule_id: str,
    run_id: str,
    rows: list[dict[str, Any]],
    key_columns: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The rows of this run whose key no earlier run of the schedule posted (recorded as posted
    now); rows of this run that share a new key are all kept (one message, its sign-ins)."""
    keyed = [(row_key(row, key_columns), row) for row in rows]
    fresh = await services.schedules.first_seen(
        schedule_id, run_id, list(dict.fromkeys(k for k, _ in keyed))
    )
    return [row for key, row in keyed if key in fresh]


async def _may_schedule(services: Services, user_id: str, channel: str) -> None:
    decision = await services.access.may_schedule(user_id, channel)
    if not decision.allowed:
        raise HuntBotError(decision.reason, hint="SCHEDULE_ALLOWED_USERS lists who may.")


async def _audit(services: Services, event: AuditEvent, user_id: str, schedule: Schedule) -> None:
    await services.approvals.audit.record(
        event,
        user_id=user_id,
        channel=schedule.channel,
        target=schedule.id,
        hunt=schedule.hunt,
        note=f"every {frequency(schedule.every)} "
        + " ".join(f"{k}={v}" for k, v in schedule.arguments.items()),
    )
