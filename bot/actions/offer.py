"""What the Take actions flow offers for a result, and the targets a choice acts on.

Mirrors Defender's own wizard: the result's entity columns decide the actions (emails need
NetworkMessageId + RecipientEmailAddress, devices DeviceId, files a hash column + DeviceId), and
only actions the app registration may perform are offered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.actions.model import (
    ActionKind,
    ActionOptions,
    DeviceTarget,
    EmailTarget,
    FileTarget,
    Target,
)
from bot.actions.registry import ACTIONS, REGISTRY, ActionInfo
from bot.errors import BadArgument

# Only these tables carry a sender's copy to act on (microsoft-apis.md §6).
SENDER_COPY_TABLES = ("EmailEvents", "EmailPostDeliveryEvents")
# Only mail sent from inside the organisation has a sender's copy Defender can act on.
INTERNAL_DIRECTIONS = ("Intra-org", "Outbound")


@dataclass(frozen=True)
class ActionChoice:
    """One entry of the modal's action menu: an action with its options fixed."""

    key: str  # the option value in the menu (<= 75 characters)
    label: str
    action: ActionKind
    options: ActionOptions = ActionOptions()  # noqa: RUF009 (frozen, shared safely)
    hash_column: str | None = None  # files: which column holds the hash


def offered_actions(
    entity_columns: dict[str, list[str]],
    *,
    sender_copy_possible: bool,
    capabilities: set[str] | None,
) -> list[ActionChoice]:
    """The menu for a result. `capabilities` None means unknown (offer all; execution will say)."""
    choices: list[ActionChoice] = []
    if entity_columns.get("email"):
        emails = [info for info in REGISTRY if info.entity == "email"]
        choices += [choice for info in emails for choice in _entries(info)]
        if sender_copy_possible:
            choices += [choice for info in emails for choice in _senders_copy_entries(info)]
    if entity_columns.get("device"):
        choices += [c for info in REGISTRY if info.entity == "device" for c in _entries(info)]
    for column in entity_columns.get("file", []):
        if column == "DeviceId":
            continue
        choices += [
            ActionChoice(
                f"{info.kind.value}:{column}",
                f"{info.label} ({column})",
                info.kind,
                hash_column=column,
            )
            for info in REGISTRY
            if info.entity == "file"
        ]
    if capabilities is None:
        return choices
    return [c for c in choices if ACTIONS[c.action].capability in capabilities]


def _entries(info: ActionInfo) -> list[ActionChoice]:
    """The action's menu entries: one per variant, or the action as it is."""
    if not info.variants:
        return [ActionChoice(info.kind.value, info.label, info.kind)]
    return [
        ActionChoice(
            f"{info.kind.value}.{variant.suffix}",
            f"{info.label} ({variant.suffix})",
            info.kind,
            variant.options,
        )
        for variant in info.variants
    ]


def _senders_copy_entries(info: ActionInfo) -> list[ActionChoice]:
    if not info.senders_copy:
        return []
    return [
        ActionChoice(
            f"{info.kind.value}+sender",
            f"{info.label}, with the sender's copy",
            info.kind,
            ActionOptions(remediate_senders_copy=True),
        )
    ]


def choice_by_key(choices: list[ActionChoice], key: str) -> ActionChoice:
    for choice in choices:
        if choice.key == key:
            return choice
    raise BadArgument("Choose one of the actions offered.")


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_row_selection(text: str, row_count: int) -> list[int]:
    """'1-5, 8' -> [0..4, 7] (0-based); blank -> every row. BadArgument on anything else."""
    if not text.strip():
        return list(range(row_count))
    chosen: set[int] = set()
    for part in text.split(","):
        match = _RANGE.match(part)
        if not match:
            raise BadArgument(f"`{part.strip()}` is not a row number or range such as 3-7.")
        first = int(match[1])
        last = int(match[2] or first)
        if first < 1 or last > row_count or first > last:
            raise BadArgument(f"Rows go from 1 to {row_count}; `{part.strip()}` is outside them.")
        chosen.update(range(first - 1, last))
    return sorted(chosen)


def targets_from_rows(choice: ActionChoice, rows: list[dict[str, Any]]) -> list[Target]:
    """The distinct targets the chosen rows name; rows missing the entity columns are skipped."""
    found: dict[str, Target] = {}
    for row in rows:
        target = _target(choice, row)
        if target is not None:
            found.setdefault(target.key, target)
    return list(found.values())


def _text(row: dict[str, Any], column: str) -> str | None:
    value = row.get(column)
    return str(value).strip() if value not in (None, "") else None


def _target(choice: ActionChoice, row: dict[str, Any]) -> Target | None:
    entity = choice.action.entity
    if entity == "email":
        message, recipient = _text(row, "NetworkMessageId"), _text(row, "RecipientEmailAddress")
        if not message or not recipient:
            return None
        return EmailTarget(
            network_message_id=message,
            recipient=recipient,
            sender=_text(row, "SenderFromAddress"),
            direction=_text(row, "EmailDirection"),
        )
    device = _text(row, "DeviceId")
    if not device:
        return None
    if entity == "device":
        return DeviceTarget(device_id=device, device_name=_text(row, "DeviceName"))
    column = choice.hash_column or ""
    digest = _text(row, column)
    if not digest:
        return None
    is_sha1 = len(digest) == 40
    return FileTarget(
        device_id=device,
        sha1=digest.lower() if is_sha1 else None,
        sha256=None if is_sha1 else digest.lower(),
        hash_column=column,
        device_name=_text(row, "DeviceName"),
    )


def sender_copy_applies(targets: list[Target]) -> bool:
    """The sender's copy can only be remediated for internal and outbound mail."""
    return bool(targets) and all(
        isinstance(t, EmailTarget) and t.direction in INTERNAL_DIRECTIONS for t in targets
    )


@dataclass(frozen=True)
class BlastRadius:
    messages: int = 0
    mailboxes: int = 0
    devices: int = 0
    files: int = 0

    def describe(self) -> str:
        parts = []
        if self.messages:
            parts.append(
                f"{self.messages} message{'s' * (self.messages != 1)} in "
                f"{self.mailboxes} mailbox{'es' * (self.mailboxes != 1)}"
            )
        if self.files:
            parts.append(f"{self.files} file{'s' * (self.files != 1)}")
        if self.devices:
            parts.append(f"{self.devices} device{'s' * (self.devices != 1)}")
        return ", ".join(parts) or "nothing"


def blast_radius(targets: list[Target]) -> BlastRadius:
    emails = [t for t in targets if isinstance(t, EmailTarget)]
    devices = {t.device_id for t in targets if isinstance(t, DeviceTarget | FileTarget)}
    files = {(t.sha1 or t.sha256) for t in targets if isinstance(t, FileTarget)}
    return BlastRadius(
        messages=len({t.network_message_id for t in emails}),
        mailboxes=len({t.recipient.lower() for t in emails}),
        devices=len(devices),
        files=len(files),
    )


def action_label(action: ActionKind, options: ActionOptions) -> str:
    """How the menu named this action with these options, e.g. "Isolate device (selective)"."""
    info = ACTIONS[action]
    entries = _entries(info) + _senders_copy_entries(info)
    return next((c.label for c in entries if c.options == options), entries[0].label)
