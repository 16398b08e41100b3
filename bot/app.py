"""The composition root: settings -> Redis -> clients -> the Bolt app; it registers commands/*.

This is the only module that knows every piece. `serve_in_process` runs the whole bot (HTTP server
and, optionally, a worker) inside the caller's event loop: the console and the tests use it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.logger import get_bolt_app_logger
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.types import ASGIApp

from bot import readiness, redis_gauges
from bot.access import HuntAccess
from bot.backoff import Backoff
from bot.config import EXPECTED, Settings
from bot.errors import HuntBotError, SettingsError
from bot.hunts import load_catalog
from bot.jobs import register_jobs, run_worker, stop_worker
from bot.policy import ApprovalPolicy
from bot.queue import JobQueue, create_broker
from bot.services import Services
from bot.serving import serve_in_loop
from bot.slack.directory import usergroup_members
from bot.state.approvals import ApprovalStore
from bot.state.audit import AuditLog
from bot.state.cards import CardLocations
from bot.state.clock import ScheduleClock
from bot.state.drafts import Drafts
from bot.state.hunt_requests import HuntRequests
from bot.state.incidents import IncidentStore
from bot.state.pacing import ChannelPacer
from bot.state.quota import HuntingQuota
from bot.state.redis import RedisConnection, RedisUnavailable, check_redis, open_redis
from bot.state.results import ResultStore
from bot.state.schedules import ScheduleStore
from bot.state.usergroups import GroupMembers
from bot.web import create_web_app as _web_app
from commands import register_all

log = logging.getLogger(__name__)


def slack_client(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(token=token, base_url=str(settings.slack_api_url))
    # Slack's 429s say how long to wait; 5xx and dropped connections get a second try.
    client.retry_handlers.extend(
        [
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ]
    )
    if not any(isinstance(h, AsyncConnectionErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(AsyncConnectionErrorRetryHandler())
    return client


def require_slack(settings: Settings, *, socket_mode: bool = False) -> None:
    """Serving Slack needs the bot token, and the signing secret (HTTP) or app token (Socket)."""
    needed = {
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        **(
            {"SLACK_APP_TOKEN": settings.slack_app_token}
            if socket_mode
            else {"SLACK_SIGNING_SECRET": settings.slack_signing_secret}
        ),
    }
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise SettingsError(
            "Serving Slack needs settings that are missing:\n  "
            + "\n  ".join(f"{name}: expected {EXPECTED[name]}" for name in missing),
            hint="Create the Slack app from infra/slack-manifest.yaml (see the README), then set "
            "them in the environment or .env. To try the bot without Slack: hunt-bot console",
        )


# Processes started together with Redis (a Procfile, a compose file) wait this long for it.
REDIS_WAIT_AT_START = 60.0  # seconds


async def start_services(
    settings: Settings, *, wait_for_redis: float = REDIS_WAIT_AT_START
) -> Services:
    redis = open_redis(settings)
    await _until_redis_answers(redis, wait_for_redis)
    slack = slack_client(settings)
    per_minute = settings.graph_hunts_per_minute if settings.hunt_backend == "graph" else None

    async def lookup(group: str) -> set[str]:
        return await usergroup_members(slack, group)

    members = GroupMembers(redis.client, lookup)
    policy = ApprovalPolicy.from_settings(settings, members)
    services = Services(
        settings=settings,
        redis=redis,
        catalog=load_catalog(settings.hunts_dir),
        slack=slack,
        results=ResultStore(redis.binary, timedelta(days=settings.results_ttl_days)),
        hunt_requests=HuntRequests(redis.client),
        quota=HuntingQuota(redis.client, per_minute),
        pacer=ChannelPacer(redis.client),
        access=HuntAccess(settings, members),
        policy=policy,
        approvals=ApprovalStore(redis.client, policy, AuditLog(redis.client)),
        incidents=IncidentStore(redis.client, AuditLog(redis.client)),
        drafts=Drafts(redis.client),
        cards=CardLocations(redis.client),
        queue=JobQueue(create_broker(redis.url), redis.url),
        schedules=ScheduleStore(redis.client),
        clock=ScheduleClock(redis.client, movable=settings.hunt_backend == "lab"),
    )
    for problem in services.catalog.problems:
        log.warning("hunt file skipped: %s", problem)
    register_jobs(services)
    await services.queue.broker.startup()
    return services


async def _until_redis_answers(redis: RedisConnection, wait: float) -> None:
    """Redis answering, or RedisUnavailable once `wait` seconds have passed (one log line per
    try, capped jittered backoff); with no wait, the first failure is raised."""
    backoff = Backoff(first=0.5, cap=5.0)
    deadline = time.monotonic() + wait
    while True:
        try:
            await check_redis(redis)
            return
        except RedisUnavailable as exc:
            delay = backoff.next()
            if time.monotonic() + delay > deadline:
                await redis.aclose()
                raise
            log.warning("%s Trying again in %.1f s.", exc.message, delay)
            await asyncio.sleep(delay)


class OneWorkspace(AsyncAuthorize):
    """One workspace, one bot token: no auth.test round trip on any request's path.

    An AsyncAuthorize of our own rather than a plain function, which Bolt would wrap in a
    per-request step that gathers every argument the function might ask for (about 4% of an
    ack). The answer is made once, and again only when the bot learns who it is."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._answer: AuthorizeResult | None = None

    async def __call__(self, **_: Any) -> AuthorizeResult:
        bot_user = self._services.bot_user_id or None
        if self._answer is None or self._answer.bot_user_id != bot_user:
            self._answer = AuthorizeResult(
                enterprise_id=None,
                team_id=None,
                bot_token=self._services.slack.token,
                bot_user_id=bot_user,
            )
        return self._answer


