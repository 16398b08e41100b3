"""A local Microsoft: Entra's token endpoint and Graph's advanced-hunting API, over HTTPS.

The bot's real clients (MSAL, httpx) talk to it exactly as they talk to Microsoft: point
`AZURE_AUTHORITY_HOST` and `GRAPH_URL` at `base_url` and trust `ca_file`.

Graph's email remediation and the Defender for Endpoint machine-action API answer too, from
`defender` (a `DefenderApi`, see defender_api.py; `MDE_URL` points here as well).

`POST /v1.0/security/runHuntingQuery` answers as Graph does:
- 401 `InvalidAuthenticationToken` when the bearer token is missing, expired or not for Graph;
- 403 `Forbidden` "Missing application roles..." without `ThreatHunting.Read.All`;
- 200 `huntingQueryResults` (`schema` + `results`, DateTime with 7 fractional digits, at most
  100,000 rows) from `query_handler(kql)` or canned e-mail rows;
- scripted faults for the next requests, in order: a KQL error (400), a 429 with `Retry-After`
  (call-rate or CPU-quota wording), a 5xx, a stall past the client's timeout, 100,000 rows.
Errors carry `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
Shapes and wording come from the Graph and Defender docs and from responses quoted in public
issue threads (the Graph and Entra wording of a few errors is not published; see each constant).
Every request is recorded in `requests`, and every hunting call's arrival in `hunting_calls`.

With `calls_per_minute` set, the call quota is enforced as Graph words it ("45 per 00:01:00"): a
call arriving when the last 60 s already hold that many answered calls gets a 429 with the
seconds until the oldest leaves as `Retry-After`. A call arriving before a `Retry-After` it was
given has passed is answered 429 again, with the time left. `quota_overruns()` and
`early_calls()` count both from the record.

    with MicrosoftStandIn().running(tmp_path) as microsoft:
        settings = microsoft.settings()  # GRAPH_URL and AZURE_AUTHORITY_HOST point here
        tokens = TokenProvider(settings, http_client=microsoft.requests_session())
        hunting = GraphHunting(settings, tokens, verify=microsoft.ssl_context())
        microsoft.throttle_next_query(retry_after=1, quota="cpu")
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from requests import Session
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.config import Settings

from .defender_api import DefenderApi
from .entra import AppRegistration, Entra, TokenRejected
from .https import make_local_tls, serve_https

QueryHandler = Callable[[str], tuple[list[dict[str, Any]], list[dict[str, Any]]]]

TENANT_ID = "8a3c9e4f-2b71-4d0e-9f5a-6c1d2e3f4a5b"
CLIENT_ID = "3f6b1c2d-9e8a-4b7c-a1d2-e3f4a5b6c7d8"
CLIENT_SECRET = "Zq8~standin.secret-value_do-not-use"

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MDE_RESOURCE = "https://api.securitycenter.microsoft.com"
HUNTING_ROLE = "ThreatHunting.Read.All"
ROW_CAP = 100_000  # Graph returns at most this many rows, silently

# A semantic error as Defender words it (learn.microsoft.com/defender-xdr/advanced-hunting-errors).
DEFAULT_KQL_ERROR = (
    "'where' operator: Failed to resolve table or column expression named 'EmailEvent'"
)
# 429 wording: the call-rate text is what the Defender hunting API returned (quoted in
# MicrosoftDocs/microsoft-365-docs#4616); the CPU text is the portal's (advanced-hunting-errors).
# Graph documents only that "the body says which" quota ran out.
CALL_QUOTA_MESSAGE = "API calls quota exceeded! maximum allowed {limit} per 00:01:00"
CPU_QUOTA_MESSAGE = (
    "You have exceeded processing resources allocated to this tenant. "
    "You can run queries again in {duration}."
)

# Graph's challenge on a 401.
CHALLENGE = {
    "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
    f'common/oauth2/authorize", client_id="{GRAPH_APP_ID}"'
}
GRAPH_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)

DEFAULT_SCHEMA = [
    {"name": "Timestamp", "type": "DateTime"},
    {"name": "NetworkMessageId", "type": "String"},
    {"name": "RecipientEmailAddress", "type": "String"},
    {"name": "SenderFromAddress", "type": "String"},
    {"name": "Subject", "type": "String"},
    {"name": "AttachmentCount", "type": "Int32"},
    {"name": "ConfidenceLevel", "type": "Object"},
]
DEFAULT_RESULTS = [
    {
        "Timestamp": "2026-05-04T10:15:00.1234567Z",
        "NetworkMessageId": "6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f",
        "RecipientEmailAddress": "alex@contoso.com",
        "SenderFromAddress": "billing@fabrikam.example",
        "Subject": "Invoice overdue",
        "AttachmentCount": 1,
        "ConfidenceLevel": {"Phish": "High"},
    },
    {
        "Timestamp": "2026-05-04T10:16:30.0000001Z",
        "NetworkMessageId": "0a1b2c3d-4e5f-4061-8273-948596a7b8c9",
        "RecipientEmailAddress": "sam@contoso.com",
        "SenderFromAddress": "billing@fabrikam.example",
        "Subject": "Invoice overdue",
        "AttachmentCount": 0,
        "ConfidenceLevel": None,
    },
]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def bearer_token(self) -> str | None:
        return _bearer(self.headers)


@dataclass
class HuntingCall:
    """One runHuntingQuery call as it arrived (monotonic seconds) and how it was answered."""

    at: float
    status: int = 0
    retry_until: float | None = None  # the Retry-After given, as a monotonic time
    answered_at: float | None = None  # when a 429 was handed back
    wall: float = 0.0  # arrival, Unix seconds
    sent: float | None = None  # when the caller sent it, if its client-request-id is a UUIDv7
    why: str = ""  # "over quota", "before Retry-After", "scripted", or "" (answered)
    message: str = ""  # a 429's message


@dataclass(frozen=True)
class _Fault:
    kind: str  # "kql-error" | "throttle" | "server-error" | "stall" | "flood"
    message: str = ""
    retry_after: float = 0
    status: int = 0
    seconds: float = 0
    rows: int = 0


@dataclass
class MicrosoftStandIn:
    tenant_id: str = TENANT_ID
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    query_handler: QueryHandler | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    base_url: str = ""
    ca_file: Path | None = None
    calls_per_minute: int | None = None  # enforce Graph's call quota in a rolling window
    quota_window: float = 60.0
    hunting_calls: list[HuntingCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app_registration = AppRegistration(self.client_id)
        self.entra = Entra(self.tenant_id, self.app_registration)
        self.defender = DefenderApi(self.entra, self.tenant_id)
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._initial_handler = self.query_handler
        self._initial_calls_per_minute = self.calls_per_minute
        self.reset()

    # -- configuration -----------------------------------------------------------------------

    def reset(self) -> None:
        """Back to a consented app with a valid secret, canned results and no faults."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.hunting_calls.clear()
        self.query_handler = self._initial_handler
        self.calls_per_minute = self._initial_calls_per_minute
        self.defender.reset()
        self.entra.token_delay = 0.0
        app = self.app_registration
        app.secrets = {self.client_secret}
        app.expired_secrets = set()
        app.certificates = []
        app.roles = {
            GRAPH_RESOURCE: [HUNTING_ROLE, "SecurityAnalyzedMessage.ReadWrite.All"],
            MDE_RESOURCE: ["Machine.Isolate", "Machine.Read.All"],
        }

    def grant_roles(self, resource: str, roles: list[str]) -> None:
        """Replace the consented application permissions on `resource`."""
        self.app_registration.roles[resource] = list(roles)

    def register_certificate(self, certificate: x509.Certificate) -> None:
        self.app_registration.certificates.append(certificate)

    # -- scripted faults for the next hunting requests, in order --------------------------------

    def reject_next_query(self, message: str = DEFAULT_KQL_ERROR) -> None:
        self._script(_Fault("kql-error", message=message))

    def throttle_next_query(self, retry_after: float = 1, *, quota: str = "calls") -> None:
        """A 429; `quota` is "calls" (call rate) or "cpu" (the 15-minute CPU allocation)."""
        if quota not in {"calls", "cpu"}:
            raise ValueError("quota is 'calls' or 'cpu'")
        self._script(_Fault("throttle", retry_after=retry_after, message=quota))

    def fail_next_query(self, status: int = 503) -> None:
        self._script(_Fault("server-error", status=status))

    def stall_next_query(self, seconds: float) -> None:
        """Answer normally, but only after `seconds` (past the client's timeout)."""
        self._script(_Fault("stall", seconds=seconds))

    def flood_next_query(self, rows: int = ROW_CAP) -> None:
        """A query matching `rows` rows; Graph returns at most 100,000 of them."""
        self._script(_Fault("flood", rows=rows))

    def _script(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # -- what was asked ------------------------------------------------------------------------

    @property
    def hunting_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1.0/security/runHuntingQuery"]

    @property
    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/oauth2/v2.0/token")]

    @property
    def remediation_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/analyzedEmails/remediate")]

    @property
    def mde_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith("/api/")]

    @property
    def machine_action_requests(self) -> list[RecordedRequest]:
        """The POSTs that ask Defender for Endpoint to act on a device."""
        return [
            r for r in self.requests if r.method == "POST" and r.path.startswith("/api/machines/")
        ]

    def quota_overruns(self, limit: int | None = None, window: float | None = None) -> int:
        """Calls that arrived while the `window` before them already held `limit` calls (every
        call sent counts, answered or not)."""
        limit = limit or self.calls_per_minute
        window = window or self.quota_window
        assert limit, "no call quota to measure against"
        times = sorted(call.at for call in self.hunting_calls)
        return sum(1 for i in range(limit, len(times)) if times[i] - times[i - limit] < window)

    def early_calls(self, *, reaction: float = 0.0) -> int:
        """Calls sent after a 429 was answered that arrived before its Retry-After had passed.

        When it was sent is read from the call's client-request-id when that is a UUIDv7 (the
        bot's are); otherwise its arrival stands for it. A call already on its way when the 429
        was answered is refused too (as Graph does) but is not early: nobody could know. Nor is
        one sent within `reaction` seconds of the answer: the worker that got the 429 has not
        yet recorded the pause every process honours (a few milliseconds on a busy machine).
        """
        given = [
            (c.wall + (c.answered_at - c.at), c.retry_until)
            for c in self.hunting_calls
            if c.answered_at is not None and c.retry_until is not None
        ]
        return sum(
            1
            for call in self.hunting_calls
            if any(
                (call.sent if call.sent is not None else call.wall) > answered + reaction
                and call.at < until
                for answered, until in given
            )
        )

    # -- for the code under test ---------------------------------------------------------------

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "azure_tenant_id": self.tenant_id,
            "azure_client_id": self.client_id,
            "azure_client_secret": self.client_secret,
            "azure_client_certificate": None,
            "graph_url": self.base_url,
            "mde_url": self.base_url,
            "azure_authority_host": self.base_url,
            "hunt_backend": "graph",
            "_env_file": None,
        }
        values.update(overrides)
        return Settings(**values)

    def requests_session(self) -> Session:
        """For MSAL: these machines set REQUESTS_CA_BUNDLE, which wins unless trust_env is off."""
        session = Session()
        session.trust_env = False
        session.verify = str(self.ca_file)
        return session

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    # -- the HTTP side -------------------------------------------------------------------------

    def asgi_app(self) -> Starlette:
        routes = [
            *self.entra.routes(),
            Route("/v1.0/security/runHuntingQuery", self._run_hunting_query, methods=["POST"]),
            *self.defender.routes(),
        ]
        return Starlette(routes=routes, middleware=[Middleware(_Recorder, standin=self)])

    @contextmanager
    def running(self, directory: Path) -> Iterator[MicrosoftStandIn]:
        tls = make_local_tls(directory)
        self.ca_file = tls.ca_file
        with serve_https(self.asgi_app(), tls) as base_url:
            self.base_url = base_url
            yield self

    def _record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    async def _run_hunting_query(self, request: Request) -> Response:
        ids = _request_ids(request)
        token = _bearer(request.headers)
        if not token:
            return graph_error(
                401, "InvalidAuthenticationToken", "Access token is empty.", ids, headers=CHALLENGE
            )
        try:
            claims = self.entra.verify_access_token(token, [GRAPH_RESOURCE, GRAPH_APP_ID])
        except TokenRejected as exc:
            return graph_error(401, "InvalidAuthenticationToken", str(exc), ids, headers=CHALLENGE)
        roles = claims.get("roles", [])
        if HUNTING_ROLE not in roles:
            # Wording as Graph's security APIs answer a missing role (quoted in wazuh/wazuh#31670).
            return graph_error(
                403,
                "Forbidden",
                f"Missing application roles. API required roles: {HUNTING_ROLE}, "
                f"application roles: {','.join(roles)}.",
                ids,
            )
        try:
            body = json.loads(await request.body())
            query = next(v for k, v in body.items() if k.lower() == "query")
        except (ValueError, AttributeError, StopIteration):
            return graph_error(400, "BadRequest", "Missing required parameter 'Query'.", ids)
        call = HuntingCall(at=time.monotonic(), wall=time.time(), sent=_uuid7_time(ids[1]))
        with self._lock:
            self.hunting_calls.append(call)
            throttled = self._throttle(call)
        if throttled is not None:
            call.answered_at = time.monotonic()
            return graph_error(
                429,
                "TooManyRequests",
                throttled[0],
                ids,
                headers={"Retry-After": _seconds_header(throttled[1])},
            )
        fault = self._next_fault()
        if fault is not None:
            answer = await self._apply(fault, ids)
            if fault.kind == "throttle" and isinstance(answer, JSONResponse):
                call.status, call.why = 429, "scripted"
                call.retry_until = call.at + fault.retry_after
                call.message = json.loads(bytes(answer.body))["error"]["message"]
                call.answered_at = time.monotonic()
            if answer is not None:
                call.status = answer.status_code
                return answer
        call.status = 200
        schema, results = self._results_for(str(query), fault)
        return JSONResponse(
            {
                "@odata.context": f"{GRAPH_RESOURCE}/v1.0/$metadata#"
                "microsoft.graph.security.huntingQueryResults",
                "schema": schema,
                "results": [_graph_row(row) for row in results[:ROW_CAP]],
            },
            headers=_id_headers(ids),
            media_type=GRAPH_JSON,
        )

    def _throttle(self, call: HuntingCall) -> tuple[str, float] | None:
        """A 429's message and Retry-After when this call must be refused (under the lock)."""
        given = [c for c in self.hunting_calls if c.retry_until is not None]
        if given:
            last = max(given, key=lambda c: c.retry_until or 0)
            if call.at < (last.retry_until or 0):
                # Graph asked for a pause that has not passed: refused again, with the time left.
                left = math.ceil((last.retry_until or 0) - call.at)
                call.status, call.why, call.message = 429, "before Retry-After", last.message
                call.retry_until = call.at + left
                return last.message, left
        if self.calls_per_minute is None:
            return None
        window = [
            c.at
            for c in self.hunting_calls
            if c.status != 429 and c is not call and call.at - c.at < self.quota_window
        ]
        if len(window) < self.calls_per_minute:
            return None
        left = math.ceil(min(window) + self.quota_window - call.at)
        call.status, call.why, call.retry_until = 429, "over quota", call.at + left
        call.message = CALL_QUOTA_MESSAGE.format(limit=self.calls_per_minute)
        return call.message, left

    async def _apply(self, fault: _Fault, ids: tuple[str, str]) -> Response | None:
        if fault.kind == "kql-error":
            return graph_error(400, "BadRequest", fault.message, ids)
        if fault.kind == "throttle":
            if fault.message == "cpu":
                minutes, seconds = divmod(int(fault.retry_after), 60)
                message = CPU_QUOTA_MESSAGE.format(duration=f"00:{minutes:02d}:{seconds:02d}")
            else:
                message = CALL_QUOTA_MESSAGE.format(limit=self.calls_per_minute or 45)
            return graph_error(
                429,
                "TooManyRequests",
                message,
                ids,
                headers={"Retry-After": _seconds_header(fault.retry_after)},
            )
        if fault.kind == "server-error":
            # Graph's 500/504 for hunting: code UnknownError, empty message
            # (microsoftgraph/microsoft-graph-docs#19084, microsoft-graph-docs-contrib#1446).
            code = "ServiceUnavailable" if fault.status == 503 else "UnknownError"
            message = "Service Unavailable" if fault.status == 503 else ""
            return graph_error(fault.status, code, message, ids)
        if fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
        return None

    def _results_for(
        self, query: str, fault: _Fault | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if fault is not None and fault.kind == "flood":
            return _flood_schema(), _flood_rows(min(fault.rows, ROW_CAP))
        if self.query_handler is not None:
            return self.query_handler(query)
        return DEFAULT_SCHEMA, DEFAULT_RESULTS


class _Recorder(BaseHTTPMiddleware):
    def __init__(self, app: Any, standin: MicrosoftStandIn) -> None:
        super().__init__(app)
        self.standin = standin

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        entry = RecordedRequest(
            request.method, request.url.path, dict(request.headers), await request.body()
        )
        self.standin._record(entry)
        response = await call_next(request)
        entry.status = response.status_code
        return response


def graph_error(
    status: int,
    code: str,
    message: str,
    ids: tuple[str, str],
    *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    request_id, client_request_id = ids
    return JSONResponse(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id,
                    "client-request-id": client_request_id,
                },
            }
        },
        status_code=status,
        headers={**_id_headers(ids), **(headers or {})},
    )


