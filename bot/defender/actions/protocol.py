"""The one interface every remediation executor offers: Defender (Graph + MDE) and the lab."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.actions.model import ApprovalSpec, Target, TargetOutcome


class RemediationBackend(Protocol):
    """Carries out an approved spec target by target and follows what it started.

    `submit` returns one outcome per target it was given, in order, and does not raise for a
    target that fails: that target's outcome is FAILED with the reason. Only targets of `spec`
    run. `refresh` polls a device or file action that is IN_PROGRESS; any other outcome comes
    back as it was.
    """

    name: str

    async def submit(
        self, spec: ApprovalSpec, approval_id: str, targets: Sequence[Target]
    ) -> list[TargetOutcome]: ...

    async def refresh(self, outcome: TargetOutcome) -> TargetOutcome: ...

    async def aclose(self) -> None: ...
