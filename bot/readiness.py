"""Readiness (GET /readyz): what the bot needs before it can do its work, and what is missing.

Liveness (/healthz) only says the process answers and Redis does; readiness also names the
settings and files a hunt or a Slack answer would need, each in a sentence saying what to do.
"""

from __future__ import annotations

from bot.config import EXPECTED, Settings
from bot.errors import HuntBotError, SettingsError
from bot.state.redis import RedisConnection, check_redis


async def missing(settings: Settings, redis: RedisConnection) -> dict[str, str]:
    """What is missing, by what it is (redis, settings, lab); empty when ready."""
    found: dict[str, str] = {}
    try:
        await check_redis(redis)
    except HuntBotError as exc:
        found["redis"] = exc.message
    unset = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
        )
        if value is None
    ]
    problems = [f"{name} is not set: expected {EXPECTED[name]}" for name in unset]
    if settings.hunt_backend == "graph":
        try:
            settings.require_graph()
        except SettingsError as exc:
            problems.append(exc.message)
    if problems:
        found["settings"] = "; ".join(problems)
    if settings.hunt_backend == "lab" and not settings.lab_db.exists():
        found["lab"] = (
            "The lab tenant's file (LAB_DB) is missing: run `hunt-bot lab init`, or the first "
            "hunt creates it and waits while it does."
        )
    return found
