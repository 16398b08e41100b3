"""The incident journey: the thread's verbs (@hunt-bot status, note, take, handoff, hunt, close,
reopen), the status card's buttons, the Hand off modal and closing with open approvals."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from bot.errors import HuntBotError
from bot.flows import hunts
from bot.flows.approvals import update_card, withdraw
from bot.services import Services
from bot.slack.blocks import Message, render_markup_notice, render_notice
from bot.slack.incident import (
    OPEN_STATES,
    render_close_question,
    render_handoff_view,
    render_handover,
    render_status,
)
from bot.slack.mrkdwn import escape
from bot.slack.mrkdwn import user as mention
from bot.state.approval_records import Approval
from bot.state.events import handling_once
from bot.state.incident_records import Incident

MAX_NAME_LOOKUPS = 200  # channel members looked up to match a typed name
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")

THREAD_HELP = (
    "In an incident thread, mention me with: status · note TEXT · take · "
    "handoff @someone [note] · hunt NAME [name=value ...] · cancel HB-7 [reason] · "
    "close [reason] · reopen · help."
)


@dataclass(frozen=True)
class Thread:
    """Where an incident lives: (team, channel, thread ts)."""

    team: str
    channel: str
    ts: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.team, self.channel, self.ts


async def answer_mention(
    services: Services,
    event_id: str,
    thread: Thread,
    user: str,
    text: str,
    *,
    bot_user: str = "",
) -> None:
    """Answer one @hunt-bot in a thread, once per event id whatever Slack redelivers.

    `bot_user` is who Slack delivered the event to (its `authorizations`): the bot's own user
    id even when `auth.test` has not answered yet. The event counts as handled only once the
    answer is posted; a failed attempt lets Slack's redelivery try again.
    """
    if bot_user and not services.bot_user_id:
        services.bot_user_id = bot_user  # learned from Slack's own delivery
    me = services.bot_user_id or bot_user
    if me and user == me:
        return
    async with handling_once(services.redis.client, event_id) as first:
        if not first:
            return
        try:
            message = await _answer_verb(services, thread, user, text, me)
        except HuntBotError as exc:
            message = render_notice(exc.message, exc.hint)
        await post_in_thread(services, thread, message)


async def post_in_thread(services: Services, thread: Thread, message: Message) -> None:
    await services.pacer.wait_turn(thread.channel)
    await services.slack.chat_postMessage(
        channel=thread.channel,
        thread_ts=thread.ts,
        text=message.text,
        blocks=message.blocks,
        unfurl_links=False,
    )


def _without_own_mention(text: str, me: str) -> str:
    """The text after the mention that addressed the bot; when who the bot is is not known
    yet, a leading mention is taken to be it (that is how "@hunt-bot verb" arrives)."""
    if me:
        return _MENTION.sub(lambda m: "" if m[1] == me else m[0], text, count=1)
    leading = _MENTION.match(text.lstrip())
    return text.lstrip()[leading.end() :] if leading else text


async def _answer_verb(
    services: Services, thread: Thread, user: str, text: str, me: str
) -> Message:
    text = _without_own_mention(text, me)
    verb, _, rest = text.strip().partition(" ")
    verb = verb.lower()
    if verb in ("", "help"):
        return render_notice(THREAD_HELP)
    incident = await services.incidents.get(*thread.key)
    if incident is None:
        return render_notice(
            "This thread is not an incident yet.",
            "Run /hunt in the channel; its results message starts the incident thread.",
        )
    approvals = await services.approvals.in_thread(thread.channel, thread.ts)
    if verb == "status":
        return render_status(incident, approvals)
    if verb == "note":
        if not rest.strip():
            return render_notice("Say what to note: @hunt-bot note TEXT")
        await services.incidents.add_note(*thread.key, user=user, text=rest.strip()[:2000])
        return render_notice("Noted.")
    if verb == "take":
        taken = await services.incidents.take(*thread.key, by=user)
        return render_status(taken, approvals, taken_from=incident.owner)
    if verb == "handoff":
        if not await may_hand_off(services, incident, user):
            return render_markup_notice(
                f"Only the incident's owner, {mention(incident.owner)}, or an approver can hand "
                "it off.",
                "To make it yours, say @hunt-bot take: everyone in the thread sees it.",
                fallback="Only the owner or an approver can hand this incident off.",
            )
        to, note = await _handoff_target(services, thread.channel, rest)
        handed = await services.incidents.hand_off(*thread.key, by=user, to=to, note=note)
        links = await card_links(services, approvals)
        return render_handover(
            handed, approvals, by=user, previous=incident.owner, to=to, note=note, links=links
        )
    if verb == "hunt":
        name, _, arguments = rest.strip().partition(" ")
        return await hunts.start_hunt(
            services, user, thread.team, thread.channel, name, arguments, thread_ts=thread.ts
        )
    if verb == "close":
        reason = rest.strip()[:500]
        pending = [a for a in approvals if a.state in OPEN_STATES]
        if pending and incident.is_open:
            return render_close_question(incident, pending, asked_by=user, reason=reason)
        closed = await services.incidents.close(*thread.key, by=user, reason=reason)
        return render_notice(
            f"Incident closed{': ' + closed.close_reason if closed.close_reason else '.'}"
        )
    if verb == "cancel":  # withdraw a pending approval here: its requester or an approver
        wanted, _, reason = rest.strip().partition(" ")
        # Slack sends typed text with & < > escaped; the reason is kept as typed.
        reason = reason.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        found = next((a for a in approvals if a.id.casefold() == wanted.casefold()), None)
        if found is None:
            return render_notice(
                f"No approval {wanted} in this thread." if wanted else "Say which approval.",
                "Say @hunt-bot cancel HB-7 [reason], with the id from its card.",
            )
        refused = await withdraw(services, found.id, user, "", reason.strip())
        if refused is not None:
            return refused
        said = f"{mention(user)} cancelled {found.id}" + (
            f": {escape(reason.strip()[:500])}" if reason.strip() else ""
        )
        return render_markup_notice(said + ". Nothing ran.", fallback=f"{found.id} cancelled.")
    if verb == "reopen":
        await services.incidents.reopen(*thread.key, by=user)
        return render_notice("Incident reopened.")
    return render_notice(f"I don't know `{verb}` in a thread.", THREAD_HELP)


async def may_hand_off(services: Services, incident: Incident, user: str) -> bool:
    """The owner hands an incident off; so may an approver (a SOC lead reassigning work)."""
    if incident.owner == user:
        return True
    return (await services.policy.may_see_audit(user)).allowed


async def _handoff_target(services: Services, channel: str, rest: str) -> tuple[str, str]:
    """The person named first, checked to be a person in this channel; and the note after."""
    words = rest.strip()
    match = _MENTION.match(words)
    if match is None:
        named = words.split(" ", 1)[0]
        if not named:
            raise HuntBotError("Say whom to hand off to: @hunt-bot handoff @someone [note]")
        # Slack sends a typed name it could not resolve as plain text: say what we can find.
        found = await _member_named(services, channel, named.lstrip("@"))
        if found is None:
            raise HuntBotError(
                f"I can't find {named if named.startswith('@') else '@' + named} in this channel.",
                hint="Type @ and pick the person from Slack's list.",
            )
        raise HuntBotError(
            f"Did you mean @{found}? Type @ and pick them from Slack's list, so the handoff "
            "reaches them."
        )
    to, note = match[1], words[len(match[0]) :].strip()
    await check_handoff_target(services, channel, to)
    return to, note


async def _member_named(services: Services, channel: str, name: str) -> str | None:
    """The Slack name of the channel member called `name` (by handle, display or real name)."""
    wanted = name.casefold()
    with contextlib.suppress(SlackApiError):
        members = await services.slack.conversations_members(channel=channel)
        for member in (members.get("members") or [])[:MAX_NAME_LOOKUPS]:
            profile = (await services.slack.users_info(user=member)).get("user") or {}
            names = {
                str(profile.get("name") or ""),
                str((profile.get("profile") or {}).get("display_name") or ""),
                str(profile.get("real_name") or ""),
            }
            if wanted in {n.casefold() for n in names if n} and not profile.get("is_bot"):
                return str(profile.get("name") or name)
    return None


async def card_links(services: Services, approvals: list[Approval]) -> dict[str, str]:
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


# -- the status card and the close question ---------------------------------------------------


async def take_over(services: Services, thread: Thread, user: str, card_ts: str) -> None:
    """Take ownership from the status card: the card shows the new owner, and the thread (and
    the former owner, mentioned) is told who took it from whom."""
    before = await services.incidents.get(*thread.key)
    incident = await services.incidents.take(*thread.key, by=user)
    if before is not None:
        said = f"{mention(user)} took over from {mention(before.owner)}."
        await post_in_thread(services, thread, render_markup_notice(said, fallback="Taken over."))
    approvals = await services.approvals.in_thread(thread.channel, thread.ts)
    status = render_status(incident, approvals)
    await services.slack.chat_update(
        channel=thread.channel, ts=card_ts, text=status.text, blocks=status.blocks
    )


async def close_cancelling(
    services: Services, thread: Thread, user: str, user_name: str, reason: str
) -> Message | None:
    """Cancel every open approval, then close; if any cannot be cancelled, stay open.

    None when closed (said in the thread); otherwise the private reason it stayed open."""
    approvals = await services.approvals.in_thread(thread.channel, thread.ts)
    refused = []
    for approval in (a for a in approvals if a.state in OPEN_STATES):
        result = await services.approvals.cancel(
            approval.id, user, by_name=user_name, reason=reason or "incident closed"
        )
        await update_card(services, approval.id)
        if not result.cancelled:
            refused.append(f"{approval.id}: {result.reason}")
    if refused:
        return render_notice(
            "Not closed: some approvals could not be cancelled.", "; ".join(refused)
        )
    await services.incidents.close(*thread.key, by=user, reason=reason or "closed")
    said = "Incident closed; its open approvals were cancelled."
    await post_in_thread(services, thread, render_notice(said, reason or None))
    return None


async def keep_open(services: Services, thread: Thread) -> None:
    await post_in_thread(services, thread, render_notice("Kept open: the approvals stand."))


async def open_handoff(services: Services, thread: Thread, user: str, trigger_id: str) -> None:
    """The Hand off modal: a person picker and a note."""
    await services.slack.views_open(
        trigger_id=trigger_id, view=await handoff_form(services, thread, user)
    )


async def handoff_form(
    services: Services,
    thread: Thread,
    shown_to: str,
    *,
    to: str | None = None,
    note: str = "",
    problem: str | None = None,
) -> dict[str, object]:
    """The Hand off form for `shown_to`; again with the problem and what they filled in."""
    incident = await services.incidents.get(*thread.key)
    if incident is None:
        raise HuntBotError("This thread is not an incident (any more).")
    metadata = json.dumps(
        {"team": thread.team, "channel": thread.channel, "thread": thread.ts, "shown_to": shown_to}
    )
    return render_handoff_view(incident, metadata, to=to, note=note, problem=problem)


async def hand_off(services: Services, thread: Thread, by: str, to: str, note: str) -> Message:
    """Hand the incident to `to` and post the handover summary; what to show in the modal."""
    before = await services.incidents.get(*thread.key)
    if before is None:
        raise HuntBotError("This thread is not an incident (any more).")
    await check_handoff_target(services, thread.channel, to)
    incident = await services.incidents.hand_off(*thread.key, by=by, to=to, note=note)
    approvals = await services.approvals.in_thread(thread.channel, thread.ts)
    links = await card_links(services, approvals)
    summary = render_handover(
        incident, approvals, by=by, previous=before.owner, to=to, note=note, links=links
    )
    await post_in_thread(services, thread, summary)
    return render_markup_notice(
        f"Handed off to {mention(to)}: the summary is in the thread.", fallback="Handed off."
    )
