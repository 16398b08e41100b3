"""A whole bot driven as people in #soc would, for scenario tests that also forge requests:
the console's session for the journey, signed requests for what Slack's client would not send."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from rich.console import Console

from bot.app import serve_in_process, start_services
from bot.config import Settings
from bot.queue import jobs_pending
from bot.services import Services
from bot.workspace import slack_requests as requests
from bot.workspace.calls import Call
from bot.workspace.model import Message
from bot.workspace.platform import SlackPlatform
from bot.workspace.session import ConsoleSession
from bot.workspace.slack_requests import BotAnswer, SignedSender
from bot.workspace.webapi import WebApiStandIn
from tests.slack.conftest import SIGNING_SECRET, TOKEN


@dataclass
class SocBot:
    slack: WebApiStandIn
    sender: SignedSender
    session: ConsoleSession
    platform: SlackPlatform
    services: Services  # a second process's view of the same Redis, for checking state
    out: Console

    @property
    def calls(self) -> list[Call]:
        return self.slack.calls.calls

    async def run(self, *lines: str) -> None:
        code = await self.session.run_script(list(lines))
        assert code == 0, self.out.export_text()

    def user(self, name: str) -> Any:
        found = self.slack.workspace.user_by_name(name)
        assert found is not None
        return found

    def messages_with(self, text: str) -> list[Message]:
        soc = self.slack.workspace.channel_by_ref("soc")
        assert soc is not None
        return [m for m in self.slack.workspace.channel_history(soc.id) if text in str(m.blocks)]

    @staticmethod
    def button_value(message: Message, action_id: str) -> str:
        return next(
            str(e["value"])
            for b in message.blocks
            for e in b.get("elements", [])
            if e.get("action_id") == action_id
        )

    async def press(
        self, user: str, message: Message, action_id: str, value: str
    ) -> tuple[BotAnswer, int]:
        """`user` presses a button with this action id and value on `message` (forgeable)."""
        who = self.user(user)
        soc = self.slack.workspace.channel_by_ref("soc")
        assert soc is not None
        element = {
            "type": "button",
            "action_id": action_id,
            "value": value,
            "text": {"type": "plain_text", "text": "x"},
        }
        before = len(self.calls)
        answer = await self.sender.send(
            requests.block_actions_in_message(
                user=who,
                channel=soc,
                message=message.to_slack(),
                action=requests.action_payload(element, "forged"),
                trigger_id=self.slack.issue_trigger(who.id),
                response_url=self.slack.issue_response_url(
                    channel=soc.id, user=who.id, source=("message", message.ts)
                ),
            )
        )
        return answer, before

    async def submit_view(
        self, user: str, callback_id: str, metadata: dict[str, Any], values: dict[str, Any]
    ) -> BotAnswer:
        """`user` submits a modal with this callback and private metadata (forgeable)."""
        who = self.user(user)
        view = {
            "id": "V0FORGED",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": json.dumps(metadata),
            "state": {"values": values},
            "blocks": [],
        }
        return await self.sender.send(
            requests.view_submission(
                user=who, view=view, trigger_id=self.slack.issue_trigger(who.id)
            )
        )

    async def told(self, user: str, after: int, timeout: float = 10.0) -> str:
        """What `user` was told privately after call number `after`."""
        who = self.user(user)
        call = await self.slack.calls.next_call(
            lambda c: (
                c.method in ("response_url", "chat.postEphemeral", "views.update")
                or (c.method == "chat.postMessage" and c.args.get("channel") == who.id)
            ),
            after=after,
            timeout=timeout,
        )
        return json.dumps(call.args)


@asynccontextmanager
async def soc_bot(settings: Settings, **changes: Any) -> AsyncIterator[SocBot]:
    out = Console(record=True, width=160)
    async with AsyncExitStack() as stack:
        slack = await stack.enter_async_context(WebApiStandIn(token=TOKEN).running())
        current = settings.model_copy(
            update={
                "slack_api_url": slack.api_url,
                "approval_approver_usergroups": ("S0APPROVERS",),
                **changes,
            }
        )
        url = await stack.enter_async_context(serve_in_process(current))
        sender = SignedSender(url, SIGNING_SECRET)
        stack.push_async_callback(sender.aclose)
        queue = aioredis.Redis.from_url(str(current.redis_url.get_secret_value()))
        stack.push_async_callback(queue.aclose)
        services = await start_services(current)
        stack.push_async_callback(services.aclose)
        platform = SlackPlatform(slack, sender)
        session = ConsoleSession(platform, out, jobs_busy=lambda: jobs_pending(queue))
        yield SocBot(slack, sender, session, platform, services, out)
