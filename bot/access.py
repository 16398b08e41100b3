"""Who may hunt: optional allow-lists of channels, users and Slack user groups.

The ack path may only touch Redis, so it decides from what is cached; group membership it does not
have yet is looked up by the job, which re-checks before running anything. Membership comes from
a `GroupMembers` cache, as for the approval policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.state.usergroups import GroupMembers


@dataclass(frozen=True)
class Decision:
    allowed: bool | None  # None: not known without asking Slack for group members
    reason: str = ""


ALLOWED = Decision(True)


class HuntAccess:
    def __init__(self, settings: Settings, members: GroupMembers) -> None:
        self._channels = set(settings.hunt_allowed_channels)
        self._users = set(settings.hunt_allowed_users)
        self._groups = list(settings.hunt_allowed_usergroups)
        self._members = members
        self._schedulers = set(settings.schedule_allowed_users)
        self._scheduler_groups = list(settings.schedule_allowed_usergroups)

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
            members = await self._members.cached(group)
            if members is None:
                unknown = True
            elif user_id in members:
                return ALLOWED
        return Decision(None) if unknown else self._refused()

    async def check(self, user_id: str, channel_id: str) -> Decision:
        """Authoritative: looks up group members it has not cached (for jobs and lazy work)."""
        decision = await self.check_cached(user_id, channel_id)
        if decision.allowed is not None:
            return decision
        for group in self._groups:
            if user_id in await self._members(group):
                return ALLOWED
        return self._refused()

    async def may_schedule(self, user_id: str, channel_id: str) -> Decision:
        """Scheduling needs hunting in the channel and, when SCHEDULE_ALLOWED_* are set, a
        place on that list: a schedule hunts every hour in the person's name."""
        decision = await self.check(user_id, channel_id)
        if not decision.allowed:
            return decision
        if not self._schedulers and not self._scheduler_groups:
            return ALLOWED
        if user_id in self._schedulers:
            return ALLOWED
        for group in self._scheduler_groups:
            if user_id in await self._members(group):
                return ALLOWED
        return Decision(False, "You are not on the list of people who may schedule hunts.")

    @staticmethod
    def _refused() -> Decision:
        return Decision(False, "You are not on the list of people who may hunt. Ask a SOC lead.")
