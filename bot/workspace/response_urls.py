"""Posts to a response URL, applied as Slack applies them (slack-platform.md §1.3).

- `response_type`: `ephemeral` (the default: only the person who acted sees it) or `in_channel`;
- `replace_original` replaces the message the interaction came from (a channel message or an
  ephemeral); a slash command has no original, so its replace posts a new message, as users
  report of Slack (bolt-python #1268);
- `delete_original` deletes that message; `thread_ts` posts into a thread;
- at most 5 posts within 30 minutes.

Slack documents no error bodies for response URLs; we answer HTTP 404 for a used, expired or
unknown URL and HTTP 400 for a post Slack would refuse, with `{"ok": false, "error": code}`
(unconfirmed), and `{"ok": true}` on success.
"""

from __future__ import annotations

from typing import Any

from .calls import Effect
from .chat_methods import message_content
from .interactions import ResponseUrl
from .model import BOT_ID, BOT_USER_ID, Ephemeral, Message
from .protocol import SlackError, SlackState, bool_arg, optional_str


def post_to_response_url(
    state: SlackState, token: str, payload: dict[str, Any]
) -> tuple[int, dict[str, Any], list[Effect]]:
    """(HTTP status, body, effects) of one post to the response URL `token`."""
    url, refusal = state.response_urls.use(token)
    if url is None:
        return 404, {"ok": False, "error": refusal}, []
    workspace = state.workspace
    if bool_arg(payload, "delete_original"):
        return _delete_original(state, url)
    try:
        text, blocks = message_content(payload)
    except SlackError as exc:
        return 400, exc.body(), []
    thread_ts = optional_str(payload, "thread_ts") or url.thread_ts
    if bool_arg(payload, "replace_original") and url.source is not None:
        kind, ts = url.source
        if kind == "ephemeral":
            ephemeral = workspace.ephemeral(ts)
            if ephemeral is None:
                return 404, {"ok": False, "error": "message_not_found"}, []
            ephemeral.text, ephemeral.blocks = text, blocks or []
            return 200, {"ok": True}, [("ephemeral", ts)]
        message = workspace.message(url.channel, ts)
        if message is None:
            return 404, {"ok": False, "error": "message_not_found"}, []
        message.text, message.blocks = text, blocks or []
        message.edits += 1
        return 200, {"ok": True}, [("message", url.channel, ts)]
    if payload.get("response_type") == "in_channel":
        message = workspace.add_message(
            Message(
                url.channel, workspace.next_ts(), text, blocks or [], BOT_USER_ID, BOT_ID, thread_ts
            )
        )
        return 200, {"ok": True}, [("message", url.channel, message.ts)]
    ephemeral = Ephemeral(url.channel, url.user, workspace.next_ts(), text, blocks or [], thread_ts)
    workspace.ephemerals.append(ephemeral)
    return 200, {"ok": True}, [("ephemeral", ephemeral.ts)]


def _delete_original(
    state: SlackState, url: ResponseUrl
) -> tuple[int, dict[str, Any], list[Effect]]:
    if url.source is None:
        return 404, {"ok": False, "error": "message_not_found"}, []
    kind, ts = url.source
    if kind == "ephemeral":
        ephemeral = state.workspace.ephemeral(ts)
        if ephemeral is None:
            return 404, {"ok": False, "error": "message_not_found"}, []
        ephemeral.deleted = True
        return 200, {"ok": True}, [("deleted_ephemeral", ts)]
    message = state.workspace.message(url.channel, ts)
    if message is None:
        return 404, {"ok": False, "error": "message_not_found"}, []
    message.deleted = True
    return 200, {"ok": True}, [("deleted", url.channel, ts)]
