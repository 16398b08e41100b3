"""Answering one person privately: through the response URL Slack gave, else postEphemeral.

Neither needs Redis, so a person is still told when the bot's state store is away.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.blocks import Message

log = logging.getLogger(__name__)


async def tell_user(
    slack: AsyncWebClient,
    channel: str | None,
    user_id: str,
    message: Message,
    response_url: str | None = None,
) -> None:
    if response_url:
        try:
            answer = await AsyncWebhookClient(response_url).send(
                text=message.text, blocks=message.blocks, response_type="ephemeral"
            )
            if answer.status_code == 200:
                return
        except Exception as exc:  # an expired or unreachable response URL: fall back below
            log.warning(
                "response URL failed (%s); answering with postEphemeral", type(exc).__name__
            )
    try:
        if channel:
            await slack.chat_postEphemeral(
                channel=channel, user=user_id, text=message.text, blocks=message.blocks
            )
        else:  # no channel to answer in (a payload without one): the person's DM with the bot
            await slack.chat_postMessage(channel=user_id, text=message.text, blocks=message.blocks)
    except SlackApiError as exc:
        log.warning("could not tell %s: %s", user_id, exc.response.get("error"))


async def replace_private(
    slack: AsyncWebClient, channel: str | None, user_id: str, message: Message, response_url: str
) -> None:
    """Replace the private message a button was pressed on (a list, say) with `message`; a new
    private answer if its response URL no longer works."""
    try:
        answer = await AsyncWebhookClient(response_url).send(
            text=message.text, blocks=message.blocks, replace_original=True
        )
        if answer.status_code == 200:
            return
    except Exception as exc:
        log.warning("response URL failed (%s); answering anew", type(exc).__name__)
    await tell_user(slack, channel, user_id, message)
