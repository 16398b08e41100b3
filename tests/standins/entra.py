"""A stand-in for the Entra ID v2.0 endpoints an app-only client uses.

`GET /{tenant}/v2.0/.well-known/openid-configuration` and the client-credentials grant on
`POST /{tenant}/oauth2/v2.0/token`, with a client secret or a certificate-signed client
assertion. Answers and errors take Entra's shape: `{"token_type":"Bearer","expires_in":3599,
"access_token":...}`, and `{"error","error_description":"AADSTSnnn: ...\\r\\nTrace ID: ...",
"error_codes":[n],"timestamp","trace_id","correlation_id","error_uri"}` with the status Entra
uses (401 for a bad client credential, 400 otherwise). Access tokens are RS256 JWTs carrying the
`roles` consented for the requested resource, and the Graph stand-in checks them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3599


@dataclass
class AppRegistration:
    """The app registration and its service principal in the stand-in tenant."""

    client_id: str
    secrets: set[str] = field(default_factory=set)
    expired_secrets: set[str] = field(default_factory=set)
    certificates: list[x509.Certificate] = field(default_factory=list)
    # Consented application permissions per resource (e.g. "https://graph.microsoft.com").
    roles: dict[str, list[str]] = field(default_factory=dict)


class TokenRejected(Exception):
    """An access token a resource would refuse; the message is the resource's wording."""


