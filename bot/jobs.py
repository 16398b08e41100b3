"""Background jobs on a Redis-backed queue (taskiq, Redis Streams with acknowledgements).

Why taskiq: asyncio like the rest of the bot, a Redis Streams broker that redelivers what a dead
worker never acknowledged, and it works with redis-py 8 (arq pins redis-py below 6). The queue
only delivers; whether work may run, and whether it already has, is decided from our own state
in Redis, so a redelivered job does not post twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient
from taskiq import AsyncBroker
from taskiq.acks import AcknowledgeType
from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

from bot.actions.model import OutcomeStatus
from bot.actions.offer import SENDER_COPY_TABLES
from bot.errors import HuntBotError
from bot.formats import to_csv
from bot.hunts.params import ParamType, display_value
from bot.slack.approval_card import render_approval_card
from bot.slack.blocks import PAGE_ROWS, Message, render_notice, render_results
from bot.slack.mrkdwn import code, user
from bot.state import keys
from bot.state.approval_records import ApprovalState
from bot.state.capabilities import save_capabilities
from bot.state.hunt_requests import HuntRequest
from bot.state.results import StoredResult, now

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

FAILED_OUTCOMES = {OutcomeStatus.FAILED, OutcomeStatus.TIMED_OUT, OutcomeStatus.CANCELLED}
# taskiq warns whenever its receiver is cancelled, which is how every worker here stops.
logging.getLogger("taskiq.receiver").addFilter(
    lambda record: "task was cancelled" not in record.getMessage()
)

HOUSEKEEPING_EVERY = 15.0  # seconds
STATUS_POLL_EVERY = 2.0  # seconds between machine-action status reads
STATUS_POLL_FOR = 60 * 60.0  # give up following a device action after an hour

# A job a worker took and never acknowledged (the worker died) is handed to another after this.
REDELIVER_AFTER_MS = 5 * 60 * 1000


def create_broker(redis_url: str) -> RedisStreamBroker:
    return RedisStreamBroker(
        redis_url,
        queue_name=keys.job_stream(),
        consumer_group_name="hunt-bot-workers",
        idle_timeout=REDELIVER_AFTER_MS,
        xread_block=1000,
    )


class Jobs:
    """Enqueueing (any process) and running (workers) the bot's background work."""

    def __init__(self, services: Services, broker: AsyncBroker) -> None:
        self._services = services
        self.broker = broker

        # taskiq registers plain functions (it renames them), not bound methods.
        async def run_hunt(request_id: str) -> None:
            try:
                await self.run_hunt(request_id)
            except Exception:
                request = await services.hunt_requests.load(request_id)
                if request is not None:
                    await self._report_crash(
                        "run_hunt", request.channel_id, request.user_id, request.response_url
                    )

        async def export_csv(result_id: str, user_id: str) -> None:
            try:
                await self.export_csv(result_id, user_id)
            except Exception:
                meta = await services.results.meta(result_id)
                await self._report_crash("export_csv", meta.channel, user_id, None)

        async def execute_approval(approval_id: str) -> None:
            try:
                await self.execute_approval(approval_id)
            except Exception:
                log.exception(
                    "execute_approval %s failed; housekeeping will resume it", approval_id
                )

        self._run_hunt = broker.register_task(run_hunt, task_name="run_hunt")
        self._export = broker.register_task(export_csv, task_name="export_csv")
        self._execute = broker.register_task(execute_approval, task_name="execute_approval")

    async def enqueue_hunt(self, request_id: str) -> None:
        await self._run_hunt.kiq(request_id)

    async def enqueue_export(self, result_id: str, user_id: str) -> None:
        await self._export.kiq(result_id, user_id)

    async def enqueue_execution(self, approval_id: str) -> None:
        # The job id is the approval id; the approval's own state decides whether it runs.
        await self._execute.kicker().with_task_id(approval_id).kiq(approval_id)

    async def run_worker(self) -> None:
        """Consume jobs in this process until cancelled, and keep approvals moving."""
        await self.record_capabilities()
        housekeeping = asyncio.create_task(self._housekeeping())
        try:
            await run_receiver_task(
                self.broker, ack_time=AcknowledgeType.WHEN_SAVED, max_async_tasks=20
            )
        finally:
            housekeeping.cancel()

    async def _housekeeping(self) -> None:
        """Expire approvals whose time is up, and resume executions whose worker went away."""
        s = self._services
        while True:
            try:
                for approval_id in await s.approvals.expire_due():
                    await self.update_card(approval_id)
                for approval_id in await s.approvals.due_for_execution():
                    await self.enqueue_execution(approval_id)
            except Exception:
                log.exception("approval housekeeping failed; trying again shortly")
            await asyncio.sleep(HOUSEKEEPING_EVERY)

    async def record_capabilities(self) -> None:
        """What the app registration may do, for the Take actions modal (read at worker start)."""
        from bot.defender.capabilities import current_capabilities

        found = await current_capabilities(self._services.settings)
        if found is not None:
            await save_capabilities(self._services.redis.client, found)

    # -- run a hunt ----------------------------------------------------------------------------

    async def run_hunt(self, request_id: str) -> None:
        s = self._services
        request = await s.hunt_requests.load(request_id)
        if request is None:
            log.warning("hunt request %s expired before it ran", request_id)
            return
        if await s.results.exists(request.id):
            # Redelivered: it ran already. Post only if the first delivery died before posting.
            meta = await s.results.meta(request.id)
            if meta.message_ts is None:
                await self._post_results(request, meta, await s.results.rows(meta.id, 0, PAGE_ROWS))
            return
        decision = await s.access.check(request.user_id, request.channel_id)
        if not decision.allowed:
            await self.tell(request, decision.reason)
            return
        try:
            hunt = s.catalog.get(request.hunt)
            rendered = hunt.render(request.arguments)
        except HuntBotError as exc:
            await self.tell(request, exc.message, exc.hint)
            return
        await self._wait_for_quota(request)
        started, clock = now(), time.perf_counter()
        try:
            backend = await s.backend()
            result = await backend.run_query(rendered.kql)
        except HuntBotError as exc:
            await self.tell(request, f"The hunt {request.hunt} failed: {exc.message}", exc.hint)
            return
        lookback = next(
            (
                display_value(rendered.values[p.name])
                for p in hunt.parameters
                if p.type is ParamType.TIMESPAN and p.name == "lookback"
            ),
            None,
        )
        meta = StoredResult(
            id=request.id,
            hunt=hunt.name,
            title=hunt.title,
            arguments=request.arguments,
            parameters=rendered.describe_values(),
            requested_by=request.user_id,
            team=request.team_id,
            channel=request.channel_id,
            backend=backend.name,
            started_at=started,
            seconds=time.perf_counter() - clock,
            columns=result.columns,
            display_columns=list(hunt.columns),
            entity_kinds=hunt.entities.kinds,
            entity_columns={
                kind: list(getattr(hunt.entities, kind)) for kind in hunt.entities.kinds
            },
            sender_copy_possible=hunt.source_table in SENDER_COPY_TABLES
            and "SenderFromAddress" in (hunt.entities.email or ()),
            row_count=result.row_count,
            truncated=result.truncated,
            lookback=lookback,
        )
        await s.results.save(meta, result)
        await self._post_results(request, meta, result.rows[:PAGE_ROWS])

    async def _wait_for_quota(self, request: HuntRequest) -> None:
        told: int | None = None
        while wait := await self._services.quota.acquire(request.id):
            if wait.position != told:
                told = wait.position
                await self.tell(
                    request,
                    f"The tenant's hunting quota is used up for the moment: {request.hunt} is "
                    f"number {wait.position} in the queue and should start in about "
                    f"{wait.seconds:.0f}s.",
                )
            await asyncio.sleep(min(wait.seconds, 5.0))

    async def _post_results(
        self, request: HuntRequest, meta: StoredResult, first_page: list[dict[str, Any]]
    ) -> None:
        s = self._services
        message = render_results(meta, first_page, 1)
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
            error = exc.response.get("error", "unknown_error")
            hint = (
                "Invite the bot to this channel (/invite @hunt-bot) and run it again."
                if error in {"not_in_channel", "channel_not_found"}
                else f"Slack answered {error}; try again, or export from another channel."
            )
            await self.tell(request, "The results could not be posted here.", hint)
            return
        meta.message_ts = posted["ts"]
        meta.thread_ts = request.thread_ts or posted["ts"]
        await s.results.update_meta(meta)
        # The results' thread is the incident: opened by the first hunt, recording every one.
        where = (request.team_id, request.channel_id, meta.thread_ts)
        await s.incidents.open_or_get(*where, title=meta.title, owner=request.user_id)
        await s.incidents.record_hunt(
            *where, hunt=meta.hunt, result_id=meta.id, user=request.user_id, rows=meta.row_count
        )

    # -- export --------------------------------------------------------------------------------

    async def export_csv(self, result_id: str, user_id: str) -> None:
        s = self._services
        try:
            meta, result = await s.results.as_result(result_id)
        except HuntBotError as exc:
            log.info("export of %s: %s", result_id, exc.message)
            return
        content = to_csv(result, for_spreadsheets=True)
        await s.pacer.wait_turn(meta.channel)
        try:
            await self._upload(meta, content, user_id)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown_error")
            hint = (
                "Invite the bot to this channel (/invite @hunt-bot) and export again."
                if error in {"not_in_channel", "channel_not_found"}
                else f"Slack answered {error}; try again in a moment."
            )
            message = render_notice("The CSV export could not be shared here.", hint)
            await tell_user(s, meta.channel, user_id, message, None)

    async def _upload(self, meta: StoredResult, content: str, user_id: str) -> None:
        await self._services.slack.files_upload_v2(
            channel=meta.channel,
            thread_ts=meta.thread_ts,
            filename=f"{meta.hunt}-{meta.started_at:%Y%m%d-%H%M%S}.csv",
            title=f"{meta.hunt} — {meta.row_count:,} rows",
            content=content,
            initial_comment=f"CSV export of {code(meta.hunt)} for {user(user_id)}: "
            f"{meta.row_count:,} rows{' (truncated at 100,000)' if meta.truncated else ''}.",
        )

    async def _report_crash(
        self, job: str, channel: str, user_id: str, response_url: str | None
    ) -> None:
        """Anything unexpected: logged with an id the person can quote, and they are told."""
        error_id = uuid.uuid4().hex[:8]
        log.exception("%s failed (error id %s)", job, error_id)
        message = render_notice(
            f"Something went wrong on our side (error id {error_id}).",
            "Try again; if it keeps happening, give the error id to whoever runs the bot.",
        )
        await tell_user(self._services, channel, user_id, message, response_url)

    # -- approvals ------------------------------------------------------------------------------

    async def update_card(self, approval_id: str) -> None:
        s = self._services
        approval = await s.approvals.get(approval_id)
        where = await s.cards.find(approval_id)
        if approval is None or where is None:
            return
        card = render_approval_card(approval, await s.approvals.outcomes(approval_id))
        try:
            await s.slack.chat_update(
                channel=where[0], ts=where[1], text=card.text, blocks=card.blocks
            )
        except SlackApiError as exc:
            log.warning("approval card %s not updated: %s", approval_id, exc.response.get("error"))

    async def execute_approval(self, approval_id: str) -> None:
        """Run an approved spec once: claim it, act on each target not yet done, follow status."""
        s = self._services
        worker = uuid.uuid4().hex
        if not await s.approvals.claim_execution(approval_id, worker):
            return
        await self.update_card(approval_id)
        try:
            spec = await s.approvals.spec_to_run(approval_id)
        except HuntBotError as exc:
            await s.approvals.finish(
                approval_id, ApprovalState.FAILED, worker_id=worker, reason=exc.message
            )
            await self.update_card(approval_id)
            return
        remediation = await s.remediation()
        remaining = await s.approvals.remaining_targets(approval_id, worker_id=worker)
        if remaining:
            for outcome in await remediation.submit(spec, approval_id, remaining):
                await s.approvals.record_outcome(approval_id, outcome, worker_id=worker)
            await self.update_card(approval_id)
        await self._follow_status(approval_id, worker, remediation)
        outcomes = (await s.approvals.outcomes(approval_id)).values()
        failed = [o for o in outcomes if o.status in FAILED_OUTCOMES]
        await s.approvals.finish(
            approval_id,
            ApprovalState.FAILED if failed else ApprovalState.DONE,
            worker_id=worker,
            reason=f"{len(failed)} target(s) failed" if failed else "",
        )
        await self.update_card(approval_id)

    async def _follow_status(self, approval_id: str, worker: str, remediation: Any) -> None:
        """Poll device and file actions until each settles, keeping the execution's lease."""
        s = self._services
        deadline = time.monotonic() + STATUS_POLL_FOR
        while time.monotonic() < deadline:
            running = [
                o
                for o in (await s.approvals.outcomes(approval_id)).values()
                if o.status is OutcomeStatus.IN_PROGRESS
            ]
            if not running:
                return
            await asyncio.sleep(STATUS_POLL_EVERY)
            if not await s.approvals.renew_lease(approval_id, worker):
                raise RuntimeError(f"lost the execution lease of {approval_id}")
            changed = False
            for outcome in running:
                fresh = await remediation.refresh(outcome)
                if fresh.status is not outcome.status:
                    await s.approvals.record_outcome(approval_id, fresh, worker_id=worker)
                    changed = True
            if changed:
                await self.update_card(approval_id)

    # -- telling the person --------------------------------------------------------------------

    async def tell(self, request: HuntRequest, text: str, hint: str | None = None) -> None:
        """An ephemeral answer to whoever asked: through the response URL, else postEphemeral."""
        message = render_notice(text, hint)
        await tell_user(
            self._services, request.channel_id, request.user_id, message, request.response_url
        )


