"""Device and file actions through the Defender for Endpoint API, one target at a time.

`POST /api/machines/{id}/{operation}` answers 201 with a MachineAction (an Investigation for
startInvestigation) whose status is then polled at `/api/machineactions/{id}`
(`/api/investigations/{id}`) until it settles. Targets run one after another: the API allows
100 calls a minute, and a 429 for one target is best waited out before the next.

A 4xx is final for its own target only. "Action is already in progress" is the one 400 looked
at twice: if the action in flight carries this approval's id, it is ours (a retried or resumed
submission reached Defender before) and is followed rather than failed.

A POST is never repeated blindly: after a timeout or an unclear 5xx the device's machine actions
are listed (`GET /api/machineactions?$filter=machineId eq .. and type eq ..`) and one whose
comment carries this approval's id is adopted; only when there is none is it sent again, once.
`reconcile` does the same for targets a worker that died may have sent. Investigations are not
machine actions and can't be looked up by comment: those come back UNKNOWN.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from bot.actions.model import (
    ActionKind,
    ApprovalSpec,
    FileTarget,
    OutcomeStatus,
    Target,
    TargetOutcome,
)
from bot.defender.actions.file_hashes import Sha1Lookup
from bot.defender.actions.mde_objects import IN_FLIGHT, Investigation, MachineAction
from bot.defender.actions.operations import (
    INVESTIGATION,
    MACHINE_OPERATIONS,
    STATUS_CAPABILITY,
    MachineOperation,
    approval_marker,
    capability,
    capability_for,
    failed,
    file_hash_label,
    machine_body,
    unknown,
)
from bot.defender.actions.transport import ApiClient, CallFailed, CallUncertain
from bot.defender.http import api_error

log = logging.getLogger(__name__)

ALREADY_IN_PROGRESS = "already in progress"


class MachineActions:
    def __init__(self, mde: ApiClient) -> None:
        self._mde = mde

    async def submit(
        self, spec: ApprovalSpec, approval_id: str, targets: Sequence[Target]
    ) -> list[TargetOutcome]:
        operation = MACHINE_OPERATIONS[spec.action]
        hashes = Sha1Lookup(self._mde)
        return [
            await self._submit_one(spec, approval_id, operation, target, hashes)
            for target in targets
        ]

    async def reconcile(
        self, spec: ApprovalSpec, approval_id: str, targets: Sequence[Target]
    ) -> dict[str, TargetOutcome]:
        """For targets that may have been sent already: the outcome of ours Defender holds, or
        UNKNOWN where it can't tell. A target missing from the answer was never sent."""
        operation = MACHINE_OPERATIONS[spec.action]
        hashes = Sha1Lookup(self._mde)
        found: dict[str, TargetOutcome] = {}
        for target in targets:
            outcome = await self._reconcile_one(approval_id, operation, target, hashes)
            if outcome is not None:
                found[target.key] = outcome
        return found

    async def _reconcile_one(
        self, approval_id: str, operation: MachineOperation, target: Target, hashes: Sha1Lookup
    ) -> TargetOutcome | None:
        if operation.action_type == INVESTIGATION:
            return unknown(
                target,
                "An automated investigation may have been started; Defender can't list them by "
                "comment.",
                action_type=INVESTIGATION,
            )
        sha1 = None
        if isinstance(target, FileTarget):
            try:
                sha1 = await hashes.sha1_for(target)
            except CallFailed as exc:
                return unknown(target, exc.reason, action_type=operation.action_type)
        try:
            ours = await self._our_action(
                getattr(target, "device_id", ""), operation, approval_id, sha1=sha1
            )
        except CallFailed as exc:
            return unknown(
                target,
                f"It may have been sent, and Defender's machine actions could not be listed "
                f"({exc.reason}).",
                action_type=operation.action_type,
            )
        return None if ours is None else _from_machine_action(target.key, ours, adopted=True)

    async def refresh(self, outcome: TargetOutcome) -> TargetOutcome:
        """The outcome with the action's current status; unchanged once it has settled."""
        if outcome.status is not OutcomeStatus.IN_PROGRESS or outcome.machine_action_id is None:
            return outcome
        quoted = quote(outcome.machine_action_id, safe="")
        if outcome.action_type == INVESTIGATION:
            path = f"/api/investigations/{quoted}"
            needs = capability_for(ActionKind.DEVICE_INVESTIGATE)
        else:
            path, needs = f"/api/machineactions/{quoted}", capability(STATUS_CAPABILITY)
        try:
            response = await self._mde.request("GET", path, needs=needs)
        except CallFailed as exc:
            # Not knowing the status now is not a failure of the action: keep polling.
            return outcome.model_copy(update={"detail": f"Status not readable: {exc.reason}"})
        if not response.is_success:
            error = api_error(response).describe(response.status_code)
            return outcome.model_copy(update={"detail": f"Status not readable ({error})."})
        return _outcome_from(outcome.target_key, outcome.action_type, response, outcome)

    async def _submit_one(
        self,
        spec: ApprovalSpec,
        approval_id: str,
        operation: MachineOperation,
        target: Target,
        hashes: Sha1Lookup,
    ) -> TargetOutcome:
        device_id = getattr(target, "device_id", "")
        sha1 = None
        note = ""
        if isinstance(target, FileTarget):
            try:
                sha1 = await hashes.sha1_for(target)
            except CallFailed as exc:
                return failed(target, exc.reason, action_type=operation.action_type)
            if not target.sha1:
                note = f" (SHA-256 {target.sha256} is SHA-1 {sha1})"
        path = f"/api/machines/{quote(device_id, safe='')}/{operation.path}"
        for sent in range(2):  # sent again at most once, and only when reconciling found nothing
            try:
                response = await self._mde.request(
                    "POST",
                    path,
                    needs=capability_for(operation.kind),
                    json=machine_body(spec, approval_id, sha1=sha1),
                    resend=False,
                )
                break
            except CallUncertain as exc:
                log.warning("%s on %s: %s; reconciling", operation.action_type, device_id, exc)
                adopted = await self._reconcile_one(approval_id, operation, target, hashes)
                if adopted is not None:
                    return adopted
                if sent == 1:
                    return unknown(target, exc.reason, action_type=operation.action_type)
            except CallFailed as exc:
                return failed(target, exc.reason, action_type=operation.action_type)
        if response.is_success:
            outcome = _outcome_from(target.key, operation.action_type, response)
            return outcome.model_copy(update={"detail": outcome.detail + note})
        error = api_error(response)
        described = error.describe(response.status_code)
        if response.status_code == 400 and ALREADY_IN_PROGRESS in error.message.lower():
            try:
                ours = await self._our_action(
                    device_id, operation, approval_id, sha1=sha1, in_flight=True
                )
            except CallFailed as exc:
                log.warning("could not list machine actions to recognise our own: %s", exc)
                ours = None
            if ours is not None:
                return _from_machine_action(target.key, ours, adopted=True)
            return failed(
                target,
                f"Defender for Endpoint: {operation.action_type} is already in progress on this "
                f"device, started by someone else ({described}).",
                action_type=operation.action_type,
            )
        if response.status_code == 404:
            return failed(
                target,
                f"Defender for Endpoint does not know device {device_id} ({described}).",
                action_type=operation.action_type,
            )
        what = operation.action_type
        if isinstance(target, FileTarget):
            what += f" of {file_hash_label(target)}"
        return failed(
            target,
            f"Defender for Endpoint refused {what} on this device ({described}).",
            action_type=operation.action_type,
        )

    async def _our_action(
        self,
        device_id: str,
        operation: MachineOperation,
        approval_id: str,
        *,
        sha1: str | None = None,
        in_flight: bool = False,
    ) -> MachineAction | None:
        """The machine action of this type on the device that carries this approval's id (and,
        for a file, its SHA-1); CallFailed when Defender's list can't be read."""
        quoted = device_id.replace("'", "''")  # an OData string literal
        response = await self._mde.request(
            "GET",
            "/api/machineactions",
            needs=capability(STATUS_CAPABILITY),
            params={"$filter": f"machineId eq '{quoted}' and type eq '{operation.action_type}'"},
        )
        if not response.is_success:
            raise CallFailed(api_error(response).describe(response.status_code))
        try:
            listed = response.json().get("value", [])
            actions = [MachineAction.model_validate(a) for a in listed]
        except (ValueError, AttributeError, ValidationError) as exc:
            raise CallFailed(f"an unreadable list of machine actions ({exc})") from None
        marker = approval_marker(approval_id)
        for action in actions:
            if marker not in (action.requestor_comment or ""):
                continue
            if in_flight and action.status not in IN_FLIGHT:
                continue
            file = (action.related_file_info or {}).get("fileIdentifier")
            if sha1 and file and str(file).lower() != sha1.lower():
                continue
            return action
        return None


