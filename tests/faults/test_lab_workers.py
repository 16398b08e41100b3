"""The lab tenant shared by three real `hunt-bot worker` processes: hunts in several channels and
approvals in #soc, all at once. Every hunt posts its results, every approval ends Done, no worker
writes an error, and nothing posted to Slack names a file or a process id."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import redis.asyncio as aioredis
from rich.console import Console

from bot.app import serve_in_process
from bot.config import Settings
from bot.queue import jobs_pending
from bot.workspace import slack_requests as requests
from bot.workspace.model import BOT_USER_ID, Channel
from bot.workspace.platform import SlackPlatform
from bot.workspace.session import ConsoleSession
from bot.workspace.slack_requests import SignedSender
from bot.workspace.webapi import WebApiStandIn
from tests.faults.settings import lab_bot_settings

TOKEN = "xoxb-lab-workers"
SIGNING_SECRET = "lab-workers-signing-secret"
WORKERS = 3
HUNT_CHANNELS = ("C0HUNT1", "C0HUNT2", "C0HUNT3")  # one post a second per channel: spread out
HUNTS = [
    "spam-emails",
    "zap-misses",
    "ransomware-precursors",
    "phish-link-clicks",
    "internal-malware-senders",
    "malicious-attachments-on-devices",
    "powershell-after-malicious-email",
] * 3
HUNTS = HUNTS[:15]
# Email moves finish in the submit; a device scan is followed until the lab says it succeeded.
APPROVALS = [
    ("spam-emails", "Move to Junk", 1),
    ("ransomware-precursors", "Antivirus scan (full)", 1),
    ("spam-emails", "Move to Deleted items", 2),
    ("spam-emails", "Soft delete", 3),
]
HUNT_BOT = Path(sys.executable).with_name("hunt-bot")

# What must never reach Slack: a file path, a process id; and what a failed hunt would say.
PID = re.compile(r"\bPID\b", re.IGNORECASE)
FAILED = ("lab tenant is busy", "went wrong", "Cannot open", "Could not set lock", "lab tenant")


@contextmanager
def workers(
    env: dict[str, str], logs: Path, count: int = WORKERS
) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(count):
            with (logs / f"worker{n}.err").open("wb") as err:
                started.append(
                    subprocess.Popen(
                        [str(HUNT_BOT), "worker"],
                        env=env,
                        cwd=logs,
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                    )
                )
        deadline = time.monotonic() + 30
        for n, process in enumerate(started):
            log = logs / f"worker{n}.err"
            while "consuming jobs" not in log.read_text():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def worker_env(settings: Settings, api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HUNT", "LAB_"))}
    env.update(
        REDIS_URL=settings.redis_url.get_secret_value() if settings.redis_url else "",
        HUNT_BACKEND="lab",
        LAB_DB=str(settings.lab_db),
        SLACK_API_URL=api_url,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        APPROVAL_APPROVER_USERGROUPS="S0APPROVERS",
    )
    return env


@asynccontextmanager
async def web(settings: Settings) -> AsyncIterator[tuple[SignedSender, aioredis.Redis]]:
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(serve_in_process(settings, with_worker=False))
        sender = SignedSender(url, SIGNING_SECRET)
        stack.push_async_callback(sender.aclose)
        assert settings.redis_url is not None
        queue = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
        stack.push_async_callback(queue.aclose)
        yield sender, queue


async def test_three_workers_share_the_lab_running_hunts_and_approvals_together(
    redis: aioredis.Redis, redis_url: str, lab_file: Path, tmp_path: Path
):
    lab = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, lab)
    started = time.monotonic()
    async with WebApiStandIn(token=TOKEN).running() as slack:
        for channel in HUNT_CHANNELS:
            slack.workspace.channels[channel] = Channel(
                channel, channel.lower(), ["U0ALICE", "U0BOB", "U0CAROL", BOT_USER_ID]
            )
        settings = lab_bot_settings(
            redis_url,
            lab,
            slack.api_url,
            TOKEN,
            SIGNING_SECRET,
            approval_approver_usergroups=("S0APPROVERS",),
        )
        with workers(worker_env(settings, slack.api_url), tmp_path) as processes:
            ready = time.monotonic()
            async with web(settings) as (sender, queue):
                out = Console(record=True, width=160, file=io.StringIO())
                session = ConsoleSession(
                    SlackPlatform(slack, sender), out, jobs_busy=lambda: jobs_pending(queue)
                )

                async def hunt(n: int, name: str) -> None:
                    who = slack.workspace.user_by_name(("alice", "bob", "carol")[n % 3])
                    where = slack.workspace.channels[HUNT_CHANNELS[n % len(HUNT_CHANNELS)]]
                    assert who is not None
                    answer = await sender.send(
                        requests.slash_command(
                            user=who,
                            channel=where,
                            command="/hunt",
                            text=name,
                            response_url=slack.issue_response_url(channel=where.id, user=who.id),
                            trigger_id=slack.issue_trigger(who.id),
                        )
                    )
                    assert answer.status == 200, answer.text

                async def approvals() -> None:
                    for name, label, row in APPROVALS:
                        code = await session.run_script(
                            [
                                "as @alice",
                                f"/hunt {name}",
                                "click Take actions",
                                f"fill Action={label}",
                                f"fill Rows={row}",
                                "fill Description=shared lab, three workers",
                                "submit",
                                "submit",
                                "as @bob",
                                "click Approve",
                            ]
                        )
                        assert code == 0, out.export_text()

                async def hunts() -> None:
                    await asyncio.gather(*(hunt(n, name) for n, name in enumerate(HUNTS)))

                await asyncio.wait_for(asyncio.gather(approvals(), hunts()), 60)
                posted = await _results_in_hunt_channels(slack, len(HUNTS), timeout=60)
                await _every_approval_done(slack, len(APPROVALS), timeout=30)
            finished = time.monotonic()
            alive = [p.poll() is None for p in processes]

    calls = [json.dumps(c.args, default=str) for c in slack.calls.calls]
    everything = "\n".join(calls)
    for text in (str(lab), str(tmp_path), lab.name):
        assert text not in everything, text
    for pid in (p.pid for p in processes):
        # A whole number: a short pid also turns up inside hex ids ("2324fe6a…") by chance.
        assert not re.search(rf"(?<![0-9A-Za-z]){pid}(?![0-9A-Za-z])", everything), pid
    assert not PID.search(everything)
    for failure in FAILED:
        assert failure not in everything, failure
    assert all(alive)
    errors, jobs = {}, []
    for n in range(WORKERS):
        log = (tmp_path / f"worker{n}.err").read_text()
        jobs.append(log.count("Executing task"))
        bad = [
            line
            for line in log.splitlines()
            if re.search(r"Traceback|ERROR|WARNING|Error|\block\b|PID", line)
        ]
        if bad:
            errors[n] = bad
    assert not errors, errors
    assert sum(1 for n in jobs if n) >= 2, jobs  # the lab really was shared
    print(
        f"\n{WORKERS} workers ready in {ready - started:.1f}s; {len(HUNTS)} hunts "
        f"({posted} result posts) and {len(APPROVALS)} approvals done in "
        f"{finished - ready:.1f}s; jobs per worker {jobs}; {len(calls)} Slack calls, "
        "none with a path or PID"
    )


async def _results_in_hunt_channels(slack: WebApiStandIn, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        posts = [
            c
            for c in slack.calls.calls
            if c.method == "chat.postMessage" and c.args.get("channel") in HUNT_CHANNELS
        ]
        if len(posts) >= count or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(posts) == count, [p.args.get("text") for p in posts]
    for post in posts:
        assert "Re-run" in json.dumps(post.args), post.args.get("text")  # results, not a notice
    return len(posts)


async def _every_approval_done(slack: WebApiStandIn, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        final: dict[str, str] = {}
        for call in slack.calls.calls:
            if call.method not in ("chat.postMessage", "chat.update"):
                continue
            text = json.dumps(call.args.get("blocks"))
            if match := re.search(r"Approval (HB-\w+)", text):
                final[match.group(1)] = text
        done = [k for k, v in final.items() if "Done" in v]
        if len(done) >= count or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(final) == count and len(done) == count, final
