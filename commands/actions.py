"""Take actions: the button on a results message, and the modal's two steps (choose, confirm).
The rules live in bot.flows.take_actions; this module reads the payloads."""

from __future__ import annotations

from bot.errors import HuntBotError
from bot.flows import take_actions
from bot.flows.permissions import Who
from bot.slack.ids import (
    INPUT_ELEMENT,
    ResultsAction,
    TakeActionsAction,
    TakeActionsBlock,
    TakeActionsView,
)
from commands.context import Context, Listeners, ViewAnswer

STALE_FORM = HuntBotError(
    "This form no longer says what it is for, so nothing was done.",
    hint="Press Take actions on the results again.",
)


async def open_modal(ctx: Context) -> None:
    f = ctx.facts
    if not f.trigger_id:
        raise STALE_FORM
    # A filtered results view's button says {"result": id, "rows": its filter}.
    result, rows = f.metadata.get("result"), f.metadata.get("rows")
    await take_actions.open_modal(
        ctx.services,
        result if isinstance(result, str) else f.value,
        f.user,
        f.message_ts,
        f.trigger_id,
        rows=rows if isinstance(rows, str) else "",
    )


def _filled(ctx: Context, block: TakeActionsBlock) -> str:
    state = ctx.facts.field_value(block, INPUT_ELEMENT)
    if state.get("type") == "static_select":
        return str((state.get("selected_option") or {}).get("value", ""))
    return str(state.get("value") or "").strip()


def _chosen(ctx: Context, block: TakeActionsBlock) -> tuple[str, ...]:
    """The menu entries picked: one (a select) or several (a multi-select of device actions)."""
    state = ctx.facts.field_value(block, INPUT_ELEMENT)
    if state.get("type") == "multi_static_select":
        picked = state.get("selected_options") or []
        return tuple(str(o.get("value", "")) for o in picked if isinstance(o, dict))
    one = _filled(ctx, block)
    return (one,) if one else ()


async def review(ctx: Context) -> ViewAnswer:
    result, thread = ctx.facts.metadata.get("result"), ctx.facts.metadata.get("thread")
    if not isinstance(result, str) or not isinstance(thread, str):
        raise STALE_FORM
    filled = take_actions.Choices(
        actions=_chosen(ctx, TakeActionsBlock.ACTION),
        rows=_filled(ctx, TakeActionsBlock.ROWS),
        name=_filled(ctx, TakeActionsBlock.NAME),
        description=_filled(ctx, TakeActionsBlock.DESCRIPTION),
    )
    confirm = await take_actions.review(ctx.services, ctx.facts.user, result, thread, filled)
    return ViewAnswer(view=confirm)


async def request_approval(ctx: Context) -> ViewAnswer:
    """Redis only, so it is decided in the ack: a stale draft is said in the modal itself."""
    draft = ctx.facts.metadata.get("draft")
    if not isinstance(draft, str):
        raise STALE_FORM
    f = ctx.facts
    approvals = await take_actions.request_approval(ctx.services, draft, f.user, f.user_name)
    return ViewAnswer(view=None, carry=[a.id for a in approvals])


async def post_cards(ctx: Context) -> None:
    await take_actions.post_cards(ctx.services, list(ctx.carry))


async def back(ctx: Context) -> None:
    draft = ctx.facts.metadata.get("draft")
    if not isinstance(draft, str):
        raise STALE_FORM
    await ctx.show_view(await take_actions.back_to_choose(ctx.services, draft, ctx.facts.user))


def register(listeners: Listeners) -> None:
    listeners.action(ResultsAction.TAKE_ACTIONS, Who.IN_CHANNEL, open_modal)
    listeners.action(TakeActionsAction.BACK, Who.SHOWN_TO, back)
    listeners.view(TakeActionsView.CHOOSE, Who.SHOWN_TO, review)
    listeners.view(TakeActionsView.CONFIRM, Who.SHOWN_TO, request_approval, then=post_cards)
