"""A local stand-in for the Slack Web API that answers as Slack does and records every call.

The bot reaches it through slack_sdk's real `AsyncWebClient(base_url=stand_in.api_url)`:

    async with WebApiStandIn(token="xoxb-console").running() as slack:
        client = AsyncWebClient(token="xoxb-console", base_url=slack.api_url)
        await client.chat_postMessage(channel="C0SOC", text="hello")
        call = await slack.calls.next_call(method_is("chat.postMessage"), after=0)

Routes: `/api/<method>` (query, form or JSON arguments; the bot token as `Authorization: Bearer`
or a `token` argument), `/upload/v1/<file id>` (the upload URL files.getUploadURLExternal hands
out), `/response/<token>` (response URLs). Errors are HTTP 200 `{"ok": false, "error": code}`,
except scripted rate limits: HTTP 429 with `Retry-After` and `{"ok": false, "error":
"ratelimited"}` (../shared/reference/slack-platform.md §5).

`apps.connections.open` takes the app-level token (xapp-) of a Socket Mode stand-in attached as
`socket_mode` (bot/workspace/socket_mode.py); the bot token there, or the app token anywhere
else, is `not_allowed_token_type`.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import Any, Protocol
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.serving import serve_in_loop

from .calls import Call, CallLog
from .chat_methods import CHAT_METHODS
from .modal_methods import MODAL_AND_FILE_METHODS
from .model import Workspace, console_workspace
from .protocol import Handler, SlackError, SlackState
from .response_urls import post_to_response_url

METHODS: dict[str, Handler] = CHAT_METHODS | MODAL_AND_FILE_METHODS
APP_LEVEL_METHODS = ("apps.connections.open",)  # called with the app-level token only


class SocketModeLinks(Protocol):
    """The Socket Mode side, as apps.connections.open needs it."""

    app_token: str

    def issue_url(self) -> str: ...


class WebApiStandIn:
    def __init__(self, token: str = "xoxb-console", workspace: Workspace | None = None) -> None:
        self.token = token
        self.state = SlackState(workspace or console_workspace())
        self.calls = CallLog()
        self._rate_limits: dict[str, deque[int]] = {}
        self.socket_mode: SocketModeLinks | None = None  # set while a Socket Mode stand-in runs
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/upload/v1/{file_id}", self._upload, methods=["POST"]),
                Route("/response/{token}", self._response_url, methods=["POST"]),
            ]
        )

    # -- what tests and the console use --------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        return self.state.workspace

    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def api_url(self) -> str:
        """What slack_sdk's `base_url` (and the bot's SLACK_API_URL) should be."""
        return f"{self.state.base_url}/api/"

    def rate_limit_next(self, method: str, retry_after: int = 1) -> None:
        """Answer the next call of `method` with 429 and `Retry-After: retry_after`."""
        self._rate_limits.setdefault(method, deque()).append(retry_after)

    def issue_trigger(self, user: str) -> str:
        """A trigger id as an interaction from `user` carries; views.open takes it for ~3 s."""
        return self.state.triggers.issue(user)

    def issue_response_url(
        self,
        *,
        channel: str,
        user: str,
        source: tuple[str, str] | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """A response URL for an interaction by `user` in `channel`.

        `source` is the message it came from, ("message", ts) or ("ephemeral", ts); None for a
        slash command.
        """
        url = self.state.response_urls.issue(
            channel=channel, user=user, source=source, thread_ts=thread_ts
        )
        return f"{self.state.base_url}/response/{url.token}"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WebApiStandIn]:
        async with serve_in_loop(self.app) as base_url:
            self.state.base_url = base_url
            yield self

    # -- routes --------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args, token = await _read_args(request)
        retry_after = self._take_rate_limit(method)
        if retry_after is not None:
            body = {"ok": False, "error": "ratelimited"}
            await self.calls.record(Call(method, args, 429, body))
            return JSONResponse(body, status_code=429, headers={"Retry-After": str(retry_after)})
        handler = METHODS.get(method)
        effects = []
        app_token = self.socket_mode.app_token if self.socket_mode else None
        if token is None:
            body = {"ok": False, "error": "not_authed"}
        elif method in APP_LEVEL_METHODS or token == app_token:
            body = self._app_level(method, token, app_token)
        elif token != self.token:
            body = {"ok": False, "error": "invalid_auth"}
        elif handler is None:
            body = {"ok": False, "error": "unknown_method"}
        else:
            try:
                reply = handler(self.state, args)
                body, effects = reply.body, reply.effects
            except SlackError as exc:
                body = exc.body()
        await self.calls.record(Call(method, args, 200, body, effects))
        return JSONResponse(body)

    async def _upload(self, request: Request) -> Response:
        upload = self.workspace.files.get(request.path_params["file_id"])
        content = await _upload_content(request)
        await self.calls.record(
            Call(
                "file_upload",
                {"file_id": request.path_params["file_id"], "bytes": len(content)},
                200 if upload else 404,
                {"ok": upload is not None},
            )
        )
        if upload is None:
            return PlainTextResponse("file_not_found", status_code=404)
        upload.content = content
        return PlainTextResponse(f"OK - {len(content)}")

    async def _response_url(self, request: Request) -> Response:
        raw = await request.body()
        try:
            payload = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            await self.calls.record(Call("response_url", {}, 400, {"ok": False}))
            return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        status, body, effects = post_to_response_url(
            self.state, request.path_params["token"], payload
        )
        await self.calls.record(Call("response_url", payload, status, body, effects))
        return JSONResponse(body, status_code=status)

    def _app_level(self, method: str, token: str, app_token: str | None) -> dict[str, Any]:
        """apps.connections.open: a one-time WebSocket URL for the app-level token."""
        if token == app_token and method in APP_LEVEL_METHODS and self.socket_mode is not None:
            return {"ok": True, "url": self.socket_mode.issue_url()}
        if token in (app_token, self.token):
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": False, "error": "invalid_auth"}

    def _take_rate_limit(self, method: str) -> int | None:
        pending = self._rate_limits.get(method)
        return pending.popleft() if pending else None


async def _read_args(request: Request) -> tuple[dict[str, Any], str | None]:
    """Arguments from the query string and the body, and the token however it was given."""
    args: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        raw = await request.body()
        try:
            data = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            data = {}
        if isinstance(data, dict):
            args.update(data)
    elif content_type.startswith("application/x-www-form-urlencoded"):
        raw = await request.body()
        args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    token = args.pop("token", None)
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    return args, token


async def _upload_content(request: Request) -> bytes:
    """The file's bytes: the raw body (slack_sdk) or the file part of a multipart form (curl)."""
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return body
    # The standard library reads multipart bodies as MIME; no form-parsing dependency needed.
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        if part.get_filename() is not None:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    return b""
