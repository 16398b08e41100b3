"""The incident thread's status and handover summary, the channel's list, and closing stale
incidents in bulk."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

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
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.actions.offer import action_label
from bot.slack.blocks import Message, as_dicts, mrkdwn, render_markup_notice, rows_text
from bot.slack.ids import INPUT_ELEMENT, HandoffView, IncidentAction
from bot.slack.mrkdwn import clip, code, escape, plural, user, when
from bot.state.approval_records import Approval, ApprovalState
from bot.state.incident_records import Incident

OPEN_STATES = {ApprovalState.PENDING, ApprovalState.APPROVED, ApprovalState.EXECUTING}


def _approval_line(approval: Approval, link: str | None = None) -> str:
    label = escape(action_label(approval.spec.action, approval.spec.options))
    votes = f"{approval.approvals} of {approval.quorum} approvals"
    name = f"<{escape(link)}|{approval.id}>" if link else code(approval.id)
    return (
        f"• {name} {label} on {plural(len(approval.spec.targets), 'target')}: "
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
        f"{plural(unlinked, 'open incident')} whose first message was deleted "
        + ("is" if unlinked == 1 else "are")
        + " not listed."
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
            f"{when(incident.opened_at)} · {plural(waiting, 'pending approval')}"
        )
    blocks: list[Block] = [SectionBlock(text=mrkdwn(clip("\n".join(lines), 3000)))]
    counted = f"{plural(len(incidents), 'open incident')}."
    summary = " ".join(filter(None, [counted, left_out]))
    blocks.append(ContextBlock(elements=[mrkdwn(summary)]))
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Close stale ones…"),
                    action_id=IncidentAction.STALE_PREVIEW,
                    value=f"older-than={STALE_DEFAULT_DAYS}d",
                )
            ]
        )
    )
    return Message(text=f"{len(incidents)} open incidents", blocks=as_dicts(blocks))


# -- closing stale incidents in bulk ------------------------------------------------------------

STALE_DEFAULT_DAYS = 7
ACTIVITY = "no hunt, note, handoff or vote"
_WAITING = {
    ApprovalState.PENDING: "waiting for votes",
    ApprovalState.APPROVED: "approved, about to run",
    ApprovalState.EXECUTING: "running",
}


def idle_words(idle: timedelta) -> str:
    """How old is stale, as it was asked for: 12 hours, 7 days."""
    hours = int(idle.total_seconds() // 3600)
    return plural(hours // 24, "day") if hours % 24 == 0 else plural(hours, "hour")


@dataclass(frozen=True)
class IdleIncident:
    """An open incident with nothing done in it for a while, and its approvals still open."""

    incident: Incident
    last_activity: datetime
    open_approvals: tuple[Approval, ...] = ()


def _titled(incident: Incident, links: dict[str, str]) -> str:
    title = escape(clip(incident.title, 120))
    link = links.get(incident.thread_ts)
    return f"<{escape(link)}|{title}>" if link else title


def _kept_line(idle: IdleIncident, links: dict[str, str]) -> str:
    waiting = ", ".join(
        f"{code(a.id)} {_WAITING.get(a.state, escape(a.state.value))}" for a in idle.open_approvals
    )
    return f"• {_titled(idle.incident, links)}: {waiting}"


def render_stale_preview(
    stale: list[IdleIncident],
    kept: list[IdleIncident],
    idle: timedelta,
    links: dict[str, str],
    *,
    shown_to: str,
) -> Message:
    """What closing stale incidents would do, asked of `shown_to` before anything is closed."""
    span = idle_words(idle)
    kept_part = (
        f"*Kept open: {plural(len(kept), 'idle incident')} with approvals still open*\n"
        + "\n".join(_kept_line(k, links) for k in kept)
        if kept
        else ""
    )
    if not stale:
        said = f"No open incident in this channel has been idle for more than {span}."
        blocks: list[Block] = [SectionBlock(text=mrkdwn(said))]
        if kept_part:
            blocks.append(SectionBlock(text=mrkdwn(clip(kept_part, 3000))))
        return Message(text=said, blocks=as_dicts(blocks))
    lines = "\n".join(
        f"• {_titled(s.incident, links)} · owner {user(s.incident.owner)} · "
        f"last activity {when(s.last_activity)}"
        for s in stale
    )
    count = plural(len(stale), "incident")
    head = f"*{count} idle for more than {span}* ({ACTIVITY} since):\n{lines}"
    blocks = [SectionBlock(text=mrkdwn(clip(head, 3000)))]
    if kept_part:
        blocks.append(SectionBlock(text=mrkdwn(clip(kept_part, 3000))))
    blocks.append(
        ContextBlock(
            elements=[
                mrkdwn(
                    "Closing says in each thread that you closed it as stale; anyone can "
                    "reopen one there with @hunt-bot reopen."
                )
            ]
        )
    )
    value = json.dumps(
        {
            "shown_to": shown_to,
            "idle": int(idle.total_seconds()),
            "threads": [s.incident.thread_ts for s in stale],
            "kept": [k.incident.thread_ts for k in kept],
        }
    )
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Close them"),
                    action_id=IncidentAction.CLOSE_STALE,
                    value=value,
                    style="danger",
                    confirm=ConfirmObject(
                        title=f"Close {count}?",
                        text="Each of their threads will say you closed it as stale.",
                        confirm="Close them",
                        deny="Cancel",
                        style="danger",
                    ),
                )
            ]
        )
    )
    return Message(text=f"{count} idle for more than {span}", blocks=as_dicts(blocks))


def render_closed_as_stale(by: str, idle: timedelta) -> Message:
    """Said in each thread closed in bulk."""
    said = (
        f"Closed by {user(by)} as stale: {ACTIVITY} here for more than {idle_words(idle)}.\n"
        "To carry on, say @hunt-bot reopen."
    )
    return render_markup_notice(said, fallback="Closed as stale.")


def render_stale_summary(
    closed: list[Incident],
    kept: list[IdleIncident],
    idle: timedelta,
    *,
    active: int = 0,
    gone: int = 0,
    untold: int = 0,
) -> Message:
    """What closing stale incidents did; `active` had activity since the preview, `gone` were
    closed by someone else meanwhile, `untold` threads could not be posted in."""
    span = idle_words(idle)
    said = (
        f"Closed {plural(len(closed), 'incident')} idle for more than {span}"
        if closed
        else "Closed none"
    )
    if kept:
        names = ", ".join(
            escape(clip(k.incident.title, 80))
            + (f" ({', '.join(code(a.id) for a in k.open_approvals)})" if k.open_approvals else "")
            for k in kept
        )
        said += f"; kept {len(kept)} with approvals still open: {names}"
    parts = [said + "."]
    if active:
        parts.append(f"Left open {plural(active, 'incident')} with activity since you looked.")
    if gone:
        parts.append(f"{plural(gone, 'incident was', 'incidents were')} already closed.")
    if untold:
        gone_first = "its first message was" if untold == 1 else "their first messages were"
        parts.append(
            f"Could not say so in {plural(untold, 'thread')}: perhaps {gone_first} deleted."
        )
    body = " ".join(parts)
    blocks: list[Block] = [SectionBlock(text=mrkdwn(clip(body, 3000)))]
    return Message(text=clip(body, 300), blocks=as_dicts(blocks))


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
                f"{user(asked_by)}, this incident has {plural(len(pending), 'approval')} "
                f"still open:\n{lines}\nClose it and cancel them, or keep it open?"
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
