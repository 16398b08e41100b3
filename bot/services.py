"""What every flow, listener and job is handed: the process's stores and clients, built once.

`bot.app` (the composition root) builds it; everything else only receives it. It knows no flow,
listener or job, so importing it never pulls in the rest of the bot.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.access import HuntAccess
from bot.config import Settings
from bot.defender.actions import RemediationBackend, open_remediation
from bot.defender.backends import open_backend
from bot.defender.clients import MicrosoftClients
from bot.defender.results import HuntingBackend
from bot.hunts import Catalog
from bot.in_flight import InFlight
from bot.policy import ApprovalPolicy
from bot.queue import JobQueue
from bot.state.approvals import ApprovalStore
from bot.state.cards import CardLocations
from bot.state.clock import ScheduleClock
from bot.state.drafts import Drafts
from bot.state.hunt_requests import HuntRequests
from bot.state.incidents import IncidentStore
from bot.state.pacing import ChannelPacer
from bot.state.quota import HuntingQuota
from bot.state.redis import RedisConnection
from bot.state.results import ResultStore
from bot.state.schedules import ScheduleStore

log = logging.getLogger(__name__)


@dataclass
class Services:
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
    queue: JobQueue
    schedules: ScheduleStore
    clock: ScheduleClock  # the time schedules run by (the console's `wait` moves a lab's)
    bot_user_id: str = ""
    # What acknowledged requests are still doing; waited for before anything here is closed.
    after_ack: InFlight = field(default_factory=lambda: InFlight("acknowledged request(s)"))
    # The jobs this process is running (a worker's), waited for when it is told to stop.
    running_jobs: InFlight = field(default_factory=lambda: InFlight("running job(s)"))
    _backend: HuntingBackend | None = None
    _backend_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _remediation: RemediationBackend | None = None
    # One token cache for the whole process: hunting, remediation and capabilities share it.
    microsoft: MicrosoftClients = field(init=False)

    def __post_init__(self) -> None:
        self.microsoft = MicrosoftClients(self.settings)

    async def backend(self) -> HuntingBackend:
        """Opened on first use, in the process that runs hunts (the lab allows one process)."""
        async with self._backend_lock:
            if self._backend is None:
                self._backend = await asyncio.to_thread(
                    open_backend, self.settings, tokens=self.microsoft.tokens, quota=self.quota
                )
            return self._backend

    async def remediation(self) -> RemediationBackend:
        """Graph + Defender for Endpoint, or the lab acting on its own data (same DuckDB file)."""
        if self._remediation is None:
            lab = await self.backend() if self.settings.hunt_backend == "lab" else None
            self._remediation = open_remediation(
                self.settings,
                tokens=self.microsoft.tokens,
                lab=lab,  # type: ignore[arg-type]
            )
        return self._remediation

    async def finish_acknowledged(self) -> None:
        """Wait (SHUTDOWN_GRACE_SECONDS at most) for what acknowledged requests still do: Slack
        will not send them again. Called as a process stops, before anything is closed."""
        grace = self.settings.shutdown_grace_seconds
        unfinished = await self.after_ack.drain(grace)
        if unfinished:
            log.warning(
                "stopped %d acknowledged request(s) unfinished after %g s "
                "(SHUTDOWN_GRACE_SECONDS): %s",
                len(unfinished),
                grace,
                "; ".join(unfinished),
            )

    async def aclose(self) -> None:
        await self.finish_acknowledged()
        if self._remediation is not None:
            await self._remediation.aclose()
        if self._backend is not None:
            await self._backend.aclose()
        await self.microsoft.aclose()
        await self.queue.aclose()
        await self.queue.broker.shutdown()
        await self.redis.aclose()
