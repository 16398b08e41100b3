"""Ad-hoc KQL and saved hunts: `/hunt kql`, `/hunt save [NAME]`, `/hunt delete NAME`, the two
forms, Save as hunt on an ad-hoc query's results, and the delete question's buttons."""

from __future__ import annotations

from typing import Any

from bot.flows import adhoc, saved_hunts
from bot.flows.permissions import Who
from bot.slack.blocks import Message, render_notice
from bot.slack.ids import INPUT_ELEMENT, SavedHuntAction, SavedHuntBlock, SavedHuntView
from commands.context import Context, Listeners, ViewAnswer

VERBS = {
    "kql": "Opening the query form…",
    "save": "Opening the hunt form…",
    "delete": "Looking the hunt up…",
}


def asked_for(text: str) -> bool:
    return text.strip().partition(" ")[0].lower() in VERBS


def acknowledge(text: str) -> Message:
    return render_notice(VERBS[text.strip().partition(" ")[0].lower()])


async def answer_after_ack(ctx: Context) -> None:
    """Opens a form (the trigger id is good for 3 s) or asks about deleting; says why not."""
    f, s = ctx.facts, ctx.services
    verb, _, rest = f.text.strip().partition(" ")
    verb = verb.lower()
    channel = f.channel or ""
    answer: Message | None
    if verb == "kql":
        answer = await adhoc.open_query_form(s, f.user, f.team, channel, f.trigger_id)
    elif verb == "save":
        answer = await saved_hunts.open_save_form(
            s, f.user, f.team, channel, f.trigger_id, name=rest.strip()
        )
    else:
        answer = await saved_hunts.ask_delete(s, f.user, rest)
    if answer is not None:
        await ctx.tell(answer)


def _typed(ctx: Context, block: str) -> str:
    return str(ctx.facts.field_value(block, INPUT_ELEMENT).get("value") or "")


def _carried(message: Message) -> dict[str, Any]:
    return {"text": message.text, "blocks": message.blocks}


def _message(carry: Any) -> Message:
    message = Message(text="", blocks=list(carry.get("blocks") or []))
    message.text = str(carry.get("text") or "")  # escaped once already
    return message


async def run_query(ctx: Context) -> ViewAnswer:
    """In the ack: the query checked (mistakes beside the field) and enqueued; the form closes."""
    f = ctx.facts
    query = _typed(ctx, SavedHuntBlock.QUERY)
    team = str(f.metadata.get("team") or f.team)
    running = await adhoc.run_query(ctx.services, f.user, team, f.channel or "", query)
    return ViewAnswer(view=None, carry=_carried(running))


async def tell_carried(ctx: Context) -> None:
    if isinstance(ctx.carry, dict):
        await ctx.tell(_message(ctx.carry))


async def save(ctx: Context) -> ViewAnswer:
    f = ctx.facts
    values = {
        "name": _typed(ctx, SavedHuntBlock.NAME),
        "title": _typed(ctx, SavedHuntBlock.TITLE),
        "description": _typed(ctx, SavedHuntBlock.DESCRIPTION),
        "query": _typed(ctx, SavedHuntBlock.QUERY),
        "tactics": _typed(ctx, SavedHuntBlock.TACTICS),
    }
    saved = await saved_hunts.save(ctx.services, f.user, f.metadata, values)
    return ViewAnswer(view=None, carry=_carried(saved))


async def save_as(ctx: Context) -> None:
    f = ctx.facts
    answer = await saved_hunts.open_save_form(
        ctx.services, f.user, f.team, f.channel or "", f.trigger_id, result_id=f.value
    )
    if answer is not None:
        await ctx.tell(answer)


async def delete(ctx: Context) -> None:
    f = ctx.facts
    name = str(f.metadata.get("subject") or "")
    version = int(f.metadata.get("version") or 0)
    await ctx.replace(await saved_hunts.delete(ctx.services, f.user, f.channel, name, version))


async def keep(ctx: Context) -> None:
    await ctx.replace(saved_hunts.kept(str(ctx.facts.metadata.get("subject") or "")))


def register(listeners: Listeners) -> None:
    listeners.view(SavedHuntView.KQL, Who.SHOWN_TO, run_query, then=tell_carried)
    listeners.view(SavedHuntView.SAVE, Who.SHOWN_TO, save, then=tell_carried)
    # Anyone who may hunt here sees the button; the flow asks the KQL allow-list.
    listeners.action(SavedHuntAction.SAVE_AS, Who.IN_CHANNEL, save_as)
    listeners.action(SavedHuntAction.DELETE, Who.SHOWN_TO, delete)
    listeners.action(SavedHuntAction.KEEP, Who.SHOWN_TO, keep)
