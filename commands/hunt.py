"""/hunt: help, list, incidents, audit, or run a named hunt (validated now, run as a job)."""

from __future__ import annotations

from bot.flows import hunts, stale_incidents
from bot.flows.permissions import Who
from bot.slack.blocks import Message
from commands import saved_hunts
from commands.context import Context, Facts, Listeners


async def answer(ctx: Context) -> Message:
    f = ctx.facts
    if stale_incidents.asked_for(f.text):  # answered after the ack: it asks Slack for links
        return stale_incidents.acknowledge()
    if saved_hunts.asked_for(f.text):  # kql, save, delete: a form or a question, after the ack
        return saved_hunts.acknowledge(f.text)
    return await hunts.answer_command(
        ctx.services, f.user, f.team, f.channel or "", f.text, f.response_url
    )


def has_after_ack(facts: Facts) -> bool:
    """Whether `answer_after_ack` has anything to do: `/hunt NAME` is done once acked, and
    starting a task that does nothing cost each hunt's ack a few percent."""
    text = facts.text
    return (
        stale_incidents.asked_for(text)
        or saved_hunts.asked_for(text)
        or hunts.answers_after_ack(text)
    )


async def answer_after_ack(ctx: Context) -> None:
    """`incidents` and `audit` need Slack (permalinks, group membership): answered here."""
    f = ctx.facts
    if stale_incidents.asked_for(f.text):
        await ctx.tell(
            await stale_incidents.preview(ctx.services, f.user, f.team, f.channel or "", f.text)
        )
        return
    if saved_hunts.asked_for(f.text):
        await saved_hunts.answer_after_ack(ctx)
        return
    message = await hunts.answer_after_ack(ctx.services, f.user, f.team, f.channel or "", f.text)
    if message is not None:
        await ctx.tell(message)


def register(listeners: Listeners) -> None:
    # Anyone may ask for help; the hunt flow checks the allow-lists for everything else.
    listeners.command("/hunt", Who.ANYONE, answer, after=answer_after_ack, after_when=has_after_ack)
