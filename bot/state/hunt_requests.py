"""A hunt someone asked for: written on the ack path, read by the job that runs it.

Beside each request: how it ended (`outcome`, claimed once: the worker's "posting" or a person's
"cancelled:<user>", whichever comes first, so a Cancel can never race a post), and where its
progress message is, so any worker or web process can update or remove it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import NamedTuple

import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from bot.ids import random_hex
from bot.state import keys

REQUEST_TTL = timedelta(days=1)
POSTING, CANCELLED = "posting", "cancelled"


class HuntRequest(BaseModel):
    id: str = Field(default_factory=random_hex)
    hunt: str
    arguments: dict[str, str]
    user_id: str
    team_id: str
    channel_id: str
    response_url: str | None = None
    thread_ts: str | None = None  # set when the results belong in an existing incident thread
    rerun_of: str | None = None
    schedule_id: str | None = None  # set when a schedule's tick asked for it: post only new rows
    requested_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def _json(text: str | None) -> str:
    return "null" if text is None else encode_basestring_ascii(text)


class Progress(BaseModel):
    """Where the visible "Running…" message of a hunt that takes a while is."""

    channel: str
    ts: str


def _outcome_key(request_id: str) -> str:
    return f"{keys.hunt_request(request_id)}:outcome"


def _progress_key(request_id: str) -> str:
    return f"{keys.hunt_request(request_id)}:progress"


class RequestWrite(NamedTuple):
    """What `save` writes, for writing it in the same round trip as the job that runs it
    (bot/queue.py `JobQueue.enqueue_hunt(saving=...)`)."""

    key: str
    value: str
    ttl_seconds: int


class HuntRequests:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    @staticmethod
    def write(request: HuntRequest) -> RequestWrite:
        return RequestWrite(
            keys.hunt_request(request.id),
            request.model_dump_json(),
            int(REQUEST_TTL.total_seconds()),
        )

    @staticmethod
    def write_new(
        *,
        hunt: str,
        arguments: Mapping[str, str],
        user_id: str,
        team_id: str,
        channel_id: str,
        response_url: str | None = None,
        thread_ts: str | None = None,
    ) -> tuple[str, RequestWrite]:
        """A new request's id, and what `write` makes of that HuntRequest, without the model:
        validating and dumping it was nearly a tenth of `/hunt`'s ack (benchmarks/README.md).
        The values are strings already, each escaped as JSON; the text is what
        model_dump_json writes (tests/state/test_hunt_requests.py holds the two together)."""
        request_id = random_hex()
        pairs = ",".join(f"{_json(name)}:{_json(value)}" for name, value in arguments.items())
        at = datetime.now(UTC).isoformat().removesuffix("+00:00") + "Z"  # as pydantic writes it
        value = (
            f'{{"id":"{request_id}","hunt":{_json(hunt)},"arguments":{{{pairs}}},'
            f'"user_id":{_json(user_id)},"team_id":{_json(team_id)},'
            f'"channel_id":{_json(channel_id)},"response_url":{_json(response_url)},'
            f'"thread_ts":{_json(thread_ts)},"rerun_of":null,"schedule_id":null,'
            f'"requested_at":"{at}"}}'
        )
        ttl = int(REQUEST_TTL.total_seconds())
        return request_id, RequestWrite(keys.hunt_request(request_id), value, ttl)

    async def save(self, request: HuntRequest) -> None:
        key, value, ttl = self.write(request)
        await self._redis.set(key, value, ex=ttl)

    async def load(self, request_id: str) -> HuntRequest | None:
        raw = await self._redis.get(keys.hunt_request(request_id))
        return None if raw is None else HuntRequest.model_validate_json(raw)

    # How it ended, decided once across every process (SET NX).

    async def claim(self, request_id: str, outcome: str) -> str:
        """Claim `outcome` for the request; the outcome that holds (ours, or the one before)."""
        key = _outcome_key(request_id)
        if await self._redis.set(key, outcome, nx=True, ex=REQUEST_TTL):
            return outcome
        held = await self._redis.get(key)
        if held is None:  # expired between the two calls: a day-old request, nothing to decide
            return outcome
        return held.decode() if isinstance(held, bytes) else str(held)

    async def outcome(self, request_id: str) -> str | None:
        held = await self._redis.get(_outcome_key(request_id))
        if held is None:
            return None
        return held.decode() if isinstance(held, bytes) else str(held)

    async def cancelled_by(self, request_id: str) -> str | None:
        """Who cancelled the hunt (an outcome of `cancelled:<user>`), or None."""
        held = await self.outcome(request_id)
        if held is None or not held.startswith(f"{CANCELLED}:"):
            return None
        return held.partition(":")[2]

    async def save_progress(self, request_id: str, progress: Progress) -> None:
        await self._redis.set(_progress_key(request_id), progress.model_dump_json(), ex=REQUEST_TTL)

    async def progress(self, request_id: str) -> Progress | None:
        raw = await self._redis.get(_progress_key(request_id))
        return None if raw is None else Progress.model_validate_json(raw)
