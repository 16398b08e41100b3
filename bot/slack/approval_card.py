"""The approval card in the incident thread: exactly what will run, who voted, and what happened.

The card follows the approval to its end; its buttons go once it is no longer pending.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    PlainTextObject,
    SectionBlock,
)

from bot.actions.model import OutcomeStatus, Target, TargetOutcome
from bot.actions.offer import action_label
from bot.slack.blocks import Message, as_dicts, mrkdwn
from bot.slack.ids import ApprovalAction
from bot.slack.mrkdwn import clip, code, escape, user, usergroup, when
from bot.slack.take_actions import describe_target
from bot.state.approval_records import Approval, ApprovalState

SHOWN_TARGETS = 20

STATE_WORDS = {
    ApprovalState.PENDING: ":hourglass_flowing_sand: Waiting for approval",
    ApprovalState.APPROVED: ":white_check_mark: Approved: starting",
    ApprovalState.EXECUTING: ":gear: Running",
    ApprovalState.DONE: ":white_check_mark: Done",
    ApprovalState.FAILED: ":x: Finished with failures",
    ApprovalState.REJECTED: ":no_entry: Rejected",
    ApprovalState.EXPIRED: ":alarm_clock: Expired: nothing ran",
    ApprovalState.CANCELLED: ":heavy_multiplication_x: Cancelled: nothing ran",
}

OUTCOME_WORDS = {
    OutcomeStatus.PENDING: "waiting",
    OutcomeStatus.SUBMITTED: "submitted",
    OutcomeStatus.IN_PROGRESS: "in progress",
    OutcomeStatus.SUCCEEDED: "succeeded",
    OutcomeStatus.FAILED: "FAILED",
    OutcomeStatus.TIMED_OUT: "timed out",
    OutcomeStatus.CANCELLED: "cancelled",
    OutcomeStatus.SKIPPED: "skipped",
    OutcomeStatus.UNKNOWN: "UNKNOWN, check the Action center",
}


def render_approval_card(
    approval: Approval,
    outcomes: dict[str, TargetOutcome] | None = None,
    *,
    approvers: tuple[list[str], list[str]] = ([], []),
) -> Message:
    """The card; while pending it mentions its approvers (`approvers`: users, user groups), so
    the post that first shows it notifies them."""
    spec = approval.spec
    label = action_label(spec.action, spec.options)
    outcomes = outcomes or {}
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=clip(f"Approval {approval.id}: {label}", 150)))
    ]
    votes = ", ".join(user(v) for v in approval.approved_by) or "none yet"
    lines = [
        f"*{STATE_WORDS[approval.state]}*"
        + (f" by {user(approval.decided_by)}" if approval.decided_by else "")
        + (f": {escape(approval.reason)}" if approval.reason else ""),
        f"Requested by {user(approval.requester)} from {code(approval.hunt)} · "
        f"approvals {approval.approvals} of {approval.quorum}: {votes}",
        f"*{escape(spec.name)}* — {escape(clip(spec.description, 500))}",
    ]
    if approval.state is ApprovalState.PENDING:
        users, groups = approvers
        asked = ", ".join([user(u) for u in users] + [usergroup(g) for g in groups])
        if asked:
            lines.append(f"Waiting for {asked} (anyone but the requester).")
        lines.append(f"Expires {when(approval.expires_at)}. The requester cannot approve.")
    if approval.resumed_at is not None:
        lines.append(
            f":arrows_counterclockwise: Resumed by another worker at "
            f"{approval.resumed_at:%H:%M:%S} UTC after the one running it stopped; targets it "
            "may have sent were checked with Microsoft, not sent again."
        )
    if approval.note and approval.state is ApprovalState.EXECUTING:
        lines.append(f":warning: {escape(approval.note)}")
    if approval.retried_by:
        lines.append(f"Unknown targets retried once by {user(approval.retried_by)}.")
    blocks.append(SectionBlock(text=mrkdwn("\n".join(lines))))
    blocks.append(
        SectionBlock(text=PlainTextObject(text=_targets_text(spec.targets, outcomes), emoji=False))
    )
    if approval.excluded:
        shown = "\n".join(
            f"{describe_target(e.target)}: {e.reason}" for e in approval.excluded[:SHOWN_TARGETS]
        )
        blocks.append(
            SectionBlock(
                text=PlainTextObject(text=clip(f"Excluded, never acted on:\n{shown}", 3000))
            )
        )
    unknown = [o for o in outcomes.values() if o.status is OutcomeStatus.UNKNOWN]
    if unknown:
        where = sorted({o.link for o in unknown if o.link})
        blocks.append(
            SectionBlock(
                text=mrkdwn(
                    f":grey_question: *{len(unknown)} target(s) unknown*: sent, but whether "
                    "Microsoft acted can't be read back. Check the "
                    + " ".join(f"<{escape(link)}|Action center>" for link in where[:3])
                    + " before retrying them."
                )
            )
        )
        if approval.state.final and not approval.retried_by:
            blocks.append(_retry_button(approval, len(unknown)))
    links = sorted({o.link for o in outcomes.values() if o.link and o not in unknown})
    if links:
        blocks.append(
            ContextBlock(
                elements=[
                    mrkdwn(
                        "Email remediation can't be read back by API: follow it in the "
                        + " ".join(f"<{escape(link)}|Action center>" for link in links[:3])
                    )
                ]
            )
        )
    if approval.state is ApprovalState.PENDING:
        blocks.append(_vote_buttons(approval, label))
    blocks.append(
        ContextBlock(
            elements=[PlainTextObject(text=f"Approval id {approval.id} · {approval.digest[:12]}")]
        )
    )
    text = f"Approval {approval.id}: {label} — {STATE_WORDS[approval.state].split(' ', 1)[1]}"
    return Message(text=text, blocks=as_dicts(blocks))


def _targets_text(targets: tuple[Target, ...], outcomes: dict[str, TargetOutcome]) -> str:
    lines = []
    for target in targets[:SHOWN_TARGETS]:
        line = describe_target(target)
        outcome = outcomes.get(target.key)
        if outcome is not None:
            line += f" — {OUTCOME_WORDS[outcome.status]}"
            if outcome.detail and outcome.status is not OutcomeStatus.SUCCEEDED:
                line += f": {outcome.detail}"
        lines.append(line)
    if len(targets) > SHOWN_TARGETS:
        done = sum(1 for o in outcomes.values() if o.status.settled)
        lines.append(f"…and {len(targets) - SHOWN_TARGETS} more ({done} of {len(targets)} settled)")
    return clip(f"Targets ({len(targets)}):\n" + "\n".join(lines), 3000)


def _retry_button(approval: Approval, count: int) -> ActionsBlock:
    return ActionsBlock(
        elements=[
            ButtonElement(
                text=PlainTextObject(text="Retry these"),
                action_id=ApprovalAction.RETRY_UNKNOWN,
                value=approval.id,
                confirm=ConfirmObject(
                    title=PlainTextObject(text="Send the unknown targets again?"),
                    text=PlainTextObject(
                        text=clip(
                            f"{count} target(s) may already have been acted on. Retry only if "
                            "the Action center shows they were not; this is allowed once.",
                            300,
                        )
                    ),
                    confirm=PlainTextObject(text="Retry these"),
                    deny=PlainTextObject(text="Not now"),
                ),
            )
        ]
    )


def _vote_buttons(approval: Approval, label: str) -> ActionsBlock:
    what = clip(f"{label} on {len(approval.spec.targets)} target(s)", 250)
    return ActionsBlock(
        elements=[
            ButtonElement(
                text=PlainTextObject(text="Approve"),
                action_id=ApprovalAction.APPROVE,
                value=approval.id,
                style="primary",
                confirm=ConfirmObject(
                    title=PlainTextObject(text="Approve this action?"),
                    text=PlainTextObject(text=what),
                    confirm=PlainTextObject(text="Approve"),
                    deny=PlainTextObject(text="Not yet"),
                ),
            ),
            ButtonElement(
                text=PlainTextObject(text="Reject"),
                action_id=ApprovalAction.REJECT,
                value=approval.id,
                style="danger",
                confirm=ConfirmObject(
                    title=PlainTextObject(text="Reject this action?"),
                    text=PlainTextObject(text=what),
                    confirm=PlainTextObject(text="Reject"),
                    deny=PlainTextObject(text="Keep it"),
                    style="danger",
                ),
            ),
        ]
    )
