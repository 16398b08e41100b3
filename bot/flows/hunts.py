"""The hunt journey: /hunt validated on the ack path, run as a job, results posted and paged,
exported and re-run. The results message opens the incident thread."""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
import time
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.actions.offer import SENDER_COPY_TABLES
from bot.defender.results import HuntingBackend, HuntResult
from bot.errors import HuntBotError, QuotaExhausted
from bot.flows import schedules
from bot.flows.hunt_lookup import find_hunt, list_hunts, saved_hunts
from bot.flows.hunt_progress import HuntCancelled, HuntProgress, until_cancelled
from bot.formats import csv_columns, csv_header
from bot.hunts import Hunt, RenderedHunt, split_arguments
from bot.hunts.adhoc import fit_to_result, is_adhoc
from bot.hunts.params import ParamType, display_value
from bot.hunts.pivots import offered_pivots
from bot.logs import bind_ids
from bot.services import Services
from bot.slack.audit import render_audit
from bot.slack.blocks import (
    PAGE_ROWS,
    Message,
    render_help,
    render_markup_notice,
    render_notice,
    render_results,
    render_running,
    rows_text,
)
from bot.slack.delivery import tell_user
from bot.slack.incident import render_incidents
from bot.slack.mrkdwn import code, user
from bot.slack.uploads import share_file
from bot.state.hunt_requests import POSTING, HuntRequest
from bot.state.quota import RETURNING_ARRIVAL, QuotaWait
from bot.state.results import StoredResult, now
from bot.state.saved_hunts import ADHOC_RAN
from bot.state.schedules import LastRun

log = logging.getLogger(__name__)

AUDIT_DEFAULT, AUDIT_MAX = 20, 40
# After a 429 a hunt queues again, this many times at most, for a pause this long at most (the
# CPU allocation is renewed every 15 minutes); beyond that the person is told to try later.
MAX_QUOTA_RETURNS = 5
MAX_QUOTA_PAUSE = 16 * 60
# A queued hunt's person is told again when its start moves this much later than they were told.
QUOTA_RETELL_LATER = 30.0
MAX_LISTED_INCIDENTS = 40
# An export of at least this many rows says how far it has got, at most this often (seconds).
EXPORT_PROGRESS_ROWS = 10_000
EXPORT_PROGRESS_EVERY = 2.0
DEFENDER_RETENTION = timedelta(days=30)
# A scheduled run waiting for the quota lets people's hunts that arrive within this go first.
SCHEDULED_YIELD = timedelta(minutes=15)

# Verbs whose answer needs Slack or a group lookup: acked with a word, answered after the ack.
ANSWERED_AFTER_ACK = {
    "audit": "Reading the audit log…",
    "incidents": "Listing this channel's open incidents…",
    "schedule": "Scheduling…",
    "schedules": "Listing this channel's scheduled hunts…",
}


async def answer_command(
    services: Services,
    user_id: str,
    team_id: str,
    channel_id: str,
    text: str,
    response_url: str | None,
) -> Message:
    """The immediate, private answer to /hunt; enqueues the hunt when there is one."""
    name, _, rest = text.strip().partition(" ")
    verb = name.lower()
    if verb in ("", "help"):
        return render_help()
    if verb == "list":
        return await list_hunts(services, rest)
    if verb in ANSWERED_AFTER_ACK:
        return render_notice(ANSWERED_AFTER_ACK[verb])
    return await start_hunt(
        services, user_id, team_id, channel_id, name, rest, response_url=response_url
    )


def answers_after_ack(text: str) -> bool:
    """Whether `answer_after_ack` has a second answer for this text (a hunt has none)."""
    words = text.split()
    return bool(words) and words[0].lower() in ANSWERED_AFTER_ACK


