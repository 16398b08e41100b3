"""Approve / Reject on an approval card: only an approver of that action gets this far (the
listener context checks it); the vote that reaches the quorum, and only that one, starts the run."""

from __future__ import annotations

from bot.flows import approvals
from bot.flows.permissions import Who
from bot.slack.ids import ApprovalAction
from commands.context import Context, Listeners


async def approve(ctx: Context) -> None:
    await _vote(ctx, approve=True)


async def reject(ctx: Context) -> None:
    await _vote(ctx, approve=False)


async def _vote(ctx: Context, *, approve: bool) -> None:
    f = ctx.facts
    refused = await approvals.vote(ctx.services, f.value, f.user, f.user_name, approve)
    if refused is not None:
        await ctx.tell(refused)


async def retry_unknown(ctx: Context) -> None:
    """Retry these: only the unknown targets, once; an approver (never the requester)."""
    f = ctx.facts
    refused = await approvals.retry_unknown(ctx.services, f.value, f.user, f.user_name)
    if refused is not None:
        await ctx.tell(refused)


def register(listeners: Listeners) -> None:
    listeners.action(ApprovalAction.APPROVE, Who.APPROVER, approve)
    listeners.action(ApprovalAction.REJECT, Who.APPROVER, reject)
    listeners.action(ApprovalAction.RETRY_UNKNOWN, Who.APPROVER, retry_unknown)
