"""The one way the bot talks HTTP to Microsoft (Graph, Defender for Endpoint).

What every Microsoft call shares lives here: the TLS setting, the bearer token from the process's
one `TokenProvider` (MSAL answers from its cache), Microsoft's `{"error": {...}}` body, the
`Retry-After` header, and a log line per call that names the path, status and request id but
never the token. What to retry and what an answer means stay with the callers (hunting's and the
action executors' own policies), because they differ.
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from bot import metrics
from bot.defender.auth import TokenProvider

log = logging.getLogger(__name__)

Verify = bool | str | ssl.SSLContext  # True, a CA file or directory, or a ready context


def tls_verify(verify: Verify) -> bool | ssl.SSLContext:
    """httpx 0.28 wants an SSLContext rather than a CA path."""
    if not isinstance(verify, str):
        return verify
    if Path(verify).is_dir():
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify)


def http_client(verify: Verify, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=tls_verify(verify), timeout=timeout)


class ApiError(BaseModel):
    """`{"error": {"code", "message", ...}}`: Graph adds `innerError`, MDE a `target` id."""

    code: str = ""
    message: str = ""

    def describe(self, status: int) -> str:
        text = f"{status} {self.code}".rstrip()
        return f"{text}: {self.message}" if self.message else text


def api_error(response: httpx.Response) -> ApiError:
    """The error Microsoft sent, or (a proxy's page, say) the start of whatever body came."""
    try:
        error = response.json().get("error")
        if isinstance(error, dict):
            return ApiError.model_validate(error)
    except (ValueError, AttributeError, ValidationError):
        pass
    return ApiError(message=response.text.strip()[:500])


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), if present."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class MicrosoftApi:
    """One Microsoft API: its base URL and token scope, over a shared httpx client.

    `send` makes exactly one attempt; AuthenticationError (no token) and httpx's transport
    errors reach the caller, whose policy decides what they mean.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenProvider,
        *,
        service: str,
        base: str,
        scope: str,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self.service = service  # "Microsoft Graph" or "Defender for Endpoint", for messages
        self.base = base
        self._scope = scope

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        token = await self._tokens.access_token(self._scope)
        started = time.monotonic()
        try:
            response = await self._http.request(
                method,
                f"{self.base}{path}",
                json=json,
                content=content,
                params=params,
                headers={
                    "Accept": "application/json",
                    **(headers or {}),
                    "Authorization": f"Bearer {token}",
                },
            )
        except httpx.HTTPError:
            metrics.microsoft_answered(self.service, "no answer", time.monotonic() - started)
            raise
        took = time.monotonic() - started
        metrics.microsoft_answered(self.service, response.status_code, took)
        log.info(
            "%s %s %s -> %d in %.2fs, request-id %s",
            self.service,
            method,
            path,
            response.status_code,
            took,
            response.headers.get("request-id", "-"),
        )
        return response
