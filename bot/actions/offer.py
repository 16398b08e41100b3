"""What the Take actions flow offers for a result, and the targets a choice acts on.

Mirrors Defender's own wizard: the result's entity columns decide the actions (emails need
NetworkMessageId + RecipientEmailAddress, devices DeviceId, files a hash column + DeviceId), and
only actions the app registration may perform are offered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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
    entity_columns: dict[str, list[str]], *, capabilities: set[str] | None
) -> list[ActionChoice]:
    """The menu for a result. `capabilities` None means unknown (offer all; execution will say).

    The sender's copy is not an entry: soft delete takes it when the result qualifies, as the
    wizard does (`plan_emails`)."""
    choices: list[ActionChoice] = []
    if entity_columns.get("email"):
        choices += [c for info in REGISTRY if info.entity == "email" for c in _entries(info)]
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


def choice_by_key(choices: list[ActionChoice], key: str) -> ActionChoice:
    for choice in choices:
        if choice.key == key:
            return choice
    raise BadArgument("Choose one of the actions offered.")


def choose_actions(choices: list[ActionChoice], keys: Sequence[str]) -> list[ActionChoice]:
    """The actions one request runs, as the wizard allows them together: one email action, or
    any device and file actions on the same rows, but never an action with its undo or two
    variants of one action. BadArgument says what to change."""
    if not keys:
        raise BadArgument("Choose an action.")
    picked = [choice_by_key(choices, key) for key in dict.fromkeys(keys)]
    if len(picked) == 1:
        return picked
    if any(c.action.entity == "email" for c in picked):
        raise BadArgument(
            "Email actions go one to a request, as in Defender's wizard: choose one of them."
        )
    seen: dict[ActionKind, ActionChoice] = {}
    for choice in picked:
        twin = seen.get(choice.action)
        if twin is not None:
            raise BadArgument(f"Choose one of {twin.label} and {choice.label}, not both.")
        undoes = ACTIONS[choice.action].undoes
        if undoes is not None and undoes in seen:
            raise BadArgument(
                f"{seen[undoes].label} and {choice.label} undo each other: choose one."
            )
        seen[choice.action] = choice
    return picked


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


def _text(row: dict[str, Any], *columns: str) -> str | None:
    """The first of these columns the row has a value in."""
    for column in columns:
        value = row.get(column)
        if value not in (None, ""):
            return str(value).strip()
    return None


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
            subject=_text(row, "Subject"),
            location=_text(row, "LatestDeliveryLocation", "DeliveryLocation"),
        )
    device = _text(row, "DeviceId")
    if not device:
        return None
    if entity == "device":
        return DeviceTarget(
            device_id=device,
            device_name=_text(row, "DeviceName"),
            os_platform=_text(row, "OSPlatform"),
        )
    column = choice.hash_column or ""
    digest = _text(row, column)
    if not digest:
        return None
    # The file the hash column describes: the initiating process's, or the event's own file.
    prefix = "InitiatingProcess" if column.startswith("InitiatingProcess") else ""
    is_sha1 = len(digest) == 40
    return FileTarget(
        device_id=device,
        sha1=digest.lower() if is_sha1 else None,
        sha256=None if is_sha1 else digest.lower(),
        hash_column=column,
        device_name=_text(row, "DeviceName"),
        file_name=_text(row, f"{prefix}FileName"),
        folder_path=_text(row, f"{prefix}FolderPath"),
    )


def sends_from_inside(target: Target) -> bool:
    """Mail sent from a mailbox of ours, so the sender has a Sent Items copy Defender can reach."""
    return (
        isinstance(target, EmailTarget)
        and target.direction in INTERNAL_DIRECTIONS
        and bool(target.sender)
    )


def outside_recipient(target: Target) -> bool:
    """Outbound mail: its recipient's mailbox is outside the organisation, beyond Defender."""
    return isinstance(target, EmailTarget) and target.direction == "Outbound"


@dataclass(frozen=True)
class EmailPlan:
    """The email targets a request sends, and whether the senders' copies go too."""

    targets: list[Target]
    senders_copy: bool
    left_out: int  # rows of outbound mail whose recipients are outside the organisation


def plan_emails(
    action: ActionKind, targets: list[Target], *, sender_copy_possible: bool
) -> EmailPlan:
    """As Defender's wizard does it (microsoft-apis.md §6): soft delete on a result from
    EmailEvents or EmailPostDeliveryEvents with EmailDirection and SenderFromAddress also
    soft-deletes the sender's Sent Items copy of intra-org and outbound mail; no other action
    touches it. An outbound recipient is never a target: for soft delete one (message,
    recipient) pair of each outbound message stays, only to reach the sender's copy (Graph names
    a message by such a pair), unless an intra-org recipient of that message already does;
    every other outbound row is left out and counted."""
    senders_copy = (
        ACTIONS[action].senders_copy
        and sender_copy_possible
        and any(sends_from_inside(t) for t in targets)
    )
    inside = {
        t.network_message_id
        for t in targets
        if isinstance(t, EmailTarget) and not outside_recipient(t) and sends_from_inside(t)
    }
    kept: list[Target] = []
    carried: set[str] = set()
    for target in targets:
        if not outside_recipient(target):
            kept.append(target)
            continue
        assert isinstance(target, EmailTarget)
        message = target.network_message_id
        if senders_copy and target.sender and message not in inside and message not in carried:
            carried.add(message)
            kept.append(target)
    return EmailPlan(kept, senders_copy, len(targets) - len(kept))


@dataclass(frozen=True)
class BlastRadius:
    messages: int = 0
    mailboxes: int = 0
    senders: int = 0  # senders' Sent Items reached through the sender's copy
    devices: int = 0
    files: int = 0

    def describe(self) -> str:
        parts = []
        if self.messages:
            parts.append(
                f"{self.messages} message{'s' * (self.messages != 1)}"
                + (
                    f" in {self.mailboxes} mailbox{'es' * (self.mailboxes != 1)}"
                    if self.mailboxes
                    else ""
                )
            )
        if self.senders:
            whose = "1 sender's" if self.senders == 1 else f"{self.senders} senders'"
            parts.append(f"{whose} Sent Items")
        if self.files:
            parts.append(f"{self.files} file{'s' * (self.files != 1)}")
        if self.devices:
            parts.append(f"{self.devices} device{'s' * (self.devices != 1)}")
        return ", ".join(parts) or "nothing"


def blast_radius(targets: list[Target], *, senders_copy: bool = False) -> BlastRadius:
    emails = [t for t in targets if isinstance(t, EmailTarget)]
    devices = {t.device_id for t in targets if isinstance(t, DeviceTarget | FileTarget)}
    files = {(t.sha1 or t.sha256) for t in targets if isinstance(t, FileTarget)}
    senders = {t.sender.lower() for t in emails if t.sender and sends_from_inside(t)}
    return BlastRadius(
        messages=len({t.network_message_id for t in emails}),
        mailboxes=len({t.recipient.lower() for t in emails if not outside_recipient(t)}),
        senders=len(senders) if senders_copy else 0,
        devices=len(devices),
        files=len(files),
    )


def action_label(action: ActionKind, options: ActionOptions) -> str:
    """How the menu named this action with these options, e.g. "Isolate device (selective)";
    a soft delete that takes the senders' copies says so."""
    entries = _entries(ACTIONS[action])
    plain = options.model_copy(update={"remediate_senders_copy": False})
    label = next((c.label for c in entries if c.options == plain), entries[0].label)
    if options.remediate_senders_copy:
        label += ", with the sender's copy"
    return label