async def answer_after_ack(
    services: Services, user_id: str, team_id: str, channel_id: str, text: str
) -> Message | None:
    """The second answer of `/hunt incidents`, `audit [N]`, `schedule` and `schedules`; None for
    other verbs."""
    words = text.split()
    verb = words[0].lower() if words else ""
    if verb == "incidents":
        return await list_incidents(services, team_id, channel_id)
    if verb == "audit":
        count = int(words[1]) if len(words) > 1 and words[1].isdigit() else AUDIT_DEFAULT
        return await audit_log(services, user_id, count)
    if verb == "schedule":
        rest = text.strip().partition(" ")[2]
        return await schedules.make_schedule(services, user_id, team_id, channel_id, rest)
    if verb == "schedules":
        return await schedules.list_schedules(services, team_id, channel_id, user_id)
    return None


async def start_hunt(
    services: Services,
    user_id: str,
    team_id: str,
    channel_id: str,
    name: str,
    arguments_text: str,
    *,
    response_url: str | None = None,
    thread_ts: str | None = None,
) -> Message:
    """Validate a hunt now and enqueue it; results go to the channel or to `thread_ts`."""
    decision = await services.access.check_cached(user_id, channel_id)
    if decision.allowed is False:
        return render_notice(decision.reason)
    hunt = await find_hunt(services, name)  # built-in, file, saved or ad-hoc (Redis only)
    checked = _checked(_Same(hunt), arguments_text)  # any mistake is answered now, not later
    request_id, saving = services.hunt_requests.write_new(
        hunt=hunt.name,
        arguments=checked.arguments,
        user_id=user_id,
        team_id=team_id,
        channel_id=channel_id,
        response_url=response_url,
        thread_ts=thread_ts,
    )
    bind_ids(hunt=request_id)
    # The request and its job in one round trip: the ack waits for nothing else.
    await services.queue.enqueue_hunt(request_id, saving=saving)
    return render_running(
        hunt.name,
        checked.shown,
        in_thread=thread_ts is not None,
        warning=checked.warning,
        cancel=request_id,
    )


class _Same:
    """A hunt as a cache key, by identity: hashing a Hunt hashes every field (and a field of
    a list would not hash). The key holds the hunt, so its id is not reused while cached."""

    __slots__ = ("hunt",)

    def __init__(self, hunt: Hunt) -> None:
        self.hunt = hunt

    def __hash__(self) -> int:
        return id(self.hunt)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.hunt is self.hunt


class _Checked(NamedTuple):
    arguments: dict[str, str]  # by parameter name, as the job gets them (never changed)
    shown: dict[str, str]  # the values bound, as the answer shows them (never changed)
    warning: str


@functools.lru_cache(maxsize=256)
def _checked(same: _Same, arguments_text: str) -> _Checked:
    """`/hunt`'s arguments checked against the hunt, or BadArgument saying what is wrong.

    Binding is what can fail; the job renders the KQL from the same arguments (rendering a
    bound value cannot). Checking is pure, and catalog hunts are the same objects for the
    process's life, so a hunt asked for again with the same text is not parsed, bound and
    formatted again (nearly a tenth of its ack's CPU, benchmarks/README.md). Errors are not
    kept."""
    hunt = same.hunt
    arguments = hunt.name_arguments(split_arguments(arguments_text))
    values = hunt.bind(arguments)
    shown = {name: display_value(value) for name, value in values.items()}
    return _Checked(arguments, shown, _past_retention(values))


def _past_retention(values: dict[str, Any]) -> str:
    """Defender keeps 30 days of advanced-hunting data: a longer look back finds no more."""
    longest = max((v for v in values.values() if isinstance(v, timedelta)), default=None)
    if longest is None or longest <= DEFENDER_RETENTION:
        return ""
    return (
        f"Defender keeps {DEFENDER_RETENTION.days} days of hunting data, so looking back "
        f"{longest.days} days finds nothing older than that."
    )


