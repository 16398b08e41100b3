"""The whole bot as the console runs it, but hunting and acting through the local Microsoft
stand-in (answering hunts from a lab file), for Take actions journeys that must reach Graph or
Defender for Endpoint as the real APIs would be reached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis
from rich.console import Console

from bot.app import serve_in_process
from bot.queue import jobs_pending
from bot.workspace.console import BOT_TOKEN
from bot.workspace.platform import SlackPlatform
from bot.workspace.session import ConsoleSession
from bot.workspace.slack_requests import SignedSender
from bot.workspace.webapi import WebApiStandIn
from tests.standins.microsoft import MicrosoftStandIn


@asynccontextmanager
async def console_on_microsoft(
    microsoft: MicrosoftStandIn, redis_url: str, lab: Path, secret: str, out: Console
) -> AsyncIterator[ConsoleSession]:
    async with AsyncExitStack() as stack:
        slack = await stack.enter_async_context(WebApiStandIn(token=BOT_TOKEN).running())
        settings = microsoft.settings(
            slack_api_url=slack.api_url,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=secret,
            redis_url=redis_url,
            lab_db=lab,
            approval_approver_usergroups=("S0APPROVERS",),
        )
        url = await stack.enter_async_context(serve_in_process(settings))
        sender = SignedSender(url, secret)
        stack.push_async_callback(sender.aclose)
        queue = aioredis.Redis.from_url(redis_url)
        stack.push_async_callback(queue.aclose)
        yield ConsoleSession(
            SlackPlatform(slack, sender), out, jobs_busy=lambda: jobs_pending(queue)
        )
