"""The incident status card's buttons (Hand off, Take over), the Hand off modal, the answer
to "close with open approvals?", and closing stale incidents in bulk (the buttons; the slash
verb `/hunt incidents close-stale` is answered in commands/hunt.py)."""

from __future__ import annotations

from datetime import timedelta

from bot.errors import HuntBotError
from bot.flows import incidents, stale_incidents
from bot.flows.permissions import Who
from bot.slack.blocks import render_notice, render_notice_view
from bot.slack.ids import INPUT_ELEMENT, HandoffView, IncidentAction
from commands.context import Context, Listeners, ViewAnswer


def _thread(ctx: Context) -> incidents.Thread:
    """The card's thread: the button's value (plain, or `subject` in a JSON value)."""
    f = ctx.facts
    ts = f.metadata.get("subject") or f.value
    if not f.channel or not isinstance(ts, str) or not ts:
        raise HuntBotError("This button no longer says which incident it is for.")
    return incidents.Thread(f.team, f.channel, ts)


async def take_over(ctx: Context) -> None:
    await incidents.take_over(
        ctx.services, _thread(ctx), ctx.facts.user, ctx.facts.message_ts or ""
    )


async def open_handoff(ctx: Context) -> None:
    if not ctx.facts.trigger_id:
        raise HuntBotError("Slack sent no way to open the form; press Hand off again.")
    await incidents.open_handoff(ctx.services, _thread(ctx), ctx.facts.user, ctx.facts.trigger_id)


async def close_cancelling(ctx: Context) -> None:
    f = ctx.facts
    reason = f.metadata.get("reason")
    refused = await incidents.close_cancelling(
        ctx.services, _thread(ctx), f.user, f.user_name, reason if isinstance(reason, str) else ""
    )
    if refused is not None:
        await ctx.tell(refused)


async def keep_open(ctx: Context) -> None:
    await incidents.keep_open(ctx.services, _thread(ctx))


async def check_handoff_form(ctx: Context) -> ViewAnswer:
    """In the ack: the form must say which incident; the modal then says it is working on it."""
    meta = ctx.facts.metadata
    team, channel, thread = meta.get("team"), meta.get("channel"), meta.get("thread")
    if not all(isinstance(v, str) for v in (team, channel, thread)) or not channel or not thread:
        raise HuntBotError(
            "This form no longer says which incident it is for, so nothing was handed off.",
            hint="Press Hand off on the incident's status card again.",
        )
    working = render_notice("Handing off…")
    return ViewAnswer(view=render_notice_view("Hand off", working))


async def hand_off(ctx: Context) -> None:
    f = ctx.facts
    meta = f.metadata
    thread = incidents.Thread(str(meta["team"]), str(meta["channel"]), str(meta["thread"]))
    to = str(f.field_value(HandoffView.TO_BLOCK, INPUT_ELEMENT).get("selected_user") or "")
    note = str(f.field_value(HandoffView.NOTE_BLOCK, INPUT_ELEMENT).get("value") or "").strip()
    try:
        done = await incidents.hand_off(ctx.services, thread, f.user, to, note)
    except HuntBotError as exc:
        # The form again, saying what is wrong, with the person and the note kept.
        problem = " ".join(filter(None, [exc.message, exc.hint]))
        await ctx.show_view(
            await incidents.handoff_form(
                ctx.services, thread, f.user, to=to or None, note=note, problem=problem
            )
        )
        return
    await ctx.show_in_modal("Hand off", done)


async def preview_stale(ctx: Context) -> None:
    """Close stale ones… under `/hunt incidents`: which would close (the button's value says
    how old is stale)."""
    f = ctx.facts
    await ctx.tell(
        await stale_incidents.preview(ctx.services, f.user, f.team, f.channel or "", f.value)
    )


async def close_stale(ctx: Context) -> None:
    f = ctx.facts
    idle, threads, kept = (f.metadata.get(k) for k in ("idle", "threads", "kept"))
    if not isinstance(idle, int) or not isinstance(threads, list):
        raise HuntBotError(
            "This button no longer says which incidents to close, so none were closed.",
            hint="Ask again with /hunt incidents close-stale.",
        )
    done = await stale_incidents.close(
        ctx.services,
        f.user,
        f.team,
        f.channel or "",
        timedelta(seconds=idle),
        [str(t) for t in threads],
        [str(t) for t in kept] if isinstance(kept, list) else [],
    )
    await ctx.tell(done)


def register(listeners: Listeners) -> None:
    listeners.action(IncidentAction.HAND_OFF, Who.OWNER, open_handoff)
    listeners.action(IncidentAction.TAKE_OVER, Who.IN_CHANNEL, take_over)
    listeners.action(IncidentAction.CLOSE_AND_CANCEL, Who.SHOWN_TO, close_cancelling)
    listeners.action(IncidentAction.KEEP_OPEN, Who.SHOWN_TO, keep_open)
    listeners.action(IncidentAction.STALE_PREVIEW, Who.IN_CHANNEL, preview_stale)
    listeners.action(IncidentAction.CLOSE_STALE, Who.SHOWN_TO, close_stale)
    listeners.view(HandoffView.CALLBACK, Who.SHOWN_TO, check_handoff_form, then=hand_off)
