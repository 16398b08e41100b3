"""The Take actions modal: choose actions and rows, name it, then review the blast radius.

Two steps rather than live updates: the first view is validated on submit (errors shown next to
their fields), the second shows exactly what each approval will cover before it is requested:
every target named as a person recognises it, the ones earlier approvals already handled
flagged, what cannot be undone said plainly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    Option,
    OptionGroup,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.actions.model import EmailTarget, Target
from bot.actions.offer import ActionChoice, BlastRadius, outside_recipient, sends_from_inside
from bot.slack.blocks import mrkdwn, rows_text
from bot.slack.ids import INPUT_ELEMENT, TakeActionsAction, TakeActionsBlock, TakeActionsView
from bot.slack.mrkdwn import clip, code, duration, escape, user, usergroup, when
from bot.state.results import StoredResult

GROUP_LABELS = {"email": "Emails", "device": "Devices", "file": "Files"}
PREVIEW_TARGETS = 10
PREVIEW_SENDERS = 5


def render_choose_view(
    meta: StoredResult,
    choices: list[ActionChoice],
    private_metadata: str,
    *,
    note: str = "",
    filled: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The first step; `filled` (block id -> text) is what the person had entered, after Back."""
    filled = filled or {}
    groups: dict[str, list[Option]] = {}
    was_chosen = set((filled.get(TakeActionsBlock.ACTION) or "").split(","))
    chosen: list[Option] = []
    for choice in choices:
        option = Option(value=choice.key, text=PlainTextObject(text=clip(choice.label, 75)))
        groups.setdefault(choice.action.entity, []).append(option)
        if choice.key in was_chosen:
            chosen.append(option)
    option_groups = [
        OptionGroup(label=PlainTextObject(text=GROUP_LABELS[kind]), options=options)
        for kind, options in groups.items()
    ]
    # Several device actions may run together, as in Defender's wizard; emails one at a time.
    several = sum(1 for c in choices if c.action.entity != "email") > 1
    element: StaticSelectElement | StaticMultiSelectElement
    if several:
        element = StaticMultiSelectElement(
            action_id=INPUT_ELEMENT,
            placeholder=PlainTextObject(text="Choose an action, or several device actions"),
            initial_options=chosen or None,
            option_groups=option_groups,
        )
    else:
        element = StaticSelectElement(
            action_id=INPUT_ELEMENT,
            placeholder=PlainTextObject(text="Choose an action"),
            initial_option=chosen[0] if chosen else None,
            option_groups=option_groups,
        )
    intro = (
        f"{rows_text(meta.row_count)} from {code(meta.hunt)}. Choose rows by their number in "
        "the results table's # column, or by a column's value (=, !=, contains, starts with, "
        "ends with; join with and); leave Rows empty to act on all of them. Nothing runs until "
        "an approver agrees."
    )
    blocks: list[Block] = [SectionBlock(text=mrkdwn(intro))]
    if note:
        blocks.append(ContextBlock(elements=[mrkdwn(note)]))
    blocks += [
        InputBlock(
            block_id=TakeActionsBlock.ACTION,
            label=PlainTextObject(text="Action"),
            hint=PlainTextObject(
                text="One email action; or several device and file actions on the same rows "
                "(e.g. isolate, collect an investigation package and scan), each approved on "
                "its own card"
            )
            if several
            else None,
            element=element,
        ),
        InputBlock(
            block_id=TakeActionsBlock.ROWS,
            label=PlainTextObject(text="Rows"),
            optional=True,
            hint=PlainTextObject(
                text=f"All {meta.row_count:,} rows; some by number (1-5, 8, as in the # column); "
                "or by value: LatestDeliveryLocation = Inbox, Subject contains invoice"
            ),
            element=PlainTextInputElement(
                action_id=INPUT_ELEMENT,
                placeholder=PlainTextObject(text="All rows"),
                initial_value=filled.get(TakeActionsBlock.ROWS) or None,
            ),
        ),
        InputBlock(
            block_id=TakeActionsBlock.NAME,
            label=PlainTextObject(text="Remediation name"),
            hint=PlainTextObject(text="Shown in the Defender Action center"),
            element=PlainTextInputElement(
                action_id=INPUT_ELEMENT,
                initial_value=filled.get(TakeActionsBlock.NAME)
                or f"{meta.hunt} {datetime.now():%Y-%m-%d %H:%M}",
                max_length=100,
            ),
        ),
        InputBlock(
            block_id=TakeActionsBlock.DESCRIPTION,
            label=PlainTextObject(text="Description"),
            element=PlainTextInputElement(
                action_id=INPUT_ELEMENT,
                multiline=True,
                initial_value=filled.get(TakeActionsBlock.DESCRIPTION) or None,
                max_length=1000,
                placeholder=PlainTextObject(text="Why: the incident, the evidence"),
            ),
        ),
    ]
    return View(
        type="modal",
        callback_id=TakeActionsView.CHOOSE,
        title=PlainTextObject(text="Take actions"),
        submit=PlainTextObject(text="Review"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=private_metadata,
        blocks=blocks,
    ).to_dict()


@dataclass(frozen=True)
class ReviewedAction:
    """One action of the request as it will be asked for: it becomes one approval."""

    label: str
    targets: list[Target]
    radius: BlastRadius
    quorum: int
    approvers: tuple[list[str], list[str]]  # users, user groups
    expires_at: datetime
    excluded: list[tuple[Target, str]] = field(default_factory=list)
    caution: str = ""
    # target key -> what an earlier approval did to it and which: ("already soft-deleted", "HB-1")
    flags: dict[str, tuple[str, str]] = field(default_factory=dict)
    senders_copy: bool = False  # soft delete takes the senders' Sent Items copies too
    left_out: int = 0  # rows of outbound mail: recipients outside the organisation


def render_confirm_view(
    *,
    actions: list[ReviewedAction],
    chosen: str,
    private_metadata: str,
    back_value: str = "",
) -> dict[str, Any]:
    """The review: what, on whom, who must agree, what cannot be undone; Back to edit. Several
    actions are listed each with its own quorum: each becomes an approval with its own card."""
    blocks: list[Any] = []
    if len(actions) > 1:
        blocks.append(
            SectionBlock(
                text=mrkdwn(
                    f"*{len(actions)} actions*, from {escape(chosen)}. Each is a request of its "
                    "own, with its own card and approvals, and runs once its approvers agree."
                )
            )
        )
    for action in actions:
        blocks += _action_blocks(action, chosen if len(actions) == 1 else "")
    if back_value:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text=PlainTextObject(text="◀ Back"),
                        action_id=TakeActionsAction.BACK,
                        value=back_value,
                    )
                ]
            )
        )
    return View(
        type="modal",
        callback_id=TakeActionsView.CONFIRM,
        title=PlainTextObject(text="Request approval"),
        submit=PlainTextObject(text="Request approval" if len(actions) == 1 else "Request all"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=private_metadata,
        blocks=blocks,
    ).to_dict()


def _approvers(approvers: tuple[list[str], list[str]]) -> str:
    users, groups = approvers
    return ", ".join([user(u) for u in users] + [usergroup(g) for g in groups]) or "approvers"


def _action_blocks(action: ReviewedAction, chosen: str) -> list[Block]:
    q = action.quorum
    what = f"*{escape(action.label)}* on {escape(action.radius.describe())}"
    lines = [
        (f"{what}, from {escape(chosen)}." if chosen else f"{what}.")
        + f"\nNeeds {q} approval{'s' * (q != 1)} from {_approvers(action.approvers)}, not you. "
        f"The request expires in {duration(action.expires_at - datetime.now(UTC))} "
        f"({when(action.expires_at)})."
    ]
    if action.flags:
        by = sorted({approval for _, approval in action.flags.values()})
        n, total = len(action.flags), len(action.targets)
        which = (
            ("This target was" if n == 1 else f"All {n} targets were")
            if n == total
            else f"{n} of these {total} targets {'was' if n == 1 else 'were'}"
        )
        earlier = "an earlier approval" if len(by) == 1 else "earlier approvals"
        lines.append(
            f":recycle: {which} already handled by {earlier} ({escape(', '.join(by))}): "
            f"flagged below. Going on sends {'it' if n == 1 else 'them'} again."
        )
    if action.left_out:
        n = action.left_out
        lines.append(
            f"{n} row{'s' * (n != 1)} of outbound mail {'were' if n != 1 else 'was'} left out: "
            "the recipients' mailboxes are outside the organisation, beyond Defender's reach"
            + ("; their senders' copies are still taken." if action.senders_copy else ".")
        )
    blocks: list[Block] = [SectionBlock(text=mrkdwn("\n".join(lines)))]
    if action.caution:
        blocks.append(SectionBlock(text=mrkdwn(f":warning: *{escape(action.caution)}*")))
    blocks.append(
        SectionBlock(text=PlainTextObject(text=clip(_preview(action), 3000), emoji=False))
    )
    if action.excluded:
        shown = "\n".join(
            f"{describe_target(t)}: {why}" for t, why in action.excluded[:PREVIEW_TARGETS]
        )
        blocks.append(
            SectionBlock(
                text=PlainTextObject(
                    text=clip(f"Excluded, never acted on:\n{shown}", 3000), emoji=False
                )
            )
        )
    return blocks


def _preview(action: ReviewedAction) -> str:
    """The targets as plain text (values from query results: never markup), flagged ones first,
    then the senders' mailboxes a soft delete also reaches."""
    targets = sorted(action.targets, key=lambda t: t.key not in action.flags)
    lines = []
    for target in targets[:PREVIEW_TARGETS]:
        flag = action.flags.get(target.key)
        lines.append(describe_target(target) + (f" — {flag[0]} by {flag[1]}" if flag else ""))
    if len(targets) > PREVIEW_TARGETS:
        lines.append(f"…and {len(targets) - PREVIEW_TARGETS} more")
    if action.senders_copy:
        # One copy a message, in its sender's Sent Items, however many recipients it had.
        copies = {
            (t.sender.lower(), t.network_message_id)
            for t in action.targets
            if isinstance(t, EmailTarget) and t.sender and sends_from_inside(t)
        }
        senders = Counter(sender for sender, _ in copies)
        for sender, messages in senders.most_common(PREVIEW_SENDERS):
            lines.append(
                f"sender's copy: {sender} Sent Items ({messages} message{'s' * (messages != 1)})"
            )
        if len(senders) > PREVIEW_SENDERS:
            lines.append(f"…and the Sent Items of {len(senders) - PREVIEW_SENDERS} more senders")
    return "\n".join(lines)


def describe_target(target: Target) -> str:
    """One line per target as a person recognises it, as plain text (values from query results:
    never markup). Email: recipient, sender, subject, where it is now; an outbound message is
    only ever a target for its sender's Sent Items copy. Device: name, OS, id. File: name,
    folder, hash, device."""
    if target.kind == "email":
        if outside_recipient(target):
            parts = [
                f"sender's copy: {target.sender or 'the sender'} Sent Items",
                f"sent to {target.recipient}, outside the organisation",
            ]
        else:
            parts = [target.recipient]
            if target.sender:
                parts.append(f"from {target.sender}")
        if target.subject:
            parts.append(f"“{clip(target.subject, 80)}”")
        if target.location and not outside_recipient(target):
            parts.append(f"in {target.location} when hunted")
        parts.append(f"message {target.network_message_id}")
        return " · ".join(parts)
    if target.kind == "device":
        name = target.device_name or target.device_id
        os = f" ({target.os_platform})" if target.os_platform else ""
        return f"{name}{os} · id {target.device_id}"
    digest = target.sha1 or target.sha256
    file = target.file_name or "file"
    if target.folder_path:
        # Defender's FolderPath usually ends with the file's own name: then it says both.
        whole = target.file_name and target.folder_path.lower().endswith(target.file_name.lower())
        file = target.folder_path if whole else f"{file} in {target.folder_path}"
    return f"{file} · {target.hash_column} {digest} · on {target.device_name or target.device_id}"


def view_errors(errors: dict[TakeActionsBlock, str]) -> dict[str, str]:
    return {str(block): message for block, message in errors.items()}
