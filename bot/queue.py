"""The job queue's enqueueing side: taskiq on Redis Streams, with acknowledgements.

Why taskiq: asyncio like the rest of the bot, a Redis Streams broker that redelivers what a dead
worker never acknowledged, and it works with redis-py 8 (arq pins redis-py below 6). The queue
only delivers; whether work may run, and whether it already has, is decided from our own state
in Redis, so a redelivered job does not post twice.

Jobs are sent by name, so any process can enqueue without importing what runs them
(`bot.jobs` registers the same names in workers).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _json_string
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

from bot import metrics, pipelined_redis
from bot.backoff import Backoff
from bot.ids import random_hex
from bot.pipelined_redis import PipelinedRedis
from bot.state import keys
from bot.state.redis import CONNECT_TIMEOUT, READ_TIMEOUT

log = logging.getLogger(__name__)

# A job a worker took and never acknowledged (the worker died) is handed to another after this.
REDELIVER_AFTER_MS = 5 * 60 * 1000


class JobName(StrEnum):
    RUN_HUNT = "run_hunt"
    EXPORT_CSV = "export_csv"
    EXECUTE_APPROVAL = "execute_approval"


# Waiting for Redis to come back: a worker is consuming again at most this long after it does.
RECONNECT_FIRST = 0.25  # seconds
RECONNECT_CAP = 3.0  # seconds

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class OutageTolerantBroker(RedisStreamBroker):
    """taskiq-redis's stream broker, whose listening rides out a Redis outage.

    Why a loop of our own: RedisStreamBroker.listen lets a ConnectionError out, and taskiq's
    `run_receiver_task` answers any error by building a new receiver at once, with a traceback
    and no delay and no setting for one (about 280,000 log lines in a 10 s outage). redis-py's
    own `Retry` could back off inside the connection, but it logs nothing and would also hold
    every enqueue in the web process, which must answer "try again" at once instead. So only
    `listen` (and the acknowledgement) is wrapped: on a lost connection it waits with capped,
    jittered backoff, one log line per step, pings until Redis answers, and listens again.
    A stream or consumer group that Redis lost (restarted without its data) is declared again.
    """

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        lost_group = Backoff(first=RECONNECT_FIRST, cap=RECONNECT_CAP)
        while True:
            try:
                async for message in super().listen():
                    lost_group.reset()
                    yield message
                return
            except _UNREACHABLE as exc:
                if _being_cancelled():
                    # redis-py turns a cancelled read into "Connection closed by server": that
                    # is the worker stopping, not an outage to ride out (it would never end).
                    raise asyncio.CancelledError from exc
                await self._wait_for_redis(exc)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                delay = lost_group.next()
                log.warning(
                    "job queue: the stream's consumer group is gone (Redis lost its data?); "
                    "declaring it again in %.1f s",
                    delay,
                )
                await asyncio.sleep(delay)
                await self._wait_for_redis(None)

    async def _wait_for_redis(self, problem: Exception | None) -> None:
        backoff = Backoff(first=RECONNECT_FIRST, cap=RECONNECT_CAP)
        started = time.monotonic()
        while True:
            if problem is not None:
                metrics.redis_error("queue")
                delay = backoff.next()
                log.warning(
                    "job queue: Redis unreachable (%s) for %.1f s; trying again in %.1f s",
                    _describe(problem),
                    time.monotonic() - started,
                    delay,
                )
                await asyncio.sleep(delay)
            try:
                async with aioredis.Redis(connection_pool=self.connection_pool) as redis:
                    await redis.ping()
                    await self._declare_again(redis)
            except _UNREACHABLE as exc:
                problem = exc
                continue
            if problem is not None:
                log.warning(
                    "job queue: Redis answers again after %.1f s; consuming jobs",
                    time.monotonic() - started,
                )
            return

    async def _declare_again(self, redis: aioredis.Redis) -> None:
        """The consumer group, in case Redis came back without its data. A group lost that way
        starts from the stream's beginning (not "$", the newest): every entry in a stream
        made since is a job enqueued after the loss, which no worker has seen."""
        for stream in (self.queue_name, *self.additional_streams):
            try:
                await redis.xgroup_create(stream, self.consumer_group_name, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):  # the group is there: nothing was lost
                    raise

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        ack = super()._ack_generator(id, queue_name)

        async def _ack() -> None:
            try:
                await ack()
            except RedisError as exc:
                # The job ran; its entry stays pending and is handed out again later, when our
                # own state in Redis says it already ran.
                log.warning("job queue: job not acknowledged (%s)", _describe(exc))

        return _ack


def _describe(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0][:120]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def create_broker(redis_url: str) -> RedisStreamBroker:
    return OutageTolerantBroker(
        redis_url,
        queue_name=keys.job_stream(),
        consumer_group_name="hunt-bot-workers",
        idle_timeout=REDELIVER_AFTER_MS,
        xread_block=1000,  # well inside the read timeout
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=READ_TIMEOUT,
    ).with_id_generator(random_hex)  # one per /hunt ack


# The job's entry, written by one script with the request it runs on: one round trip on the
# ack path instead of two (and no taskiq kicker, which builds a Redis client per enqueue).
# The script is the same on every server (EVALSHA by its SHA-1, EVAL after a restart).
# KEYS: the stream, then optionally the request's key. ARGV: the taskiq message, then
# optionally the request's JSON and its time to live in seconds.
_SAVE_AND_ENQUEUE = """
if KEYS[2] then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
return redis.call('XADD', KEYS[1], '*', 'data', ARGV[1])
"""


_MESSAGE_JSON = (
    '{{"task_id":{task_id},"task_name":{task_name},"labels":{{}},"labels_types":{{}},'
    '"args":[{args}],"kwargs":{{}}}}'
)


class Saving(Protocol):
    """A value to store together with the job (bot/state/hunt_requests.py `RequestWrite`)."""

    @property
    def key(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def ttl_seconds(self) -> int: ...


class JobQueue:
    """Enqueue the bot's background work from any process.

    Entries are exactly what taskiq-redis's stream broker writes (`XADD <stream> * data
    <TaskiqMessage JSON>`), so the worker's broker reads them unchanged. They are written by one
    Lua script over one pipelined connection (bot/pipelined_redis.py), or, for a `rediss://`
    Redis, through one redis-py client on the broker's connection pool, built once.
    """

    def __init__(self, broker: RedisStreamBroker, url: str | None = None) -> None:
        self.broker = broker
        self._redis = aioredis.Redis(connection_pool=broker.connection_pool)
        self._script = self._redis.register_script(_SAVE_AND_ENQUEUE)
        self._sha = hashlib.sha1(_SAVE_AND_ENQUEUE.encode()).hexdigest()
        self._pipe = (
            PipelinedRedis(url, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
            if url is not None and pipelined_redis.supports(url)
            else None
        )

    def _message(self, job: JobName, args: list[str], task_id: str | None) -> bytes:
        """A TaskiqMessage as JSON (what its model_dump_json makes, without building the model
        on the ack path); the worker reads it with TaskiqMessage.model_validate_json. Its shape
        is fixed and its values are strings: filled into a template, each string escaped, at
        a quarter of what encoding a dict costs (a JSON encoder is made for every dumps)."""
        return _MESSAGE_JSON.format(
            task_id=_json_string(task_id or self.broker.id_generator()),
            task_name=_json_string(job.value),
            args=",".join(map(_json_string, args)),
        ).encode()

    async def _enqueue(
        self,
        job: JobName,
        *args: str,
        task_id: str | None = None,
        saving: Saving | None = None,
    ) -> None:
        message = self._message(job, list(args), task_id)
        keys_ = [self.broker.queue_name] if saving is None else [self.broker.queue_name, saving.key]
        values: list[bytes | str | int] = [message]
        if saving is not None:
            values += [saving.value, saving.ttl_seconds]
        if self._pipe is None:
            await self._script(keys=keys_, args=values)
            return
        try:
            await self._pipe.execute("EVALSHA", self._sha, len(keys_), *keys_, *values)
        except NoScriptError:  # Redis restarted since: EVAL loads it again
            await self._pipe.execute("EVAL", _SAVE_AND_ENQUEUE, len(keys_), *keys_, *values)

    async def enqueue_hunt(self, request_id: str, *, saving: Saving | None = None) -> None:
        """Queue the hunt; with `saving` (its request), store that in the same round trip."""
        await self._enqueue(JobName.RUN_HUNT, request_id, saving=saving)

    async def enqueue_export(self, result_id: str, user_id: str) -> None:
        await self._enqueue(JobName.EXPORT_CSV, result_id, user_id)

    async def enqueue_execution(self, approval_id: str) -> None:
        # The job id is the approval id; the approval's own state decides whether it runs.
        await self._enqueue(JobName.EXECUTE_APPROVAL, approval_id, task_id=approval_id)

    async def aclose(self) -> None:
        if self._pipe is not None:
            await self._pipe.aclose()


async def jobs_pending(redis: aioredis.Redis) -> bool:
    """Whether the queue holds work not finished: undelivered, or delivered and unacknowledged.

    Jobs are acknowledged when they end, so a delivered, unacknowledged entry is one running.
    """
    stream = keys.job_stream()
    try:
        if not await redis.exists(stream):
            return False
        info = await redis.xinfo_stream(stream)
        groups = await redis.xinfo_groups(stream)
    except RedisError:
        return False
    last = _stream_id(info.get("last-generated-id"))
    if not groups:
        return bool(info.get("length"))
    return any(
        int(group.get("pending", 0)) > 0 or _stream_id(group.get("last-delivered-id")) < last
        for group in groups
    )


def _stream_id(value: object) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value or "0-0")
    millis, _, sequence = text.partition("-")
    return int(millis or 0), int(sequence or 0)
