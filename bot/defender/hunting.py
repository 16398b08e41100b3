"""Advanced hunting through Microsoft Graph: `POST /v1.0/security/runHuntingQuery`.

The tenant's hunting quota (about 45 calls a minute, a CPU budget per 15 minutes) is shared by
everything that hunts in the tenant. Inside the bot, a `SharedQuota` (bot/state/quota.py, in
Redis) lets every call through: a retry waits for room in the window like any call, and a 429
pauses every process's hunting until its Retry-After and is handed to the flow, which queues the
hunt again and tells the person. Without one (the CLI), a 429 is waited out here only while the
wait stays short; beyond that the person is told when to try again. 5xx, timeouts and dropped
connections are retried with exponential backoff. Every other failure is an error the person can
act on.
The retry loop is written here rather than taken from a library: it has two budgets (transient
failures and quota wait) that treat 429 and 5xx differently, which is simpler to read as a loop.
TLS, tokens, Microsoft's error body and `Retry-After` come from the shared client (http.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field, ValidationError, model_validator

from bot.config import Settings
from bot.defender.auth import TokenProvider
from bot.defender.http import MicrosoftApi, Verify, api_error, http_client, retry_after_seconds
from bot.defender.results import Column, HuntResult
from bot.errors import (
    DefenderUnavailable,
    HuntingError,
    PermissionMissing,
    QueryError,
    QuotaExhausted,
)

log = logging.getLogger(__name__)

HUNTING_PERMISSION = "ThreatHunting.Read.All"
HUNTING_PATH = "/v1.0/security/runHuntingQuery"


class _GraphColumn(BaseModel):
    name: str
    type: str

    @model_validator(mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        # Graph documents `name`/`type`; some of its samples show `Name`/`Type`.
        return _lower_keys(value)


class _HuntingQueryResults(BaseModel):
    """Graph's `microsoft.graph.security.huntingQueryResults`."""

    columns: list[_GraphColumn] = Field(alias="schema", default_factory=list)
    results: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        return _lower_keys(value)


def _lower_keys(value: Any) -> Any:
    return {str(k).lower(): v for k, v in value.items()} if isinstance(value, dict) else value


class SharedQuota(Protocol):
    """The tenant's quota as every process sees it (bot/state/quota.py's HuntingQuota)."""

    async def retry_slot(self) -> str:
        """Wait for room for one more call (ahead of queued hunts); the call's id."""
        ...

    async def answered(self, call_id: str | None = None, *, throttled: bool = False) -> None:
        """Microsoft answered the call (default: the one this task was let through for); a
        429 is `throttled` (its pause is recorded next)."""
        ...

    async def pause(self, seconds: float, quota: str = "") -> float:
        """Nobody hunts for `seconds`, in any process."""
        ...

    async def paused(self) -> tuple[float, str]:
        """How much longer nobody may hunt (0: go), and for which quota."""
        ...


class GraphHunting:
    """The `HuntingBackend` that runs KQL on the tenant through Microsoft Graph."""

    name = "graph"

    def __init__(
        self,
        settings: Settings,
        tokens: TokenProvider,
        *,
        verify: Verify = True,
        max_quota_wait: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        timeout: float = 200.0,
        quota: SharedQuota | None = None,
    ) -> None:
        """With `quota`, the caller has let the first call through; every retry asks it again."""
        self._quota = quota
        self._max_quota_wait = max_quota_wait
        self._retries = retries
        self._backoff = backoff
        self._timeout = timeout
        # Graph stops a query after 3 minutes; the default read timeout leaves it room to say so.
        self._client = http_client(verify, timeout)
        self._graph = MicrosoftApi(
            self._client,
            tokens,
            service="Microsoft Graph",
            base=settings.graph_base,
            scope=settings.hosts.graph_scope,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run_query(self, kql: str) -> HuntResult:
        quota_waited = 0.0
        throttles = 0
        failures = 0
        timeouts = 0
        call: str | None = None  # None: the call the caller let through
        while True:
            try:
                response = await self._post(kql, call)
            except httpx.TimeoutException:
                # A query that outlived Graph's own 3-minute limit is likely to do so again and
                # spends the tenant's CPU quota each time: one more try, not the full budget.
                timeouts += 1
                failure = f"Defender did not answer within {self._timeout:g} s"
                if timeouts > 1:
                    failures = self._retries
            except httpx.TransportError as exc:
                failure = f"Graph cannot be reached ({type(exc).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    return _parse_results(response)
                if status == 429:
                    # Without Retry-After, Graph's guidance is to back off exponentially.
                    told = retry_after_seconds(response)
                    retry_after = self._backoff * 2**throttles if told is None else told
                    throttles += 1
                    if self._quota is not None:
                        # Every process stops until then; the flow queues this hunt again.
                        exhausted = _quota_exhausted(response, retry_after, told=told is not None)
                        left = await self._quota.pause(retry_after, exhausted.quota)
                        log.info(
                            "hunting quota hit (%s); all hunting paused %.1fs",
                            exhausted.quota or "?",
                            left,
                        )
                        raise exhausted
                    if quota_waited + retry_after > self._max_quota_wait:
                        raise _quota_exhausted(response, retry_after, told=told is not None)
                    log.info("hunting quota hit; waiting %.1fs as Graph asks", retry_after)
                    await asyncio.sleep(retry_after)
                    quota_waited += retry_after
                    continue
                if status < 500:
                    raise _client_error(response)
                failure = f"Graph answered {status} {api_error(response).code}".rstrip()
            failures += 1
            if failures > self._retries:
                raise DefenderUnavailable(
                    f"{failure}; gave up after {failures} attempts.",
                    hint="Microsoft Defender may be having trouble; try again in a few "
                    "minutes. If it keeps failing, simplify the query or shorten its lookback.",
                )
            delay = self._backoff * 2 ** (failures - 1)
            log.warning("%s; retry %d/%d in %.1fs", failure, failures, self._retries, delay)
            await asyncio.sleep(delay)
            if self._quota is not None:
                call = await self._quota.retry_slot()

    async def _post(self, kql: str, call: str | None) -> httpx.Response:
        log.debug("hunting with %d characters of KQL", len(kql))
        if self._quota is not None:
            # A last look: another process may have been told to pause since this call was let
            # through (a 429 answered while this one waited for its token or connection).
            left, quota = await self._quota.paused()
            if left > 0:
                raise QuotaExhausted(
                    f"Hunting is paused for {_describe_seconds(left)} at Microsoft's request.",
                    retry_after=left,
                    quota=quota,
                )
        status = 0
        try:
            response = await self._graph.send(
                "POST",
                HUNTING_PATH,
                content=_json_body(kql),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "client-request-id": client_request_id(),
                },
            )
            status = response.status_code
            return response
        finally:
            if self._quota is not None:
                # Microsoft has seen it by now, if ever: it counts from here.
                await asyncio.shield(self._quota.answered(call, throttled=status == 429))


