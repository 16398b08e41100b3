"""The approval card in the incident thread: exactly what will run, who voted, and what happened.

The card follows the approval to its end; its vote buttons go once it is no longer pending, and
a done card offers to undo what can be undone (a new request, through the same policy).
Targets link to their Defender portal pages; every value in them is escaped (bot/slack/portal.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.actions.model import OutcomeStatus, Target, TargetOutcome
from bot.actions.offer import action_label
from bot.slack.blocks import Message, as_dicts, mrkdwn
from bot.slack.ids import INPUT_ELEMENT, ApprovalAction, ApprovalView
from bot.slack.mrkdwn import clip, code, duration, escape, plural, user, usergroup, when
from bot.slack.portal import action_center_url, device_url, email_url, file_url, link
from bot.slack.take_actions import describe_target
from bot.state.approval_records import Approval, ApprovalState

SHOWN_TARGETS = 20
SECTION_LIMIT = 3000  # Slack's limit for a section's text
LINK_TEXT_MAX = 200  # a target's words in its link; values from query results can be long
FINGERPRINT = 12  # hex digits of the spec's digest shown on the card

STATE_WORDS = {
    ApprovalState.PENDING: ":hourglass_flowing_sand: Waiting for approval",
    ApprovalState.APPROVED: ":white_check_mark: Approved: starting",
    ApprovalState.EXECUTING: ":gear: Running",
    ApprovalState.DONE: ":white_check_mark: Done",
    ApprovalState.FAILED: ":x: Finished with failures",
    ApprovalState.REJECTED: ":no_entry: Rejected",
    ApprovalState.EXPIRED: ":alarm_clock: Expired: nothing ran",
    ApprovalState.CANCELLED: ":heavy_multiplication_x: Cancelled",
}
# Ended by a person before anything ran: the card says who, why, and that nothing ran.
DECIDED = (ApprovalState.REJECTED, ApprovalState.CANCELLED)

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


@dataclass(frozen=True)
class UndoOffer:
    """What a done card offers to undo: the button's words and how many targets it would cover;
    or, once asked, the request that does it (`asked`), which replaces the button."""

    label: str  # "Release from isolation"
    action_label: str  # how the new request is named: "Release from isolation"
    targets: int
    asked: str | None = None


def render_approval_card(
    approval: Approval,
    outcomes: dict[str, TargetOutcome] | None = None,
    *,
    approvers: tuple[list[str], list[str]] = ([], []),
    now: datetime | None = None,
    tenant: str | None = None,
    undo: UndoOffer | None = None,
) -> Message:
    """The card; while pending it mentions its approvers (`approvers`: users, user groups), so
    the post that first shows it notifies them. `tenant` goes into portal links; `undo` is
    offered on a done card."""
    spec = approval.spec
    label = action_label(spec.action, spec.options)
    outcomes = outcomes or {}
    now = now or datetime.now(UTC)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=clip(f"Approval {approval.id}: {label}", 150)))
    ]
    votes = ", ".join(user(v) for v in approval.approved_by) or "none yet"
    lines = [
        _state_line(approval, outcomes),
        f"Requested by {user(approval.requester)} from {code(approval.hunt)} · "
        f"approvals {approval.approvals} of {approval.quorum}: {votes}",
        f"*{escape(spec.name)}* — {escape(clip(spec.description, 500))}",
    ]
    if approval.undoes:
        lines.append(f"Undoes {escape(approval.undoes)}, on the targets it acted on.")
    if approval.state is ApprovalState.PENDING:
        users, groups = approvers
        asked = ", ".join([user(u) for u in users] + [usergroup(g) for g in groups])
        if asked:
            lines.append(f"Waiting for {asked} (anyone but the requester).")
        lines.append(
            f"Expires in {duration(approval.expires_at - now)}, {when(approval.expires_at)}. "
            "The requester cannot approve; they or an approver can cancel the request."
        )
    if approval.resumed_at is not None:
        lines.append(
            f":arrows_counterclockwise: Resumed by another worker at "
            f"{when(approval.resumed_at)} after the one running it stopped; targets it "
            "may have sent were checked with Microsoft, not sent again."
        )
    if approval.note and approval.state is ApprovalState.EXECUTING:
        lines.append(f":warning: {escape(approval.note)}")
    if approval.retried_by:
        lines.append(f"Unknown targets retried once by {user(approval.retried_by)}.")
    blocks.append(SectionBlock(text=mrkdwn("\n".join(lines))))
    blocks.append(SectionBlock(text=mrkdwn(_targets_text(spec.targets, outcomes, tenant))))
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
        where = sorted({o.link for o in unknown if o.link}) or [action_center_url(tenant)]
        blocks.append(
            SectionBlock(
                text=mrkdwn(
                    f":grey_question: *{plural(len(unknown), 'target')} unknown*: sent, but "
                    "whether Microsoft acted can't be read back. Check the "
                    + " ".join(link(url, "Action center") for url in where[:3])
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
                        + " ".join(link(url, "Action center") for url in links[:3])
                    )
                ]
            )
        )
    elif approval.state in (ApprovalState.DONE, ApprovalState.FAILED):
        blocks.append(
            ContextBlock(
                elements=[
                    mrkdwn(
                        "Microsoft's record of these actions: the "
                        + link(action_center_url(tenant), "Action center")
                        + f" (search for {escape(approval.id)})."
                    )
                ]
            )
        )
    if undo is not None:
        blocks.extend(_undo(approval, undo))
    if approval.state is ApprovalState.PENDING:
        blocks.append(_vote_buttons(approval, label))
    blocks.append(
        ContextBlock(
            elements=[
                PlainTextObject(
                    text=f"Approval id {approval.id} · spec fingerprint "
                    f"{approval.digest[:FINGERPRINT]} (what is approved is exactly what runs)"
                )
            ]
        )
    )
    text = f"Approval {approval.id}: {label} — {STATE_WORDS[approval.state].split(' ', 1)[1]}"
    return Message(text=text, blocks=as_dicts(blocks))


def _state_line(approval: Approval, outcomes: dict[str, TargetOutcome]) -> str:
    head = STATE_WORDS[approval.state]
    if approval.decided_by and approval.state in DECIDED:
        head += f" by {user(approval.decided_by)}"
    if approval.state is ApprovalState.EXECUTING:
        progress = progress_text(len(approval.spec.targets), outcomes)
        head += f": {progress}" if progress else ""
    line = f"*{head}*"
    if approval.reason:
        line += f": {escape(approval.reason)}"
    if approval.state in DECIDED:
        line += ". Nothing ran."
    return line


def progress_text(total: int, outcomes: dict[str, TargetOutcome]) -> str:
    """How far a run has got: "420 of 1,000 sent, 12 in progress" ('' before the first)."""
    statuses = [o.status for o in outcomes.values()]
    sent = sum(1 for s in statuses if s not in (OutcomeStatus.PENDING, OutcomeStatus.SKIPPED))
    if not statuses:
        return ""
    said = f"{sent:,} of {total:,} sent"
    running = statuses.count(OutcomeStatus.IN_PROGRESS)
    skipped = statuses.count(OutcomeStatus.SKIPPED)
    if running:
        said += f", {running:,} in progress"
    if skipped:
        said += f", {skipped:,} skipped"
    return said


def portal_url(target: Target, tenant: str | None = None) -> str:
    """The target's page in the Defender portal."""
    if target.kind == "email":
        return email_url(target.network_message_id, target.recipient, tenant)
    if target.kind == "device":
        return device_url(target.device_id, tenant)
    return file_url(target.sha1 or target.sha256 or "", tenant)


