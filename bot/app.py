"""The composition root: settings -> Redis -> clients -> the Bolt app; it registers commands/*.

This is the only module that knows every piece. `serve_in_process` runs the whole bot (HTTP server
and, optionally, a worker) inside the caller's event loop: the console and the tests use it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.access import HuntAccess
from bot.config import EXPECTED, Settings
from bot.defender.actions import RemediationBackend, open_remediation
from bot.defender.backends import open_backend
from bot.defender.results import HuntingBackend
from bot.errors import HuntBotError, SettingsError
from bot.hunts import Catalog, load_catalog
from bot.jobs import Jobs, create_broker
from bot.policy import ApprovalPolicy
from bot.serving import serve_in_loop
from bot.state.approvals import ApprovalStore
from bot.state.audit import AuditLog
from bot.state.cards import CardLocations
from bot.state.drafts import Drafts
from bot.state.hunt_requests import HuntRequests
from bot.state.incidents import IncidentStore
from bot.state.pacing import ChannelPacer
from bot.state.quota import HuntingQuota
from bot.state.redis import RedisConnection, check_redis, open_redis
from bot.state.results import ResultStore

log = logging.getLogger(__name__)

GRAPH_HUNTS_PER_MINUTE = 45  # Graph's documented floor for a tenant


@dataclass
class Services:
    """Everything a listener or a job needs, built once per process."""

    settings: Settings
    redis: RedisConnection
    catalog: Catalog
    slack: AsyncWebClient
    results: ResultStore
    hunt_requests: HuntRequests
    quota: HuntingQuota
    pacer: ChannelPacer
    access: HuntAccess
    policy: ApprovalPolicy
    approvals: ApprovalStore
    drafts: Drafts
    cards: CardLocations
    incidents: IncidentStore
    jobs: Jobs = field(init=False)
    bot_user_id: str = ""
    _backend: HuntingBackend | None = None
    _backend_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _remediation: RemediationBackend | None = None

    async def backend(self) -> HuntingBackend:
        """Opened on first use, in the process that runs hunts (the lab allows one process)."""
        async with self._backend_lock:
            if self._backend is None:
                self._backend = await asyncio.to_thread(open_backend, self.settings)
            return self._backend

    async def remediation(self) -> RemediationBackend:
        """Graph + Defender for Endpoint, or the lab acting on its own data (same DuckDB file)."""
        if self._remediation is None:
            lab = await self.backend() if self.settings.hunt_backend == "lab" else None
            self._remediation = open_remediation(self.settings, lab=lab)  # type: ignore[arg-type]
        return self._remediation

    async def aclose(self) -> None:
        if self._remediation is not None:
            await self._remediation.aclose()
        if self._backend is not None:
            await self._backend.aclose()
        await self.jobs.broker.shutdown()
        await self.redis.aclose()


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


async def start_services(settings: Settings) -> Services:
    redis = open_redis(settings)
    await check_redis(redis)
    slack = slack_client(settings)
    per_minute = GRAPH_HUNTS_PER_MINUTE if settings.hunt_backend == "graph" else None
    access = HuntAccess(settings, redis.client, slack)
    policy = ApprovalPolicy.from_settings(settings, access.members_of)
    services = Services(
        settings=settings,
        redis=redis,
        catalog=load_catalog(settings.hunts_dir),
        slack=slack,
        results=ResultStore(redis.binary, timedelta(days=settings.results_ttl_days)),
        hunt_requests=HuntRequests(redis.client),
        quota=HuntingQuota(redis.client, per_minute),
        pacer=ChannelPacer(redis.client),
        access=access,
        policy=policy,
        approvals=ApprovalStore(redis.client, policy, AuditLog(redis.client)),
        incidents=IncidentStore(redis.client, AuditLog(redis.client)),
        drafts=Drafts(redis.client),
        cards=CardLocations(redis.client),
    )
    for problem in services.catalog.problems:
        log.warning("hunt file skipped: %s", problem)
    services.jobs = Jobs(services, create_broker(redis.url))
    await services.jobs.broker.startup()
    return services


def create_bolt_app(services: Services) -> AsyncApp:
    settings = services.settings

    async def authorize(**_: object) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test round trip on any request's path.
        return AuthorizeResult(
            enterprise_id=None,
            team_id=None,
            bot_token=services.slack.token,
            bot_user_id=services.bot_user_id or None,
        )

    app = AsyncApp(
        # Bolt builds its per-request client from this one and the token `authorize` returns;
        # the listeners use services.slack.
        client=AsyncWebClient(
            base_url=services.slack.base_url, retry_handlers=services.slack.retry_handlers
        ),
        signing_secret=(
            settings.slack_signing_secret.get_secret_value()
            if settings.slack_signing_secret
            else None
        ),
        authorize=authorize,
        # Listeners only validate, write to Redis and enqueue: answer as soon as they return
        # rather than polling for ack() every 10 ms (../shared/reference/bolt-ack-latency.md).
        process_before_response=True,
        request_verification_enabled=settings.slack_signing_secret is not None,
    )
    from commands import register_all

    register_all(app, services)
    return app


def create_web_app(services: Services, bolt: AsyncApp) -> Starlette:
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

    handler = AsyncSlackRequestHandler(bolt)

    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_: Request) -> Response:
        try:
            await check_redis(services.redis)
        except HuntBotError as exc:
            return JSONResponse({"ok": False, "redis": exc.message}, status_code=503)
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


async def learn_bot_user(services: Services) -> None:
    """Who the bot is (for ignoring its own messages), asked once at start, never per request."""
    try:
        answer = await services.slack.auth_test()
        services.bot_user_id = answer.get("user_id") or ""
    except Exception as exc:  # the bot still serves; mentions just cannot be told apart
        log.warning("auth.test failed at start: %s", exc)


@asynccontextmanager
async def serve_in_process(
    settings: Settings, *, port: int = 0, host: str = "127.0.0.1", with_worker: bool = True
) -> AsyncIterator[str]:
    """Run the bot's HTTP server (and a worker) in this event loop; yields its base URL."""
    services = await start_services(settings)
    try:
        await learn_bot_user(services)
        web = create_web_app(services, create_bolt_app(services))
        worker = asyncio.create_task(services.jobs.run_worker()) if with_worker else None
        try:
            async with serve_in_loop(web, host=host, port=port) as url:
                yield url
        finally:
            if worker is not None:
                worker.cancel()
                with suppress(asyncio.CancelledError):
                    await worker
    finally:
        await services.aclose()
