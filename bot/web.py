"""The HTTP edge: POST /slack/events, GET /healthz (liveness), /readyz (readiness), /metrics.

Slack's signature and timestamp are checked (slack_sdk's verifier, as Bolt uses) before anything
parses the body, and the body is capped (a body that is not UTF-8 fails the check too). Whatever
a caller sends, the answer is 401, 400 or 413, never a 500, and a refused request's body is never
logged. Only then does Bolt parse and dispatch it.

Each request gets a request id for the log lines it causes (bot/logs.py), and its answer's
latency is counted by kind (bot/metrics.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import metrics
from bot.logs import bind_ids, new_request_id

log = logging.getLogger(__name__)

# Slack's largest payloads are view submissions with their state; far below this.
MAX_BODY_BYTES = 1024 * 1024
EVENTS = "/slack/events"


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, "body too large")
    # The ASGI messages themselves, as Starlette's request.stream() reads them, without its
    # async generator (asyncio registers each one in a weak set: a cost on every request).
    body = bytearray()
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        body += message.get("body", b"")
        if len(body) > limit:
            raise Refused(413, "body too large")
        if not message.get("more_body", False):
            return bytes(body)


def check_signature(verifier: SignatureVerifier | None, request: Request, body: bytes) -> None:
    if verifier is None:
        return
    timestamp = request.headers.get("x-slack-request-timestamp")
    signature = request.headers.get("x-slack-signature")
    try:
        valid = verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except (ValueError, TypeError):  # a timestamp that is not a number
        valid = False
    if not valid:
        raise Refused(401, "invalid signature")


def check_parseable(request: Request, body: bytes) -> tuple[str, str]:
    """What Bolt will parse must parse: UTF-8, and a JSON object where JSON is expected.
    Answers the body as text, and the request's kind (command, action, view, event or other)
    for the metrics."""
    try:
        text = body.decode("utf-8")
        if "application/json" in request.headers.get("content-type", ""):
            _json_object(text)
            return text, "event"
        if "payload=" not in text:  # a slash command: any UTF-8 form parses (Bolt parses it)
            kind = "command" if text.startswith("command=") or "&command=" in text else "other"
            return text, kind
        form = parse_qs(text, keep_blank_values=True)
        if "payload" in form:
            payload = _json_object(form["payload"][0])
            return text, _PAYLOAD_KINDS.get(str(payload.get("type")), "other")
        return text, "command" if "command" in form else "other"
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused(400, "malformed body") from None


_PAYLOAD_KINDS = {
    "block_actions": "action",
    "block_suggestion": "action",
    "interactive_message": "action",
    "shortcut": "action",
    "message_action": "action",
    "view_submission": "view",
    "view_closed": "view",
}


def _json_object(text: str) -> dict:
    found = json.loads(text)
    if not isinstance(found, dict):
        raise ValueError("not a JSON object")
    return found


def create_web_app(
    bolt: AsyncApp,
    *,
    signing_secret: str | None,
    health: Callable[[], Awaitable[str | None]],
    ready: Callable[[], Awaitable[dict[str, str]]] | None = None,
    before_metrics: Callable[[], Awaitable[None]] | None = None,
    stopping: Callable[[], Awaitable[None]] | None = None,
) -> ASGIApp:
    """`health` answers None when live, else what is wrong; `ready` what is missing, by what
    (empty when ready); `before_metrics` reads what /metrics reports from Redis; `stopping`
    runs at the server's shutdown, once it takes no more requests."""
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        bind_ids(request=new_request_id())
        try:
            body = await read_capped(request)
            check_signature(verifier, request, body)
            text, kind = check_parseable(request, body)
        except Refused as refused:
            log.info("refused a request to /slack/events: %s", refused.reason)  # never the body
            metrics.acked("refused", time.perf_counter() - started)
            return JSONResponse({"error": refused.reason}, status_code=refused.status)
        # What Bolt's Starlette adapter (to_async_bolt_request) builds, from the text decoded
        # once, and the query string as it came (Starlette's parsed copy was made for nothing).
        query = request.scope.get("query_string", b"").decode("latin-1")
        headers = request.headers  # Bolt reads any mapping of str (its own adapter passes this)
        bolt_request = AsyncBoltRequest(body=text, query=query, headers=headers)  # type: ignore[arg-type]
        answer = to_starlette_response(await bolt.async_dispatch(bolt_request))
        metrics.acked(kind, time.perf_counter() - started)
        return answer

    async def healthz(_: Request) -> Response:
        problem = await health()
        if problem is not None:
            return JSONResponse({"ok": False, "redis": problem}, status_code=503)
        return JSONResponse({"ok": True})

    async def readyz(_: Request) -> Response:
        missing = await ready() if ready is not None else {}
        if missing:
            return JSONResponse({"ready": False, "missing": missing}, status_code=503)
        return JSONResponse({"ready": True})

    async def metrics_page(_: Request) -> Response:
        if before_metrics is not None:
            await before_metrics()
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        # Before uvicorn returns: it then raises the SIGTERM it caught again, ending the process.
        if stopping is not None:
            await stopping()

    routes = Starlette(
        lifespan=lifespan,
        routes=[
            Route(EVENTS, slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_page, methods=["GET"]),
        ],
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Slack's requests go straight to their handler: Starlette's error and exception
        # middleware, router and request wrapper (four layers, each wrapping `send`) were about
        # 5% of every ack's CPU (benchmarks/README.md). What escapes the handler uvicorn
        # answers with a 500 and logs, as Starlette's error middleware did. Anything else,
        # and /slack/events by another method (405), is Starlette's.
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == EVENTS:
            response = await slack_events(Request(scope, receive))
            await response(scope, receive, send)
            return
        await routes(scope, receive, send)

    return app
