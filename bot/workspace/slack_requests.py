"""What Slack sends the bot, built and signed as Slack builds and signs it.

Shapes: ../shared/reference/slack-platform.md §2 (Slack's payload references and bolt-python's
scenario tests). Slash commands are form fields; interactions are a form field `payload=<json>`;
events are JSON. Every request is signed: `X-Slack-Signature: v0=HMAC-SHA256(secret,
"v0:{timestamp}:{body}")` with `X-Slack-Request-Timestamp` (§1.5), by slack_sdk's own
`SignatureVerifier.generate_signature`.

The builders are pure: they take the trigger id and response URL to carry, which the caller gets
from the Web API stand-in so that views.open and the response URL accept them.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from .model import API_APP_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, VERIFICATION_TOKEN, Channel, User

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class SlackRequest:
    kind: str  # "command", "interaction" or "event"
    body: str  # exactly the bytes Slack would send (as text)
    content_type: str
    payload: dict[str, Any]  # the same, decoded, for assertions and the console


def _form(kind: str, fields: dict[str, str]) -> SlackRequest:
    return SlackRequest(kind, urlencode(fields), FORM, fields)


def _interaction(payload: dict[str, Any]) -> SlackRequest:
    body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
    return SlackRequest("interaction", body, FORM, payload)


def _user(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": TEAM_ID}


def _common() -> dict[str, Any]:
    return {
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
    }


def action_ts() -> str:
    return f"{time.time():.6f}"


# -- slash commands ---------------------------------------------------------------------------


def slash_command(
    *,
    user: User,
    channel: Channel,
    command: str,
    text: str,
    response_url: str,
    trigger_id: str,
) -> SlackRequest:
    return _form(
        "command",
        {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel.id,
            "channel_name": channel.name,
            "user_id": user.id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        },
    )


# -- block_actions ----------------------------------------------------------------------------


def action_payload(
    element: dict[str, Any], block_id: str, chosen: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One entry of `actions`: the element as the person used it.

    `chosen` carries what they picked or typed for selects and inputs, e.g.
    `{"selected_option": {...}}` or `{"value": "..."}`.
    """
    action: dict[str, Any] = {
        "type": element.get("type"),
        "action_id": element.get("action_id", ""),
        "block_id": block_id,
        "action_ts": action_ts(),
    }
    if element.get("type") == "button":
        action["text"] = element.get("text")
        if "value" in element:
            action["value"] = element["value"]
        if "style" in element:
            action["style"] = element["style"]
    return action | (chosen or {})


def block_actions_in_message(
    *,
    user: User,
    channel: Channel,
    message: dict[str, Any],
    action: dict[str, Any],
    trigger_id: str,
    response_url: str,
    is_ephemeral: bool = False,
) -> SlackRequest:
    """A button pressed in a channel message (`message` as Slack returns it) or an ephemeral."""
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel.id,
        "is_ephemeral": is_ephemeral,
    }
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user),
        **_common(),
        "container": container,
        "trigger_id": trigger_id,
        "channel": {"id": channel.id, "name": channel.name},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }
    if not is_ephemeral:
        # Slack does not send the message of an ephemeral: it keeps no copy of it.
        payload["message"] = message
    return _interaction(payload)


def block_actions_in_view(
    *, user: User, view: dict[str, Any], action: dict[str, Any], trigger_id: str
) -> SlackRequest:
    """An element used inside an open modal: the view replaces message and channel, and there
    is no response URL."""
    return _interaction(
        {
            "type": "block_actions",
            "user": _user(user),
            **_common(),
            "container": {"type": "view", "view_id": view["id"]},
            "trigger_id": trigger_id,
            "view": view,
            "actions": [action],
        }
    )


# -- views ------------------------------------------------------------------------------------


def view_submission(*, user: User, view: dict[str, Any], trigger_id: str) -> SlackRequest:
    return _interaction(
        {
            "type": "view_submission",
            "user": _user(user),
            **_common(),
            "trigger_id": trigger_id,
            "view": view,
            "response_urls": [],
        }
    )


def view_closed(*, user: User, view: dict[str, Any], is_cleared: bool = False) -> SlackRequest:
    return _interaction(
        {
            "type": "view_closed",
            "user": _user(user),
            **_common(),
            "view": view,
            "is_cleared": is_cleared,
        }
    )


# -- events -----------------------------------------------------------------------------------

MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def app_mention(
    *, user: User, channel: Channel, text: str, ts: str, thread_ts: str | None = None
) -> SlackRequest:
    """An `app_mention` event_callback; `text` has mentions in Slack's `<@U…>` form."""
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user.id,
        "text": text,
        "ts": ts,
        "channel": channel.id,
        "event_ts": ts,
        "team": TEAM_ID,
        "client_msg_id": str(uuid.uuid4()),
        "blocks": [rich_text_of(text)],
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    payload = {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "context_team_id": TEAM_ID,
        "api_app_id": API_APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(float(ts)),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }
    return SlackRequest("event", json.dumps(payload), "application/json", payload)


def rich_text_of(text: str) -> dict[str, Any]:
    """The rich_text block Slack's client attaches to a typed message."""
    elements: list[dict[str, Any]] = []
    position = 0
    for match in MENTION.finditer(text):
        if match.start() > position:
            elements.append({"type": "text", "text": text[position : match.start()]})
        elements.append({"type": "user", "user_id": match.group(1)})
        position = match.end()
    if position < len(text):
        elements.append({"type": "text", "text": text[position:]})
    return {
        "type": "rich_text",
        "block_id": uuid.uuid4().hex[:5],
        "elements": [{"type": "rich_text_section", "elements": elements}],
    }


# -- signing and sending ----------------------------------------------------------------------


@dataclass(frozen=True)
class BotAnswer:
    status: int
    text: str

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON (an empty ack)."""
        try:
            return json.loads(self.text) if self.text.strip() else None
        except json.JSONDecodeError:
            return None


def signed_headers(body: str, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None  # None only without a secret
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


class Sender(Protocol):
    """How requests reach the bot: `SignedSender` (HTTP) or `SocketModeStandIn` (Socket Mode)."""

    async def send(self, request: SlackRequest) -> BotAnswer: ...


class SignedSender:
    """POSTs requests to `{bot_url}/slack/events` as Slack does: signed, over HTTP."""

    def __init__(self, bot_url: str, signing_secret: str, *, timeout: float = 10.0) -> None:
        self.url = f"{bot_url.rstrip('/')}/slack/events"
        self.signing_secret = signing_secret
        self._http = httpx.AsyncClient(timeout=timeout)

    async def send(
        self,
        request: SlackRequest,
        *,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> BotAnswer:
        """Send `request`; `timestamp` and `signing_secret` override them to test forgeries."""
        headers = {
            "Content-Type": request.content_type,
            **signed_headers(request.body, signing_secret or self.signing_secret, timestamp),
            **(extra_headers or {}),
        }
        response = await self._http.post(self.url, content=request.body.encode(), headers=headers)
        return BotAnswer(response.status_code, response.text)

    async def aclose(self) -> None:
        await self._http.aclose()
