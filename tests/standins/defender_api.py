"""A local Defender action API: Graph's email remediation and Defender for Endpoint's machine
actions, answering as Microsoft's do. `MicrosoftStandIn` mounts it (see `microsoft.defender`).

Graph, `POST /v1.0/security/collaboration/analyzedEmails/remediate`:
- needs `SecurityAnalyzedMessage.ReadWrite.All` in a Graph token (401/403 otherwise);
- body names are checked as OData does, case-sensitively; `remediateSendersCopy` must be a JSON
  boolean; every documented parameter is required;
- 202 with an empty body and a `Location` header holding the Action center URL with a bulkId.

Defender for Endpoint, `{MDE_URL}/api/...`:
- `POST machines/{id}/{isolate|unisolate|runAntiVirusScan|collectInvestigationPackage|
  restrictCodeExecution|unrestrictCodeExecution|StopAndQuarantineFile}` -> 201 MachineAction;
  `POST machines/{id}/startInvestigation` -> 201 Investigation;
- `GET machineactions/{id}`, `GET machineactions?$filter=...`, `GET investigations/{id}`,
  `GET files/{sha256}`;
- each call needs its application permission in an MDE token (403 naming it otherwise);
- body names are case-sensitive and `Comment` is required; a second action of a type while one
  is Pending or InProgress on the device is 400 "Action is already in progress" (or, as Defender
  also does, 201 with the pending action: `duplicate_answer = "existing"`);
- errors are `{"error": {"code", "message", "target"}}`;
- a machine action moves on one step per GET of it: Pending -> InProgress -> Succeeded (or what
  `end_actions_as` says); an investigation Queued -> Running -> SuccessfullyRemediated.

Scripted faults for the next matching requests, in order: 429 with `Retry-After`, 5xx. Refusals
that last: `refuse_machine` (a 4xx for every action on one device).

Shapes, codes and status values are the documented ones (../shared/reference/microsoft-apis.md
§0, §2a, §3, §4). Not published, so modelled here: the wording of MDE's 403 and 404 messages,
the code of "Action is already in progress" (ActiveRequestAlreadyExists), and Graph's wording
for an unknown or mistyped body property (OData's usual text).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .entra import Entra, TokenRejected

GRAPH_AUDIENCES = ["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"]
# Tokens for the WindowsDefenderATP API carry one of these audiences.
MDE_AUDIENCES = [
    "https://api.securitycenter.microsoft.com",
    "fc780465-2017-40d4-a0c5-307022471b92",
    "https://securitycenter.onmicrosoft.com/windowsatpservice",
]
REMEDIATE_ROLE = "SecurityAnalyzedMessage.ReadWrite.All"
REMEDIATE_PATH = "/v1.0/security/collaboration/analyzedEmails/remediate"
MDE_CONTEXT = "https://api.security.microsoft.com/api/$metadata"

# operation path -> (MachineAction type, roles that allow it)
MACHINE_OPERATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "isolate": ("Isolate", ("Machine.Isolate",)),
    "unisolate": ("Unisolate", ("Machine.Isolate",)),
    "runAntiVirusScan": ("RunAntiVirusScan", ("Machine.Scan",)),
    "collectInvestigationPackage": ("CollectInvestigationPackage", ("Machine.CollectForensics",)),
    "restrictCodeExecution": ("RestrictCodeExecution", ("Machine.RestrictExecution",)),
    "unrestrictCodeExecution": ("UnrestrictCodeExecution", ("Machine.RestrictExecution",)),
    "StopAndQuarantineFile": ("StopAndQuarantineFile", ("Machine.StopAndQuarantine",)),
    "startInvestigation": ("Investigation", ("Alert.ReadWrite.All",)),
}
READ_ACTIONS_ROLES = ("Machine.Read.All", "Machine.ReadWrite.All")
READ_INVESTIGATIONS_ROLES = ("Alert.Read.All", "Alert.ReadWrite.All")
READ_FILES_ROLES = ("File.Read.All",)
EVERY_MDE_ROLE = sorted(
    {r for _, roles in MACHINE_OPERATIONS.values() for r in roles}
    | {*READ_ACTIONS_ROLES, *READ_FILES_ROLES}
)

EMAIL_ACTIONS = {"moveToJunk", "moveToInbox", "hardDelete", "softDelete", "moveToDeletedItems"}
SEVERITIES = {"low", "medium", "high"}
REMEDIATE_FIELDS = {
    "displayName": str,
    "description": str,
    "severity": str,
    "action": str,
    "remediateSendersCopy": bool,
    "analyzedEmails": list,
}
IN_FLIGHT = {"Pending", "InProgress"}
ALREADY_IN_PROGRESS = "Action is already in progress"

# Machines and files the stand-in tenant knows from the start.
WORKSTATION = "4f2c0c9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
LAPTOP = "b1a2c3d4e5f60718293a4b5c6d7e8f9012345678"
MAC = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807"
KNOWN_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
KNOWN_SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256_WITHOUT_SHA1 = "7d865e959b2466918c9863afca942d0fb89d7c9ac0c99bafc3749504ded97730"


@dataclass
class Machine:
    machine_id: str
    computer_dns_name: str
    os_platform: str = "Windows11"


@dataclass
class Remediation:
    bulk_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class _Fault:
    kind: str  # "throttle" | "server-error"
    path_contains: str
    status: int = 0
    retry_after: float = 0


@dataclass
class DefenderApi:
    entra: Entra
    tenant_id: str
    machines: dict[str, Machine] = field(default_factory=dict)
    files: dict[str, str | None] = field(default_factory=dict)  # sha256 -> sha1
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)  # MachineActions by id
    investigations: dict[str, dict[str, Any]] = field(default_factory=dict)
    remediations: list[Remediation] = field(default_factory=list)
    duplicate_answer: str = "error"  # or "existing": 201 with the pending action
    # Called on each device-action POST with (machine id, "received") before Defender acts (a
    # True answer drops the request: nothing is done and 503 is answered) and (machine id,
    # "created") once the action exists, before answering: fault tests kill a worker there.
    on_machine_post: Callable[[str, str], bool] | None = None
    # The same for each email remediation POST, called with ("received" | "created").
    on_remediate: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self._refusals: dict[str, tuple[int, str, str]] = {}
        self._endings: dict[str, str] = {}
        self._investigation_ids = itertools.count(1001)
        self.reset()

    # -- configuration -----------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.machines = {
                m.machine_id: m
                for m in (
                    Machine(WORKSTATION, "ws-042.contoso.local"),
                    Machine(LAPTOP, "lt-007.contoso.local", "Windows10"),
                    Machine(MAC, "mb-013.contoso.local", "macOS"),
                )
            }
            self.files = {KNOWN_SHA256: KNOWN_SHA1, SHA256_WITHOUT_SHA1: None}
            self.actions.clear()
            self.investigations.clear()
            self.remediations.clear()
            self._faults.clear()
            self._refusals.clear()
            self._endings.clear()
            self.duplicate_answer = "error"
            self.on_machine_post = None
            self.on_remediate = None

    def add_machine(
        self, machine_id: str, computer_dns_name: str, os_platform: str = "Windows11"
    ) -> None:
        with self._lock:
            self.machines[machine_id] = Machine(machine_id, computer_dns_name, os_platform)

    def add_file(self, sha256: str, sha1: str | None) -> None:
        with self._lock:
            self.files[sha256.lower()] = sha1

    def throttle_next(self, retry_after: float = 1, *, path_contains: str = "") -> None:
        """The next request whose path contains `path_contains` gets 429 with Retry-After."""
        with self._lock:
            self._faults.append(_Fault("throttle", path_contains, retry_after=retry_after))

    def fail_next(self, status: int = 503, *, path_contains: str = "") -> None:
        with self._lock:
            self._faults.append(_Fault("server-error", path_contains, status=status))

    def refuse_machine(
        self,
        machine_id: str,
        *,
        status: int = 400,
        code: str = "OsPlatformNotSupported",
        message: str = "The requested action is not supported on this device's OS platform.",
    ) -> None:
        """Every action POSTed for `machine_id` gets this error, for as long as the test runs."""
        with self._lock:
            self._refusals[machine_id] = (status, code, message)

    def end_actions_as(self, machine_id: str, status: str) -> None:
        """Actions on `machine_id` end `status` (Failed, TimeOut, Cancelled) instead."""
        with self._lock:
            self._endings[machine_id] = status

    # -- the HTTP side -------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route(REMEDIATE_PATH, self._remediate, methods=["POST"]),
            Route("/api/machines/{machine_id}/{operation}", self._machine_action, methods=["POST"]),
            Route("/api/machineactions", self._list_actions, methods=["GET"]),
            Route("/api/machineactions/{action_id}", self._get_action, methods=["GET"]),
            Route(
                "/api/investigations/{investigation_id}", self._get_investigation, methods=["GET"]
            ),
            Route("/api/files/{file_id}", self._get_file, methods=["GET"]),
        ]

    async def _remediate(self, request: Request) -> Response:
        refused = self._check_graph_token(request) or self._fault_for(request, graph=True)
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _graph_error(400, "BadRequest", "Invalid JSON in the request body.")
        problem = _remediation_problem(body)
        if problem is not None:
            return _graph_error(400, "BadRequest", problem)
        if self.on_remediate is not None and self.on_remediate("received"):
            return _graph_error(503, "ServiceUnavailable", "Service Unavailable")
        bulk_id = str(uuid.uuid4())
        with self._lock:
            self.remediations.append(Remediation(bulk_id, body))
        if self.on_remediate is not None:
            self.on_remediate("created")
        location = (
            "https://security.microsoft.com/action-center/history?filters="
            f'{{"bulkId":["{bulk_id}"]}}&tid={self.tenant_id}'
        )
        return Response(status_code=202, headers={"Location": location, **_graph_ids()})

    async def _machine_action(self, request: Request) -> Response:
        operation = request.path_params["operation"]
        if operation not in MACHINE_OPERATIONS:
            return _mde_error(404, "ResourceNotFound", f"Resource {request.url.path} not found.")
        action_type, roles = MACHINE_OPERATIONS[operation]
        refused = self._check_mde_token(request, roles) or self._fault_for(request)
        if refused is not None:
            return refused
        machine_id = request.path_params["machine_id"]
        if self.on_machine_post is not None and self.on_machine_post(machine_id, "received"):
            return _mde_error(503, "ServiceUnavailable", "The service is unavailable.")
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _mde_error(400, "InvalidRequestBody", "Request body is not valid JSON.")
        problem = _machine_body_problem(operation, body)
        if problem is not None:
            return _mde_error(400, *problem)
        with self._lock:
            machine = self.machines.get(machine_id)
            if machine is None:
                return _mde_error(404, "ResourceNotFound", f"Machine {machine_id} was not found")
            if machine_id in self._refusals:
                return _mde_error(*self._refusals[machine_id])
            if operation == "startInvestigation":
                return _created(self._start_investigation(machine), "Investigations")
            pending = next(
                (
                    a
                    for a in self.actions.values()
                    if a["machineId"] == machine_id
                    and a["type"] == action_type
                    and a["status"] in IN_FLIGHT
                ),
                None,
            )
            if pending is not None:
                if self.duplicate_answer == "existing":
                    return _created(pending, "MachineActions")
                return _mde_error(400, "ActiveRequestAlreadyExists", ALREADY_IN_PROGRESS)
            action = _new_machine_action(machine, action_type, body)
            self.actions[action["id"]] = action
        if self.on_machine_post is not None:
            self.on_machine_post(machine_id, "created")
        return _created(action, "MachineActions")

    async def _get_action(self, request: Request) -> Response:
        refused = self._check_mde_token(request, READ_ACTIONS_ROLES) or self._fault_for(request)
        if refused is not None:
            return refused
        action_id = request.path_params["action_id"]
        with self._lock:
            action = self.actions.get(action_id)
            if action is None:
                return _mde_error(404, "ResourceNotFound", f"Machine action {action_id} not found")
            self._advance(action)
            return _mde_json({"@odata.context": f"{MDE_CONTEXT}#MachineActions/$entity", **action})

    async def _list_actions(self, request: Request) -> Response:
        refused = self._check_mde_token(request, READ_ACTIONS_ROLES) or self._fault_for(request)
        if refused is not None:
            return refused
        conditions = _odata_filter(request.query_params.get("$filter", ""))
        if conditions is None:
            return _mde_error(400, "InvalidInput", "The $filter expression is not supported.")
        with self._lock:
            found = [
                a
                for a in self.actions.values()
                if all(str(a.get(k)) == v for k, v in conditions.items())
            ]
        return _mde_json({"@odata.context": f"{MDE_CONTEXT}#MachineActions", "value": found})

    async def _get_investigation(self, request: Request) -> Response:
        refused = self._check_mde_token(request, READ_INVESTIGATIONS_ROLES) or self._fault_for(
            request
        )
        if refused is not None:
            return refused
        investigation_id = request.path_params["investigation_id"]
        with self._lock:
            found = self.investigations.get(investigation_id)
            if found is None:
                return _mde_error(
                    404, "ResourceNotFound", f"Investigation {investigation_id} not found"
                )
            states = [
                "Queued",
                "Running",
                self._endings.get(found["machineId"], "SuccessfullyRemediated"),
            ]
            if found["state"] in states[:2]:
                found["state"] = states[states.index(found["state"]) + 1]
            return _mde_json({"@odata.context": f"{MDE_CONTEXT}#Investigations/$entity", **found})

    async def _get_file(self, request: Request) -> Response:
        refused = self._check_mde_token(request, READ_FILES_ROLES) or self._fault_for(request)
        if refused is not None:
            return refused
        sha256 = request.path_params["file_id"].lower()
        with self._lock:
            if sha256 not in self.files:
                return _mde_error(404, "ResourceNotFound", f"File {sha256} was not found")
            sha1 = self.files[sha256]
        return _mde_json(
            {
                "@odata.context": f"{MDE_CONTEXT}#Files/$entity",
                "sha1": sha1,
                "sha256": sha256,
                "md5": None,
                "globalPrevalence": 1,
                "globalFirstObserved": "2026-05-01T08:00:00Z",
                "globalLastObserved": "2026-05-04T10:00:00Z",
                "size": 180224,
                "fileType": None,
                "isPeFile": True,
                "filePublisher": None,
                "fileProductName": None,
                "signer": None,
                "issuer": None,
                "signerHash": None,
                "isValidCertificate": False,
                "determinationType": "Malware",
                "determinationValue": "Trojan:O97M/Donoff",
            }
        )

    # -- state ---------------------------------------------------------------------------------

    def _advance(self, action: dict[str, Any]) -> None:
        if action["status"] == "Pending":
            action["status"] = "InProgress"
        elif action["status"] == "InProgress":
            action["status"] = self._endings.get(action["machineId"], "Succeeded")
        action["lastUpdateDateTimeUtc"] = _now()

    def _start_investigation(self, machine: Machine) -> dict[str, Any]:
        investigation_id = str(next(self._investigation_ids))
        investigation: dict[str, Any] = {
            "id": investigation_id,
            "startTime": _now(),
            "endTime": None,
            "state": "Queued",
            "cancelledBy": None,
            "statusDetails": None,
            "machineId": machine.machine_id,
            "computerDnsName": machine.computer_dns_name,
            "triggeringAlertId": None,
        }
        self.investigations[investigation_id] = investigation
        return investigation

    # -- tokens, roles and faults ----------------------------------------------------------------

    def _check_graph_token(self, request: Request) -> Response | None:
        token = _bearer(request)
        if token is None:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        try:
            claims = self.entra.verify_access_token(token, GRAPH_AUDIENCES)
        except TokenRejected as exc:
            return _graph_error(401, "InvalidAuthenticationToken", str(exc))
        roles = claims.get("roles", [])
        if REMEDIATE_ROLE not in roles:
            return _graph_error(
                403,
                "Forbidden",
                f"Missing application roles. API required roles: {REMEDIATE_ROLE}, "
                f"application roles: {','.join(roles)}.",
            )
        return None

    def _check_mde_token(self, request: Request, needed: tuple[str, ...]) -> Response | None:
        token = _bearer(request)
        if token is None:
            return _mde_error(401, "Unauthorized", "Authorization header is missing.")
        try:
            claims = self.entra.verify_access_token(token, MDE_AUDIENCES)
        except TokenRejected as exc:
            return _mde_error(401, "Unauthorized", str(exc))
        if not set(claims.get("roles", [])) & set(needed):
            return _mde_error(
                403,
                "Forbidden",
                "The application does not have any of the required application permissions "
                f"({', '.join(needed)}) to access the resource.",
            )
        return None

    def _fault_for(self, request: Request, *, graph: bool = False) -> Response | None:
        path = request.url.path
        with self._lock:
            fault = next((f for f in self._faults if f.path_contains in path), None)
            if fault is None:
                return None
            self._faults.remove(fault)
        if fault.kind == "throttle":
            headers = {"Retry-After": _seconds(fault.retry_after)}
            if graph:
                return _graph_error(429, "TooManyRequests", "Too many requests.", headers)
            return _mde_error(429, "TooManyRequests", "API calls quota exceeded.", headers=headers)
        if graph:
            return _graph_error(fault.status, "UnknownError", "")
        return _mde_error(fault.status, "InternalServerError", "An error has occurred.")


# -- request checks ----------------------------------------------------------------------------


def _remediation_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    for name in body:
        if name not in REMEDIATE_FIELDS:
            return (
                f"The parameter '{name}' in the request payload is not a valid parameter for "
                "the operation 'remediate'."
            )
    for name, kind in REMEDIATE_FIELDS.items():
        if name not in body:
            return f"Missing required parameter '{name}'."
        if not isinstance(body[name], kind):
            literal = json.dumps(body[name])
            edm = {bool: "Edm.Boolean", str: "Edm.String", list: "Collection"}[kind]
            return f"Cannot convert the literal '{literal}' to the expected type '{edm}'."
    if body["action"] not in EMAIL_ACTIONS:
        return f"The value '{body['action']}' is not a valid remediationAction."
    if body["severity"] not in SEVERITIES:
        return f"The value '{body['severity']}' is not a valid remediationSeverity."
    if not body["analyzedEmails"]:
        return "analyzedEmails must not be empty."
    for email in body["analyzedEmails"]:
        if not isinstance(email, dict) or set(email) != {
            "networkMessageId",
            "recipientEmailAddress",
        }:
            return "Each analyzedEmail takes networkMessageId and recipientEmailAddress."
    return None


def _machine_body_problem(operation: str, body: dict[str, Any]) -> tuple[str, str] | None:
    if not isinstance(body.get("Comment"), str):
        return "InvalidRequestBody", "Comment is required."
    if operation == "isolate" and body.get("IsolationType") not in {
        "Full",
        "Selective",
        "UnManagedDevice",
    }:
        return "InvalidRequestBody", "IsolationType must be Full, Selective or UnManagedDevice."
    if operation == "runAntiVirusScan" and body.get("ScanType") not in {"Quick", "Full"}:
        return "InvalidRequestBody", "ScanType must be Quick or Full."
    if operation == "StopAndQuarantineFile":
        sha1 = body.get("Sha1")
        if not isinstance(sha1, str) or not re.fullmatch(r"[0-9a-fA-F]{40}", sha1):
            return "InvalidHashValue", "Sha1 must be a SHA-1 hash (40 hex characters)."
    return None


def _odata_filter(text: str) -> dict[str, str] | None:
    """`field eq 'value' and ...` as {field: value}; None for anything else."""
    if not text.strip():
        return {}
    conditions = {}
    for part in re.split(r"\s+and\s+", text.strip()):
        match = re.fullmatch(r"(\w+)\s+eq\s+'((?:[^']|'')*)'", part.strip())
        if match is None:
            return None
        conditions[match.group(1)] = match.group(2).replace("''", "'")
    return conditions


# -- answers -----------------------------------------------------------------------------------


def _new_machine_action(machine: Machine, action_type: str, body: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    sha1 = body.get("Sha1")
    return {
        "id": str(uuid.uuid4()),
        "type": action_type,
        "title": None,
        "scope": body.get("IsolationType") or body.get("ScanType"),
        "requestor": "3f6b1c2d-9e8a-4b7c-a1d2-e3f4a5b6c7d8",
        "requestorComment": body["Comment"],
        "status": "Pending",
        "machineId": machine.machine_id,
        "computerDnsName": machine.computer_dns_name,
        "creationDateTimeUtc": now,
        "lastUpdateDateTimeUtc": now,
        "cancellationRequestor": None,
        "cancellationComment": None,
        "cancellationDateTimeUtc": None,
        "errorHResult": 0,
        "requestSource": "PublicApi",
        "externalId": None,
        "commands": [],
        "relatedFileInfo": {"fileIdentifier": sha1, "fileIdentifierType": "Sha1"} if sha1 else None,
    }


def _created(entity: dict[str, Any], entity_set: str) -> Response:
    return _mde_json({"@odata.context": f"{MDE_CONTEXT}#{entity_set}/$entity", **entity}, 201)


def _mde_json(content: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _mde_error(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "target": str(uuid.uuid4())}},
        status_code=status,
        headers=headers,
    )


def _graph_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    ids = _graph_ids()
    return JSONResponse(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": ids["request-id"],
                    "client-request-id": ids["client-request-id"],
                },
            }
        },
        status_code=status,
        headers={**ids, **(headers or {})},
    )


def _graph_ids() -> dict[str, str]:
    request_id = str(uuid.uuid4())
    return {"request-id": request_id, "client-request-id": request_id}


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:].strip() or None if value.lower().startswith("bearer ") else None


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
