"""Building approval specs and targets the way the Take actions flow does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.actions.model import (
    ActionKind,
    ActionOptions,
    ApprovalSpec,
    DeviceTarget,
    EmailTarget,
    FileTarget,
    Target,
)

APPROVAL_ID = "apv-4711"


def spec_for(action: ActionKind, targets: Sequence[Target], **options: Any) -> ApprovalSpec:
    return ApprovalSpec(
        action=action,
        options=ActionOptions(**options),
        targets=tuple(targets),
        name="Invoice phish cleanup",
        description="Phish campaign from fabrikam-payments",
    )


def email(message: str, recipient: str, direction: str = "Inbound") -> EmailTarget:
    return EmailTarget(
        network_message_id=message,
        recipient=recipient,
        sender="billing@fabrikam.example",
        direction=direction,
    )


def device(device_id: str) -> DeviceTarget:
    return DeviceTarget(device_id=device_id)


def file_sha1(device_id: str, sha1: str) -> FileTarget:
    return FileTarget(device_id=device_id, sha1=sha1, hash_column="SHA1")


def file_sha256(device_id: str, sha256: str) -> FileTarget:
    return FileTarget(device_id=device_id, sha256=sha256, hash_column="SHA256")
