"""Who may hunt: optional allow-lists of channels, users and Slack user groups.

The ack path may only touch Redis, so it decides from what is cached; group membership it does not
have yet is looked up by the job, which re-checks before running anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.state import keys

GROUP_CACHE = timedelta(minutes=1)  # membership changes must take effect quickly


@dataclass(frozen=True)
class Decision:
    allowed: bool | None  # None: not known without asking Slack for group members
    reason: str = ""


ALLOWED = Decision(True)


class HuntAccess:
    def __init__(self, settings: Settings, redis: aioredis.Redis, slack: AsyncWebClient) -> None:
        self._channels = set(settings.hunt_allowed_channels)
        self._users = set(settings.hunt_allowed_users)
        self._groups = list(settings.hunt_allowed_usergroups)
        self._redis = redis
        self._slack = slack

    def _channel_refusal(self, channel_id: str) -> Decision | None:
        if self._channels and channel_id not in self._channels:
            return Decision(False, "Hunting is not enabled in this channel. Ask in a SOC channel.")
        return None

    async def check_cached(self, user_id: str, channel_id: str) -> Decision:
        """From settings and Redis only: fit for an ack path."""
        if refusal := self._channel_refusal(channel_id):
            return refusal
        if not self._users and not self._groups:
            return ALLOWED
        if user_id in self._users:
            return ALLOWED
        unknown = False
        for group in self._groups:
            key = keys.usergroup_members(group)
            if await self._redis.exists(key):
                if await self._redis.sismember(key, user_id):  # type: ignore[misc]
                    return ALLOWED
            else:
                unknown = True
        return Decision(None) if unknown else self._refused()

    async def check(self, user_id: str, channel_id: str) -> Decision:
        """Authoritative: looks up group members it has not cached (for jobs and lazy work)."""
        decision = await self.check_cached(user_id, channel_id)
        if decision.allowed is not None:
            return decision
        for group in self._groups:
            if user_id in await self.members_of(group):
                return ALLOWED
        return self._refused()

    async def members_of(self, group: str) -> set[str]:
        """A Slack user group's members, cached in Redis for a few minutes (shared by all)."""
        key = keys.usergroup_members(group)
        cached = await self._redis.smembers(key)  # type: ignore[misc]
        if cached or await self._redis.exists(key):
            return {str(member) for member in cached} - {""}
        try:
            answer = await self._slack.usergroups_users_list(usergroup=group)
            members = set(answer.get("users") or [])
        except SlackApiError:
            members = set()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.sadd(key, "", *members)  # "" marks a cached empty group
            pipe.expire(key, GROUP_CACHE)
            await pipe.execute()
        return members

    @staticmethod
    def _refused() -> Decision:
        return Decision(False, "You are not on the list of people who may hunt. Ask a SOC lead.")