async def jobs_pending(redis: aioredis.Redis) -> bool:
    """Whether the queue holds work not finished: undelivered, or delivered and unacknowledged.

    Jobs are acknowledged when they end, so a delivered, unacknowledged entry is one running.
    """
    stream = keys.job_stream()
    try:
        if not await redis.exists(stream):
            return False
        info = await redis.xinfo_stream(stream)
        groups = await redis.xinfo_groups(stream)
    except RedisError:
        return False
    last = _stream_id(info.get("last-generated-id"))
    if not groups:
        return bool(info.get("length"))
    return any(
        int(group.get("pending", 0)) > 0 or _stream_id(group.get("last-delivered-id")) < last
        for group in groups
    )


def _stream_id(value: object) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value or "0-0")
    millis, _, sequence = text.partition("-")
    return int(millis or 0), int(sequence or 0)


async def tell_user(
    services: Services, channel: str, user_id: str, message: Message, response_url: str | None
) -> None:
    if response_url:
        webhook = AsyncWebhookClient(response_url)
        answer = await webhook.send(
            text=message.text, blocks=message.blocks, response_type="ephemeral"
        )
        if answer.status_code == 200:
            return
    try:
        await services.slack.chat_postEphemeral(
            channel=channel, user=user_id, text=message.text, blocks=message.blocks
        )
    except SlackApiError as exc:
        log.warning("could not tell %s: %s", user_id, exc.response.get("error"))
