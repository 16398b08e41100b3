"""/hunt: help, list, or run a named hunt (validated now, run as a job)."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.errors import HuntBotError
from bot.hunts import split_arguments
from bot.jobs import tell_user
from bot.slack.audit import render_audit
from bot.slack.blocks import (
    Message,
    render_catalog,
    render_help,
    render_notice,
    render_running,
)
from bot.slack.incident import render_incidents
from bot.state.hunt_requests import HuntRequest

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

AUDIT_DEFAULT, AUDIT_MAX = 20, 40


def register(app: AsyncApp, services: Services) -> None:
    async def hunt_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        try:
            message = await answer_hunt(services, command)
        except HuntBotError as exc:
            message = render_notice(exc.message, exc.hint)
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("/hunt failed (error id %s)", error_id)
            message = render_notice(
                f"Something went wrong on our side (error id {error_id}).",
                "Try again; if it keeps happening, give the error id to whoever runs the bot.",
            )
        await ack(text=message.text, blocks=message.blocks, response_type="ephemeral")

    async def show_incidents(command: dict[str, Any]) -> None:
        """After the ack: the list needs a permalink per thread, from Slack."""
        team, channel = command.get("team_id", ""), command["channel_id"]
        incidents = await services.incidents.open_in_channel(team, channel)
        links: dict[str, str] = {}
        pending: dict[str, int] = {}
        for incident in incidents[:40]:
            approvals = await services.approvals.pending_in_thread(channel, incident.thread_ts)
            pending[incident.thread_ts] = len(approvals)
            answer = await services.slack.chat_getPermalink(
                channel=channel, message_ts=incident.thread_ts
            )
            if answer.get("permalink"):
                links[incident.thread_ts] = answer["permalink"]
        message = render_incidents(incidents, links, pending)
        await tell_user(services, channel, command["user_id"], message, command.get("response_url"))

    async def answer_after_ack(command: dict[str, Any]) -> None:
        """`incidents` and `audit` need Slack (permalinks, group membership): answered here."""
        words = (command.get("text") or "").split()
        verb = words[0].lower() if words else ""
        if verb == "incidents":
            await show_incidents(command)
        elif verb == "audit":
            await show_audit(command, words)

    async def show_audit(command: dict[str, Any], words: list[str]) -> None:
        user_id, channel_id = command["user_id"], command["channel_id"]
        decision = await services.policy.may_see_audit(user_id)
        if not decision.allowed:
            message = render_notice(decision.reason)
        else:
            count = int(words[1]) if len(words) > 1 and words[1].isdigit() else AUDIT_DEFAULT
            entries = await services.approvals.audit.recent(min(count, AUDIT_MAX))
            message = render_audit(entries)
        await tell_user(services, channel_id, user_id, message, command.get("response_url"))

    app.command("/hunt")(ack=hunt_command, lazy=[answer_after_ack])


async def answer_hunt(services: Services, command: dict[str, Any]) -> Message:
    """The immediate, private answer to a /hunt command; enqueues the hunt when there is one."""
    text = (command.get("text") or "").strip()
    name, _, rest = text.partition(" ")
    if name.lower() in ("", "help"):
        return render_help()
    if name.lower() == "list":
        return render_catalog(services.catalog)
    if name.lower() == "audit":
        return render_notice("Reading the audit log…")
    if name.lower() == "incidents":
        return render_notice("Listing this channel's open incidents…")
    return await start_hunt(
        services,
        command["user_id"],
        command.get("team_id", ""),
        command["channel_id"],
        name,
        rest,
        response_url=command.get("response_url"),
    )


async def start_hunt(
    services: Services,
    user_id: str,
    team_id: str,
    channel_id: str,
    name: str,
    arguments_text: str,
    *,
    response_url: str | None = None,
    thread_ts: str | None = None,
) -> Message:
    """Validate a hunt now and enqueue it; results go to the channel or to `thread_ts`."""
    decision = await services.access.check_cached(user_id, channel_id)
    if decision.allowed is False:
        return render_notice(decision.reason)
    hunt = services.catalog.get(name)
    arguments = split_arguments(arguments_text)
    rendered = hunt.render(arguments)  # any mistake is answered now, not after a wait
    request = HuntRequest(
        hunt=hunt.name,
        arguments=arguments,
        user_id=user_id,
        team_id=team_id,
        channel_id=channel_id,
        response_url=response_url,
        thread_ts=thread_ts,
    )
    await services.hunt_requests.save(request)
    await services.jobs.enqueue_hunt(request.id)
    return render_running(hunt.name, rendered.describe_values(), in_thread=thread_ts is not None)
