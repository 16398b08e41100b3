"""Defender's remediation executor (Graph for email, MDE for devices and files), and choosing
between it and the lab tenant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.actions.model import ApprovalSpec, Target, TargetOutcome
from bot.config import Settings
from bot.defender.actions.emails import DEFAULT_BATCH_SIZE, GraphEmailRemediation
from bot.defender.actions.machines import MachineActions
from bot.defender.actions.operations import ordered, split_runnable
from bot.defender.actions.protocol import RemediationBackend
from bot.defender.actions.transport import ApiClient, RetryPolicy
from bot.defender.auth import TokenProvider
from bot.defender.http import MicrosoftApi, Verify, http_client

if TYPE_CHECKING:
    from bot.defender.lab import LabTenant

# An action call is small and Microsoft answers it before doing the work; a minute without an
# answer means the call is lost. A remediation POST is then reconciled, never resent blindly
# (transport.py `resend=False`); `action_timeout` keeps it below a run's takeover time.
ACTION_TIMEOUT_SECONDS = 60.0


class DefenderRemediation:
    """The `RemediationBackend` that acts on the tenant through Graph and Defender for Endpoint."""

    name = "defender"

    def __init__(
        self,
        settings: Settings,
        tokens: TokenProvider,
        *,
        verify: Verify = True,
        email_batch_size: int = DEFAULT_BATCH_SIZE,
        retry: RetryPolicy | None = None,
        timeout: float = ACTION_TIMEOUT_SECONDS,
    ) -> None:
        retry = retry or RetryPolicy()
        self._http = http_client(verify, timeout)
        graph = MicrosoftApi(
            self._http,
            tokens,
            service="Microsoft Graph",
            base=settings.graph_base,
            scope=settings.hosts.graph_scope,
        )
        mde = MicrosoftApi(
            self._http,
            tokens,
            service="Defender for Endpoint",
            base=settings.mde_base,
            scope=settings.hosts.mde_scope,
        )
        self.emails = GraphEmailRemediation(ApiClient(graph, retry), batch_size=email_batch_size)
        self.machines = MachineActions(ApiClient(mde, retry))

    def batches(self, spec: ApprovalSpec, targets: Sequence[Target]) -> list[list[Target]]:
        runnable, refused = split_runnable(spec, targets)
        if spec.action.entity == "email":
            groups = self.emails.batches(spec, runnable)
        else:
            groups = [[t] for t in runnable]  # MDE acts on one device per call
        refused_keys = {o.target_key for o in refused}
        return groups + [[t] for t in targets if t.key in refused_keys]

    async def reconcile(
        self, spec: ApprovalSpec, approval_id: str, targets: Sequence[Target]
    ) -> dict[str, TargetOutcome]:
        if spec.action.entity == "email":
            return self.emails.reconcile(targets)
        return await self.machines.reconcile(spec, approval_id, targets)

    async def submit(
        self, spec: ApprovalSpec, approval_id: str, targets: Sequence[Target]
    ) -> list[TargetOutcome]:
        runnable, refused = split_runnable(spec, targets)
        if spec.action.entity == "email":
            done = await self.emails.submit(spec, approval_id, runnable)
        else:
            done = await self.machines.submit(spec, approval_id, runnable)
        return ordered(targets, [*done, *refused])

    async def refresh(self, outcome: TargetOutcome) -> TargetOutcome:
        return await self.machines.refresh(outcome)

    async def aclose(self) -> None:
        await self._http.aclose()


def action_timeout(settings: Settings) -> float:
    """A call gives up before its run can be taken over: a worker cut off from Redis stops
    waiting on a POST before another worker, lease and grace later, asks Microsoft whether it
    landed, so what the resumed run sees is not overtaken by a late request."""
    takeover = settings.approval_lease_seconds + settings.approval_takeover_grace_seconds
    return max(5.0, min(ACTION_TIMEOUT_SECONDS, takeover - 5.0))


def open_remediation(
    settings: Settings,
    *,
    tokens: TokenProvider | None = None,
    verify: Verify = True,
    lab: LabTenant | None = None,
) -> RemediationBackend:
    """The executor HUNT_BACKEND names: Defender, or the lab tenant.

    `tokens` is the process's one TokenProvider (see bot/defender/clients.py), so remediation
    reuses the tokens hunting already holds; without it, one is built for this executor.

    The lab runs on `lab`'s connection when given (DuckDB lets one process open a lab file, so
    the hunting backend's tenant is shared); otherwise it opens the lab and closes it with itself.
    """
    if settings.hunt_backend == "graph":
        settings.require_graph()
        return DefenderRemediation(
            settings,
            tokens or TokenProvider(settings),
            verify=verify,
            timeout=action_timeout(settings),
        )
    from bot.defender.lab import LabTenant
    from bot.defender.lab.actions import LabRemediation

    if lab is not None:
        return LabRemediation(lab)
    return LabRemediation(LabTenant.open(settings.lab_db), owns_tenant=True)
