"""Every fact about an action in one row: its menu label and variants, how a refusal names it,
how many approvals it needs by default, and the capability the app registration needs for it.

Adding an action is a row here plus its executor row (bot/defender/actions/operations.py);
tests/actions/test_registry.py checks both tables cover every ActionKind exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.actions.model import ActionKind, ActionOptions


@dataclass(frozen=True)
class Variant:
    """A menu entry fixing an option: key `<kind>.<suffix>`, label `<label> (<suffix>)`."""

    suffix: str
    options: ActionOptions


@dataclass(frozen=True)
class ActionInfo:
    kind: ActionKind
    label: str  # in the Take actions menu and on cards, e.g. "Isolate device"
    doing: str  # how a refusal names it: "You are not an approver for <doing>"
    capability: str  # key of bot.defender.permissions.CAPABILITIES
    # Hard or disruptive to undo: two people, unless the policy file names the action or entity.
    quorum: int = 1
    variants: tuple[Variant, ...] = ()  # when set, the menu offers these instead of the plain one
    # Takes the sender's Sent Items copy too, for internal and outbound mail, when the result
    # qualifies (microsoft-apis.md §6): not a menu entry of its own, as in Defender's wizard.
    senders_copy: bool = False
    caution: str = ""  # what the review says plainly before a hard-to-undo action is requested
    # How the review flags a target an earlier approval already did this to: "<done> by HB-1".
    done: str = ""
    # Actions whose earlier runs are worth flagging for each other (soft then hard delete of one
    # message; isolate after a release). Defaults to the action alone.
    family: str = ""
    undoes: ActionKind | None = None  # never requested together with this one

    @property
    def entity(self) -> Literal["email", "device", "file"]:
        return self.kind.entity

    @property
    def flag_family(self) -> str:
        return self.family or self.kind.value


def _isolation(kind: Literal["Full", "Selective"]) -> Variant:
    return Variant(kind.lower(), ActionOptions(isolation_type=kind))


def _scan(kind: Literal["Quick", "Full"]) -> Variant:
    return Variant(kind.lower(), ActionOptions(scan_type=kind))


_K = ActionKind
_MAIL = "email.location"  # every email action moves the message: each earlier one is worth a flag
REGISTRY: tuple[ActionInfo, ...] = (
    ActionInfo(
        _K.EMAIL_MOVE_TO_JUNK,
        "Move to Junk",
        "moving emails to Junk",
        "email.remediate",
        done="already moved to Junk",
        family=_MAIL,
    ),
    ActionInfo(
        _K.EMAIL_MOVE_TO_INBOX,
        "Move to Inbox",
        "moving emails to the Inbox",
        "email.remediate",
        done="already moved to the Inbox",
        family=_MAIL,
    ),
    ActionInfo(
        _K.EMAIL_MOVE_TO_DELETED,
        "Move to Deleted items",
        "moving emails to Deleted items",
        "email.remediate",
        done="already moved to Deleted items",
        family=_MAIL,
    ),
    ActionInfo(
        _K.EMAIL_SOFT_DELETE,
        "Soft delete",
        "soft-deleting emails",
        "email.remediate",
        senders_copy=True,
        caution=(
            "Soft-deleted messages go to Recoverable Items: recoverable, but out of the "
            "user's sight."
        ),
        done="already soft-deleted",
        family=_MAIL,
    ),
    ActionInfo(
        _K.EMAIL_HARD_DELETE,
        "Hard delete",
        "hard-deleting emails",
        "email.remediate",
        quorum=2,
        caution=(
            "Hard delete is permanent and cannot be undone: the messages are purged from the "
            "mailboxes and cannot be moved back (only an Exchange admin's single-item recovery "
            "may still find them)."
        ),
        done="already hard-deleted",
        family=_MAIL,
    ),
    ActionInfo(
        _K.DEVICE_ISOLATE,
        "Isolate device",
        "isolating devices",
        "device.isolate",
        quorum=2,
        variants=(_isolation("Full"), _isolation("Selective")),
        caution=(
            "Isolation cuts the devices off the network (Selective keeps Outlook, Teams and "
            "Skype) until someone releases them."
        ),
        done="already isolated",
        family="device.isolation",
        undoes=_K.DEVICE_RELEASE,
    ),
    ActionInfo(
        _K.DEVICE_RELEASE,
        "Release from isolation",
        "releasing devices from isolation",
        "device.isolate",
        done="already released from isolation",
        family="device.isolation",
        undoes=_K.DEVICE_ISOLATE,
    ),
    ActionInfo(
        _K.DEVICE_COLLECT_PACKAGE,
        "Collect investigation package",
        "collecting investigation packages",
        "device.collect_package",
        done="investigation package already collected",
    ),
    ActionInfo(
        _K.DEVICE_AV_SCAN,
        "Antivirus scan",
        "antivirus scans",
        "device.scan",
        variants=(_scan("Quick"), _scan("Full")),
        done="already scanned",
    ),
    ActionInfo(
        _K.DEVICE_INVESTIGATE,
        "Start automated investigation",
        "automated investigations",
        "device.investigate",
        done="automated investigation already started",
    ),
    ActionInfo(
        _K.DEVICE_RESTRICT_APPS,
        "Restrict app execution",
        "restricting app execution",
        "device.restrict_apps",
        quorum=2,
        caution=(
            "Restricting app execution lets only Microsoft-signed programs run until the "
            "restriction is removed."
        ),
        done="apps already restricted",
        family="device.restriction",
        undoes=_K.DEVICE_UNRESTRICT_APPS,
    ),
    ActionInfo(
        _K.DEVICE_UNRESTRICT_APPS,
        "Remove app restriction",
        "removing app execution restrictions",
        "device.restrict_apps",
        done="app restriction already removed",
        family="device.restriction",
        undoes=_K.DEVICE_RESTRICT_APPS,
    ),
    ActionInfo(
        _K.FILE_STOP_AND_QUARANTINE,
        "Stop and quarantine file",
        "stopping and quarantining files",
        "file.stop_and_quarantine",
        quorum=2,
        caution=(
            "The file is stopped and quarantined on every chosen device; the programs that "
            "need it stop working."
        ),
        done="already quarantined",
    ),
)

ACTIONS: dict[ActionKind, ActionInfo] = {info.kind: info for info in REGISTRY}
