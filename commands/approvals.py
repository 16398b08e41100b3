"""An approval card's buttons: Approve, Reject (a form asking why), Cancel request, Retry these,
and the undo on a done card. Who may press each is checked by the listener context; the vote
that reaches the quorum, and only that one, starts the run."""

from __future__ import annotations

from bot.errors import HuntBotError
from bot.flows import approvals
from bot.flows.permissions import Who
from bot.slack.blocks import render_notice_view
from bot.slack.ids import INPUT_ELEMENT, ApprovalAction, ApprovalView
from commands.context import Context, Listeners, ViewAnswer


async def approve(ctx: Context) -> None:
    f = ctx.facts
    refused = await approvals.vote(ctx.services, f.value, f.user, f.user_name, True)
    if refused is not None:
        await ctx.tell(refused)


async def open_reject(ctx: Context) -> None:
    """Reject: the form asking why opens first thing (the trigger lasts 3 s)."""
    f = ctx.facts
    if not f.trigger_id:
        raise HuntBotError("Slack sent no way to open the form; press Reject again.")
    closed = await approvals.open_reject(ctx.services, f.value, f.user, f.channel, f.trigger_id)
    if closed is not None:
        await ctx.tell(closed)


def _approval_id(ctx: Context) -> str:
    subject = ctx.facts.metadata.get("subject")
    if not isinstance(subject, str) or not subject:
        raise HuntBotError("This form no longer says which approval it is for; nothing changed.")
    return subject


async def submit_reject(ctx: Context) -> ViewAnswer:
    """In the ack (Redis only): the rejection is counted and the form closes, or the form says
    why it was not (no longer pending, already voted)."""
    f = ctx.facts
    reason = str(f.field_value(ApprovalView.REASON_BLOCK, INPUT_ELEMENT).get("value") or "")
    approval_id = _approval_id(ctx)
    refused = await approvals.reject(ctx.services, approval_id, f.user, f.user_name, reason)
    if refused is not None:
        return ViewAnswer(view=render_notice_view("Not rejected", refused))
    return ViewAnswer(carry={"rejected": approval_id})


async def after_reject(ctx: Context) -> None:
    """The rejection counted: the requester is told why, and the card says it."""
    carried = ctx.carry if isinstance(ctx.carry, dict) else {}
    if carried.get("rejected"):
        await approvals.after_rejection(ctx.services, str(carried["rejected"]))


async def withdraw(ctx: Context) -> None:
    """Cancel request: the requester or an approver, while it still waits for votes."""
    f = ctx.facts
    refused = await approvals.withdraw(ctx.services, f.value, f.user, f.user_name)
    if refused is not None:
        await ctx.tell(refused)


async def retry_unknown(ctx: Context) -> None:
    """Retry these: only the unknown targets, once; an approver (never the requester)."""
    f = ctx.facts
    refused = await approvals.retry_unknown(ctx.services, f.value, f.user, f.user_name)
    if refused is not None:
        await ctx.tell(refused)


async def undo(ctx: Context) -> None:
    """Undo on a done card: anyone who may hunt here asks; approvers decide as for any request."""
    f = ctx.facts
    refused = await approvals.undo(ctx.services, f.value, f.user, f.user_name)
    if refused is not None:
        await ctx.tell(refused)


def register(listeners: Listeners) -> None:
    listeners.action(ApprovalAction.APPROVE, Who.APPROVER, approve)
    listeners.action(ApprovalAction.REJECT, Who.APPROVER, open_reject)
    listeners.view(ApprovalView.REJECT, Who.APPROVER, submit_reject, then=after_reject)
    listeners.action(ApprovalAction.WITHDRAW, Who.REQUESTER_OR_APPROVER, withdraw)
    listeners.action(ApprovalAction.RETRY_UNKNOWN, Who.APPROVER, retry_unknown)
    listeners.action(ApprovalAction.UNDO, Who.IN_CHANNEL, undo)