def client_request_id() -> str:
    """Graph's `client-request-id` (echoed back, and what Microsoft support asks for): a UUIDv7,
    whose first 48 bits are when the call was sent (Unix ms), so a call can be placed in time
    from either side, e.g. against a 429's Retry-After."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms & (2**48 - 1)) << 80
        | 0x7 << 76
        | (rand >> 68) << 64
        | 0b10 << 62
        | (rand & (2**62 - 1))
    )
    return str(uuid.UUID(int=value))


def _json_body(kql: str) -> bytes:
    # The docs write `Query`, the v1.0 CSDL `query` (microsoft-apis.md §1a); we send the
    # documented spelling. UTF-8 as declared, so non-ASCII KQL literals arrive intact.
    return json.dumps({"Query": kql}, ensure_ascii=False).encode("utf-8")


def _parse_results(response: httpx.Response) -> HuntResult:
    try:
        body = _HuntingQueryResults.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise HuntingError(
            f"Graph answered 200 but not with hunting results ({type(exc).__name__}).",
            hint="Check GRAPH_URL points at Microsoft Graph.",
        ) from None
    columns = [Column(name=c.name, type=c.type) for c in body.columns]
    datetime_columns = [c.name for c in columns if c.type.lower() == "datetime"]
    rows = body.results
    for row in rows:
        for name in datetime_columns:
            value = row.get(name)
            if isinstance(value, str):
                try:
                    row[name] = parse_graph_datetime(value)
                except ValueError:  # keep what Graph sent rather than lose the whole hunt
                    log.warning("column %s: unreadable DateTime %r", name, value[:40])
    return HuntResult.build(columns, rows)


def parse_graph_datetime(value: str) -> datetime | None:
    """Graph's DateTime (`2026-05-04T10:15:00.1234567Z`, 7 fractional digits) as aware UTC."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _client_error(response: httpx.Response) -> HuntingError:
    error = api_error(response)
    status = response.status_code
    if status == 400:
        # Microsoft's message names the operator, table or column at fault; keep it verbatim.
        return QueryError(
            error.message or "Defender rejected the query.",
            hint="Fix the query (or the hunt's parameters) and run it again.",
        )
    if status == 401:
        return PermissionMissing(
            f"Microsoft Graph rejected the bot's token (401 {error.code}: {error.message}).",
            hint="The token is for the wrong tenant or resource, or the app lacks admin "
            "consent: check AZURE_TENANT_ID and AZURE_CLOUD, and grant admin consent.",
        )
    if status == 403:
        return PermissionMissing(
            f"The app registration may not run advanced hunting (403 {error.code}: "
            f"{error.message}).",
            hint=f"Grant the Microsoft Graph application permission {HUNTING_PERMISSION} "
            "to the app registration and grant admin consent.",
        )
    return HuntingError(
        f"Graph answered {status} {error.code}: {error.message}".rstrip(": "),
        hint="Check GRAPH_URL and try again; report it if it persists.",
    )


def _quota_exhausted(response: httpx.Response, retry_after: float, *, told: bool) -> QuotaExhausted:
    text = api_error(response).message
    quota = quota_named(text)
    if quota == "cpu":
        which = "its CPU allocation for advanced hunting (renewed every 15 minutes)"
    elif quota == "calls":
        which = "its advanced-hunting call rate"
    else:
        which = "its advanced-hunting quota"
    when = _describe_seconds(retry_after)
    advice = f"Microsoft says to try again in {when}." if told else f"Try again in {when}."
    return QuotaExhausted(
        f"The tenant has used up {which}. {advice}" + (f" ({text})" if text else ""),
        retry_after=retry_after,
        hint=f"Run the hunt again in {when}; other tools hunting in "
        "the same tenant share this quota.",
        quota=quota,
    )


def quota_named(message: str) -> str:
    """Which quota a 429's message says ran out: "cpu", "calls" or "" (it does not say)."""
    lowered = message.lower()
    if "processing resources" in lowered or "cpu" in lowered:
        return "cpu"
    if "calls" in lowered or "requests" in lowered:
        return "calls"
    return ""


def _describe_seconds(seconds: float) -> str:
    if seconds < 90:
        whole = max(1, round(seconds))
        return f"{whole} second" + ("s" if whole > 1 else "")
    return f"{round(seconds / 60)} minutes"
