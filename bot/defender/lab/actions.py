"""The lab tenant carries out remediation for real, on its own data: `LabRemediation` hands email
to email_actions.py and devices and files to machine_actions.py.

Everything runs on the `LabTenant`'s own connection under its lock: DuckDB lets one process open
a lab file, and hunts and actions must see the same data.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.actions.model import ApprovalSpec, EmailTarget, OutcomeStatus, Target, TargetOutcome
from bot.defender.actions.operations import ordered, split_runnable, unknown
from bot.defender.lab.email_actions import remediate_email
from bot.defender.lab.machine_actions import (
    LabMachineActions,
    LabTiming,
    ensure_machine_actions_table,
)
from bot.defender.lab.store import rebase
from bot.defender.lab.tenant import LabTenant


class LabRemediation:
    """The `RemediationBackend` of the lab tenant."""

    name = "lab"

    def __init__(
        self,
        tenant: LabTenant,
        *,
        timing: LabTiming | None = None,
        owns_tenant: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenant = tenant
        self._machines = LabMachineActions(timing or LabTiming())
        self._owns_tenant = owns_tenant
        # What "now" is when an action starts or is read; a test steps it rather than sleeping.
        self._clock = clock

    def batches(self, spec: ApprovalSpec, targets: Sequence[Target]) -> list[list[Target]]:
        """Emails in one remediation (one bulk id, as Graph would make it), devices one each."""
        runnable, refused = split_runnable(spec, targets)
        groups = [runnable] if spec.action.entity == "email" else [[t] for t in runnable]
        refused_keys = {o.target_key for o in refused}
        return [g for g in groups if g] + [[t] for t in targets if t.key in refused_keys]

    async def reconcile(
        self, spec: ApprovalSpec, approval_id: str, targets: Sequence[Target]
    ) -> dict[str, TargetOutcome]:
        """Devices: our machine action in the lab's table, if there is one. Email: as with Graph,
        nothing finds an earlier remediation by name, so those are UNKNOWN."""
        if spec.action.entity == "email":
            why = "It may have been sent before a worker stopped; the lab, like Graph, can't tell."
            return {t.key: unknown(t, why) for t in targets}
        return await asyncio.to_thread(self._reconcile, spec, approval_id, list(targets))

    async def submit(
        self, spec: ApprovalSpec, approval_id: str, targets: Sequence[Target]
    ) -> list[TargetOutcome]:
        runnable, refused = split_runnable(spec, targets)
        done = await asyncio.to_thread(self._submit, spec, approval_id, runnable)
        return ordered(targets, [*done, *refused])

    async def refresh(self, outcome: TargetOutcome) -> TargetOutcome:
        if outcome.status is not OutcomeStatus.IN_PROGRESS or outcome.machine_action_id is None:
            return outcome
        return await asyncio.to_thread(self._refresh, outcome)

    async def aclose(self) -> None:
        if self._owns_tenant:
            await self._tenant.aclose()

    # -- in a worker thread, on the tenant's connection ---------------------------------------

    def _submit(
        self, spec: ApprovalSpec, approval_id: str, targets: list[Target]
    ) -> list[TargetOutcome]:
        now = self._clock()
        with self._tenant.connection() as con:
            ensure_machine_actions_table(con)
            # Rows written now must move with the lab's data when it is next re-based, so the
            # data is brought up to now first.
            rebase(con, now)
            con.execute("BEGIN TRANSACTION")
            try:
                if spec.action.entity == "email":
                    bulk_id = str(uuid.uuid4())  # one remediation, as Graph would make it
                    outcomes = [
                        remediate_email(con, spec, t, now, bulk_id)
                        for t in targets
                        if isinstance(t, EmailTarget)
                    ]
                else:
                    outcomes = [
                        self._machines.start(con, spec, approval_id, t, now) for t in targets
                    ]
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return outcomes

    def _reconcile(
        self, spec: ApprovalSpec, approval_id: str, targets: list[Target]
    ) -> dict[str, TargetOutcome]:
        now = self._clock()
        found = {}
        with self._tenant.connection() as con:
            ensure_machine_actions_table(con)
            for target in targets:
                ours = self._machines.ours(con, spec, approval_id, target, now)
                if ours is not None:
                    found[target.key] = ours
        return found

    def _refresh(self, outcome: TargetOutcome) -> TargetOutcome:
        now = self._clock()
        with self._tenant.connection() as con:
            ensure_machine_actions_table(con)
            return self._machines.refresh(con, outcome, now)
