"""`hunt-bot console`: the bot, a lab tenant and Slack's stand-in in one process, on a terminal.

Started here, in this order: an embedded Redis when REDIS_URL is unset (next to the lab's
database), the Web API stand-in, the lab tenant, and the bot itself (its HTTP server and an
in-process worker, from `bot.app.serve_in_process`) pointed at the stand-in with a signing
secret made for this run, and the console's own handle on the same Redis and lab for `wait` and
`plant`. Then each line, typed or from `--script`, is played as a person in
#soc; `--transcript` gets every Web API call the bot made, and every ack's body, as JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO

import redis.asyncio as aioredis
from pydantic import AnyHttpUrl, SecretStr
from rich.console import Console
from rich.text import Text

from bot.config import Settings
from bot.errors import HuntBotError
from bot.state.redis import open_redis

from .calls import Call
from .lab_controls import LabControls
from .model import TEAM_ID
from .platform import SlackPlatform
from .session import ConsoleSession
from .slack_requests import SignedSender
from .webapi import WebApiStandIn

APPROVERS_GROUP = "S0APPROVERS"  # bob and carol, in the console's workspace

BOT_TOKEN = "xoxb-console"
CONSOLE_KQL_USER = "U0ALICE"


async def run_console(
    settings: Settings, *, script: Path | None = None, transcript: Path | None = None
) -> int:
    """Run the console until the script ends or the person quits; the exit code."""
    out = Console(highlight=False)
    if not out.is_terminal:
        # Scripts and pipes: wide enough for a page of results, as a wide terminal would be.
        out = Console(highlight=False, width=160)
    lines: list[str] | None = None
    if script is not None:
        try:
            lines = script.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            out.print(Text(f"✗ cannot read the script {script}: {exc.strerror}", style="bold red"))
            return 2
    try:
        async with AsyncExitStack() as stack:
            session = await _start(stack, settings, out, transcript)
            if lines is not None:
                return await session.run_script(lines)
            return await session.interactive()
    except HuntBotError as exc:
        out.print(Text(f"✗ {exc.message}", style="bold red"))
        if exc.hint:
            out.print(Text(exc.hint))
        return 1


async def _start(
    stack: AsyncExitStack, settings: Settings, out: Console, transcript: Path | None
) -> ConsoleSession:
    redis_url = settings.redis_url
    if redis_url is None:
        directory = settings.lab_db.parent
        with out.status(Text(f"starting the embedded Redis in {directory}")):
            embedded = await asyncio.to_thread(open_redis, settings, data_dir=directory)
        stack.push_async_callback(embedded.aclose)
        redis_url = SecretStr(embedded.url)

    stand_in = WebApiStandIn(token=BOT_TOKEN)
    await stack.enter_async_context(stand_in.running())
    writer = None
    if transcript is not None:
        writer = TranscriptWriter(stack.enter_context(transcript.open("w")))
        stand_in.calls.add_listener(writer)

    await _prepare_lab(settings, out)
    signing_secret = secrets.token_hex(16)
    bot_settings = settings.model_copy(
        update={
            "slack_api_url": AnyHttpUrl(stand_in.api_url),
            "slack_bot_token": SecretStr(BOT_TOKEN),
            "slack_signing_secret": SecretStr(signing_secret),
            "hunt_backend": "lab",
            "redis_url": redis_url,
            # The workspace's approvers (@bob, @carol) unless the settings name others.
            "approval_approver_usergroups": settings.approval_approver_usergroups
            or (APPROVERS_GROUP,),
            # @alice may run her own KQL (/hunt kql) unless the settings name who may.
            "kql_allowed_users": settings.kql_allowed_users
            or (() if settings.kql_allowed_usergroups else (CONSOLE_KQL_USER,)),
        }
    )
    from bot.app import serve_in_process, start_services
    from bot.queue import jobs_pending

    with out.status(Text("starting hunt-bot")):
        bot_url = await stack.enter_async_context(
            serve_in_process(bot_settings, port=0, with_worker=True)
        )
    sender = SignedSender(bot_url, signing_secret)
    stack.push_async_callback(sender.aclose)
    queue = aioredis.Redis.from_url(redis_url.get_secret_value())
    stack.push_async_callback(queue.aclose)
    out.print(
        Text(
            f"hunt-bot console: #soc in a local workspace, lab tenant {settings.lab_db}. "
            "You are @alice.",
            style="dim",
        )
    )
    # The bot's own stores and queue, for moving the schedules' clock and running what falls
    # due (LabControls): the same Redis and lab as the bot above, not a second bot.
    services = await start_services(bot_settings)
    stack.push_async_callback(services.aclose)
    platform = SlackPlatform(stand_in, sender, on_answer=writer.answer if writer else None)
    places = [(TEAM_ID, channel) for channel in stand_in.workspace.channels]
    controls = LabControls(services, settings.lab_db, places)
    return ConsoleSession(platform, out, jobs_busy=lambda: jobs_pending(queue), controls=controls)


async def _prepare_lab(settings: Settings, out: Console) -> None:
    """Create the lab's database before the first hunt needs it, and say so: it takes a while."""
    if settings.lab_db.exists():
        return
    from bot.defender.lab import LabTenant

    with out.status(Text(f"creating the lab tenant in {settings.lab_db}")):
        lab = await asyncio.to_thread(LabTenant.open, settings.lab_db)
        await lab.aclose()  # holds nothing open: each hunt or action opens the file


class TranscriptWriter:
    """Every Web API call, and every ack's body, as a JSON line, written as it happens so a
    crash keeps the record."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file

    def __call__(self, call: Call) -> None:
        self._write(call.transcript_line())

    def answer(self, kind: str, status: int, body: object) -> None:
        """What the bot answered a request with (ephemeral answers and modal views in acks)."""
        self._write({"method": "ack", "args": {"request": kind, "status": status, "body": body}})

    def _write(self, line: dict[str, object]) -> None:
        self.file.write(json.dumps(line, default=str) + "\n")
        self.file.flush()
