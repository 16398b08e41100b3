"""A hunt someone asked for: written on the ack path, read by the job that runs it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from bot.state import keys

REQUEST_TTL = timedelta(days=1)


class HuntRequest(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    hunt: str
    arguments: dict[str, str]
    user_id: str
    team_id: str
    channel_id: str
    response_url: str | None = None
    thread_ts: str | None = None  # set when the results belong in an existing incident thread
    rerun_of: str | None = None
    requested_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class HuntRequests:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def save(self, request: HuntRequest) -> None:
        await self._redis.set(
            keys.hunt_request(request.id), request.model_dump_json(), ex=REQUEST_TTL
        )

    async def load(self, request_id: str) -> HuntRequest | None:
        raw = await self._redis.get(keys.hunt_request(request_id))
        return None if raw is None else HuntRequest.model_validate_json(raw)
