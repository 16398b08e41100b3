"""Slack's Socket Mode side of the stand-in: the WebSocket the app connects out to.

What Slack does (../shared/reference/slack-platform.md §1.4, docs.slack.dev/apis/events-api/
using-socket-mode, docs.slack.dev/reference/methods/apps.connections.open):

- `apps.connections.open`, called with the app-level token (xapp-), answers
  `{"ok": true, "url": "wss://…/link/?ticket=…&app_id=…"}`; here the URL is `ws://127.0.0.1:PORT`
  and its ticket is good for one connection. A bot token gets `not_allowed_token_type`, any other
  token `invalid_auth` (the Web API stand-in answers, through `WebApiStandIn.socket_mode`).
- On connecting, Slack says `hello` (`num_connections`, `debug_info`, `connection_info`).
- Each payload goes to one open connection as an envelope `{"envelope_id", "type":
  "slash_commands"|"interactive"|"events_api", "payload", "accepts_response_payload"}` (events
  also carry `retry_attempt` and `retry_reason`); the payload is what HTTP mode would POST, as
  JSON. The app acknowledges with `{"envelope_id", "payload"?}` within 3 s; a payload is used
  only where the envelope accepts one (slash commands and view submissions), else ignored.
- Before refreshing a connection Slack sends `{"type": "disconnect", "reason":
  "refresh_requested"|"warning"|"link_disabled", "debug_info"}`, sends nothing more on it, and
  closes it; the app opens another with a new `apps.connections.open`.

`SocketModeStandIn.send(request)` delivers a request built by `slack_requests` as an envelope
and answers as `SignedSender.send` does (a `BotAnswer` holding the ack's payload), so
`SlackPlatform` and the console session drive a bot in Socket Mode exactly as over HTTP. No ack
within 3 s answers status 504 with Slack's `operation_timeout`. Ours, not Slack's: an unknown or
used ticket is refused before the WebSocket opens (HTTP 401); envelopes go to the newest open
connection that has not been told to disconnect.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .model import API_APP_ID
from .slack_requests import BotAnswer, SlackRequest
from .webapi import WebApiStandIn

ENVELOPE_TYPES = {"command": "slash_commands", "interaction": "interactive", "event": "events_api"}
ACK_SECONDS = 3.0  # Slack's limit for an acknowledgement
DISCONNECT_REASONS = ("refresh_requested", "warning", "link_disabled")
HOST = "applink-standin"


@dataclass
class Connection:
    number: int  # 1 for the first connection, and so on
    ticket: str
    ws: web.WebSocketResponse
    opened_at: float = field(default_factory=time.monotonic)
    retiring: bool = False  # told to disconnect: nothing more is sent on it
    closed: bool = False

    @property
    def live(self) -> bool:
        return not self.closed and not self.retiring and not self.ws.closed


@dataclass
class Envelope:
    id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    connection: int
    sent_at: float = field(default_factory=time.monotonic)
    ack: dict[str, Any] | None = None  # the acknowledgement as the app sent it
    acked_at: float | None = None
    acked_on: int | None = None  # the connection it came back on

    @property
    def ack_seconds(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.sent_at


def accepts_response_payload(request: SlackRequest) -> bool:
    """Whether Slack uses a payload in the ack: slash commands and view submissions (and option
    requests) answer with one; button presses, closed views and events do not."""
    if request.kind == "command":
        return True
    if request.kind == "interaction":
        return request.payload.get("type") in ("view_submission", "block_suggestion")
    return False


def envelope_message(
    envelope: Envelope, *, retry_attempt: int = 0, retry_reason: str = ""
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "envelope_id": envelope.id,
        "payload": envelope.payload,
        "type": envelope.type,
        "accepts_response_payload": envelope.accepts_response_payload,
    }
    if envelope.type == "events_api":
        message["retry_attempt"] = retry_attempt
        message["retry_reason"] = retry_reason
    return message


class SocketModeStandIn:
    """Slack's Socket Mode endpoint for one app, paired with the Web API stand-in the app calls
    `apps.connections.open` on:

        async with WebApiStandIn(token="xoxb-…").running() as slack, \\
                SocketModeStandIn(slack, app_token="xapp-…").running() as socket:
            ...  # the app connects with base_url=slack.api_url and the app token
            await socket.connected()
            answer = await socket.send(slack_requests.slash_command(...))
            await socket.refresh()  # disconnect (refresh_requested); the app reconnects
    """

    def __init__(
        self, web_api: WebApiStandIn, *, app_token: str, ack_timeout: float = ACK_SECONDS
    ) -> None:
        self.web_api = web_api
        self.app_token = app_token
        self.ack_timeout = ack_timeout
        self.connections: list[Connection] = []
        self.envelopes: list[Envelope] = []
        self.problems: list[str] = []  # what the app sent that Slack would not understand
        self.tickets_issued = 0
        self._tickets: set[str] = set()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Condition()
        self._closing: set[asyncio.Task[None]] = set()
        self._url = ""

    # -- apps.connections.open -----------------------------------------------------------------

    def issue_url(self) -> str:
        """A one-time WebSocket URL, as apps.connections.open hands out."""
        ticket = secrets.token_hex(16)
        self._tickets.add(ticket)
        self.tickets_issued += 1
        return f"{self._url}?ticket={ticket}&app_id={API_APP_ID}"

    # -- what tests use ------------------------------------------------------------------------

    def live_connections(self) -> list[Connection]:
        return [c for c in self.connections if c.live]

    async def connected(self, *, after: int = 0, timeout: float = 10.0) -> Connection:
        """The newest live connection numbered above `after`, once there is one."""
        async with asyncio.timeout(timeout), self._changed:
            while True:
                live = [c for c in self.live_connections() if c.number > after]
                if live:
                    return live[-1]
                await self._changed.wait()

    async def closed(self, connection: Connection, *, timeout: float = 10.0) -> None:
        """Once `connection` is closed, by either side."""
        async with asyncio.timeout(timeout), self._changed:
            while not connection.closed:
                await self._changed.wait()

    async def send(
        self, request: SlackRequest, *, retry_attempt: int = 0, retry_reason: str = ""
    ) -> BotAnswer:
        """Deliver `request` as an envelope on a live connection; the app's ack as an answer."""
        envelope = Envelope(
            id=str(uuid.uuid4()),
            type=ENVELOPE_TYPES[request.kind],
            payload=request.payload,
            accepts_response_payload=accepts_response_payload(request),
            connection=0,
        )
        waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[envelope.id] = waiting
        self.envelopes.append(envelope)
        message = json.dumps(
            envelope_message(envelope, retry_attempt=retry_attempt, retry_reason=retry_reason)
        )
        try:
            while True:
                connection = await self.connected(timeout=self.ack_timeout)
                envelope.connection = connection.number
                envelope.sent_at = time.monotonic()
                try:
                    await connection.ws.send_str(message)
                    break
                except ConnectionError:  # closing under us: Slack uses another connection
                    connection.closed = True
            ack = await asyncio.wait_for(asyncio.shield(waiting), self.ack_timeout)
        except TimeoutError:
            return BotAnswer(504, json.dumps({"ok": False, "error": "operation_timeout"}))
        finally:
            self._pending.pop(envelope.id, None)
        payload = ack.get("payload")
        if not envelope.accepts_response_payload or not payload:
            return BotAnswer(200, "")
        return BotAnswer(200, json.dumps(payload))

    async def disconnect(
        self, reason: str = "refresh_requested", *, close_after: float = 1.0
    ) -> list[Connection]:
        """Tell every live connection to go; Slack closes each after `close_after` seconds
        unless the app has closed it first. The connections told."""
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"Slack sends no disconnect for {reason!r}")
        told = self.live_connections()
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": HOST}})
        for connection in told:
            connection.retiring = True
            with suppress(ConnectionError):
                await connection.ws.send_str(message)
            closing = asyncio.create_task(self._close(connection, after=close_after))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return told

    async def refresh(self, *, timeout: float = 10.0) -> Connection:
        """A `refresh_requested` disconnect, and the new connection the app opens for it."""
        newest = self.connections[-1].number if self.connections else 0
        await self.disconnect("refresh_requested")
        return await self.connected(after=newest, timeout=timeout)

    # -- the WebSocket -------------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = Connection(len(self.connections) + 1, ticket, ws)
        self.connections.append(connection)
        await ws.send_str(json.dumps(self._hello()))
        async with self._changed:
            self._changed.notify_all()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._receive(connection, message.data)
                elif message.type == WSMsgType.BINARY:
                    self.problems.append(f"connection {connection.number}: a binary frame")
        finally:
            connection.closed = True
            async with self._changed:
                self._changed.notify_all()
        return ws

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": len([c for c in self.connections if not c.closed]),
            "debug_info": {
                "host": HOST,
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": API_APP_ID},
        }

    def _receive(self, connection: Connection, data: str) -> None:
        try:
            ack = json.loads(data)
        except json.JSONDecodeError:
            self.problems.append(f"connection {connection.number}: not JSON: {data[:100]!r}")
            return
        envelope_id = ack.get("envelope_id") if isinstance(ack, dict) else None
        envelope = next((e for e in self.envelopes if e.id == envelope_id), None)
        if envelope is None:
            self.problems.append(f"connection {connection.number}: unknown envelope: {data[:100]}")
            return
        if envelope.ack is not None:
            self.problems.append(f"envelope {envelope.id} acknowledged twice")
            return
        envelope.ack, envelope.acked_on = ack, connection.number
        envelope.acked_at = time.monotonic()
        waiting = self._pending.get(envelope.id)
        if waiting is not None and not waiting.done():
            waiting.set_result(ack)

    async def _close(self, connection: Connection, *, after: float = 0.0) -> None:
        if after:
            await asyncio.sleep(after)
        if not connection.ws.closed:
            await connection.ws.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SocketModeStandIn]:
        app = web.Application()
        app.router.add_get("/link/", self._link)
        app.router.add_get("/link", self._link)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock)
        await site.start()
        self._url = f"ws://127.0.0.1:{sock.getsockname()[1]}/link/"
        self.web_api.socket_mode = self
        try:
            yield self
        finally:
            self.web_api.socket_mode = None
            for closing in list(self._closing):
                closing.cancel()
            for connection in self.connections:
                await self._close(connection)
            await runner.cleanup()
            sock.close()
