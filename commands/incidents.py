"""The incident status card's buttons: Take over; and answering "close with open approvals?"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.slack.blocks import render_notice
from bot.slack.ids import IncidentAction
from bot.slack.incident import OPEN_STATES, render_status
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

    for action, work in (
        (IncidentAction.TAKE_OVER, take_over),
        (IncidentAction.CLOSE_AND_CANCEL, close_cancelling),
        (IncidentAction.KEEP_OPEN, keep_open),
    ):
        app.action(action)(ack=ack_click, lazy=[answering_errors(services, work)])
