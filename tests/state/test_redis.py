"""The Redis connection: REDIS_URL where given, else a real embedded redis-server."""

import os
from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import HuntBotError
from bot.state.redis import check_redis, open_redis

LOCAL_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def test_embedded_redis_is_a_real_server_that_keeps_its_data(tmp_path):
    first = open_redis(Settings(), data_dir=tmp_path)
    assert (await check_redis(first)).startswith("6.")
    await first.client.set("hunt-bot:test", "kept")
    lua_get = "return redis.call('GET', KEYS[1])"
    assert await first.client.eval(lua_get, 1, "hunt-bot:test") == "kept"
    await first.aclose()

    second = open_redis(Settings(), data_dir=tmp_path)
    try:
        assert await second.client.get("hunt-bot:test") == "kept"
    finally:
        await second.aclose()


async def test_redis_url_is_used_when_given():
    connection = open_redis(Settings(redis_url=LOCAL_REDIS))
    try:
        version = await check_redis(connection)
    except HuntBotError:
        pytest.skip(f"no Redis at {LOCAL_REDIS}")
    finally:
        await connection.aclose()
    assert version
    assert connection.description == LOCAL_REDIS


async def test_an_unreachable_redis_says_what_to_do():
    connection = open_redis(Settings(redis_url="redis://:pw@127.0.0.1:1/0"))
    with pytest.raises(HuntBotError) as caught:
        await check_redis(connection)
    await connection.aclose()
    assert "does not answer" in caught.value.message
    assert "pw" not in caught.value.message
    assert "REDIS_URL" in caught.value.hint


async def test_a_cli_beside_the_console_leaves_its_embedded_redis_running(tmp_path):
    """`hunt-bot audit export` in a second terminal attaches to the console's embedded Redis;
    when it exits the console's Redis must still answer."""
    import subprocess
    import sys

    console = open_redis(Settings(), data_dir=tmp_path / "hunt-bot")
    try:
        await console.client.set("hunt-bot:still", "here")
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HUNTS_DIR")} | {
            "XDG_DATA_HOME": str(tmp_path)
        }
        cli = Path(sys.executable).with_name("hunt-bot")
        done = subprocess.run(
            [str(cli), "audit", "export", "--output", str(tmp_path / "audit.jsonl")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert await console.client.get("hunt-bot:still") == "here"
    finally:
        await console.aclose()


async def test_a_redis_that_accepts_and_never_answers_fails_the_call_instead_of_hanging():
    """A hung server (or dropped packets) must not hold a request or a worker for ever."""
    import asyncio
    import time

    from bot.state.redis import READ_TIMEOUT

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads what is sent, answers nothing, until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = open_redis(Settings(redis_url=f"redis://127.0.0.1:{port}/0"))
    started = time.monotonic()
    try:
        with pytest.raises(HuntBotError, match="does not answer"):
            await check_redis(connection)
    finally:
        await connection.aclose()
        server.close()
    assert time.monotonic() - started < READ_TIMEOUT + 2
