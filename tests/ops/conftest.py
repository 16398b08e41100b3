"""Operations tests: a whole bot (tests/slack/bot_under_test.py) watched from outside, through
/metrics, /readyz and its log lines, on real Redis servers."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis

from bot.config import Settings
from bot.defender.auth import TokenProvider
from bot.defender.hunting import GraphHunting
from tests.slack.conftest import SIGNING_SECRET, TOKEN
from tests.standins.microsoft import MicrosoftStandIn


@pytest.fixture
def settings(redis_url: str, lab_file: Path, tmp_path: Path) -> Settings:
    redis.Redis.from_url(redis_url).flushdb()
    lab = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, lab)
    return Settings(
        _env_file=None,
        slack_bot_token=TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        redis_url=redis_url,
        hunt_backend="lab",
        lab_db=lab,
    )


@pytest.fixture
async def hunting(microsoft: MicrosoftStandIn) -> AsyncIterator[GraphHunting]:
    """Graph's hunting API through the bot's own client, against the local Microsoft."""
    tokens = TokenProvider(microsoft.settings(), http_client=microsoft.requests_session())
    backend = GraphHunting(
        microsoft.settings(),
        tokens,
        verify=microsoft.ssl_context(),
        max_quota_wait=5.0,
        retries=2,
        backoff=0.01,
        timeout=2.0,
    )
    yield backend
    await backend.aclose()
