"""The one interface every remediation executor offers: Defender (Graph + MDE) and the lab."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.actions.model import ApprovalSpec, Target, TargetOutcome


class RemediationBackend(Protocol):
    """Carries out an approved spec target by target and follows what it started.

        `submit` returns one outcome per target it was given, in order, and does not raise for a
        target that fails: that target's outcome is FAILED with the reason. Only targets of `spec`
        run, and a remediation is never sent again after an unclear answer (reconcile first).
    `refresh` polls a device or file action that is IN_PROGRESS; any other outcome comes
        back as it was.
    """

    name: str

    def batches(self, spec: ApprovalSpec, targets: Sequence[Target]) -> list[list[Target]]:
        """The targets grouped as they go to Microsoft, one call per group: the flow writes the
        group's intents (fenced) just before submitting it."""
        ...

    async def submit(
        self, spec: ApprovalSpec, approval_id: str, targets: Sequence[Target]
    ) -> list[TargetOutcome]: ...

    async def reconcile(
        self, spec: ApprovalSpec, approval_id: str, targets: Sequence[Target]
    ) -> dict[str, TargetOutcome]:
        """For targets that may have been submitted (an intent, no outcome): what Microsoft
        holds of ours, or UNKNOWN where it can't tell. Targets left out were never submitted
        and may be sent now."""
        ...

    async def refresh(self, outcome: TargetOutcome) -> TargetOutcome: ...

    async def aclose(self) -> None: ...
