"""A deploy stops a real `hunt-bot serve` (SIGTERM) while a request it has acknowledged is still
being answered. Slack never sends an acknowledged request again, so the process finishes that
work before it exits, for up to SHUTDOWN_GRACE_SECONDS; past that it says in its log whose
request it dropped. Over HTTP and over Socket Mode.

The request is a mention (answered after its ack). The Slack stand-in refuses the answer once with
HTTP 429 and a Retry-After, as Slack does, so the answer is still waiting when SIGTERM arrives.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from bot.app import serve_in_process
from bot.queue import jobs_pending
from bot.workspace.calls import method_is
from bot.workspace.platform import SlackPlatform
from bot.workspace.slack_requests import SignedSender
from bot.workspace.socket_mode import SocketModeStandIn
from bot.workspace.webapi import WebApiStandIn
from tests.faults.settings import lab_bot_settings
from tests.faults.test_outage_redis import Worker, worker
from tests.slack.conftest import SIGNING_SECRET, TOKEN, Harness
from tests.socket_mode.conftest import APP_TOKEN

HUNT_BOT = Path(sys.executable).parent / "hunt-bot"
OURS = ("SLACK_", "REDIS_", "HUNT", "LAB_", "APPROVAL_", "GRAPH_", "AZURE_", "SHUTDOWN_")
# uvicorn raises the SIGTERM it caught again once it has shut down, so a stop may end that way.
STOPPED = (0, -signal.SIGTERM)


@dataclass
class Serve:
    process: asyncio.subprocess.Process
    platform: SlackPlatform  # how people reach it
    log: Path

    def said(self) -> str:
        return self.log.read_text()


@pytest.fixture
def lab_copy(lab_file: Path, tmp_path: Path) -> Path:
    lab = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, lab)
    return lab


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(
    mode: str, redis_url: str, lab: Path, tmp_path: Path, **extra_env: str
) -> AsyncIterator[Serve]:
    """`hunt-bot serve` in its own process, configured only by the environment: over HTTP
    (`mode` "http") or connecting out over Socket Mode ("socket")."""
    redis.Redis.from_url(redis_url).flushdb()
    async with WebApiStandIn(token=TOKEN).running() as slack:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(OURS)}
        env |= {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": slack.api_url,
            "REDIS_URL": redis_url,
            "HUNT_BACKEND": "lab",
            "LAB_DB": str(lab),
            **extra_env,
        }
        log = tmp_path / "serve.log"
        if mode == "http":
            port = _free_port()
            env["SLACK_SIGNING_SECRET"] = SIGNING_SECRET
            args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
            sender = SignedSender(f"http://127.0.0.1:{port}", SIGNING_SECRET)
            async with _started(args, env, tmp_path, log) as process:
                await _healthy(f"http://127.0.0.1:{port}/healthz", process, log)
                try:
                    yield Serve(process, SlackPlatform(slack, sender), log)
                finally:
                    await sender.aclose()
        else:
            env["SLACK_APP_TOKEN"] = APP_TOKEN
            async with (
                SocketModeStandIn(slack, app_token=APP_TOKEN).running() as socket_mode,
                _started(["serve", "--socket-mode"], env, tmp_path, log) as process,
            ):
                await socket_mode.connected(timeout=60)
                yield Serve(process, SlackPlatform(slack, socket_mode), log)


@asynccontextmanager
async def _started(
    args: list[str], env: dict[str, str], cwd: Path, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(HUNT_BOT), *args, cwd=cwd, env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _healthy(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            assert process.returncode is None, log.read_text()
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"serve never became healthy:\n{log.read_text()}")


async def mention_help(serve: Serve, *, retry_after: int) -> int:
    """Alice posts `@hunt-bot help` in #soc; Slack refuses the bot's first answer with a 429
    saying to retry after `retry_after` seconds. Returns where the bot's calls start."""
    slack = serve.platform.slack
    alice = slack.workspace.user_by_name("alice")
    soc = slack.workspace.channel_by_ref("soc")
    assert alice is not None and soc is not None
    slack.rate_limit_next("chat.postMessage", retry_after=retry_after)
    cursor = len(slack.calls)
    sent = await serve.platform.mention(alice, soc, "<@U0HUNTBOT> help", thread_ts=None)
    assert not sent.failed, sent
    refused = await slack.calls.next_call(method_is("chat.postMessage"), after=cursor, timeout=30)
    assert refused.status == 429  # the answer now waits out Retry-After inside serve
    return slack.calls.calls.index(refused) + 1


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_sigterm_waits_for_an_acknowledged_mention_to_be_answered(
    mode, redis_url, lab_copy, tmp_path
):
    async with serving(mode, redis_url, lab_copy, tmp_path) as serve:
        cursor = await mention_help(serve, retry_after=2)

        serve.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        answer = await serve.platform.slack.calls.next_call(
            method_is("chat.postMessage"), after=cursor, timeout=30
        )
        assert answer.ok and "handoff @someone" in str(answer.args["blocks"]), answer
        assert answer.at > stopped_at  # answered after the deploy asked it to stop
        assert await asyncio.wait_for(serve.process.wait(), timeout=30) in STOPPED

    assert "waiting up to 20 s for 1 acknowledged request" in serve.said(), serve.said()
    assert "unfinished" not in serve.said(), serve.said()


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_past_the_grace_serve_exits_tells_the_person_and_logs_whose_request_it_was(
    mode, redis_url, lab_copy, tmp_path
):
    grace = {"SHUTDOWN_GRACE_SECONDS": "1"}
    async with serving(mode, redis_url, lab_copy, tmp_path, **grace) as serve:
        cursor = await mention_help(serve, retry_after=60)

        serve.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        assert await asyncio.wait_for(serve.process.wait(), timeout=30) in STOPPED
        assert time.monotonic() - stopped_at < 10  # a deploy is not held up by Retry-After: 60

    slack = serve.platform.slack
    alice = slack.workspace.user_by_name("alice")
    assert alice is not None
    told = [c for c in slack.calls.since(cursor) if c.method == "chat.postEphemeral"]
    assert [c.args["user"] for c in told] == [alice.id], told
    assert told[0].ok and "restarted before it finished" in str(told[0].args["blocks"])
    assert "stopped 1 acknowledged request(s) unfinished after 1 s" in serve.said(), serve.said()
    assert f"app_mention by {alice.id}" in serve.said(), serve.said()


