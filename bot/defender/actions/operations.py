"""What each remediation action is at Microsoft, and the text an action carries there.

Emails go to Graph's `analyzedEmails/remediate` (`GRAPH_EMAIL_ACTIONS`); devices and files to a
Defender for Endpoint machine endpoint (`MACHINE_OPERATIONS`); both are views of `EXECUTORS`.
Both the real executors and the lab use these tables, so the lab does what Graph is asked and
records the same MachineAction types Defender would.
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
from bot.actions.offer import INTERNAL_DIRECTIONS
from bot.actions.registry import ACTIONS
from bot.defender.permissions import CAPABILITIES, Capability

# The `type` Defender gives an automated investigation's outcome here (it is not a MachineAction).
INVESTIGATION = "Investigation"

# Where a person checks what Defender did when the API can't tell (microsoft-apis.md §4).
ACTION_CENTER_URL = "https://security.microsoft.com/action-center/history"

# Defender's Action center filters on the comment; the approval id goes first so a cut-short
# comment still carries it. MDE documents no length limit: 1,000 characters is our own cap.
COMMENT_LIMIT = 1000


@dataclass(frozen=True)
class MachineOperation:
    """A Defender for Endpoint machine action: `POST /api/machines/{id}/{path}`."""

    kind: ActionKind
    path: str
    action_type: str  # MachineAction.type Defender reports, or INVESTIGATION


@dataclass(frozen=True)
class GraphEmailAction:
    """An email remediation: Graph's analyzedEmails/remediate `action` value (§2a)."""

    kind: ActionKind
    action: str


_K = ActionKind
# How each action runs at Microsoft, one row per ActionKind (its other facts are in
# bot/actions/registry.py).
EXECUTORS: tuple[MachineOperation | GraphEmailAction, ...] = (
    GraphEmailAction(_K.EMAIL_MOVE_TO_JUNK, "moveToJunk"),
    GraphEmailAction(_K.EMAIL_MOVE_TO_INBOX, "moveToInbox"),
    GraphEmailAction(_K.EMAIL_MOVE_TO_DELETED, "moveToDeletedItems"),
    GraphEmailAction(_K.EMAIL_SOFT_DELETE, "softDelete"),
    GraphEmailAction(_K.EMAIL_HARD_DELETE, "hardDelete"),
    MachineOperation(_K.DEVICE_ISOLATE, "isolate", "Isolate"),
    MachineOperation(_K.DEVICE_RELEASE, "unisolate", "Unisolate"),
    MachineOperation(_K.DEVICE_AV_SCAN, "runAntiVirusScan", "RunAntiVirusScan"),
    MachineOperation(
        _K.DEVICE_COLLECT_PACKAGE, "collectInvestigationPackage", "CollectInvestigationPackage"
    ),
    MachineOperation(_K.DEVICE_RESTRICT_APPS, "restrictCodeExecution", "RestrictCodeExecution"),
    MachineOperation(
        _K.DEVICE_UNRESTRICT_APPS, "unrestrictCodeExecution", "UnrestrictCodeExecution"
    ),
    MachineOperation(_K.DEVICE_INVESTIGATE, "startInvestigation", INVESTIGATION),
    MachineOperation(_K.FILE_STOP_AND_QUARANTINE, "StopAndQuarantineFile", "StopAndQuarantineFile"),
)
MACHINE_OPERATIONS: dict[ActionKind, MachineOperation] = {
    row.kind: row for row in EXECUTORS if isinstance(row, MachineOperation)
}
GRAPH_EMAIL_ACTIONS: dict[ActionKind, str] = {
    row.kind: row.action for row in EXECUTORS if isinstance(row, GraphEmailAction)
}

STATUS_CAPABILITY = "action.status"
SHA256_LOOKUP_CAPABILITY = "file.sha256_to_sha1"


def capability(key: str) -> Capability:
    return next(cap for cap in CAPABILITIES if cap.key == key)


def capability_for(kind: ActionKind) -> Capability:
    """The permission an action needs, as its registry row names it."""
    return capability(ACTIONS[kind].capability)


def remediation_comment(spec: ApprovalSpec, approval_id: str) -> str:
    """The MDE `Comment`: findable in the Action center by the approval id."""
    text = f"hunt-bot {approval_marker(approval_id)} {spec.name}. {spec.description}"
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
        and getattr(target, "direction", None) in INTERNAL_DIRECTIONS
    )


def unknown(target: Target, why: str, **fields: Any) -> TargetOutcome:
    """Sent, but whether Microsoft acted can't be read back: a person checks the Action center."""
    fields.setdefault("link", ACTION_CENTER_URL)
    return TargetOutcome(
        target_key=target.key,
        status=OutcomeStatus.UNKNOWN,
        detail=f"{why} Unknown whether it ran: check the Action center before retrying.",
        **fields,
    )


def approval_marker(approval_id: str) -> str:
    """What our comment and display name carry, so our own earlier submission is recognised."""
    return f"approval {approval_id}:"


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
