"""chat.*, users.*, usergroups.*, conversations.* and auth.test, answered as Slack answers them.

Response shapes follow Slack's method reference (docs.slack.dev/reference/methods/*): e.g.
chat.postMessage answers `ok`, `channel`, `ts` and the posted `message`; chat.postEphemeral
answers `message_ts`; list methods carry `response_metadata.next_cursor`.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from .limits import LIMITS, message_block_problems
from .model import BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, Channel, Ephemeral, Message
from .protocol import (
    Handler,
    Reply,
    SlackError,
    SlackState,
    json_arg,
    optional_str,
    required,
)


def message_content(args: dict[str, Any], *, need_something: bool = True) -> tuple[str, Any]:
    """(text, blocks or None) checked as Slack checks them; blocks None means "not given"."""
    blocks = json_arg(args, "blocks", "invalid_blocks_format")
    if blocks is not None:
        problems = message_block_problems(blocks)
        if problems:
            raise SlackError("invalid_blocks", problems)
    attachments = json_arg(args, "attachments", "invalid_attachments")
    text = args.get("text")
    text = "" if text is None else str(text)
    if need_something and not text and not blocks and not attachments:
        raise SlackError("no_text")
    return text[: LIMITS.message_text], None if blocks is None else with_ids(blocks)


def with_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy with a `block_id` on every block and an `action_id` on every interactive element,
    generated where the app gave none, as Slack stores them and sends them back in payloads."""
    stored = copy.deepcopy(blocks)
    for block in stored:
        block.setdefault("block_id", secrets.token_urlsafe(4))
        for element in (
            *block.get("elements", []),
            block.get("accessory"),
            block.get("element"),
        ):
            if isinstance(element, dict) and element.get("type") not in INERT_ELEMENTS:
                element.setdefault("action_id", secrets.token_urlsafe(4))
    return stored


# Elements that are not interactive and so carry no action_id.
INERT_ELEMENTS = frozenset(
    {
        "plain_text",
        "mrkdwn",
        "image",
        "rich_text_section",
        "rich_text_list",
        "rich_text_preformatted",
        "rich_text_quote",
    }
)


def _channel(state: SlackState, args: dict[str, Any], name: str = "channel") -> Channel:
    channel = state.workspace.channel_by_ref(str(args.get(name) or ""))
    if channel is None:
        raise SlackError("channel_not_found")
    return channel


def _extra(args: dict[str, Any]) -> dict[str, Any]:
    keys = ("unfurl_links", "unfurl_media", "mrkdwn", "metadata", "reply_broadcast", "parse")
    return {k: args[k] for k in keys if k in args}


def post_message(state: SlackState, args: dict[str, Any]) -> Reply:
    workspace = state.workspace
    channel = _channel(state, args)
    if BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    text, blocks = message_content(args)
    thread_ts = optional_str(args, "thread_ts")
    if thread_ts is not None:
        root = workspace.message(channel.id, thread_ts)
        if root is None:
            raise SlackError("thread_not_found")  # (unconfirmed for chat.postMessage)
        # A reply's ts names its thread's root, as Slack treats it.
        thread_ts = root.thread_ts if root.is_reply else root.ts
    message = workspace.add_message(
        Message(
            channel.id,
            workspace.next_ts(),
            text,
            blocks or [],
            BOT_USER_ID,
            BOT_ID,
            thread_ts,
            extra=_extra(args),
        )
    )
    return Reply(
        {"ok": True, "channel": channel.id, "ts": message.ts, "message": message.to_slack()},
        [("message", channel.id, message.ts)],
    )


def update_message(state: SlackState, args: dict[str, Any]) -> Reply:
    channel = _channel(state, args)
    ts = required(args, "ts", "message_not_found")
    message = state.workspace.message(channel.id, ts)
    if message is None:
        raise SlackError("message_not_found")
    if message.bot_id != BOT_ID:
        raise SlackError("cant_update_message")
    text, blocks = message_content(args)
    # Blocks not given are kept; an empty list removes them (Slack's chat.update usage notes).
    if blocks is not None:
        message.blocks = blocks
    if "text" in args:
        message.text = text
    message.edits += 1
    message.extra |= _extra(args)
    return Reply(
        {
            "ok": True,
            "channel": channel.id,
            "ts": ts,
            "text": message.text,
            "message": message.to_slack(),
        },
        [("message", channel.id, ts)],
    )


