"""@hunt-bot in an incident thread. Slash commands cannot be typed in threads, so in-thread
verbs are mentions; the incident flow decides what each may do."""

from __future__ import annotations

from bot.flows import incidents
from bot.flows.permissions import Who
from bot.slack.blocks import render_notice
from commands.context import Context, Listeners


async def answer_mention(ctx: Context) -> None:
    f = ctx.facts
    if f.from_bot:
        return
    if f.channel is None:
        await ctx.tell(
            render_notice(
                "I could not tell where you mentioned me, so I did nothing.",
                "Mention me again in the incident thread.",
            )
        )
        return
    thread = incidents.Thread(f.team, f.channel, f.thread_ts or f.message_ts or "")
    await incidents.answer_mention(
        ctx.services, f.event_id, thread, f.user, f.text, bot_user=f.bot_user
    )


def register(listeners: Listeners) -> None:
    listeners.event("app_mention", Who.ANYONE, answer_mention)
