"""What the fault tests' bots run on: the lab tenant, a Redis, and the Slack stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import Settings


def lab_bot_settings(
    redis_url: str, lab: Path, slack_api_url: str, token: str, signing_secret: str, **extra: Any
) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=token,
        slack_signing_secret=signing_secret,
        slack_api_url=slack_api_url,
        redis_url=redis_url,
        hunt_backend="lab",
        lab_db=lab,
        **extra,
    )