async def rerun(
    services: Services, result_id: str, user_id: str, response_url: str | None, message_ts: str
) -> None:
    """Run the same hunt with the same arguments again; its results go in the thread."""
    meta = await services.results.meta(result_id)
    request = HuntRequest(
        hunt=meta.hunt,
        arguments=meta.arguments,
        user_id=user_id,
        team_id=meta.team,
        channel_id=meta.channel,
        response_url=response_url,
        thread_ts=meta.thread_ts or message_ts,
        rerun_of=meta.id,
    )
    if is_adhoc(meta.hunt):  # someone's own query, run again: audited with its text, as at first
        adhoc = await saved_hunts(services).adhoc(meta.hunt)
        await services.approvals.audit.record(
            ADHOC_RAN,
            user_id=user_id,
            hunt=meta.hunt,
            detail=adhoc.query if adhoc else None,
            channel=meta.channel,
            note=f"re-run of {meta.id}",
        )
    bind_ids(hunt=request.id)
    await services.queue.enqueue_hunt(request.id, saving=services.hunt_requests.write(request))


async def request_export(services: Services, result_id: str, user_id: str) -> None:
    await services.results.meta(result_id)  # still kept? (ResultExpired tells the person)
    await services.queue.enqueue_export(result_id, user_id)


async def list_incidents(services: Services, team: str, channel: str) -> Message:
    """The channel's open incidents, with a permalink to each thread (asked of Slack)."""
    incidents = await services.incidents.open_in_channel(team, channel)
    links: dict[str, str] = {}
    pending: dict[str, int] = {}
    listed, gone = [], 0
    for incident in incidents[:MAX_LISTED_INCIDENTS]:
        try:
            answer = await services.slack.chat_getPermalink(
                channel=channel, message_ts=incident.thread_ts
            )
        except SlackApiError:  # its root message was deleted: nothing to link to
            gone += 1
            continue
        listed.append(incident)
        if answer.get("permalink"):
            links[incident.thread_ts] = answer["permalink"]
        approvals = await services.approvals.pending_in_thread(channel, incident.thread_ts)
        pending[incident.thread_ts] = len(approvals)
    return render_incidents(listed, links, pending, unlinked=gone)


def incident_title(meta: StoredResult) -> str:
    """What tells one incident from another: the hunt, the values asked for, and when."""
    asked = " ".join(f"{name}={value}" for name, value in meta.arguments.items())
    when = f"{meta.started_at:%d %b %H:%M} UTC"
    return f"{meta.title}{f' ({asked})' if asked else ''}, {when}"


async def audit_log(services: Services, user_id: str, count: int) -> Message:
    decision = await services.policy.may_see_audit(user_id)
    if not decision.allowed:
        return render_notice(decision.reason)
    entries = await services.approvals.audit.recent(min(count, AUDIT_MAX))
    return render_audit(entries)


# -- jobs --------------------------------------------------------------------------------------


async def run_hunt(services: Services, request_id: str) -> None:
    """The job: check access again, wait for the tenant's quota, run, store, post."""
    s = services
    request = await s.hunt_requests.load(request_id)
    if request is None:
        log.warning("hunt request %s expired before it ran", request_id)
        return
    if await s.results.exists(request.id):
        # Redelivered: it ran already. Post only if the first delivery died before posting.
        meta = await s.results.meta(request.id)
        if meta.message_ts is None:
            await _post_results(s, request, meta, await s.results.rows(meta.id, 0, PAGE_ROWS))
        return
    if await s.hunt_requests.cancelled_by(request.id) is not None:
        log.info("hunt %s was cancelled before it ran", request.id)
        return
    decision = await s.access.check(request.user_id, request.channel_id)
    if not decision.allowed:
        await tell_requester(s, request, decision.reason)
        return
    try:
        hunt = await find_hunt(s, request.hunt)
        rendered = hunt.render(request.arguments)
    except HuntBotError as exc:
        await tell_requester(s, request, exc.message, exc.hint)
        return
    try:
        backend = await s.backend()
        async with HuntProgress(s, request) as progress:
            result, started, seconds = await until_cancelled(
                s, request.id, _run_within_quota(s, request, backend, rendered.kql, progress)
            )
            # Whichever comes first holds: this post, or someone's Cancel.
            if await s.hunt_requests.claim(request.id, POSTING) != POSTING:
                raise HuntCancelled(request.id)
            # An ad-hoc query's display and entity columns are what it returned.
            hunt = fit_to_result(hunt, result.column_names)
            await _store_and_post(
                s, request, hunt, rendered, backend.name, result, started, seconds
            )
    except HuntCancelled:
        log.info("hunt %s was cancelled: nothing posted", request.id)
    except HuntBotError as exc:
        await tell_requester(s, request, f"The hunt {request.hunt} failed: {exc.message}", exc.hint)


