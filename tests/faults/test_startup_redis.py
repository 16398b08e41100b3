"""A worker started before its Redis waits for it (one log line per try), then works."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bot.config import Settings
from tests.faults.test_outage_redis import (
    RedisServer,
    hunt_answered,
    outage_settings,  # noqa: F401 (fixtures)
    own_redis,  # noqa: F401
    web_side,
    worker,
)


async def test_a_worker_started_while_redis_is_down_waits_for_it_then_runs_hunts(
    own_redis: RedisServer,  # noqa: F811
    outage_settings: Settings,  # noqa: F811
    tmp_path: Path,
):
    async with web_side(outage_settings) as web:
        own_redis.stop()

        def start_once_the_worker_waits() -> None:
            # Not after a fixed time: a worker slow to start (a busy machine) would otherwise
            # find Redis already back and never have waited.
            log, deadline = tmp_path / "worker.err", time.monotonic() + 30
            while time.monotonic() < deadline:
                if log.exists() and "Trying again in" in log.read_text():
                    time.sleep(1.0)  # a second more of outage: the worker keeps waiting
                    break
                time.sleep(0.05)
            own_redis.start()

        later = threading.Thread(target=start_once_the_worker_waits)
        later.start()
        try:
            with worker(outage_settings, web.harness.slack.api_url, tmp_path) as hunt_bot:
                waited = [line for line in hunt_bot.lines() if "Trying again in" in line]
                await own_redis.answers()
                seconds = await hunt_answered(web.harness, "zap-misses")
        finally:
            later.join()
    assert 1 <= len(waited) <= 10, hunt_bot.lines()
    assert not [line for line in hunt_bot.lines() if line.startswith("Traceback")]
    assert seconds < 5
