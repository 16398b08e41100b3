"""What every message the bot posts must satisfy: Slack's limits, and no live markup from data."""

from __future__ import annotations

import re
from typing import Any

from bot.workspace.limits import message_block_problems

# The only markup the bot itself writes in mrkdwn: mentions of user and group ids Slack gave
# us, and Slack's date formatting of times we hold (digits, a format of our own, a UTC fallback).
_OUR_MARKUP = re.compile(
    r"<@[A-Z0-9]+>|<!subteam\^[A-Z0-9]+>"
    r"|<!date\^\d+\^\{date_short_pretty\} \{time\}\|\d{4}-\d\d-\d\d \d\d:\d\d UTC>"
    # Links to the Defender portal (bot/slack/portal.py): its address and text escaped.
    r"|<https://security\.microsoft\.com/[^<>|\s]*\|[^<>]*>"
)


def mrkdwn_texts(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            found.append(node)
        for value in node.values():
            found.extend(mrkdwn_texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(mrkdwn_texts(value))
    return found


def assert_safe_message(blocks: list[dict[str, Any]], text: str = "") -> None:
    problems = message_block_problems(blocks)
    assert not problems, [str(p) for p in problems]
    for obj in mrkdwn_texts(blocks):
        assert obj.get("verbatim") is True, obj
        residue = _OUR_MARKUP.sub("", obj["text"])
        assert "<" not in residue and ">" not in residue, obj["text"]
    assert "<" not in _OUR_MARKUP.sub("", text) and ">" not in text
