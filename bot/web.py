"""The HTTP edge: POST /slack/events and GET /healthz.

Slack's signature and timestamp are checked (slack_sdk's verifier, as Bolt uses) before anything
parses the body, and the body is capped (a body that is not UTF-8 fails the check too). Whatever
a caller sends, the answer is 401, 400 or 413, never a 500, and a refused request's body is never
logged. Only then does Bolt parse and dispatch it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

# Slack's largest payloads are view submissions with their state; far below this.
MAX_BODY_BYTES = 1024 * 1024


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, "body too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, "body too large")
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


def check_parseable(request: Request, body: bytes) -> None:
    """What Bolt will parse must parse: UTF-8, and a JSON object where JSON is expected."""
    try:
        text = body.decode("utf-8")
        if "application/json" in request.headers.get("content-type", ""):
            _json_object(text)
            return
        form = parse_qs(text, keep_blank_values=True)
        if "payload" in form:
            _json_object(form["payload"][0])
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused(400, "malformed body") from None


def _json_object(text: str) -> None:
    if not isinstance(json.loads(text), dict):
        raise ValueError("not a JSON object")


def create_web_app(
    bolt: AsyncApp, *, signing_secret: str | None, health: Callable[[], Awaitable[str | None]]
) -> Starlette:
    """`health` answers None when ready, else what is missing."""
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    async def slack_events(request: Request) -> Response:
        try:
            body = await read_capped(request)
            check_signature(verifier, request, body)
            check_parseable(request, body)
        except Refused as refused:
            log.info("refused a request to /slack/events: %s", refused.reason)  # never the body
            return JSONResponse({"error": refused.reason}, status_code=refused.status)
        return to_starlette_response(
            await bolt.async_dispatch(to_async_bolt_request(request, body))
        )

    async def healthz(_: Request) -> Response:
        problem = await health()
        if problem is not None:
            return JSONResponse({"ok": False, "redis": problem}, status_code=503)
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