def _outcome_from(
    target_key: str,
    action_type: str | None,
    response: httpx.Response,
    previous: TargetOutcome | None = None,
) -> TargetOutcome:
    try:
        body = response.json()
        if action_type == INVESTIGATION:
            return _from_investigation(target_key, Investigation.model_validate(body))
        return _from_machine_action(target_key, MachineAction.model_validate(body))
    except (ValueError, ValidationError):
        detail = f"Defender for Endpoint answered {response.status_code} without a readable action."
        if previous is not None:  # polling: keep what we knew
            return previous.model_copy(update={"detail": detail})
        # Accepted, but with no id there is nothing to follow.
        return TargetOutcome(
            target_key=target_key,
            status=OutcomeStatus.SUBMITTED,
            detail=detail,
            action_type=action_type,
        )


def _from_machine_action(
    target_key: str, action: MachineAction, *, adopted: bool = False
) -> TargetOutcome:
    detail = action.describe()
    if adopted:
        detail += " (submitted earlier for this approval)"
    return TargetOutcome(
        target_key=target_key,
        status=action.outcome_status,
        detail=detail,
        machine_action_id=action.id,
        action_type=action.type or None,
    )


def _from_investigation(target_key: str, investigation: Investigation) -> TargetOutcome:
    return TargetOutcome(
        target_key=target_key,
        status=investigation.outcome_status,
        detail=investigation.describe(),
        machine_action_id=investigation.id,
        action_type=INVESTIGATION,
    )