class BotApp(AsyncApp):
    """Bolt's AsyncApp, handing every request the app's own Web API client.

    Bolt (since 1.15) builds a new AsyncWebClient for each request, so that a listener may
    change its token without touching other requests. Ours never use Bolt's client (they use
    services.slack) and there is one token, and building one (proxy settings read from the
    environment, the user agent string) was about a tenth of each /hunt ack's CPU
    (benchmarks/README.md). The context gets what Bolt's own `_init_context` gives it;
    tests/slack/test_bolt_app.py holds the two side by side, so a Bolt upgrade that changes it
    is noticed."""

    _context_logger: logging.Logger | None = None

    def _init_context(self, req: AsyncBoltRequest) -> None:
        if self._context_logger is None:  # the same logger for every request, so looked up once
            self._context_logger = get_bolt_app_logger(
                app_name=self.name, base_logger=self._base_logger
            )
        req.context["logger"] = self._context_logger
        req.context["token"] = self._token
        req.context["client"] = self._async_client
        req.context["listener_runner"] = self.listener_runner


def create_bolt_app(services: Services) -> AsyncApp:
    settings = services.settings
    app = BotApp(
        # Every request is handed this one (BotApp), with the token `authorize` returns; the
        # listeners use services.slack. No token here: Bolt would then authorize with auth.test.
        client=AsyncWebClient(
            base_url=services.slack.base_url, retry_handlers=services.slack.retry_handlers
        ),
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        ),
        authorize=OneWorkspace(services),
        # Listeners only validate, write to Redis and enqueue: answer as soon as they return
        # rather than polling for ack() every 10 ms (../shared/reference/bolt-ack-latency.md).
        process_before_response=True,
        # bot/web.py checks every HTTP request's signature before Bolt sees it (Socket Mode's
        # have none): checking again here cost each ack an HMAC and a header parse.
        request_verification_enabled=False,
    )
    register_all(app, services)
    return app


def create_web_app(services: Services, bolt: AsyncApp) -> ASGIApp:
    secret = services.settings.slack_signing_secret

    async def health() -> str | None:
        try:
            await check_redis(services.redis)
        except HuntBotError as exc:
            return exc.message
        return None

    async def ready() -> dict[str, str]:
        return await readiness.missing(services.settings, services.redis)

    async def before_metrics() -> None:
        await redis_gauges.read(services.redis.client)

    return _web_app(
        bolt,
        signing_secret=secret.get_secret_value() if secret else None,
        health=health,
        ready=ready,
        before_metrics=before_metrics,
        stopping=services.finish_acknowledged,
    )


# Asking Slack who the bot is, after auth.test failed at start: a minute apart at most.
IDENTITY_RETRY_FIRST = 1.0  # seconds
IDENTITY_RETRY_CAP = 60.0  # seconds
_identity_tasks: set[asyncio.Task[None]] = set()


async def learn_bot_user(services: Services) -> asyncio.Task[None] | None:
    """Who the bot is (for ignoring its own messages), asked at start, never per request.

    If auth.test fails, the bot serves anyway and asks again in the background with capped,
    jittered backoff until Slack answers; the task doing so is returned (the caller may cancel
    it at shutdown). Meanwhile a mention is understood from the event itself: Slack says whom
    it delivered the event to (flows/incidents.py).
    """
    if await _ask_slack_who_we_are(services, attempt=1):
        return None
    task = asyncio.create_task(_keep_asking_who_we_are(services))
    _identity_tasks.add(task)  # held until done: the loop keeps only a weak reference
    task.add_done_callback(_identity_tasks.discard)
    return task


async def _keep_asking_who_we_are(services: Services) -> None:
    backoff = Backoff(first=IDENTITY_RETRY_FIRST, cap=IDENTITY_RETRY_CAP)
    attempt = 1
    answered = False
    while not answered:  # even if an event told us meanwhile: auth.test also proves the token
        await asyncio.sleep(backoff.next())
        attempt += 1
        answered = await _ask_slack_who_we_are(services, attempt=attempt)
    log.info("auth.test answered on attempt %d: the bot is %s", attempt, services.bot_user_id)


async def _ask_slack_who_we_are(services: Services, *, attempt: int) -> bool:
    try:
        answer = await services.slack.auth_test()
    except Exception as exc:  # the bot still serves; mentions are read from the event meanwhile
        log.warning(
            "auth.test failed (attempt %d; asking again in the background): %s", attempt, exc
        )
        return False
    user_id = answer.get("user_id") or ""
    if user_id:
        services.bot_user_id = user_id
    return bool(user_id)


@asynccontextmanager
async def serve_in_process(
    settings: Settings, *, port: int = 0, host: str = "127.0.0.1", with_worker: bool = True
) -> AsyncIterator[str]:
    """Run the bot's HTTP server (and a worker) in this event loop; yields its base URL."""
    services = await start_services(settings)
    try:
        identity = await learn_bot_user(services)
        web = create_web_app(services, create_bolt_app(services))
        worker = asyncio.create_task(run_worker(services)) if with_worker else None
        try:
            async with serve_in_loop(web, host=host, port=port) as url:
                yield url
        finally:
            if worker is not None:
                await stop_worker(worker)
            if identity is not None:
                identity.cancel()
                with suppress(asyncio.CancelledError):
                    await identity
    finally:
        await services.aclose()
