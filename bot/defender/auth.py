"""App-only Microsoft tokens through MSAL, for Graph and the Defender for Endpoint API.

One `TokenProvider` per process holds one `msal.ConfidentialClientApplication`: MSAL's token cache
lives in that object, so every scope shares it and a second request for a scope is answered from
memory until the token is close to expiry. MSAL is synchronous and does network I/O, so it only
ever runs in a worker thread. Secrets and tokens never appear in an error or a log line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

import msal
import requests
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509 import load_pem_x509_certificate

from bot.backoff import Backoff
from bot.config import Settings
from bot.errors import AuthenticationError

log = logging.getLogger(__name__)

# A hung login host must not hold a worker thread for ever.
LOGIN_TIMEOUT_SECONDS = 30.0
# A login host that answers 5xx or cannot be reached is asked again, this many times in all.
LOGIN_ATTEMPTS = 3
# After a 5xx, MSAL answers the same token request from its own cache for the Retry-After, or
# 5 s without one (msal/throttled_http_client.py): asking sooner only replays the failure.
MSAL_THROTTLE_SECONDS = 5.0

_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----.+?-----END (?P=label)-----", re.DOTALL
)
_AADSTS_CODE = re.compile(r"AADSTS(\d+)")

# What a person can do about the Entra errors an app-only bot meets. Codes from Entra's
# AADSTS reference; the descriptions Entra sends are shown verbatim next to the hint.
_HINTS: dict[str, str] = {
    "7000215": "AZURE_CLIENT_SECRET is not a valid secret of this app registration: use the "
    "secret's Value (not its Secret ID), or create a new client secret.",
    "7000222": "The client secret has expired: create a new one under Certificates & secrets "
    "and update AZURE_CLIENT_SECRET.",
    "700016": "Entra does not know AZURE_CLIENT_ID in this tenant: check the application "
    "(client) id and AZURE_TENANT_ID, and that the app is registered or consented there.",
    "90002": "Entra does not know this tenant: check AZURE_TENANT_ID (a GUID or the primary "
    "domain) and AZURE_CLOUD.",
    "700027": "Entra rejected the certificate: upload this certificate's public part to the "
    "app registration (Certificates & secrets), or check that it has not expired.",
    "700024": "The signed client assertion is outside its valid time: check the clock of "
    "this machine.",
    "7000112": "The application is disabled in this tenant: an administrator must enable it.",
    "500011": "The API is not available in this tenant (for Defender for Endpoint: the tenant "
    "may not be onboarded): check the licence and grant admin consent to its permissions.",
    "65001": "An administrator must grant admin consent to the app's application permissions.",
}
_DEFAULT_HINT = (
    "Check AZURE_TENANT_ID, AZURE_CLIENT_ID and the client secret or certificate of the app "
    "registration, and that an administrator granted admin consent."
)


@dataclass(frozen=True)
class _CertificateCredential:
    private_key_pem: str
    certificate_pem: str
    passphrase: str | None


class LoginHostTrouble(AuthenticationError):
    """The login host answered 5xx or could not be reached: worth asking again shortly."""

    def __init__(
        self, message: str, *, hint: str, reason: Exception, wait_at_least: float = 0.0
    ) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason  # for the log line; not chained, so not printed with the error
        self.wait_at_least = wait_at_least


class TokenProvider:
    """App-only access tokens for any resource scope, cached by MSAL."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: requests.Session | None = None,
        attempts: int = LOGIN_ATTEMPTS,
    ) -> None:
        settings.require_graph()
        self._settings = settings
        self._http_client = http_client
        self._attempts = max(1, attempts)
        self._app: msal.ConfidentialClientApplication | None = None
        # Built lazily, in a worker thread: MSAL fetches the tenant's OpenID configuration
        # when it is constructed, and that must not block the event loop either.
        self._app_lock = threading.Lock()

    @property
    def login_host(self) -> str:
        return self._settings.authority.rsplit("/", 1)[0]

    async def access_token(self, scope: str) -> str:
        """A bearer token for `scope` (e.g. `https://graph.microsoft.com/.default`).

        A transient failure of the login host (5xx, no connection) is tried again with capped,
        jittered backoff, no sooner than MSAL will really ask again; Entra's refusals (4xx)
        are reported at once.
        """
        backoff = Backoff(first=0.5, cap=4.0)
        for attempt in range(1, self._attempts + 1):
            try:
                return await asyncio.to_thread(self._acquire, scope)
            except LoginHostTrouble as exc:
                reason = exc.reason
                if attempt == self._attempts:
                    log.warning(
                        "login host %s: %s; giving up after %d attempt(s)",
                        self.login_host,
                        _short(reason),
                        attempt,
                    )
                    raise
                delay = max(backoff.next(), exc.wait_at_least + backoff.next() / 4)
                log.warning(
                    "login host %s: %s; trying again in %.1f s (attempt %d of %d)",
                    self.login_host,
                    _short(reason),
                    delay,
                    attempt,
                    self._attempts,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the HTTP session MSAL opened for itself (one given to us stays the giver's)."""
        with self._app_lock:
            if self._app is not None and self._http_client is None:
                self._app.http_client.close()
            self._app = None

    # -- runs in a worker thread -------------------------------------------------------------

    def _acquire(self, scope: str) -> str:
        try:
            result = self._application().acquire_token_for_client(scopes=[scope])
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        except msal.exceptions.MsalServiceError as exc:
            # MSAL raises (rather than returning an error dict) when Entra answers 5xx, and
            # answers the same request from its cache for a while (MSAL_THROTTLE_SECONDS).
            raise self._login_host_failed(exc, wait_at_least=MSAL_THROTTLE_SECONDS) from None
        if "access_token" in result:
            log.debug("token for %s from %s", scope, result.get("token_source", "unknown"))
            return str(result["access_token"])
        raise _entra_error(result, scope)

    def _application(self) -> msal.ConfidentialClientApplication:
        with self._app_lock:
            if self._app is None:
                self._app = self._build_application()
            return self._app

    def _build_application(self) -> msal.ConfidentialClientApplication:
        settings = self._settings
        try:
            return msal.ConfidentialClientApplication(
                settings.azure_client_id,
                client_credential=self._credential(),
                authority=settings.authority,
                http_client=self._http_client,
                timeout=LOGIN_TIMEOUT_SECONDS,
                # MSAL validates unknown authority hosts against login.microsoftonline.com;
                # an overridden host (a sovereign proxy, the local stand-in) is trusted as set.
                instance_discovery=None if settings.azure_authority_host is None else False,
            )
        except requests.HTTPError as exc:  # the OpenID configuration answered 5xx
            raise self._login_host_failed(exc) from None
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        except ValueError as exc:
            # MSAL's way of saying the tenant's OpenID configuration was refused (4xx); it
            # rewraps the response (which names the AADSTS code) in a ValueError of its own.
            text = f"{exc} {exc.__context__ or ''}"
            if "authority configuration" not in text and "OIDC Discovery" not in text:
                raise
            code = _first_aadsts_code(text)
            raise AuthenticationError(
                f"Entra refused the tenant {settings.azure_tenant_id!r} at {self.login_host}"
                + (f" (AADSTS{code})" if code else "")
                + ".",
                hint=_HINTS["90002"],
            ) from None

    def _credential(self) -> str | dict[str, Any]:
        settings = self._settings
        if settings.azure_client_secret is not None:
            return settings.azure_client_secret.get_secret_value()
        assert settings.azure_client_certificate is not None  # require_graph() checked
        password = settings.azure_client_certificate_password
        cert = read_pem_certificate(
            settings.azure_client_certificate.read_text(encoding="ascii", errors="replace"),
            passphrase=password.get_secret_value() if password else None,
            source=str(settings.azure_client_certificate),
        )
        # No "thumbprint": since msal 1.35, giving the public certificate makes MSAL sign with
        # PS256 and send the SHA-256 thumbprint (x5t#S256); the SHA-1 route is deprecated.
        credential: dict[str, Any] = {
            "private_key": cert.private_key_pem,
            "public_certificate": cert.certificate_pem,
        }
        if cert.passphrase:
            credential["passphrase"] = cert.passphrase
        return credential

    def _login_host_failed(self, exc: Exception, *, wait_at_least: float = 0.0) -> LoginHostTrouble:
        return LoginHostTrouble(
            f"The Entra login host {self.login_host} failed to answer ({exc}).",
            hint="Entra may be having trouble; try again in a few minutes.",
            reason=exc,
            wait_at_least=wait_at_least,
        )

    def _unreachable(self, exc: requests.RequestException) -> LoginHostTrouble:
        return LoginHostTrouble(
            f"The Entra login host {self.login_host} cannot be reached ({type(exc).__name__}).",
            hint="Check the network, proxy and DNS of this machine, and AZURE_CLOUD / "
            "AZURE_AUTHORITY_HOST; then try again.",
            reason=exc,
        )


def _short(exc: BaseException) -> str:
    """A failure in a log line: its kind and first line, never a secret (none is in these)."""
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def read_pem_certificate(
    pem: str, *, passphrase: str | None, source: str = "the certificate file"
) -> _CertificateCredential:
    """Split a PEM holding a private key and its certificate; check both load."""
    blocks = [(m["label"], m.group(0)) for m in _PEM_BLOCK.finditer(pem)]
    keys = [text for label, text in blocks if label.endswith("PRIVATE KEY")]
    certificates = [text for label, text in blocks if label == "CERTIFICATE"]
    hint = (
        "AZURE_CLIENT_CERTIFICATE must be a PEM file holding the private key and the "
        "certificate uploaded to the app registration (e.g. `cat key.pem cert.pem`)."
    )
    if len(keys) != 1 or not certificates:
        raise AuthenticationError(
            f"{source} must hold one private key and its certificate "
            f"(found {len(keys)} key(s), {len(certificates)} certificate(s)).",
            hint=hint,
        )
    try:
        load_pem_private_key(keys[0].encode(), passphrase.encode() if passphrase else None)
    except TypeError:
        raise AuthenticationError(
            f"The private key in {source} is encrypted and no password was given.",
            hint="Set AZURE_CLIENT_CERTIFICATE_PASSWORD.",
        ) from None
    except ValueError:
        raise AuthenticationError(
            f"The private key in {source} cannot be read: wrong password or not a key.",
            hint="Check AZURE_CLIENT_CERTIFICATE_PASSWORD and the file.",
        ) from None
    try:
        load_pem_x509_certificate(certificates[0].encode())
    except ValueError:
        raise AuthenticationError(
            f"The certificate in {source} cannot be read.", hint=hint
        ) from None
    return _CertificateCredential(keys[0], "\n".join(certificates), passphrase)


def _entra_error(result: dict[str, Any], scope: str) -> AuthenticationError:
    error = str(result.get("error", "unknown_error"))
    # Entra appends "Trace ID / Correlation ID / Timestamp" lines; the first line says it all,
    # and the correlation id is what Microsoft support asks for.
    description = str(result.get("error_description", "")).strip().splitlines()
    summary = description[0].strip() if description else ""
    correlation = result.get("correlation_id")
    code = _first_aadsts_code(summary) or next(
        (str(c) for c in result.get("error_codes", []) or []), None
    )
    log.warning("token request for %s refused: %s AADSTS%s", scope, error, code or "-")
    message = f"Entra refused a token for {scope}: {error}"
    if summary:
        message += f": {summary}"
    if correlation:
        message += f" (correlation id {correlation})"
    return AuthenticationError(message, hint=_HINTS.get(code or "", _DEFAULT_HINT))


def _first_aadsts_code(text: str) -> str | None:
    match = _AADSTS_CODE.search(text)
    return match.group(1) if match else None


def token_roles(access_token: str) -> list[str]:
    """The `roles` claim of our own access token: the application permissions it carries.

    No signature check: the token came from Entra to us, and is only read to tell the doctor
    which permissions were consented. Raises ValueError if it is not a JWT.
    """
    parts = access_token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT: expected three dot-separated parts")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not a JWT: the payload is not base64url JSON") from None
    roles = claims.get("roles", []) if isinstance(claims, dict) else []
    return [str(role) for role in roles] if isinstance(roles, list) else []
