"""One pipelined Redis connection for the job queue's writes: the one command on `/hunt`'s ack path.

Why not redis-py here: one EVALSHA through redis-py's asyncio client costs about 580 Python calls
(pool checkout, retries, observability hooks, its parser): two thirds of what the bot adds to a
bare Bolt ack (benchmarks/README.md). Here a command is one write and one future: commands are
written on one connection as they come (those of one event-loop turn in one write) and Redis
answers in order, so concurrent acks never wait for each other's round trips.

Errors are redis-py's own classes, so callers and `bot/flows/failures.py` treat them alike: a
lost or refused connection is `ConnectionError`, a command that takes too long `TimeoutError`
(the connection is then dropped, and so are the commands waiting on it), an error reply
`ResponseError` (`NoScriptError` for NOSCRIPT). The next command connects again.

Only `redis://` and `unix://` URLs (RESP2, AUTH and SELECT as the URL says); for `rediss://`
(TLS, with its many options) `supports` says no and the caller keeps redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.exceptions import AuthenticationError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

Reply = bytes | int | str | list[Any] | ResponseError | None


def supports(url: str) -> bool:
    return urlsplit(url).scheme in ("redis", "unix")


def pack(args: tuple[bytes | str | int, ...]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


_INCOMPLETE = object()


def parse(buffer: bytearray, at: int) -> tuple[Any, int]:
    """One reply from `buffer` at `at`: (reply, where the next starts), or (_INCOMPLETE, at)."""
    end = buffer.find(b"\r\n", at)
    if end < 0:
        return _INCOMPLETE, at
    kind, line = buffer[at], bytes(buffer[at + 1 : end])
    after = end + 2
    if kind == 0x2B:  # +simple
        return line.decode(), after
    if kind == 0x2D:  # -error
        text = line.decode(errors="replace")
        return (NoScriptError if text.startswith("NOSCRIPT") else ResponseError)(text), after
    if kind == 0x3A:  # :integer
        return int(line), after
    if kind == 0x24:  # $bulk
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return _INCOMPLETE, at
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 0x2A:  # *array
        count = int(line)
        items: list[Any] = []
        for _ in range(max(count, 0)):
            item, after = parse(buffer, after)
            if item is _INCOMPLETE:
                return _INCOMPLETE, at
            items.append(item)
        return (items if count >= 0 else None), after
    raise RedisConnectionError(f"Redis sent something that is not RESP ({kind!r})")


class _Connection(asyncio.Protocol):
    def __init__(self, read_timeout: float) -> None:
        self.transport: asyncio.Transport | None = None
        # Each command's answer, and by when (the loop's clock) it is due; Redis answers in order.
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.buffer = bytearray()
        self.unsent: list[bytes] = []
        self.lost: Exception | None = None
        self.read_timeout = read_timeout
        self.watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        at = 0
        try:
            while self.waiting:
                reply, after = parse(self.buffer, at)
                if reply is _INCOMPLETE:
                    break
                at = after
                future, _ = self.waiting.popleft()
                if not future.done():
                    future.set_result(reply)
        except (ValueError, RedisConnectionError) as exc:
            self.drop(RedisConnectionError(f"Redis answered something unreadable: {exc}"))
            return
        del self.buffer[:at]

    def connection_lost(self, exc: Exception | None) -> None:
        self.drop(RedisConnectionError(f"Redis closed the connection ({exc or 'by the server'})"))

    def drop(self, problem: Exception) -> None:
        if self.lost is None:
            self.lost = problem
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(self.lost)
        if self.transport is not None:
            self.transport.close()

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Queue `command`: what is sent in one turn of the event loop leaves in one write
        (acks handled together share a system call), at the end of that turn."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        due = loop.time() + self.read_timeout
        self.waiting.append((future, due))
        if self.watchdog is None:
            self.watchdog = loop.call_at(due, self._watch)
        if not self.unsent:
            loop.call_soon(self._flush)
        self.unsent.append(command)
        return future

    def _watch(self) -> None:
        """Whether the oldest command still waiting is overdue: then the connection is dropped,
        and every command waiting on it fails (they would be answered out of turn). One timer
        for all commands in flight, not one each: `asyncio.timeout` around every command made
        and cancelled a timer handle, about 4% of a /hunt ack's CPU (benchmarks/README.md)."""
        self.watchdog = None
        if not self.waiting or self.lost is not None:
            return
        loop = asyncio.get_running_loop()
        due = self.waiting[0][1]
        if due <= loop.time():
            self.drop(RedisTimeoutError(f"Redis did not answer within {self.read_timeout:g} s"))
        else:
            self.watchdog = loop.call_at(due, self._watch)

    def _flush(self) -> None:
        data = b"".join(self.unsent)
        self.unsent.clear()
        if self.lost is None and self.transport is not None:
            self.transport.write(data)


def _raised(reply: Any) -> Any:
    if isinstance(reply, ResponseError):
        raise reply
    return reply


class PipelinedRedis:
    def __init__(self, url: str, *, connect_timeout: float, read_timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "unix"):
            raise ValueError("only redis:// and unix:// URLs")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self._unix = parts.path if parts.scheme == "unix" else None
        self._host = parts.hostname or "localhost"
        self._port = parts.port or 6379
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else query.get("password")
        path_db = parts.path.lstrip("/") if parts.scheme == "redis" else ""
        self._db = int(query.get("db") or path_db or 0)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._connection: _Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting = asyncio.Lock()

    async def execute(self, *args: bytes | str | int) -> Any:
        """Send one command and its answer; an error reply is raised. No answer within the read
        timeout is a TimeoutError (the connection's watchdog drops it)."""
        connection = self._connection
        if connection is None or connection.lost is not None or self._loop_changed():
            connection = await self._connect()
        return _raised(await connection.send(pack(args)))

    def _loop_changed(self) -> bool:
        return self._loop is not asyncio.get_running_loop()

    async def _connect(self) -> _Connection:
        async with self._connecting:
            current = self._connection
            if current is not None and current.lost is None and not self._loop_changed():
                return current  # another command connected meanwhile
            if current is not None:
                current.drop(RedisConnectionError("reconnecting"))
            self._connection = None
            loop = asyncio.get_running_loop()

            def made() -> _Connection:
                return _Connection(self._read_timeout)

            try:
                async with asyncio.timeout(self._connect_timeout):
                    if self._unix is not None:
                        _, connection = await loop.create_unix_connection(made, self._unix)
                    else:
                        _, connection = await loop.create_connection(made, self._host, self._port)
            except (OSError, TimeoutError) as exc:
                raise RedisConnectionError(
                    f"cannot connect to Redis: {type(exc).__name__}"
                ) from exc
            await self._hello(connection)
            self._connection, self._loop = connection, loop
            return connection

    async def _hello(self, connection: _Connection) -> None:
        steps: list[tuple[str | int, ...]] = []
        if self._password is not None:
            user = (self._username,) if self._username else ()
            steps.append(("AUTH", *user, self._password))
        if self._db:
            steps.append(("SELECT", self._db))
        for step in steps:
            try:
                _raised(await connection.send(pack(step)))
            except ResponseError as exc:
                connection.drop(RedisConnectionError("refused"))
                if step[0] == "AUTH":
                    raise AuthenticationError(str(exc).split("\n", 1)[0]) from None
                raise

    async def aclose(self) -> None:
        if self._connection is not None:
            self._connection.drop(RedisConnectionError("closed"))
            self._connection = None
