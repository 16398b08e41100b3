"""`hunt-bot serve --socket-mode` per test: the real bot connects out to the Socket Mode stand-in
(apps.connections.open on the Web API stand-in with an xapp- token, then the WebSocket), with
real Redis, a copy of the lab tenant and a worker in the same process, as `serve` runs them.
People act through the console's session, whose requests arrive as envelopes."""

from __future__ import annotations

import asyncio
import shutil
import warnings
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from rich.console import Console

from bot.app import learn_bot_user, start_services
from bot.cli import serve_socket_mode
from bot.config import Settings
from bot.in_flight import CUT_OFF_SECONDS
from bot.queue import jobs_pending
from bot.workspace.calls import Call
from bot.workspace.platform import SlackPlatform
from bot.workspace.session import ConsoleSession
from bot.workspace.socket_mode import Envelope, SocketModeStandIn
from bot.workspace.webapi import WebApiStandIn
from tests.slack.conftest import TOKEN

APP_TOKEN = "xapp-1-A0HUNTBOT-1-socketmode"
STOP_SECONDS = 3.0  # the bot stops in milliseconds when nothing sticks
GRACE_SECONDS = 2.0  # SHUTDOWN_GRACE_SECONDS here: what a test left running is not waited on long


@dataclass
class SocketBot:
    slack: WebApiStandIn
    socket: SocketModeStandIn
    session: ConsoleSession
    out: Console
    task: asyncio.Task[None]  # serve_socket_mode

    @property
    def calls(self) -> list[Call]:
        return self.slack.calls.calls

    async def run(self, *lines: str) -> None:
        code = await self.session.run_script(list(lines))
        assert code == 0, self.out.export_text()
        assert not self.task.done(), self.task  # the bot is still serving
        assert self.socket.problems == []

    def envelopes(self, kind: str, payload_type: str | None = None) -> list[Envelope]:
        return [
            e
            for e in self.socket.envelopes
            if e.type == kind and (payload_type is None or e.payload.get("type") == payload_type)
        ]

    def connections_opened(self) -> int:
        return len([c for c in self.calls if c.method == "apps.connections.open" and c.ok])


@pytest.fixture
def socket_settings(redis_url: str, lab_file: Path, tmp_path: Path) -> Settings:
    """As tests/slack builds them, for Socket Mode: an app token and no signing secret."""
    redis.Redis.from_url(redis_url).flushdb()
    lab = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, lab)
    return Settings(
        _env_file=None,
        slack_bot_token=TOKEN,
        slack_app_token=APP_TOKEN,
        redis_url=redis_url,
        hunt_backend="lab",
        lab_db=lab,
        approval_approver_usergroups=("S0APPROVERS",),
        shutdown_grace_seconds=GRACE_SECONDS,
    )


@pytest.fixture
async def socket_bot(socket_settings: Settings) -> AsyncIterator[SocketBot]:
    out = Console(record=True, width=160)
    async with AsyncExitStack() as stack:
        slack = await stack.enter_async_context(WebApiStandIn(token=TOKEN).running())
        socket = await stack.enter_async_context(
            SocketModeStandIn(slack, app_token=APP_TOKEN).running()
        )
        current = socket_settings.model_copy(update={"slack_api_url": slack.api_url})
        services = await start_services(current)
        stack.push_async_callback(services.aclose)
        await learn_bot_user(services)
        stop = asyncio.Event()
        task = asyncio.create_task(serve_socket_mode(services, APP_TOKEN, stop))
        stack.push_async_callback(_stop, task, stop)
        await _connected(socket, task)
        queue = aioredis.Redis.from_url(str(current.redis_url.get_secret_value()))
        stack.push_async_callback(queue.aclose)
        session = ConsoleSession(
            SlackPlatform(slack, socket), out, jobs_busy=lambda: jobs_pending(queue)
        )
        yield SocketBot(slack, socket, session, out, task)


async def _connected(socket: SocketModeStandIn, task: asyncio.Task[None]) -> None:
    waiting = asyncio.ensure_future(socket.connected(timeout=15))
    done, _ = await asyncio.wait({waiting, task}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiting.cancel()
        task.result()  # raises why the bot stopped
        raise AssertionError("the bot stopped before connecting")
    waiting.result()


async def _stop(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Stop the bot as SIGTERM does (it finishes what it started), else cancel it. Now and then
    the worker's queue receiver (taskiq's prefetcher, waiting shielded on its read of the
    broker's stream) takes a cancellation without ending: then the tasks that did so are
    cancelled once more, with a warning, rather than the test hanging."""
    stop.set()
    # A job still running gets the grace, then is cancelled and queued again (bot/in_flight.py).
    await asyncio.wait({task}, timeout=STOP_SECONDS + GRACE_SECONDS + CUT_OFF_SECONDS)
    if task.done():
        task.result()  # raises what went wrong while stopping
        return
    task.cancel()
    await asyncio.wait({task}, timeout=STOP_SECONDS)
    if not task.done():
        stuck = [
            t
            for t in asyncio.all_tasks()
            if t is not asyncio.current_task() and t.cancelling() and not t.done()
        ]
        warnings.warn(
            f"the bot did not stop within {STOP_SECONDS:.0f} s of being cancelled; "
            f"cancelling again: {', '.join(t.get_name() for t in stuck)}",
            stacklevel=1,
        )
        for stuck_task in stuck:
            stuck_task.cancel()
        await asyncio.wait({task}, timeout=STOP_SECONDS)
    assert task.done(), "the bot did not stop when cancelled"
    with suppress(asyncio.CancelledError):
        await task