def _bearer(headers: Any) -> str | None:
    value = headers.get("authorization", "")
    return value[7:].strip() or None if value.lower().startswith("bearer ") else None


def _request_ids(request: Request) -> tuple[str, str]:
    request_id = str(uuid.uuid4())
    return request_id, request.headers.get("client-request-id", request_id)


def _uuid7_time(value: str) -> float | None:
    """The Unix time in a UUIDv7's first 48 bits; None for any other id."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return ((parsed.int >> 80) & (2**48 - 1)) / 1000 if parsed.version == 7 else None


def _id_headers(ids: tuple[str, str]) -> dict[str, str]:
    return {"request-id": ids[0], "client-request-id": ids[1]}


def _seconds_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _graph_row(row: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as Graph writes them: UTC, 7 fractional digits, `Z`."""
    out = dict(row)
    for name, value in row.items():
        if isinstance(value, datetime):
            out[name] = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return out


def _flood_schema() -> list[dict[str, Any]]:
    return [
        {"name": "Timestamp", "type": "DateTime"},
        {"name": "DeviceId", "type": "String"},
        {"name": "ActionType", "type": "String"},
    ]


_FLOOD_CACHE: list[dict[str, Any]] = []


def _flood_rows(count: int) -> list[dict[str, Any]]:
    if len(_FLOOD_CACHE) < count:
        _FLOOD_CACHE[:] = [
            {
                "Timestamp": f"2026-05-04T10:{(i // 60) % 60:02d}:{i % 60:02d}.{i:07d}Z",
                "DeviceId": f"{i:040x}",
                "ActionType": "ProcessCreated",
            }
            for i in range(count)
        ]
    return _FLOOD_CACHE[:count]