# -- the worker --------------------------------------------------------------------------------


@asynccontextmanager
async def web_and_worker(
    redis_url: str, lab: Path, tmp_path: Path, **worker_env: str
) -> AsyncIterator[tuple[Harness, Worker, aioredis.Redis]]:
    """The web side in this process; one real `hunt-bot worker` process runs the jobs."""
    redis.Redis.from_url(redis_url).flushdb()
    async with WebApiStandIn(token=TOKEN).running() as slack:
        settings = lab_bot_settings(redis_url, lab, slack.api_url, TOKEN, SIGNING_SECRET)
        queue = aioredis.Redis.from_url(redis_url)
        async with serve_in_process(settings, with_worker=False) as url:
            sender = SignedSender(url, SIGNING_SECRET)
            try:
                with worker(settings, slack.api_url, tmp_path, **worker_env) as hunt_bot:
                    yield Harness(slack, sender, settings), hunt_bot, queue
            finally:
                await sender.aclose()
                await queue.aclose()


async def hunt_waiting_on_slack(harness: Harness, *, retry_after: int) -> int:
    """/hunt zap-misses, whose results post Slack refuses once (429, Retry-After); returns
    where the calls after that refusal start."""
    harness.slack.rate_limit_next("chat.postMessage", retry_after=retry_after)
    before = len(harness.calls)
    answer = await harness.slash("zap-misses")
    assert "Running" in answer.text, answer.text
    refused = await harness.wait("chat.postMessage", after=before, timeout=30)
    assert refused.status == 429
    return harness.calls.index(refused) + 1


async def test_sigterm_lets_a_worker_post_the_hunt_it_is_running(redis_url, lab_copy, tmp_path):
    async with web_and_worker(redis_url, lab_copy, tmp_path) as (harness, hunt_bot, queue):
        cursor = await hunt_waiting_on_slack(harness, retry_after=2)

        hunt_bot.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        posted = await harness.wait("chat.postMessage", after=cursor, timeout=30)
        assert posted.ok and "ZAP failed to remove" in str(posted.args["blocks"]), posted
        assert posted.at > stopped_at
        assert await asyncio.to_thread(hunt_bot.process.wait, 30) == 0
        assert not await jobs_pending(queue)  # done and acknowledged: no one runs it again

    said = "\n".join(hunt_bot.lines())
    assert "still running" not in said and "Traceback" not in said, said


async def test_past_the_grace_a_worker_exits_and_leaves_the_hunt_for_another(
    redis_url, lab_copy, tmp_path
):
    async with web_and_worker(redis_url, lab_copy, tmp_path, SHUTDOWN_GRACE_SECONDS="1") as (
        harness,
        hunt_bot,
        queue,
    ):
        await hunt_waiting_on_slack(harness, retry_after=60)

        hunt_bot.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        assert await asyncio.to_thread(hunt_bot.process.wait, 30) == 0
        assert time.monotonic() - stopped_at < 10
        assert await jobs_pending(queue)  # unacknowledged: another worker takes it over

    said = "\n".join(hunt_bot.lines())
    assert "stopped with 1 job(s) still running after 1 s" in said, said
    assert "run_hunt " in said, said