async def _store_and_post(
    s: Services,
    request: HuntRequest,
    hunt: Hunt,
    rendered: RenderedHunt,
    backend: str,
    result: HuntResult,
    started: datetime,
    seconds: float,
) -> None:
    lookback = next(
        (
            display_value(rendered.values[p.name])
            for p in hunt.parameters
            if p.type is ParamType.TIMESPAN and p.name == "lookback"
        ),
        None,
    )
    found = None
    if request.schedule_id is not None:
        found = result.row_count
        new_rows = await schedules.only_new(
            s, request.schedule_id, request.id, result.rows, hunt.key
        )
        await s.schedules.record_run(
            request.schedule_id,
            LastRun(
                at=await s.clock.now(),
                found=found,
                new=len(new_rows),
                result_id=request.id if new_rows else None,
            ),
        )
        if not new_rows:
            log.info("schedule %s: nothing new in %d rows", request.schedule_id, found)
            return  # nothing new: nothing posted (the schedules list shows the run)
        result = result.model_copy(update={"rows": new_rows})
    meta = StoredResult(
        id=request.id,
        hunt=hunt.name,
        title=hunt.title,
        arguments=request.arguments,
        parameters=rendered.describe_values(),
        requested_by=request.user_id,
        team=request.team_id,
        channel=request.channel_id,
        backend=backend,
        started_at=started,
        seconds=seconds,
        columns=result.columns,
        display_columns=list(hunt.columns),
        entity_kinds=hunt.entities.kinds,
        entity_columns={kind: list(getattr(hunt.entities, kind)) for kind in hunt.entities.kinds},
        sender_copy_possible=hunt.source_table in SENDER_COPY_TABLES
        and "SenderFromAddress" in (hunt.entities.email or ()),
        row_count=result.row_count,
        truncated=result.truncated,
        lookback=lookback,
        schedule_id=request.schedule_id,
        found=found,
    )
    await s.results.save(meta, result)
    await _post_results(s, request, meta, result.rows[:PAGE_ROWS])


async def _run_within_quota(
    services: Services,
    request: HuntRequest,
    backend: HuntingBackend,
    kql: str,
    progress: HuntProgress | None = None,
) -> tuple[HuntResult, datetime, float]:
    """Run once the tenant's quota lets the call through; the result, when the call that gave
    it started and how long it took. A 429 has paused every process's hunting (the backend
    recorded Microsoft's Retry-After); the hunt queues again, ahead of hunts that have not had
    a turn, and the person is told why and for how long."""
    throttled = 0
    while True:
        call = f"{request.id}:{throttled}"
        # Back in the queue after a 429, the hunt keeps a place ahead of newcomers.
        await _wait_for_quota(services, request, call, again=throttled > 0, progress=progress)
        if progress is not None:
            progress.running()
        started, clock = now(), time.perf_counter()
        try:
            return await backend.run_query(kql), started, time.perf_counter() - clock
        except QuotaExhausted as exc:
            throttled += 1
            if throttled > MAX_QUOTA_RETURNS or (exc.retry_after or 0) > MAX_QUOTA_PAUSE:
                raise
            log.info("hunt %s throttled (%s); queued again", request.id, exc.quota or "quota")
        finally:
            await asyncio.shield(services.quota.answered(call))


