"""The job queue's enqueueing side: taskiq on Redis Streams, with acknowledgements.

Why taskiq: asyncio like the rest of the bot, a Redis Streams broker that redelivers what a dead
worker never acknowledged, and it works with redis-py 8 (arq pins redis-py below 6). The queue
only delivers; whether work may run, and whether it already has, is decided from our own state
in Redis, so a redelivered job does not post twice.

Jobs are sent by name, so any process can enqueue without importing what runs them
(`bot.jobs` registers the same names in workers).
"""

from __future__ import annotations

from enum import StrEnum

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

from bot.state import keys

# A job a worker took and never acknowledged (the worker died) is handed to another after this.
REDELIVER_AFTER_MS = 5 * 60 * 1000


class JobName(StrEnum):
    RUN_HUNT = "run_hunt"
    EXPORT_CSV = "export_csv"
    EXECUTE_APPROVAL = "execute_approval"


def create_broker(redis_url: str) -> RedisStreamBroker:
    return RedisStreamBroker(
        redis_url,
        queue_name=keys.job_stream(),
        consumer_group_name="hunt-bot-workers",
        idle_timeout=REDELIVER_AFTER_MS,
        xread_block=1000,
    )


class JobQueue:
    """Enqueue the bot's background work from any process."""

    def __init__(self, broker: AsyncBroker) -> None:
        self.broker = broker

    def _kicker(self, job: JobName) -> AsyncKicker[..., None]:
        return AsyncKicker(job.value, self.broker, {})

    async def enqueue_hunt(self, request_id: str) -> None:
        await self._kicker(JobName.RUN_HUNT).kiq(request_id)

    async def enqueue_export(self, result_id: str, user_id: str) -> None:
        await self._kicker(JobName.EXPORT_CSV).kiq(result_id, user_id)

    async def enqueue_execution(self, approval_id: str) -> None:
        # The job id is the approval id; the approval's own state decides whether it runs.
        await self._kicker(JobName.EXECUTE_APPROVAL).with_task_id(approval_id).kiq(approval_id)


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
