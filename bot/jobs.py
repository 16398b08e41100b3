"""The worker: which job runs which flow, the receiver loop, and housekeeping.

Enqueueing is `bot.queue` (any process); this module is only for processes that run jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from bot import metrics
from bot.backoff import Backoff
from bot.defender.capabilities import current_capabilities
from bot.errors import HuntBotError
from bot.flows import approvals, hunts, schedules
from bot.flows.failures import failure_message
from bot.logs import ids_bound
from bot.queue import JobName
from bot.services import Services
from bot.slack.delivery import tell_user
from bot.state.capabilities import save_capabilities
from bot.state.hunt_requests import POSTING

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = 5.0  # seconds: a dead worker's approval is resumed this soon after its grace

# taskiq warns whenever its receiver is cancelled, which is how every worker here stops.
logging.getLogger("taskiq.receiver").addFilter(
    lambda record: "task was cancelled" not in record.getMessage()
)


def register_jobs(services: Services) -> None:
    """Give the broker the functions behind each job name (taskiq wants plain functions)."""
    s = services

    async def run_hunt(request_id: str) -> None:
        s.running_jobs.adopt(
            f"run_hunt {request_id}", on_cut_off=lambda: s.queue.enqueue_hunt(request_id)
        )
        with ids_bound(hunt=request_id):
            started = time.monotonic()
            outcome = await _run_hunt(request_id)
            took = time.monotonic() - started
            metrics.hunt_ended(outcome, took)
            log.info("hunt %s ended (%s) after %.2f s", request_id, outcome, took)

    async def _run_hunt(request_id: str) -> str:
        """The hunt, and how it ended (bot/metrics.py HUNT_OUTCOMES)."""
        try:
            # A hunt is read-only and its job may run again (flows/hunts.py): one cut short
            # by a Redis outage runs again, or posts what it stored, once Redis is back.
            await _riding_out_redis(
                s, f"run_hunt {request_id}", lambda: hunts.run_hunt(s, request_id)
            )
        except RedisUnreachable:
            return "redis_unreachable"
        except Exception:
            request = await s.hunt_requests.load(request_id)
            if request is not None:
                await _report_crash(
                    s, "run_hunt", request.channel_id, request.user_id, request.response_url
                )
            return "crashed"
        ended = await s.hunt_requests.outcome(request_id)
        if ended is None:
            return "failed"  # told the requester why (access, arguments, Microsoft) or expired
        return "completed" if ended == POSTING else "cancelled"

    async def export_csv(result_id: str, user_id: str) -> None:
        s.running_jobs.adopt(
            f"export_csv {result_id} for {user_id}",
            on_cut_off=lambda: s.queue.enqueue_export(result_id, user_id),
        )
        try:
            await hunts.export_csv(s, result_id, user_id)
        except Exception:
            meta = await s.results.meta(result_id)
            await _report_crash(s, "export_csv", meta.channel, user_id, None)

    async def execute_approval(approval_id: str) -> None:
        # Cut off, its run is resumed by housekeeping once the lease lapses, as after a crash;
        # meanwhile the card shows where it got to (it may have finished and not said so yet).
        s.running_jobs.adopt(
            f"execute_approval {approval_id}",
            on_cut_off=lambda: approvals.update_card(s, approval_id),
        )
        with ids_bound(approval=approval_id):
            started = time.monotonic()
            await _execute_approval(approval_id)
            log.info(
                "approval %s: run job ended after %.2f s", approval_id, time.monotonic() - started
            )

    async def _execute_approval(approval_id: str) -> None:
        try:
            await approvals.execute(s, approval_id)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            metrics.redis_error("job")
            log.warning(
                "execute_approval %s: Redis unreachable (%s); housekeeping will resume it",
                approval_id,
                type(exc).__name__,
            )
        except Exception:
            log.exception("execute_approval %s failed; housekeeping will resume it", approval_id)

    broker = s.queue.broker
    broker.register_task(run_hunt, task_name=JobName.RUN_HUNT)
    broker.register_task(export_csv, task_name=JobName.EXPORT_CSV)
    broker.register_task(execute_approval, task_name=JobName.EXECUTE_APPROVAL)


# A job cut short by a Redis outage waits for Redis this long at most, then is dropped.
JOB_WAITS_FOR_REDIS = 300.0  # seconds


class RedisUnreachable(Exception):
    """Redis stayed away longer than a job waits for it (already logged)."""


async def _riding_out_redis(
    services: Services, job: str, run: Callable[[], Awaitable[None]]
) -> None:
    """Run `run`; if Redis drops out under it, wait until Redis answers and run it again
    (one log line per interruption). Only for jobs that may run twice."""
    while True:
        try:
            await run()
            return
        except (RedisConnectionError, RedisTimeoutError) as exc:
            metrics.redis_error("job")
            log.warning("%s: Redis unreachable (%s); will run it again", job, type(exc).__name__)
        if not await _redis_answers(services, job):
            raise RedisUnreachable(job)


async def _redis_answers(services: Services, job: str) -> bool:
    backoff = Backoff(first=0.25, cap=3.0)
    started = time.monotonic()
    while time.monotonic() - started < JOB_WAITS_FOR_REDIS:
        await asyncio.sleep(backoff.next())
        try:
            await services.redis.client.ping()
            return True
        except (RedisConnectionError, RedisTimeoutError):
            continue
    log.warning("%s: Redis away for %.0f s; dropped", job, time.monotonic() - started)
    return False


async def run_worker(services: Services, stop: asyncio.Event | None = None) -> None:
    """Consume jobs in this process, and keep approvals and schedules moving, until cancelled
    or until `stop` is set (SIGTERM). Once it is set, no job is taken and those running are
    waited for, SHUTDOWN_GRACE_SECONDS at most; what is still running then is cancelled and
    queued again, so another worker runs it (a hunt or an export runs again from where its
    stored state says; an approval's run is resumed by housekeeping once its lease lapses)."""
    stop = stop or asyncio.Event()
    await record_capabilities(services)
    keeping = asyncio.create_task(_housekeeping(services))
    try:
        await _receive(services, stop)
    finally:
        keeping.cancel()
    left = await services.running_jobs.drain(0)  # the grace was spent in the receiver
    if left:
        log.warning(
            "stopped with %d job(s) still running after %g s (SHUTDOWN_GRACE_SECONDS), queued "
            "again for another worker: %s",
            len(left),
            services.settings.shutdown_grace_seconds,
            "; ".join(left),
        )


async def _receive(services: Services, stop: asyncio.Event) -> None:
    """taskiq's receiver until `stop`, started again if it fails (as taskiq's own
    run_receiver_task does, which has no way to stop it but cancelling every job at once)."""
    broker = services.queue.broker
    broker.is_worker_process = True
    backoff = Backoff(first=0.5, cap=10.0)  # a receiver that keeps failing is not restarted hot
    with ThreadPoolExecutor() as executor:  # for sync jobs; ours are all async
        while not stop.is_set():
            receiver = Receiver(
                broker=broker,
                executor=executor,
                run_startup=False,
                max_async_tasks=20,
                ack_type=AcknowledgeType.WHEN_SAVED,
                wait_tasks_timeout=services.settings.shutdown_grace_seconds,
            )
            try:
                await receiver.listen(stop)
            except Exception as exc:
                delay = backoff.next()
                log.warning(
                    "the job receiver failed (%s); starting it again in %.1f s",
                    exc,
                    delay,
                    exc_info=True,
                )
                with contextlib.suppress(TimeoutError):  # a stop ends the wait
                    await asyncio.wait_for(stop.wait(), delay)


async def _housekeeping(services: Services) -> None:
    # After a failure, sooner than the usual interval (capped by it), so it resumes within
    # seconds of Redis returning; one log line per try, a traceback only for the unexpected.
    backoff = Backoff(first=0.5, cap=HOUSEKEEPING_EVERY)
    while True:
        try:
            await approvals.housekeeping(services)
            await schedules.run_due(services)  # each due tick is claimed by one worker only
        except (RedisConnectionError, RedisTimeoutError) as exc:
            delay = backoff.next()
            log.warning(
                "housekeeping: Redis unreachable (%s); trying again in %.1f s",
                type(exc).__name__,
                delay,
            )
        except Exception:
            delay = backoff.next()
            log.exception("housekeeping failed; trying again in %.1f s", delay)
        else:
            if backoff.attempt:
                log.warning("housekeeping: working again")
            backoff.reset()
            delay = HOUSEKEEPING_EVERY
        await asyncio.sleep(delay)


async def record_capabilities(services: Services) -> None:
    """What the app registration may do, for the Take actions modal (read at worker start)."""
    try:
        found = await current_capabilities(services.settings, tokens=services.microsoft.tokens)
    except HuntBotError as exc:  # e.g. an app-registration setting missing: unknown, say so
        log.warning("cannot read the app's capabilities: %s", exc.message)
        return
    if found is not None:
        await save_capabilities(services.redis.client, found)


async def _report_crash(
    services: Services, job: str, channel: str, user_id: str, response_url: str | None
) -> None:
    """Anything a job did not expect: the person who asked is told, as a listener would."""
    exc = sys.exc_info()[1]
    message = failure_message(exc if exc is not None else RuntimeError(job), job)
    await tell_user(services.slack, channel, user_id, message, response_url)


async def stop_worker(task: asyncio.Task[None], *, grace: float = 5.0) -> None:
    """Cancel an in-process worker and wait for it, but never for ever.

    Seen about once in seven test runs: taskiq's prefetcher, shielded on its read of the stream,
    takes the cancellation without ending. Whatever is still being cancelled after `grace` is
    cancelled once more, and the worker is left with a warning rather than hanging the process.
    """
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        current = asyncio.current_task()
        stuck = [
            t for t in asyncio.all_tasks() if t is not current and t.cancelling() and not t.done()
        ]
        log.warning(
            "the worker did not stop within %.0f s; cancelling %d task(s) again", grace, len(stuck)
        )
        for straggler in stuck:
            straggler.cancel()
        done, _ = await asyncio.wait({task}, timeout=grace)
    if done and not task.cancelled() and task.exception() is not None:
        log.warning("the worker ended with %r", task.exception())