async def _wait_for_quota(
    services: Services,
    request: HuntRequest,
    call: str,
    *,
    again: bool = False,
    progress: HuntProgress | None = None,
) -> None:
    """Wait for the hunt's turn. The person is told their place and the wait when it starts, and
    again only when Microsoft pauses hunting or the wait grows (a response URL takes 5 posts)."""
    told_paused, told_start = False, None
    began = time.monotonic()
    try:
        while wait := await services.quota.acquire(
            request.id, call_id=call, arrived_ms=queue_arrival(request, again)
        ):
            start = time.monotonic() + wait.seconds
            if progress is not None:
                progress.waiting(wait.position, wait.seconds)
            paused = wait.paused_for > 0
            if (
                told_start is None
                or (paused and not told_paused)
                or start > told_start + QUOTA_RETELL_LATER
            ):
                told_paused, told_start = paused, start
                await tell_requester(services, request, _quota_words(request.hunt, wait))
            await asyncio.sleep(min(max(wait.seconds, 0.2), 5.0))
    except BaseException:
        # A hunt that fails (or whose worker stops) while queued must not hold up the others.
        await asyncio.shield(services.quota.leave(request.id))
        raise
    finally:
        if told_start is not None:  # it waited: once per wait, however many polls
            metrics.quota_wait(time.monotonic() - began, paused=told_paused)


def queue_arrival(request: HuntRequest, again: bool) -> int | None:
    """Where a hunt joins the quota's queue: from now; ahead of newcomers after a 429; and a
    schedule's run as if it came SCHEDULED_YIELD later, so people's hunts go first."""
    if again:
        return RETURNING_ARRIVAL
    if request.schedule_id is not None:
        return int((time.time() + SCHEDULED_YIELD.total_seconds()) * 1000)
    return None


def _quota_words(hunt: str, wait: QuotaWait) -> str:
    place = (
        f"{hunt} is number {wait.position} in the queue and should start in about "
        f"{_describe_wait(wait.seconds)}."
    )
    if wait.paused_for <= 0:
        return f"The tenant's hunting quota is used up for the moment: {place}"
    why = {
        "cpu": "the tenant's CPU allocation for advanced hunting is used up (it is renewed "
        "every 15 minutes)",
        "calls": "the tenant's advanced-hunting call rate is used up",
    }.get(wait.quota, "the tenant's advanced-hunting quota is used up")
    return (
        f"Microsoft asked for no more hunting for {_describe_wait(wait.paused_for)}: {why}. {place}"
    )


def _describe_wait(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))}s"
    return f"{round(seconds / 60)} minutes"