def _targets_text(
    targets: tuple[Target, ...], outcomes: dict[str, TargetOutcome], tenant: str | None
) -> str:
    """Each target linked to its portal page, with its outcome; as many as fit in a section."""
    head = f"*Targets ({len(targets):,})*, each linked to its Defender portal page:"
    lines: list[str] = []
    size = len(head)
    room = SECTION_LIMIT - 120  # kept for the closing "…and N more" line
    for target in targets[:SHOWN_TARGETS]:
        line = link(portal_url(target, tenant), clip(describe_target(target), LINK_TEXT_MAX))
        outcome = outcomes.get(target.key)
        if outcome is not None:
            line += f" — {OUTCOME_WORDS[outcome.status]}"
            if outcome.detail and outcome.status is not OutcomeStatus.SUCCEEDED:
                line += f": {escape(clip(outcome.detail, 300))}"
        if size + 1 + len(line) > room:
            break
        lines.append(line)
        size += 1 + len(line)
    if len(lines) < len(targets):
        done = sum(1 for o in outcomes.values() if o.status.settled)
        lines.append(
            f"…and {len(targets) - len(lines):,} more ({done:,} of {len(targets):,} settled)"
        )
    return "\n".join([head, *lines])


def _undo(approval: Approval, undo: UndoOffer) -> list[Block]:
    if undo.asked:
        said = f"Undo asked for as {escape(undo.asked)}: its card is below in this thread."
        return [ContextBlock(elements=[mrkdwn(said)])]
    what = clip(
        f"This asks for a new approval: {undo.action_label} on the "
        f"{plural(undo.targets, 'target')} {approval.id} acted on. You become its requester; "
        "approvers decide as usual.",
        300,
    )
    return [
        ActionsBlock(
            elements=[
                ButtonElement(
                    text=PlainTextObject(text=clip(undo.label, 75)),
                    action_id=ApprovalAction.UNDO,
                    value=approval.id,
                    confirm=ConfirmObject(
                        title=PlainTextObject(text=clip(f"Ask to {undo.label.lower()}?", 100)),
                        text=PlainTextObject(text=what),
                        confirm=PlainTextObject(text="Ask for approval"),
                        deny=PlainTextObject(text="Not now"),
                    ),
                )
            ]
        )
    ]


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
                            f"{plural(count, 'target')} may already have been acted on. Retry "
                            "only if the Action center shows they were not; this is allowed once.",
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
    what = clip(f"{label} on {plural(len(approval.spec.targets), 'target')}", 250)
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
            # No confirm: Reject opens a form asking why, which can still be closed.
            ButtonElement(
                text=PlainTextObject(text="Reject"),
                action_id=ApprovalAction.REJECT,
                value=approval.id,
                style="danger",
            ),
            ButtonElement(
                text=PlainTextObject(text="Cancel request"),
                action_id=ApprovalAction.WITHDRAW,
                value=approval.id,
                confirm=ConfirmObject(
                    title=PlainTextObject(text="Cancel this request?"),
                    text=PlainTextObject(
                        text=clip(f"{what} will not run; approvals given so far are dropped.", 300)
                    ),
                    confirm=PlainTextObject(text="Cancel request"),
                    deny=PlainTextObject(text="Keep it"),
                    style="danger",
                ),
            ),
        ]
    )


