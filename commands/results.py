"""The results message's buttons: page, Filter and Clear filter, Export CSV, Re-run, and Cancel
on a hunt still running (Take actions: commands/actions.py)."""

from __future__ import annotations

from bot.flows import hunt_progress, hunts, results_view
from bot.flows.permissions import Who
from bot.slack.ids import INPUT_ELEMENT, ResultsAction, ResultsBlock, ResultsView
from commands.context import Context, Listeners, ViewAnswer


async def turn_page(ctx: Context) -> None:
    f = ctx.facts
    result_id, page, selection = results_view.parse_value(f.value)
    await results_view.turn_page(
        ctx.services, result_id, page, f.channel or "", f.message_ts or "", selection
    )


async def clear_filter(ctx: Context) -> None:
    f = ctx.facts
    await results_view.turn_page(ctx.services, f.value, 1, f.channel or "", f.message_ts or "")


async def open_filter(ctx: Context) -> None:
    f = ctx.facts
    if not f.trigger_id:
        return
    await results_view.open_filter(
        ctx.services, f.value, f.user, f.channel, f.message_ts, f.trigger_id
    )


async def check_filter(ctx: Context) -> ViewAnswer:
    """Redis only: a filter that names no column of the results is said beside the field."""
    result = ctx.facts.metadata.get("result")
    text = str(ctx.facts.field_value(ResultsBlock.FILTER, INPUT_ELEMENT).get("value") or "")
    if not isinstance(result, str):
        raise results_view.FILTER_GONE
    return ViewAnswer(view=None, carry=await results_view.check_filter(ctx.services, result, text))


async def apply_filter(ctx: Context) -> None:
    f = ctx.facts
    result, message = f.metadata.get("result"), f.metadata.get("message")
    if not isinstance(result, str) or not isinstance(message, str):
        raise results_view.FILTER_GONE
    await results_view.apply_filter(ctx.services, result, str(ctx.carry), f.channel or "", message)


async def export(ctx: Context) -> None:
    await hunts.request_export(ctx.services, ctx.facts.value, ctx.facts.user)


async def rerun(ctx: Context) -> None:
    f = ctx.facts
    await hunts.rerun(ctx.services, f.value, f.user, f.response_url, f.message_ts or "")


async def cancel_hunt(ctx: Context) -> None:
    await ctx.tell(await hunt_progress.cancel(ctx.services, ctx.facts.value, ctx.facts.user))


def register(listeners: Listeners) -> None:
    listeners.action(ResultsAction.PREVIOUS, Who.IN_CHANNEL, turn_page)
    listeners.action(ResultsAction.NEXT, Who.IN_CHANNEL, turn_page)
    listeners.action(ResultsAction.FILTER, Who.IN_CHANNEL, open_filter)
    listeners.action(ResultsAction.CLEAR_FILTER, Who.IN_CHANNEL, clear_filter)
    listeners.view(ResultsView.FILTER, Who.SHOWN_TO, check_filter, then=apply_filter)
    listeners.action(ResultsAction.EXPORT, Who.IN_CHANNEL, export)
    listeners.action(ResultsAction.RERUN, Who.IN_CHANNEL, rerun)
    listeners.action(ResultsAction.CANCEL_HUNT, Who.HUNTER, cancel_hunt)