async def _post_results(
    services: Services, request: HuntRequest, meta: StoredResult, first_page: list[dict[str, Any]]
) -> None:
    s = services
    message = render_results(
        meta, first_page, 1, tenant=portal_tenant(s), pivots=offered_pivots(s.catalog, meta.hunt)
    )
    await s.pacer.wait_turn(request.channel_id)
    try:
        posted = await s.slack.chat_postMessage(
            channel=request.channel_id,
            thread_ts=request.thread_ts,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as exc:
        hint = _not_posted_hint(exc, "run it again", "try again, or export from another channel")
        await tell_requester(s, request, "The results could not be posted here.", hint)
        return
    meta.message_ts = posted["ts"]
    meta.thread_ts = request.thread_ts or posted["ts"]
    await s.results.update_meta(meta)
    # The results' thread is the incident: opened by the first hunt that found something,
    # recording every hunt run in it.
    where = (request.team_id, request.channel_id, meta.thread_ts)
    if await s.incidents.get(*where) is None:
        if meta.row_count == 0:
            return
        await s.incidents.open_or_get(*where, title=incident_title(meta), owner=request.user_id)
    await s.incidents.record_hunt(
        *where, hunt=meta.hunt, result_id=meta.id, user=request.user_id, rows=meta.row_count
    )


async def export_csv(services: Services, result_id: str, user_id: str) -> None:
    """The job: every row as CSV (formula cells defused), uploaded into the results' thread. A
    large result says how far it has got in a message in the thread, removed once shared."""
    s = services
    try:
        meta = await s.results.meta(result_id)
    except HuntBotError as exc:
        # Expired between the click (which checked) and now: too rare to find the person's channel.
        log.info("export of %s: %s", result_id, exc.message)
        return
    progress = await _export_progress(s, meta, user_id, 0, None)
    try:
        # Written to a file a few chunks at a time and streamed from it: a 100,000-row export
        # never holds all its rows, or all its text, in memory.
        with tempfile.TemporaryDirectory(prefix="hunt-bot-export-") as scratch:
            path = Path(scratch) / "export.csv"
            names = [c.name for c in meta.columns]
            done, told = 0, time.monotonic()
            with path.open("w", encoding="utf-8", newline="") as out:
                out.write(csv_header(names))
                async for columns in s.results.scan_columns(meta.id, meta.row_count, names):
                    out.write(csv_columns(columns, for_spreadsheets=True))
                    done += len(columns[0])
                    if progress and time.monotonic() - told >= EXPORT_PROGRESS_EVERY:
                        await _export_progress(s, meta, user_id, done, progress)
                        told = time.monotonic()
            await s.pacer.wait_turn(meta.channel)
            await share_file(
                s.slack,
                path,
                channel=meta.channel,
                thread_ts=meta.thread_ts,
                filename=f"{meta.hunt}-{meta.started_at:%Y%m%d-%H%M%S}.csv",
                title=f"{meta.hunt} — {rows_text(meta.row_count)}",
                initial_comment=f"CSV export of {code(meta.hunt)} for {user(user_id)}: "
                f"{rows_text(meta.row_count)}"
                f"{' (truncated at 100,000)' if meta.truncated else ''}.",
            )
    except SlackApiError as exc:
        hint = _not_posted_hint(exc, "export again", "try again in a moment")
        message = render_notice("The CSV export could not be shared here.", hint)
        await tell_user(s.slack, meta.channel, user_id, message)
    finally:
        if progress:
            with suppress(SlackApiError):
                await s.slack.chat_delete(channel=meta.channel, ts=progress)


async def _export_progress(
    services: Services, meta: StoredResult, user_id: str, done: int, ts: str | None
) -> str | None:
    """Post (ts None) or edit the export's progress message; its ts. Small results have none."""
    if meta.row_count < EXPORT_PROGRESS_ROWS:
        return None
    message = render_markup_notice(
        f":hourglass_flowing_sand: Exporting {code(meta.hunt)} for {user(user_id)} as CSV: "
        f"{done:,} of {rows_text(meta.row_count)} read so far.",
        fallback=f"Exporting {meta.hunt} as CSV",
    )
    try:
        if ts is None:
            await services.pacer.wait_turn(meta.channel)
            posted = await services.slack.chat_postMessage(
                channel=meta.channel,
                thread_ts=meta.thread_ts,
                text=message.text,
                blocks=message.blocks,
            )
            return str(posted["ts"])
        await services.slack.chat_update(
            channel=meta.channel, ts=ts, text=message.text, blocks=message.blocks
        )
    except SlackApiError as exc:  # progress is a courtesy: the export goes on regardless
        log.info("export progress of %s: %s", meta.id, exc.response.get("error"))
    return ts


def portal_tenant(services: Services) -> str | None:
    """The tenant Defender portal links open (only when hunting on Defender, not the lab)."""
    settings = services.settings
    return settings.azure_tenant_id if settings.hunt_backend == "graph" else None


def _not_posted_hint(exc: SlackApiError, again: str, otherwise: str) -> str:
    """What to do when Slack would not take a post: usually, invite the bot."""
    error = exc.response.get("error", "unknown_error")
    if error in {"not_in_channel", "channel_not_found"}:
        return f"Invite the bot to this channel (/invite @hunt-bot) and {again}."
    return f"Slack answered {error}; {otherwise}."


async def tell_requester(
    services: Services, request: HuntRequest, text: str, hint: str | None = None
) -> None:
    """A private answer to whoever asked for the hunt, where they asked."""
    await tell_user(
        services.slack,
        request.channel_id,
        request.user_id,
        render_notice(text, hint),
        request.response_url,
    )
