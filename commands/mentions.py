"""@hunt-bot in an incident thread: help, status, note, take, handoff.

Slash commands cannot be typed in threads, so in-thread verbs are mentions. Each event id is
handled once, whatever Slack redelivers and whichever process receives it.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from bot.errors import HuntBotError
from bot.slack.blocks import Message, render_notice
from bot.slack.incident import (
    OPEN_STATES,
    render_close_question,
    render_handover,
    render_status,
)
from bot.state.events import first_delivery

if TYPE_CHECKING:
    from bot.app import Services

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")

THREAD_HELP = (
    "In an incident thread, mention me with: status · note TEXT · take · "
    "handoff @someone [note] · hunt NAME [name=value ...] · close [reason] · reopen · help."
)


def register(app: AsyncApp, services: Services) -> None:
    async def ack_event(ack: AsyncAck) -> None:
        await ack()

    async def answer_mention(body: dict[str, Any], event: dict[str, Any]) -> None:
        if not await first_delivery(services.redis.client, body.get("event_id", "")):
            return
        if event.get("bot_id") or event.get("user") == services.bot_user_id:
            return
        thread = event.get("thread_ts") or event["ts"]
        try:
            message = await answer(services, body, event, thread)
        except HuntBotError as exc:
            message = render_notice(exc.message, exc.hint)
        await services.pacer.wait_turn(event["channel"])
        await services.slack.chat_postMessage(
            channel=event["channel"],
            thread_ts=thread,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
        )

    app.event("app_mention")(ack=ack_event, lazy=[answer_mention])


async def answer(
    services: Services, body: dict[str, Any], event: dict[str, Any], thread: str
) -> Message:
    text = _MENTION.sub(
        lambda m: "" if m[1] == services.bot_user_id else m[0], event.get("text", ""), count=1
    )
    verb, _, rest = text.strip().partition(" ")
    verb = verb.lower()
    if verb in ("", "help"):
        return render_notice(THREAD_HELP)
    team = event.get("team") or body.get("team_id", "")
    where = (team, event["channel"], thread)
    user = event["user"]
    incident = await services.incidents.get(*where)
    if incident is None:
        return render_notice(
            "This thread is not an incident yet.",
            "Run /hunt in the channel; its results message starts the incident thread.",
        )
    approvals = await services.approvals.in_thread(event["channel"], thread)
    if verb == "status":
        return render_status(incident, approvals)
    if verb == "note":
        if not rest.strip():
            return render_notice("Say what to note: @hunt-bot note TEXT")
        await services.incidents.add_note(*where, user=user, text=rest.strip()[:2000])
        return render_notice("Noted.")
    if verb == "take":
        taken = await services.incidents.take(*where, by=user)
        return render_status(taken, approvals)
    if verb == "handoff":
        to, note = await _handoff_target(services, event["channel"], rest)
        handed = await services.incidents.hand_off(*where, by=user, to=to, note=note)
        links = await card_links(services, approvals)
        return render_handover(handed, approvals, by=user, to=to, note=note, links=links)
    if verb == "hunt":
        from commands.hunt import start_hunt

        name, _, arguments = rest.strip().partition(" ")
        return await start_hunt(
            services, user, team, event["channel"], name, arguments, thread_ts=thread
        )
    if verb == "close":
        pending = [a for a in approvals if a.state in OPEN_STATES]
        if pending and incident.is_open:
            return render_close_question(incident, pending)
        closed = await services.incidents.close(*where, by=user, reason=rest.strip()[:500])
        return render_notice(
            f"Incident closed{': ' + closed.close_reason if closed.close_reason else '.'}"
        )
    if verb == "reopen":
        await services.incidents.reopen(*where, by=user)
        return render_notice("Incident reopened.")
    return render_notice(f"I don't know `{verb}` in a thread.", THREAD_HELP)


async def _handoff_target(services: Services, channel: str, rest: str) -> tuple[str, str]:
    """The person named first, checked to be a person in this channel; and the note after."""
    match = _MENTION.search(rest)
    if match is None or rest.strip().find(match[0]) != 0:
        raise HuntBotError("Say whom to hand off to: @hunt-bot handoff @someone [note]")
    to, note = match[1], rest.strip()[len(match[0]) :].strip()
    await check_handoff_target(services, channel, to)
    return to, note


async def card_links(services: Services, approvals: list[Any]) -> dict[str, str]:
    """Permalinks to the open approvals' cards, for the handover summary."""
    links: dict[str, str] = {}
    for approval in approvals:
        if approval.state not in OPEN_STATES:
            continue
        found = await services.cards.find(approval.id)
        if found is None:
            continue
        with contextlib.suppress(SlackApiError):
            answer = await services.slack.chat_getPermalink(channel=found[0], message_ts=found[1])
            if answer.get("permalink"):
                links[approval.id] = answer["permalink"]
    return links


async def check_handoff_target(services: Services, channel: str, to: str) -> None:
    """A handoff goes to a person who is in the channel (the store refuses oneself)."""
    try:
        profile = await services.slack.users_info(user=to)
        members = await services.slack.conversations_members(channel=channel)
    except SlackApiError as exc:
        raise HuntBotError(
            f"Slack could not tell me who that is ({exc.response.get('error')}).", hint="Try again."
        ) from None
    if (profile.get("user") or {}).get("is_bot"):
        raise HuntBotError("An incident can only be handed to a person, not to a bot.")
    if to not in (members.get("members") or []):
        raise HuntBotError(
            "They are not in this channel, so they could not follow the thread.",
            hint="Invite them first, then hand off.",
        )
