"""A Take actions request between the modal's two steps: reviewed, not yet submitted. It holds
one screened spec per chosen action (several device actions on the same rows become one
approval each)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import redis.asyncio as aioredis
from pydantic import BaseModel, Field, model_validator

from bot.actions.model import ApprovalSpec
from bot.errors import HuntBotError
from bot.policy import ExcludedTarget
from bot.state import keys

DRAFT_TTL = timedelta(minutes=30)


class DraftPart(BaseModel):
    """One action of the request, as policy screened it: it becomes one approval."""

    spec: ApprovalSpec
    excluded: list[ExcludedTarget] = []
    choice_label: str


class Draft(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    parts: list[DraftPart] = Field(min_length=1)
    requester: str
    result_id: str
    hunt: str
    team: str
    channel: str
    thread_ts: str
    # The first step as entered (block id -> text; the chosen actions' keys joined by commas),
    # for Back.
    filled: dict[str, str] = {}

    @model_validator(mode="before")
    @classmethod
    def _one_action_drafts(cls, data: object) -> object:
        """A draft kept before requests could hold several actions: its one spec is one part."""
        if isinstance(data, dict) and "parts" not in data and "spec" in data:
            part = {
                name: data.pop(name)
                for name in ("spec", "excluded", "choice_label")
                if name in data
            }
            return {**data, "parts": [part]}
        return data


class Drafts:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def save(self, draft: Draft) -> None:
        await self._redis.set(keys.draft(draft.id), draft.model_dump_json(), ex=DRAFT_TTL)

    async def get(self, draft_id: str) -> Draft:
        """The draft, left in place (going Back to edit it)."""
        raw = await self._redis.get(keys.draft(draft_id))
        return _draft(raw, "This request waited too long to be edited.")

    async def take(self, draft_id: str) -> Draft:
        """The draft, removed so a double submit cannot create two approvals."""
        raw = await self._redis.getdel(keys.draft(draft_id))
        return _draft(raw, "This request was already submitted, or waited too long.")


def _draft(raw: str | bytes | None, gone: str) -> Draft:
    if raw is None:
        raise HuntBotError(gone, hint="Press Take actions on the results again.")
    return Draft.model_validate_json(raw)
