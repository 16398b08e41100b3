"""The actions the Take actions flow offers, their targets, and the canonical spec an approval
binds to: exactly what will run, hashed, so what is approved is what executes."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ActionKind(StrEnum):
    EMAIL_MOVE_TO_JUNK = "email.move_to_junk"
    EMAIL_MOVE_TO_INBOX = "email.move_to_inbox"
    EMAIL_MOVE_TO_DELETED = "email.move_to_deleted_items"
    EMAIL_SOFT_DELETE = "email.soft_delete"
    EMAIL_HARD_DELETE = "email.hard_delete"
    DEVICE_ISOLATE = "device.isolate"
    DEVICE_RELEASE = "device.release"
    DEVICE_COLLECT_PACKAGE = "device.collect_package"
    DEVICE_AV_SCAN = "device.av_scan"
    DEVICE_INVESTIGATE = "device.investigate"
    DEVICE_RESTRICT_APPS = "device.restrict_apps"
    DEVICE_UNRESTRICT_APPS = "device.unrestrict_apps"
    FILE_STOP_AND_QUARANTINE = "file.stop_and_quarantine"

    @property
    def entity(self) -> Literal["email", "device", "file"]:
        return self.value.split(".", 1)[0]  # type: ignore[return-value]


class EmailTarget(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["email"] = "email"
    network_message_id: str
    recipient: str  # RecipientEmailAddress
    sender: str | None = None  # SenderFromAddress, when the result has it
    direction: str | None = None  # EmailDirection: Inbound, Outbound, Intra-org
    # How a person recognises the message in the review and on the card, when the result has it.
    subject: str | None = None  # Subject
    location: str | None = None  # LatestDeliveryLocation, else DeliveryLocation

    @property
    def key(self) -> str:
        return f"email:{self.network_message_id}:{self.recipient.lower()}"


class DeviceTarget(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["device"] = "device"
    device_id: str
    device_name: str | None = None
    os_platform: str | None = None  # OSPlatform, when the result has it

    @property
    def key(self) -> str:
        return f"device:{self.device_id}"


class FileTarget(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["file"] = "file"
    device_id: str
    sha1: str | None = None
    sha256: str | None = None  # mapped to SHA-1 before quarantine (Defender takes SHA-1 only)
    hash_column: str  # which result column the hash came from
    device_name: str | None = None
    file_name: str | None = None  # FileName (InitiatingProcessFileName for its hashes)
    folder_path: str | None = None  # FolderPath (InitiatingProcessFolderPath likewise)

    @property
    def key(self) -> str:
        return f"file:{self.device_id}:{self.sha1 or self.sha256}"


Target = Annotated[EmailTarget | DeviceTarget | FileTarget, Field(discriminator="kind")]

# Fields added after approvals were first stored: left out of the canonical form while unset, so
# a spec stored before them still hashes to the digest it was approved with.
LATER_TARGET_FIELDS = ("subject", "location", "os_platform", "file_name", "folder_path")


class ActionOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    isolation_type: Literal["Full", "Selective"] | None = None  # device.isolate
    scan_type: Literal["Quick", "Full"] | None = None  # device.av_scan
    remediate_senders_copy: bool = False  # email actions, internal/outbound mail only
    severity: Literal["low", "medium", "high"] = "medium"  # email remediation severity


class ApprovalSpec(BaseModel):
    """Exactly what will run. Its hash is recorded with the approval and checked before running."""

    model_config = ConfigDict(frozen=True)
    action: ActionKind
    options: ActionOptions = ActionOptions()
    targets: tuple[Target, ...]
    name: str = Field(min_length=1, max_length=100)  # remediation name (Action center)
    description: str = Field(min_length=1, max_length=1000)

    def canonical_json(self) -> str:
        data: dict[str, Any] = self.model_dump(mode="json")
        targets = [
            {k: v for k, v in t.items() if v is not None or k not in LATER_TARGET_FIELDS}
            for t in data["targets"]
        ]
        data["targets"] = sorted(targets, key=lambda t: json.dumps(t, sort_keys=True))
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def digest(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


class OutcomeStatus(StrEnum):
    PENDING = "pending"  # not submitted yet
    SUBMITTED = "submitted"  # accepted by Microsoft; email: nothing more can be read back
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # protected target, or excluded by policy
    # Sent, but whether Microsoft acted can't be read back (a crash or timeout between sending
    # and recording, and no API to ask): an approver checks the Action center, then may retry.
    UNKNOWN = "unknown"

    @property
    def settled(self) -> bool:
        return self in {
            OutcomeStatus.SUBMITTED,
            OutcomeStatus.SUCCEEDED,
            OutcomeStatus.FAILED,
            OutcomeStatus.TIMED_OUT,
            OutcomeStatus.CANCELLED,
            OutcomeStatus.SKIPPED,
            OutcomeStatus.UNKNOWN,
        }


class TargetOutcome(BaseModel):
    """What happened to one target; recorded as soon as it is known, so a resumed job skips it."""

    target_key: str
    status: OutcomeStatus
    detail: str = ""
    machine_action_id: str | None = None  # MDE MachineAction id (or investigation id)
    link: str | None = None  # e.g. the Action center URL of an email remediation
    # MDE MachineAction `type` ("Isolate", ...) or "Investigation": says which API to poll.
    action_type: str | None = None
    bulk_id: str | None = None  # the email remediation's bulkId, read from `link`
