"""A small Bolt app (not hunt-bot) served over HTTP against the Web API stand-in.

It lets the request builders, the platform and the console session be checked against Bolt's
own parsing and signature checks without the whole bot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.serving import serve_in_loop
from bot.workspace.platform import SlackPlatform
from bot.workspace.slack_requests import SignedSender
from bot.workspace.webapi import WebApiStandIn

TOKEN = "xoxb-test-token"

SECRET = "test-signing-secret"

MODAL = {
    "type": "modal",
    "callback_id": "remediate",
    "title": {"type": "plain_text", "text": "Take actions"},
    "submit": {"type": "plain_text", "text": "Submit"},
    "private_metadata": "result-1",
    "blocks": [
        {
            "type": "input",
            "block_id": "action",
            "label": {"type": "plain_text", "text": "Action"},
            "element": {
                "type": "static_select",
                "action_id": "choice",
                "options": [
                    {"text": {"type": "plain_text", "text": "Soft delete"}, "value": "soft"},
                    {"text": {"type": "plain_text", "text": "Move to junk"}, "value": "junk"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "name",
            "label": {"type": "plain_text", "text": "Remediation name"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
    ],
}


@dataclass
class Heard:
    bodies: list[dict[str, Any]] = field(default_factory=list)


def small_bot(client: AsyncWebClient, heard: Heard) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=SECRET, process_before_response=True)

    @app.command("/hunt")
    async def hunt(ack: AsyncAck, body: dict[str, Any]) -> None:
        heard.bodies.append(body)
        await ack(text=f"Running {body['text']}")
        await client.chat_postMessage(
            channel=body["channel_id"],
            text="results",
            blocks=[
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "next_page",
                            "text": {"type": "plain_text", "text": "Next"},
                            "value": "r1:2",
                        },
                        {
                            "type": "button",
                            "action_id": "take_actions",
                            "text": {"type": "plain_text", "text": "Take actions"},
                            "value": "r1",
                        },
                    ],
                }
            ],
        )

    @app.action("next_page")
    async def next_page(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        heard.bodies.append(body)
        await ack()
        await respond(text="page 2", replace_original=True)

    @app.action("take_actions")
    async def take_actions(ack: AsyncAck, body: dict[str, Any]) -> None:
        heard.bodies.append(body)
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("remediate")
    async def remediate(ack: AsyncAck, body: dict[str, Any]) -> None:
        heard.bodies.append(body)
        values = body["view"]["state"]["values"]
        if not values["name"]["value"]["value"]:
            await ack(response_action="errors", errors={"name": "Give it a name"})
        else:
            await ack()

    @app.event("app_mention")
    async def mentioned(body: dict[str, Any]) -> None:
        heard.bodies.append(body)

    return app


@dataclass
class Rig:
    slack: WebApiStandIn
    platform: SlackPlatform
    sender: SignedSender
    heard: Heard


@asynccontextmanager
async def running_rig(slack: WebApiStandIn) -> AsyncIterator[Rig]:
    heard = Heard()
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    handler = AsyncSlackRequestHandler(small_bot(client, heard))

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    web = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
    async with serve_in_loop(web) as bot_url:
        sender = SignedSender(bot_url, SECRET)
        yield Rig(slack, SlackPlatform(slack, sender), sender, heard)
        await sender.aclose()
