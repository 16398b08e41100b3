"""The incident thread's status and handover summary."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.actions.offer import action_label
from bot.slack.blocks import Message, as_dicts, mrkdwn, rows_text
from bot.slack.ids import INPUT_ELEMENT, HandoffView, IncidentAction
from bot.slack.mrkdwn import clip, code, escape, user, when
from bot.state.approval_records import Approval, ApprovalState
from bot.state.incident_records import Incident

OPEN_STATES = {ApprovalState.PENDING, ApprovalState.APPROVED, ApprovalState.EXECUTING}


def _approval_line(approval: Approval, link: str | None = None) -> str:
    label = escape(action_label(approval.spec.action, approval.spec.options))
    votes = f"{approval.approvals} of {approval.quorum} approvals"
    name = f"<{escape(link)}|{approval.id}>" if link else code(approval.id)
    return (
        f"• {name} {label} on {len(approval.spec.targets)} target(s): "
        f"{escape(approval.state.value)}, {votes}"
    )


def _sections(
    incident: Incident, approvals: list[Approval], links: dict[str, str] | None = None
) -> list[str]:
    links = links or {}
    open_ones = [_approval_line(a, links.get(a.id)) for a in approvals if a.state in OPEN_STATES]
    ran = [_approval_line(a, links.get(a.id)) for a in approvals if a.state not in OPEN_STATES]
    parts = [
        "*Open approvals*\n" + ("\n".join(open_ones) or "none"),
        "*Actions decided or run*\n" + ("\n".join(ran) or "none"),
        "*Hunts run*\n"
        + (
            "\n".join(
                f"• {code(h.hunt)} by {user(h.user)}, {rows_text(h.rows)}, {when(h.at)}"
                for h in incident.hunts
            )
            or "none"
        ),
        "*Notes*\n"
        + (
            "\n".join(f"• {user(n.user)}: {escape(clip(n.text, 300))}" for n in incident.notes)
            or "none"
        ),
    ]
    return parts


def render_status(
    incident: Incident, approvals: list[Approval], *, taken_from: str | None = None
) -> Message:
    """The status card; `taken_from` (the previous owner) announces a take-over first."""
    state = "open" if incident.is_open else "closed"
    blocks: list[Block] = []
    if taken_from is not None:
        blocks.append(
            SectionBlock(text=mrkdwn(f"{user(incident.owner)} took over from {user(taken_from)}."))
        )
    blocks += [
        HeaderBlock(text=PlainTextObject(text=clip(f"Incident: {incident.title}", 150))),
        SectionBlock(
            text=mrkdwn(
                f"Owner {user(incident.owner)} · {state} · opened by {user(incident.opened_by)} "
                f"on {when(incident.opened_at)}"
            )
        ),
    ]
    blocks += [SectionBlock(text=mrkdwn(part)) for part in _sections(incident, approvals)]
    if incident.is_open:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text=PlainTextObject(text="Hand off"),
                        action_id=IncidentAction.HAND_OFF,
                        value=incident.thread_ts,
                    ),
                    ButtonElement(
                        text=PlainTextObject(text="Take over"),
                        action_id=IncidentAction.TAKE_OVER,
                        value=incident.thread_ts,
                    ),
                ]
            )
        )
    return Message(text=f"Incident status: owner {incident.owner}", blocks=as_dicts(blocks))


def render_incidents(
    incidents: list[Incident], links: dict[str, str], pending: dict[str, int], *, unlinked: int = 0
) -> Message:
    """`/hunt incidents`: the channel's open incident threads, newest first."""
    left_out = (
        f"{unlinked} open incident(s) whose first message was deleted are not listed."
        if unlinked
        else ""
    )
    if not incidents:
        said = " ".join(filter(None, ["No open incidents in this channel.", left_out]))
        return Message(
            text="No open incidents here.", blocks=as_dicts([SectionBlock(text=mrkdwn(said))])
        )
    lines = []
    for incident in incidents[:40]:
        link = links.get(incident.thread_ts)
        title = escape(clip(incident.title, 120))
        shown = f"<{escape(link)}|{title}>" if link else title
        waiting = pending.get(incident.thread_ts, 0)
        lines.append(
            f"• {shown} · owner {user(incident.owner)} · since "
            f"{when(incident.opened_at)} · {waiting} pending approval(s)"
        )
    blocks: list[Block] = [SectionBlock(text=mrkdwn(clip("\n".join(lines), 3000)))]
    summary = " ".join(filter(None, [f"{len(incidents)} open incident(s).", left_out]))
    blocks.append(ContextBlock(elements=[mrkdwn(summary)]))
    return Message(text=f"{len(incidents)} open incidents", blocks=as_dicts(blocks))


