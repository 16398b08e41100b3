"""A whole bot on the lab, with Alice allowed to run her own KQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis as sync_redis

from bot.config import Settings
from tests.slack.conftest import SIGNING_SECRET, TOKEN


@pytest.fixture
def settings(redis_url: str, lab_file: Path, tmp_path: Path) -> Settings:
    """For `soc_bot` (tests/slack/bot_under_test.py): Alice may write KQL; Bob and Carol
    (S0APPROVERS) approve; Dave may hunt but not write KQL."""
    sync_redis.Redis.from_url(redis_url).flushdb()
    lab = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, lab)
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        redis_url=redis_url,
        hunt_backend="lab",
        lab_db=lab,
        kql_allowed_users=("U0ALICE",),
    )
