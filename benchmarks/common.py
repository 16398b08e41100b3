"""Shared by the benchmarks: a spare Redis db, and how busy the machine was."""

from __future__ import annotations

import os
import sys
from typing import Any


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
