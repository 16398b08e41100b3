"""A whole bot per test (tests/slack's `settings`), and choosing from a results message's
Go hunt… menu as Slack sends it: a block action carrying the option picked."""

from __future__ import annotations

from typing import Any

from bot.slack.ids import ResultsAction
from bot.workspace import slack_requests as requests
from bot.workspace.model import Message
from bot.workspace.slack_requests import BotAnswer
from tests.slack.bot_under_test import SocBot
from tests.slack.conftest import settings  # noqa: F401 (the fixture, shared)


def go_hunt_menu(message: Message) -> tuple[str, dict[str, Any]]:
    """The results message's Go hunt… menu: its block id and the element."""
    for block in message.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == ResultsAction.GO_HUNT:
                return str(block.get("block_id", "")), element
    raise AssertionError(f"no Go hunt menu on {message.ts}")


def option_texts(message: Message) -> list[str]:
    return [o["text"]["text"] for o in go_hunt_menu(message)[1]["options"]]


async def choose(
    bot: SocBot, user: str, message: Message, starts: str, *, value: str | None = None
) -> tuple[BotAnswer, int]:
    """`user` picks the first option whose text starts with `starts` (or, forged, any value)."""
    block_id, element = go_hunt_menu(message)
    if value is None:
        option = next(o for o in element["options"] if o["text"]["text"].startswith(starts))
    else:
        option = {"text": {"type": "plain_text", "text": starts}, "value": value}
    who = bot.user(user)
    soc = bot.slack.workspace.channel_by_ref("soc")
    assert soc is not None
    before = len(bot.calls)
    answer = await bot.sender.send(
        requests.block_actions_in_message(
            user=who,
            channel=soc,
            message=message.to_slack(),
            action=requests.action_payload(element, block_id, {"selected_option": option}),
            trigger_id=bot.slack.issue_trigger(who.id),
            response_url=bot.slack.issue_response_url(
                channel=soc.id, user=who.id, source=("message", message.ts)
            ),
        )
    )
    return answer, before
