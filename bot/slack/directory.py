"""What Slack's directory says about people and groups, for the bot's own policies."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient


async def usergroup_members(slack: AsyncWebClient, group: str) -> set[str]:
    """A user group's members; an unanswered question counts as nobody (fail closed)."""
    try:
        answer = await slack.usergroups_users_list(usergroup=group)
    except SlackApiError:
        return set()
    return set(answer.get("users") or [])