def delete_message(state: SlackState, args: dict[str, Any]) -> Reply:
    channel = _channel(state, args)
    message = state.workspace.message(channel.id, required(args, "ts", "message_not_found"))
    if message is None:
        raise SlackError("message_not_found")
    if message.bot_id != BOT_ID:
        raise SlackError("cant_delete_message")
    message.deleted = True
    return Reply(
        {"ok": True, "channel": channel.id, "ts": message.ts},
        [("deleted", channel.id, message.ts)],
    )


def post_ephemeral(state: SlackState, args: dict[str, Any]) -> Reply:
    workspace = state.workspace
    channel = _channel(state, args)
    user = required(args, "user", "user_not_found")
    if user not in workspace.users:
        raise SlackError("user_not_found")
    if user not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks = message_content(args)
    ephemeral = Ephemeral(
        channel.id, user, workspace.next_ts(), text, blocks or [], optional_str(args, "thread_ts")
    )
    workspace.ephemerals.append(ephemeral)
    return Reply({"ok": True, "message_ts": ephemeral.ts}, [("ephemeral", ephemeral.ts)])


def get_permalink(state: SlackState, args: dict[str, Any]) -> Reply:
    channel = _channel(state, args)
    message = state.workspace.message(channel.id, required(args, "message_ts", "message_not_found"))
    if message is None:
        raise SlackError("message_not_found")
    permalink = f"{state.base_url}/archives/{channel.id}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        permalink += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return Reply({"ok": True, "channel": channel.id, "permalink": permalink})


def conversations_replies(state: SlackState, args: dict[str, Any]) -> Reply:
    channel = _channel(state, args)
    ts = required(args, "ts", "thread_not_found")
    root = state.workspace.message(channel.id, ts)
    if root is None:
        raise SlackError("thread_not_found")
    root_ts = root.thread_ts if root.is_reply else root.ts
    messages = [m.to_slack() for m in state.workspace.thread(channel.id, root_ts or ts)]
    return Reply(
        {
            "ok": True,
            "messages": messages,
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }
    )


def conversations_members(state: SlackState, args: dict[str, Any]) -> Reply:
    channel = _channel(state, args)
    return Reply(
        {"ok": True, "members": list(channel.members), "response_metadata": {"next_cursor": ""}}
    )


def conversations_info(state: SlackState, args: dict[str, Any]) -> Reply:
    channel = _channel(state, args)
    return Reply({"ok": True, "channel": channel.to_slack(state.workspace.created)})


def users_info(state: SlackState, args: dict[str, Any]) -> Reply:
    user = state.workspace.users.get(str(args.get("user") or ""))
    if user is None:
        raise SlackError("user_not_found")
    return Reply({"ok": True, "user": user.to_slack()})


def usergroups_users_list(state: SlackState, args: dict[str, Any]) -> Reply:
    group = state.workspace.groups.get(str(args.get("usergroup") or ""))
    if group is None:
        raise SlackError("no_such_subteam")
    return Reply({"ok": True, "users": list(group.users)})


def auth_test(state: SlackState, args: dict[str, Any]) -> Reply:
    return Reply(
        {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Console",
            "user": "hunt-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }
    )


CHAT_METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": post_message,
    "chat.update": update_message,
    "chat.delete": delete_message,
    "chat.postEphemeral": post_ephemeral,
    "chat.getPermalink": get_permalink,
    "conversations.replies": conversations_replies,
    "conversations.members": conversations_members,
    "conversations.info": conversations_info,
    "users.info": users_info,
    "usergroups.users.list": usergroups_users_list,
}
