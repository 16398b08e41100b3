"""The Take actions modal: choose an action and rows, name it, then review the blast radius.

Two steps rather than live updates: the first view is validated on submit (errors shown next to
their fields), the second shows exactly what the approval will cover before it is requested.
"""

from __future__ import annotations

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
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.actions.model import Target
from bot.actions.offer import ActionChoice, BlastRadius
from bot.slack.blocks import mrkdwn, rows_text
from bot.slack.ids import INPUT_ELEMENT, TakeActionsAction, TakeActionsBlock, TakeActionsView
from bot.slack.mrkdwn import clip, code, duration, escape, user, when
from bot.state.results import StoredResult

GROUP_LABELS = {"email": "Emails", "device": "Devices", "file": "Files"}
PREVIEW_TARGETS = 10


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
    chosen: Option | None = None
    for choice in choices:
        option = Option(value=choice.key, text=PlainTextObject(text=clip(choice.label, 75)))
        groups.setdefault(choice.action.entity, []).append(option)
        if choice.key == filled.get(TakeActionsBlock.ACTION):
            chosen = option
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
            element=StaticSelectElement(
                action_id=INPUT_ELEMENT,
                placeholder=PlainTextObject(text="Choose an action"),
                initial_option=chosen,
                option_groups=[
                    OptionGroup(label=PlainTextObject(text=GROUP_LABELS[kind]), options=options)
                    for kind, options in groups.items()
                ],
            ),
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


def render_confirm_view(
    *,
    choice: ActionChoice,
    chosen: str,
    targets: list[Target],
    excluded: list[tuple[Target, str]],
    radius: BlastRadius,
    quorum: int,
    approvers: list[str],
    expires_at: datetime,
    private_metadata: str,
    caution: str = "",
    back_value: str = "",
) -> dict[str, Any]:
    """The review: what, on whom, who must agree, what cannot be undone; Back to edit."""
    lines = [
        f"*{escape(choice.label)}* on {escape(radius.describe())}, from {escape(chosen)}.",
        f"Needs {quorum} approval{'s' * (quorum != 1)} from "
        + (", ".join(user(a) if a.startswith("U") else code(a) for a in approvers) or "approvers")
        + f", not you. The request expires in {duration(expires_at - datetime.now(UTC))} "
        f"({when(expires_at)}).",
    ]
    blocks: list[Any] = [SectionBlock(text=mrkdwn("\n".join(lines)))]
    if caution:
        blocks.append(SectionBlock(text=mrkdwn(f":warning: *{escape(caution)}*")))
    preview = "\n".join(describe_target(t) for t in targets[:PREVIEW_TARGETS])
    if len(targets) > PREVIEW_TARGETS:
        preview += f"\n…and {len(targets) - PREVIEW_TARGETS} more"
    blocks.append(SectionBlock(text=PlainTextObject(text=clip(preview, 3000), emoji=False)))
    if excluded:
        shown = "\n".join(f"{describe_target(t)}: {why}" for t, why in excluded[:PREVIEW_TARGETS])
        blocks.append(
            SectionBlock(
                text=PlainTextObject(text=clip(f"Excluded, never acted on:\n{shown}", 3000))
            )
        )
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
        submit=PlainTextObject(text="Request approval"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=private_metadata,
        blocks=blocks,
    ).to_dict()


def describe_target(target: Target) -> str:
    """One line per target, as plain text (values from query results: never markup)."""
    if target.kind == "email":
        return f"{target.recipient} · message {target.network_message_id}"
    if target.kind == "device":
        return f"{target.device_name or target.device_id} ({target.device_id})"
    digest = target.sha1 or target.sha256
    return f"{target.hash_column} {digest} on {target.device_name or target.device_id}"


def view_errors(errors: dict[TakeActionsBlock, str]) -> dict[str, str]:
    return {str(block): message for block, message in errors.items()}
