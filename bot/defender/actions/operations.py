"""What each remediation action is at Microsoft, and the text an action carries there.

Emails go to Graph's `analyzedEmails/remediate` (`GRAPH_EMAIL_ACTIONS`); devices and files to a
Defender for Endpoint machine endpoint (`MACHINE_OPERATIONS`). Both the real executors and the
lab use these tables, so the lab records the same MachineAction types Defender would.
Source: ../shared/reference/microsoft-apis.md §2a, §3, §6.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.actions.model import (
    ActionKind,
    ApprovalSpec,
    FileTarget,
    OutcomeStatus,
    Target,
    TargetOutcome,
)
from bot.defender.permissions import CAPABILITIES, Capability

# Only mail sent from inside the organisation has a sender's copy Defender can act on.
SENDERS_COPY_DIRECTIONS = frozenset({"Intra-org", "Outbound"})

# The `type` Defender gives an automated investigation's outcome here (it is not a MachineAction).
INVESTIGATION = "Investigation"

# Defender's Action center filters on the comment; the approval id goes first so a cut-short
# comment still carries it. MDE documents no length limit: 1,000 characters is our own cap.
COMMENT_LIMIT = 1000


@dataclass(frozen=True)
class MachineOperation:
    path: str  # after /api/machines/{id}/
    action_type: str  # MachineAction.type Defender reports, or INVESTIGATION
    capability: str  # key of bot.defender.permissions.CAPABILITIES


MACHINE_OPERATIONS: dict[ActionKind, MachineOperation] = {
    ActionKind.DEVICE_ISOLATE: MachineOperation("isolate", "Isolate", "device.isolate"),
    ActionKind.DEVICE_RELEASE: MachineOperation("unisolate", "Unisolate", "device.isolate"),
    ActionKind.DEVICE_AV_SCAN: MachineOperation(
        "runAntiVirusScan", "RunAntiVirusScan", "device.scan"
    ),
    ActionKind.DEVICE_COLLECT_PACKAGE: MachineOperation(
        "collectInvestigationPackage", "CollectInvestigationPackage", "device.collect_package"
    ),
    ActionKind.DEVICE_RESTRICT_APPS: MachineOperation(
        "restrictCodeExecution", "RestrictCodeExecution", "device.restrict_apps"
    ),
    ActionKind.DEVICE_UNRESTRICT_APPS: MachineOperation(
        "unrestrictCodeExecution", "UnrestrictCodeExecution", "device.restrict_apps"
    ),
    ActionKind.DEVICE_INVESTIGATE: MachineOperation(
        "startInvestigation", INVESTIGATION, "device.investigate"
    ),
    ActionKind.FILE_STOP_AND_QUARANTINE: MachineOperation(
        "StopAndQuarantineFile", "StopAndQuarantineFile", "file.stop_and_quarantine"
    ),
}

# Graph's analyzedEmails/remediate `action` values (microsoft-apis.md §2a).
GRAPH_EMAIL_ACTIONS: dict[ActionKind, str] = {
    ActionKind.EMAIL_MOVE_TO_JUNK: "moveToJunk",
    ActionKind.EMAIL_MOVE_TO_INBOX: "moveToInbox",
    ActionKind.EMAIL_MOVE_TO_DELETED: "moveToDeletedItems",
    ActionKind.EMAIL_SOFT_DELETE: "softDelete",
    ActionKind.EMAIL_HARD_DELETE: "hardDelete",
}

EMAIL_CAPABILITY = "email.remediate"
STATUS_CAPABILITY = "action.status"
SHA256_LOOKUP_CAPABILITY = "file.sha256_to_sha1"


def capability(key: str) -> Capability:
    return next(cap for cap in CAPABILITIES if cap.key == key)


def remediation_comment(spec: ApprovalSpec, approval_id: str) -> str:
    """The MDE `Comment`: findable in the Action center by the approval id."""
    text = f"hunt-bot approval {approval_id}: {spec.name}. {spec.description}"
    return text[:COMMENT_LIMIT]


def remediation_display_name(
    spec: ApprovalSpec, approval_id: str, batch: int = 1, batches: int = 1
) -> str:
    """The email remediation's `displayName` in the Action center."""
    name = f"{spec.name} (hunt-bot approval {approval_id})"
    return name if batches == 1 else f"{name} batch {batch}/{batches}"


def machine_body(
    spec: ApprovalSpec, approval_id: str, *, sha1: str | None = None
) -> dict[str, Any]:
    """The request body; MDE body names are case-sensitive and `Comment` is always required."""
    body: dict[str, Any] = {"Comment": remediation_comment(spec, approval_id)}
    if spec.action is ActionKind.DEVICE_ISOLATE:
        # Full is what the portal preselects; Selective keeps Outlook, Teams and Skype working.
        body["IsolationType"] = spec.options.isolation_type or "Full"
    elif spec.action is ActionKind.DEVICE_AV_SCAN:
        body["ScanType"] = spec.options.scan_type or "Quick"
    elif spec.action is ActionKind.FILE_STOP_AND_QUARANTINE:
        body["Sha1"] = sha1
    return body


def scope_of(spec: ApprovalSpec) -> str | None:
    """MachineAction.scope: Full/Selective for isolation, Quick/Full for scans."""
    if spec.action is ActionKind.DEVICE_ISOLATE:
        return spec.options.isolation_type or "Full"
    if spec.action is ActionKind.DEVICE_AV_SCAN:
        return spec.options.scan_type or "Quick"
    return None


def senders_copy_applies(spec: ApprovalSpec, target: Target) -> bool:
    return (
        spec.options.remediate_senders_copy
        and getattr(target, "direction", None) in SENDERS_COPY_DIRECTIONS
    )


def failed(target: Target, detail: str, **fields: Any) -> TargetOutcome:
    return TargetOutcome(
        target_key=target.key, status=OutcomeStatus.FAILED, detail=detail, **fields
    )


def split_runnable(
    spec: ApprovalSpec, targets: Sequence[Target]
) -> tuple[list[Target], list[TargetOutcome]]:
    """The targets that may run, and a FAILED outcome for each that may not.

    Only targets of the approved spec run (what was approved is what executes), and only those
    of the kind the action acts on; a target given twice runs once.
    """
    approved = {t.key for t in spec.targets}
    entity = spec.action.entity
    seen: set[str] = set()
    runnable: list[Target] = []
    refused: list[TargetOutcome] = []
    for target in targets:
        if target.key in seen:
            continue
        seen.add(target.key)
        if target.key not in approved:
            refused.append(failed(target, "Not among the approved targets; not run."))
        elif target.kind != entity:
            refused.append(
                failed(target, f"This {entity} action cannot act on a {target.kind} target.")
            )
        else:
            runnable.append(target)
    return runnable, refused


def ordered(targets: Sequence[Target], outcomes: Sequence[TargetOutcome]) -> list[TargetOutcome]:
    """Outcomes in the order the targets were given."""
    by_key = {o.target_key: o for o in outcomes}
    return [by_key[t.key] for t in targets if t.key in by_key]


def file_hash_label(target: FileTarget) -> str:
    return f"SHA-1 {target.sha1}" if target.sha1 else f"SHA-256 {target.sha256}"
