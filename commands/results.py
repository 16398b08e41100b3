"""The results message's buttons: page, Export CSV, Re-run (Take actions: commands/actions.py)."""

from __future__ import annotations

from bot.flows import hunts
from bot.flows.permissions import Who
from bot.slack.ids import ResultsAction
from commands.context import Context, Listeners


async def turn_page(ctx: Context) -> None:
    f = ctx.facts
    result_id, _, page = f.value.partition(":")
    number = int(page) if page.isdigit() else 1
    await hunts.turn_page(ctx.services, result_id, number, f.channel or "", f.message_ts or "")


async def export(ctx: Context) -> None:
    await hunts.request_export(ctx.services, ctx.facts.value, ctx.facts.user)


async def rerun(ctx: Context) -> None:
    f = ctx.facts
    await hunts.rerun(ctx.services, f.value, f.user, f.response_url, f.message_ts or "")


def register(listeners: Listeners) -> None:
    listeners.action(ResultsAction.PREVIOUS, Who.IN_CHANNEL, turn_page)
    listeners.action(ResultsAction.NEXT, Who.IN_CHANNEL, turn_page)
    listeners.action(ResultsAction.EXPORT, Who.IN_CHANNEL, export)
    listeners.action(ResultsAction.RERUN, Who.IN_CHANNEL, rerun)