class Entra:
    def __init__(self, tenant_id: str, app: AppRegistration) -> None:
        self.tenant_id = tenant_id
        self.app = app
        self.token_delay = 0.0  # seconds the token endpoint takes to answer
        # Statuses the next token requests answer with, in turn (e.g. [503]: one outage).
        self.fail_next: list[int] = []
        self.rotate_signing_key()

    def rotate_signing_key(self) -> None:
        """Sign with a new key: tokens issued before are refused from now on."""
        self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._key_id = uuid.uuid4().hex

    @property
    def issuer(self) -> str:
        # Tokens for v1 resources such as Graph carry the v1 issuer.
        return f"https://sts.windows.net/{self.tenant_id}/"

    def routes(self) -> list[Route]:
        return [
            Route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                self.openid_configuration,
                methods=["GET"],
            ),
            Route("/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"]),
        ]

    # -- endpoints -----------------------------------------------------------------------------

    async def openid_configuration(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if tenant != self.tenant_id:
            return self._tenant_not_found(tenant, request, error="invalid_tenant")
        base = f"{str(request.base_url).rstrip('/')}/{tenant}"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "issuer": f"https://login.microsoftonline.com/{self.tenant_id}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
            }
        )

    async def token(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if self.fail_next:
            return entra_error(
                self.fail_next.pop(0),
                "temporarily_unavailable",
                50196,
                "The server is temporarily unavailable. Try again later.",
                request.headers.get("client-request-id") or str(uuid.uuid4()),
            )
        # Parsed by hand: Starlette's form parser needs python-multipart, a dependency for nothing.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        cid = request.headers.get("client-request-id") or str(uuid.uuid4())
        if tenant != self.tenant_id:
            return self._tenant_not_found(tenant, request, error="invalid_request")
        if form.get("grant_type") != "client_credentials":
            return entra_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
                cid,
            )
        client_id = str(form.get("client_id", ""))
        if client_id != self.app.client_id:
            return entra_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You may "
                "have sent your authentication request to the wrong tenant.",
                cid,
            )
        refusal = self._check_credential(form, str(request.url), cid)
        if refusal is not None:
            return refusal
        scope = str(form.get("scope", ""))
        if not scope.endswith("/.default") or " " in scope.strip():
            return entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
                cid,
            )
        resource = scope.strip().removesuffix("/.default")
        if resource not in self.app.roles:
            return entra_error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{tenant}. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant.",
                cid,
            )
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "ext_expires_in": TOKEN_LIFETIME,
                "access_token": self.issue_access_token(resource),
            },
            headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )

    # -- tokens --------------------------------------------------------------------------------

    def issue_access_token(self, resource: str, *, lifetime: int = TOKEN_LIFETIME) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": resource,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "appid": self.app.client_id,
            "appidacr": "1",
            "idtyp": "app",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.app.client_id)),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, self.app.client_id)),
            "tid": self.tenant_id,
            "ver": "1.0",
        }
        roles = self.app.roles.get(resource, [])
        if roles:  # Entra leaves the claim out when nothing is consented
            claims["roles"] = list(roles)
        return jwt.encode(
            claims, self._signing_key, algorithm="RS256", headers={"kid": self._key_id}
        )

    def verify_access_token(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """The claims of a token this tenant issued for one of `audiences`, or TokenRejected."""
        try:
            return jwt.decode(
                token,
                self._signing_key.public_key(),
                algorithms=["RS256"],
                audience=audiences,
                issuer=self.issuer,
                options={"require": ["exp", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("Lifetime validation failed, the token is expired.") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("Access token validation failure. Invalid audience.") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("Access token validation failure.") from None
        except jwt.DecodeError:  # not a JWT at all
            raise TokenRejected("CompactToken parsing failed with error code: 80049217") from None
        except jwt.InvalidTokenError:
            raise TokenRejected("Access token validation failure.") from None

    # -- client credentials ---------------------------------------------------------------------

    def _check_credential(self, form: dict[str, str], token_url: str, cid: str) -> Response | None:
        secret = form.get("client_secret")
        assertion = form.get("client_assertion")
        client_id = self.app.client_id
        if secret:
            if any(hmac.compare_digest(secret, s) for s in self.app.expired_secrets):
                return entra_error(
                    401,
                    "invalid_client",
                    7000222,
                    f"The provided client secret keys for app '{client_id}' are expired. Visit "
                    "the Azure portal to create new keys for your app.",
                    cid,
                )
            if not any(hmac.compare_digest(secret, s) for s in self.app.secrets):
                return entra_error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client secret value, not the client secret ID, for a secret added to "
                    f"app '{client_id}'.",
                    cid,
                )
            return None
        if assertion:
            problem = self._assertion_problem(
                str(assertion), str(form.get("client_assertion_type", "")), token_url
            )
            if problem is None:
                return None
            code, description = problem
            return entra_error(401, "invalid_client", code, description, cid)
        return entra_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
            cid,
        )

    def _assertion_problem(
        self, assertion: str, assertion_type: str, token_url: str
    ) -> tuple[int, str] | None:
        if assertion_type != CLIENT_ASSERTION_TYPE:
            return 50027, "Invalid JWT token. The client assertion type is not supported."
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.DecodeError:
            return 50027, "Invalid JWT token. Token format not valid."
        certificate = self._registered_certificate(header)
        if certificate is None:
            thumbprint = header.get("x5t#S256") or header.get("x5t") or ""
            return 700027, (
                "The certificate with identifier used to sign the client assertion is not "
                "registered on application. [Reason - The key was not found., Thumbprint of key "
                f"used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or "
                f"directly use MS Graph to see configured keys for app Id '{self.app.client_id}'.]"
            )
        try:
            claims = jwt.decode(
                assertion,
                certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["PS256", "RS256"],
                audience=token_url,
                issuer=self.app.client_id,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            return 700024, "Client assertion is not within its valid time range."
        except jwt.InvalidAudienceError:
            return 50012, "Client assertion audience claim does not match Realm issuer."
        except jwt.InvalidTokenError:
            return 700027, "Client assertion contains an invalid signature."
        if claims.get("sub") != self.app.client_id:
            return 50027, "Invalid JWT token. The subject does not match the client id."
        return None

    def _registered_certificate(self, header: dict[str, Any]) -> x509.Certificate | None:
        sha256 = _unpadded(header.get("x5t#S256"))
        sha1 = _unpadded(header.get("x5t"))
        for cert in self.app.certificates:
            der = cert.public_bytes(serialization.Encoding.DER)
            if sha256 and sha256 == _b64url(hashlib.sha256(der).digest()):
                return cert
            if sha1 and sha1 == _b64url(hashlib.sha1(der).digest()):
                return cert
        return None

    def _tenant_not_found(self, tenant: str, request: Request, *, error: str) -> Response:
        cid = request.headers.get("client-request-id") or str(uuid.uuid4())
        return entra_error(
            400,
            error,
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
            "are signing into the correct cloud. Check with your subscription administrator, "
            "this may happen if there are no active subscriptions for the tenant.",
            cid,
        )


def entra_error(
    status: int, error: str, code: int, description: str, correlation_id: str
) -> JSONResponse:
    trace_id = str(uuid.uuid4())
    timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return JSONResponse(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        status_code=status,
    )


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unpadded(value: Any) -> str | None:
    return value.rstrip("=") if isinstance(value, str) else None
