"""Two real `hunt-bot worker` processes both run housekeeping, which fires due schedules: every
tick of every schedule runs once, and ticks missed while time jumped ahead run once, not once per
missed tick. The proof is the audit (one `schedule_ran` per tick) and the runs' own records."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import redis.asyncio as aioredis

from bot.state.audit import AuditEvent, AuditLog
from bot.state.clock import ScheduleClock
from bot.state.schedules import ScheduleStore
from bot.workspace.model import TEAM_ID
from bot.workspace.webapi import WebApiStandIn
from tests.faults.settings import lab_bot_settings
from tests.faults.test_lab_workers import SIGNING_SECRET, TOKEN, worker_env, workers

HUNTS = ("zap-misses", "spam-emails", "phish-link-clicks")
HOUR = timedelta(hours=1)


async def _ran(audit: AuditLog) -> Counter[str]:
    entries = await audit.recent(500)
    return Counter(e.target or "" for e in entries if e.event == AuditEvent.SCHEDULE_RAN)


async def _until(condition, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_two_workers_run_each_tick_once_and_catch_up_once(
    redis: aioredis.Redis, redis_url: str, lab_file: Path, tmp_path: Path
):
    lab = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, lab)
    store, audit = ScheduleStore(redis), AuditLog(redis)
    clock = ScheduleClock(redis, movable=True)
    now = await clock.now()
    made = [
        await store.create(
            team=TEAM_ID,
            channel="C0SOC",
            hunt=hunt,
            arguments={},
            every=HOUR,
            owner="U0ALICE",
            now=now,
        )
        for hunt in HUNTS
    ]
    async with WebApiStandIn(token=TOKEN).running() as slack:
        settings = lab_bot_settings(redis_url, lab, slack.api_url, TOKEN, SIGNING_SECRET)
        with workers(worker_env(settings, slack.api_url), tmp_path, count=2) as processes:

            async def every_schedule_ran(times: int) -> bool:
                ran = await _ran(audit)
                finished = [
                    s.last_run for s in await store.in_channel(TEAM_ID, "C0SOC") if s.last_run
                ]
                return all(ran[s.id] >= times for s in made) and len(finished) == len(made)

            await clock.advance(HOUR)  # the first tick of each
            await _until(lambda: every_schedule_ran(1))
            await asyncio.sleep(6)  # more than a housekeeping round of both workers
            assert await _ran(audit) == Counter({s.id: 1 for s in made})

            await clock.advance(4 * HOUR)  # three ticks missed, as if every process was down
            await _until(lambda: every_schedule_ran(2))
            await asyncio.sleep(6)
            assert await _ran(audit) == Counter({s.id: 2 for s in made})
            assert all(p.poll() is None for p in processes)

    # Both runs of a schedule were recorded, and the second one found nothing new to post.
    for schedule in await store.in_channel(TEAM_ID, "C0SOC"):
        assert schedule.last_run is not None and schedule.last_run.new == 0, schedule
    for n in range(2):
        log = (tmp_path / f"worker{n}.err").read_text()
        assert "Traceback" not in log, log
