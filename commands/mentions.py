"""@hunt-bot in a thread. The incident verbs (status, handoff, note…) come with the incident
issue; for now a mention gets the usage, in the thread where it was asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.slack.blocks import render_help
from bot.state.events import first_delivery

if TYPE_CHECKING:
    from bot.app import Services


def register(app: AsyncApp, services: Services) -> None:
    async def ack_event(ack: AsyncAck) -> None:
        await ack()

    async def answer_mention(body: dict[str, Any], event: dict[str, Any]) -> None:
        # Slack redelivers events it thinks we missed; whichever process gets one, it runs once.
        if not await first_delivery(services.redis.client, body.get("event_id", "")):
            return
        if event.get("bot_id") or event.get("user") == services.bot_user_id:
            return
        message = render_help()
        await services.pacer.wait_turn(event["channel"])
        await services.slack.chat_postMessage(
            channel=event["channel"],
            thread_ts=event.get("thread_ts") or event["ts"],
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
        )

    app.event("app_mention")(ack=ack_event, lazy=[answer_mention])