def render_close_question(
    incident: Incident, pending: list[Approval], *, asked_by: str, reason: str
) -> Message:
    """Asked of `asked_by` alone: only they may answer (the buttons' value names them), and
    their reason for closing rides along so it is not lost."""
    lines = "\n".join(_approval_line(a) for a in pending)
    value = json.dumps(
        {"subject": incident.thread_ts, "shown_to": asked_by, "reason": clip(reason, 500)},
        ensure_ascii=False,
    )
    blocks: list[Block] = [
        SectionBlock(
            text=mrkdwn(
                f"{user(asked_by)}, this incident has {len(pending)} approval(s) still open:"
                f"\n{lines}\nClose it and cancel them, or keep it open?"
            )
        ),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Cancel them and close"),
                    action_id=IncidentAction.CLOSE_AND_CANCEL,
                    value=value,
                    style="danger",
                ),
                ButtonElement(
                    text=PlainTextObject(text="Keep it open"),
                    action_id=IncidentAction.KEEP_OPEN,
                    value=value,
                ),
            ]
        ),
    ]
    return Message(text="Close with open approvals?", blocks=as_dicts(blocks))


def render_handover(
    incident: Incident,
    approvals: list[Approval],
    *,
    by: str,
    previous: str,
    to: str,
    note: str,
    links: dict[str, str] | None = None,
) -> Message:
    """The handover summary: from whom, to whom, by whom when someone else did it."""
    if by == previous:
        intro = f":handshake: {user(by)} handed this incident to {user(to)}."
    else:
        intro = f":handshake: {user(by)} handed this incident from {user(previous)} to {user(to)}."
    if note:
        intro += f"\n> {escape(clip(note, 1000))}"
    blocks: list[Block] = [SectionBlock(text=mrkdwn(intro))]
    blocks += [SectionBlock(text=mrkdwn(part)) for part in _sections(incident, approvals, links)]
    return Message(text=f"Handover to {to}", blocks=as_dicts(blocks))


def render_handoff_view(
    incident: Incident,
    private_metadata: str,
    *,
    to: str | None = None,
    note: str = "",
    problem: str | None = None,
) -> dict[str, object]:
    """The Hand off form; shown again with `problem` above it, keeping what was filled in."""
    warning = [SectionBlock(text=mrkdwn(f":warning: {escape(problem)}"))] if problem else []
    return View(
        type="modal",
        callback_id=HandoffView.CALLBACK,
        title=PlainTextObject(text="Hand off"),
        submit=PlainTextObject(text="Hand off"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=private_metadata,
        blocks=[
            *warning,
            SectionBlock(
                text=mrkdwn(
                    f"{escape(clip(incident.title, 200))} is owned by {user(incident.owner)}. "
                    "The new owner gets a handover summary in the thread."
                )
            ),
            InputBlock(
                block_id=HandoffView.TO_BLOCK,
                label=PlainTextObject(text="Hand off to"),
                element=UserSelectElement(action_id=INPUT_ELEMENT, initial_user=to),
            ),
            InputBlock(
                block_id=HandoffView.NOTE_BLOCK,
                label=PlainTextObject(text="Note"),
                optional=True,
                element=PlainTextInputElement(
                    action_id=INPUT_ELEMENT,
                    multiline=True,
                    max_length=1000,
                    initial_value=note or None,
                ),
            ),
        ],
    ).to_dict()