def render_reject_view(approval: Approval, private_metadata: str) -> dict[str, object]:
    """Reject asks why: the requester is told the reason, and the audit keeps it."""
    label = action_label(approval.spec.action, approval.spec.options)
    return View(
        type="modal",
        callback_id=ApprovalView.REJECT,
        title=PlainTextObject(text=clip(f"Reject {approval.id}", 24)),
        submit=PlainTextObject(text="Reject"),
        close=PlainTextObject(text="Keep it"),
        private_metadata=private_metadata,
        blocks=[
            SectionBlock(
                text=mrkdwn(
                    f"Reject *{escape(label)}* on {plural(len(approval.spec.targets), 'target')}, "
                    f"asked for by {user(approval.requester)}? Nothing runs; they are told your "
                    "reason in the thread."
                )
            ),
            InputBlock(
                block_id=ApprovalView.REASON_BLOCK,
                label=PlainTextObject(text="Reason"),
                element=PlainTextInputElement(
                    action_id=INPUT_ELEMENT,
                    multiline=True,
                    min_length=1,
                    max_length=500,
                    placeholder=PlainTextObject(text="Why it should not run"),
                ),
            ),
        ],
    ).to_dict()


def render_reminder(
    approval: Approval, needed: int, users: list[str], groups: list[str], now: datetime
) -> Message:
    """The one reminder before expiry: how long is left, how many approvals are missing, and a
    mention of whoever can still give one."""
    asked = " ".join([user(u) for u in users] + [usergroup(g) for g in groups])
    left = duration(approval.expires_at - now)
    many = "approval" if needed == 1 else "approvals"
    said = (
        f":alarm_clock: {escape(approval.id)} ({escape(approval.spec.name)}) expires in {left} "
        f"and needs {needed} more {many}" + (f": {asked}" if asked else ".")
    )
    return Message(
        text=f"{approval.id} expires in {left} and needs {needed} more {many}",
        blocks=as_dicts([SectionBlock(text=mrkdwn(said))]),
    )
