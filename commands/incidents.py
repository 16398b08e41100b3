"""The incident status card's buttons (Hand off, Take over) and "close with open approvals?"."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.errors import HuntBotError
from bot.jobs import tell_user
from bot.slack.blocks import render_notice
from bot.slack.ids import INPUT_ELEMENT, HandoffView, IncidentAction
from bot.slack.incident import OPEN_STATES, render_handoff_view, render_handover, render_status
from commands.mentions import card_links, check_handoff_target
from commands.results import Click, answering_errors

if TYPE_CHECKING:
    from bot.app import Services


def register(app: AsyncApp, services: Services) -> None:
    async def ack_click(ack: AsyncAck) -> None:
        await ack()

    def where(body: dict[str, Any], click: Click) -> tuple[str, str, str]:
        team = (body.get("team") or {}).get("id") or body["user"].get("team_id", "")
        return team, click.channel, click.value

    async def reply(click: Click, thread: str, text: str) -> None:
        message = render_notice(text)
        await services.pacer.wait_turn(click.channel)
        await services.slack.chat_postMessage(
            channel=click.channel, thread_ts=thread, text=message.text, blocks=message.blocks
        )

    async def take_over(body: dict[str, Any]) -> None:
        click = Click(body)
        incident = await services.incidents.take(*where(body, click), by=click.user)
        approvals = await services.approvals.in_thread(click.channel, click.value)
        status = render_status(incident, approvals)
        await services.slack.chat_update(
            channel=click.channel, ts=click.message_ts, text=status.text, blocks=status.blocks
        )

    async def close_cancelling(body: dict[str, Any]) -> None:
        click = Click(body)
        approvals = await services.approvals.in_thread(click.channel, click.value)
        refused = []
        for approval in (a for a in approvals if a.state in OPEN_STATES):
            result = await services.approvals.cancel(
                approval.id, click.user, reason="incident closed"
            )
            await services.jobs.update_card(approval.id)
            if not result.cancelled:
                refused.append(f"{approval.id}: {result.reason}")
        if refused:
            # Each approval is cancelled whole or not at all; if any is left, stay open.
            await click.tell(
                services, "Not closed: some approvals could not be cancelled.", "; ".join(refused)
            )
            return
        await services.incidents.close(*where(body, click), by=click.user, reason="closed")
        await reply(click, click.value, "Incident closed; its open approvals were cancelled.")

    async def keep_open(body: dict[str, Any]) -> None:
        click = Click(body)
        await reply(click, click.value, "Kept open: the approvals stand.")

    async def open_handoff(body: dict[str, Any]) -> None:
        click = Click(body)
        team, channel, thread = where(body, click)
        incident = await services.incidents.get(team, channel, thread)
        if incident is None:
            return
        metadata = json.dumps({"team": team, "channel": channel, "thread": thread})
        await services.slack.views_open(
            trigger_id=body["trigger_id"], view=render_handoff_view(incident, metadata)
        )

    async def ack_view(ack: AsyncAck) -> None:
        await ack(response_action="clear")

    async def hand_off(body: dict[str, Any], view: dict[str, Any]) -> None:
        by = body["user"]["id"]
        ids = json.loads(view["private_metadata"])
        values = view["state"]["values"]
        to = values[HandoffView.TO_BLOCK][INPUT_ELEMENT].get("selected_user") or ""
        note = values.get(HandoffView.NOTE_BLOCK, {}).get(INPUT_ELEMENT, {}).get("value") or ""
        try:
            await check_handoff_target(services, ids["channel"], to)
            incident = await services.incidents.hand_off(
                ids["team"], ids["channel"], ids["thread"], by=by, to=to, note=note.strip()
            )
        except HuntBotError as exc:
            await tell_user(
                services, ids["channel"], by, render_notice(exc.message, exc.hint), None
            )
            return
        approvals = await services.approvals.in_thread(ids["channel"], ids["thread"])
        links = await card_links(services, approvals)
        summary = render_handover(incident, approvals, by=by, to=to, note=note.strip(), links=links)
        await services.pacer.wait_turn(ids["channel"])
        await services.slack.chat_postMessage(
            channel=ids["channel"],
            thread_ts=ids["thread"],
            text=summary.text,
            blocks=summary.blocks,
            unfurl_links=False,
        )

    app.view(HandoffView.CALLBACK)(ack=ack_view, lazy=[hand_off])

    for action, work in (
        (IncidentAction.HAND_OFF, open_handoff),
        (IncidentAction.TAKE_OVER, take_over),
        (IncidentAction.CLOSE_AND_CANCEL, close_cancelling),
        (IncidentAction.KEEP_OPEN, keep_open),
    ):
        app.action(action)(ack=ack_click, lazy=[answering_errors(services, work)])
