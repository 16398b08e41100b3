"""Shared by the benchmarks: a spare Redis db, and how busy the machine was."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.request import urlopen


def spare_redis(url: str) -> Any:  # redis.Redis
    """The benchmark's Redis db: empty, or holding only a previous run's hunt-bot keys (it is
    flushed now and should be flushed again when done). Refuses a db holding anything else."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    foreign = [k for k in client.scan_iter(count=1000) if not k.startswith("hunt-bot:")][:3]
    if foreign:
        sys.exit(f"{url} holds keys that are not hunt-bot's ({foreign}): pick a spare db")
    client.flushdb()
    return client


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def wait_healthy(
    process: subprocess.Popen[bytes],
    url: str,
    log: Path,
    *,
    name: str = "serve",
    within: float = 90,
) -> None:
    """Until `url` (a /healthz) answers 200; exits with the log's tail if the process dies first
    or it never answers."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text()[-2000:]
            sys.exit(f"{name} exited with {process.returncode} at start:\n{tail}")
        try:
            with urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{name} did not answer {url} within {within:g} s:\n{log.read_text()[-2000:]}")
