"""App-only tokens through real MSAL against the local Entra: credentials, cache, errors."""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest

from bot.defender.auth import TokenProvider, token_roles
from bot.errors import AuthenticationError

GRAPH = "https://graph.microsoft.com/.default"
MDE = "https://api.securitycenter.microsoft.com/.default"


def _jwt_header(token: str) -> dict:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def test_token_by_client_secret_carries_the_consented_roles(microsoft, tokens):
    token = await tokens.access_token(GRAPH)

    assert token_roles(token) == ["ThreatHunting.Read.All", "SecurityAnalyzedMessage.ReadWrite.All"]
    [request] = microsoft.token_requests
    assert request.form["grant_type"] == "client_credentials"
    assert request.form["scope"] == GRAPH
    assert request.form["client_secret"] == microsoft.client_secret


async def test_token_by_certificate_signs_with_sha256_thumbprint(microsoft, app_certificate):
    microsoft.register_certificate(app_certificate.certificate)
    settings = microsoft.settings(
        azure_client_secret=None, azure_client_certificate=app_certificate.pem_path
    )
    provider = TokenProvider(settings, http_client=microsoft.requests_session())

    token = await provider.access_token(GRAPH)

    assert "ThreatHunting.Read.All" in token_roles(token)
    [request] = microsoft.token_requests
    assert "client_secret" not in request.form
    header = _jwt_header(request.form["client_assertion"])
    assert header["alg"] == "PS256"
    assert "x5t#S256" in header


async def test_password_protected_certificate(microsoft, encrypted_app_certificate):
    microsoft.register_certificate(encrypted_app_certificate.certificate)
    settings = microsoft.settings(
        azure_client_secret=None,
        azure_client_certificate=encrypted_app_certificate.pem_path,
        azure_client_certificate_password=encrypted_app_certificate.password,
    )
    provider = TokenProvider(settings, http_client=microsoft.requests_session())

    assert token_roles(await provider.access_token(GRAPH))


async def test_wrong_certificate_password_is_reported_without_it(
    microsoft, encrypted_app_certificate
):
    settings = microsoft.settings(
        azure_client_secret=None,
        azure_client_certificate=encrypted_app_certificate.pem_path,
        azure_client_certificate_password="battery staple",
    )
    provider = TokenProvider(settings, http_client=microsoft.requests_session())

    with pytest.raises(AuthenticationError, match="wrong password") as caught:
        await provider.access_token(GRAPH)
    assert "battery staple" not in str(caught.value)
    assert microsoft.token_requests == []


async def test_unregistered_certificate_is_refused_by_entra(microsoft, app_certificate):
    settings = microsoft.settings(
        azure_client_secret=None, azure_client_certificate=app_certificate.pem_path
    )
    provider = TokenProvider(settings, http_client=microsoft.requests_session())

    with pytest.raises(AuthenticationError, match="AADSTS700027") as caught:
        await provider.access_token(GRAPH)
    assert "upload" in caught.value.hint


async def test_second_call_is_answered_from_msal_cache(microsoft, tokens):
    first = await tokens.access_token(GRAPH)
    second = await tokens.access_token(GRAPH)

    assert first == second
    assert len(microsoft.token_requests) == 1


async def test_one_application_serves_every_scope(microsoft, tokens):
    await tokens.access_token(GRAPH)
    mde_token = await tokens.access_token(MDE)

    assert token_roles(mde_token) == ["Machine.Isolate", "Machine.Read.All"]
    discoveries = [r for r in microsoft.requests if r.path.endswith("openid-configuration")]
    assert len(discoveries) == 1
    assert len(microsoft.token_requests) == 2


async def test_msal_runs_off_the_event_loop(microsoft, tokens):
    microsoft.entra.token_delay = 0.3
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await tokens.access_token(GRAPH)
    ticker.cancel()

    assert ticks >= 10


async def test_bad_secret_names_entra_error_but_never_the_secret(microsoft, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-secret~value-12345"
    provider = TokenProvider(
        microsoft.settings(azure_client_secret=wrong), http_client=microsoft.requests_session()
    )

    with pytest.raises(AuthenticationError) as caught:
        await provider.access_token(GRAPH)

    error = caught.value
    assert "invalid_client" in error.message
    assert "AADSTS7000215" in error.message
    assert "correlation id" in error.message
    assert "AZURE_CLIENT_SECRET" in error.hint
    assert wrong not in str(error)
    assert all(wrong not in record.getMessage() for record in caplog.records)


async def test_expired_secret_says_to_create_a_new_one(microsoft):
    microsoft.app_registration.secrets.clear()
    microsoft.app_registration.expired_secrets.add(microsoft.client_secret)
    provider = TokenProvider(microsoft.settings(), http_client=microsoft.requests_session())

    with pytest.raises(AuthenticationError, match="AADSTS7000222") as caught:
        await provider.access_token(GRAPH)
    assert "expired" in caught.value.hint


async def test_unknown_client_id_points_at_client_and_tenant(microsoft):
    settings = microsoft.settings(azure_client_id="00000000-0000-0000-0000-000000000001")
    provider = TokenProvider(settings, http_client=microsoft.requests_session())

    with pytest.raises(AuthenticationError, match="AADSTS700016") as caught:
        await provider.access_token(GRAPH)
    assert "AZURE_CLIENT_ID" in caught.value.hint


async def test_unknown_tenant_is_reported_before_any_token_request(microsoft):
    settings = microsoft.settings(azure_tenant_id="contoso-typo.onmicrosoft.com")
    provider = TokenProvider(settings, http_client=microsoft.requests_session())

    with pytest.raises(AuthenticationError, match="refused the tenant") as caught:
        await provider.access_token(GRAPH)
    assert "AZURE_TENANT_ID" in caught.value.hint
    assert microsoft.token_requests == []


async def test_resource_missing_from_tenant(microsoft):
    del microsoft.app_registration.roles["https://api.securitycenter.microsoft.com"]
    provider = TokenProvider(microsoft.settings(), http_client=microsoft.requests_session())

    with pytest.raises(AuthenticationError, match="AADSTS500011"):
        await provider.access_token(MDE)


async def test_unreachable_login_host(microsoft):
    settings = microsoft.settings(azure_authority_host="https://127.0.0.1:9")
    provider = TokenProvider(settings, http_client=microsoft.requests_session())

    with pytest.raises(AuthenticationError, match="cannot be reached") as caught:
        await provider.access_token(GRAPH)
    assert microsoft.client_secret not in str(caught.value)


async def test_token_without_roles_reads_as_none(microsoft, tokens):
    microsoft.grant_roles("https://graph.microsoft.com", [])

    assert token_roles(await tokens.access_token(GRAPH)) == []


def test_token_roles_refuses_what_is_not_a_jwt():
    with pytest.raises(ValueError, match="not a JWT"):
        token_roles("opaque-token")
    with pytest.raises(ValueError, match="not a JWT"):
        token_roles("a.%%%.c")


async def test_one_503_from_the_login_host_is_ridden_out(microsoft, tokens, caplog):
    """Entra answers 503 once: the token comes on the next try, no sooner than MSAL (which
    holds a 5xx answer for 5 s) would really ask again."""
    caplog.set_level(logging.WARNING, logger="bot.defender.auth")
    microsoft.entra.fail_next = [503]
    try:
        token = await tokens.access_token(GRAPH)
    finally:
        microsoft.entra.fail_next = []
    assert token_roles(token)
    assert len(microsoft.token_requests) == 2  # the 503, then the token: no wasted retries
    assert "trying again in" in caplog.text and "attempt 1 of 3" in caplog.text


async def test_a_hunt_survives_one_503_from_the_login_host(microsoft, hunting):
    microsoft.entra.fail_next = [503]
    try:
        result = await hunting.run_query("DeviceInfo | take 1")
    finally:
        microsoft.entra.fail_next = []
    assert result.row_count >= 0
    assert len(microsoft.hunting_requests) == 1


async def test_the_login_host_is_asked_a_few_times_then_the_failure_is_reported(microsoft):
    settings = microsoft.settings(azure_authority_host="https://127.0.0.1:9")
    provider = TokenProvider(settings, http_client=microsoft.requests_session(), attempts=2)

    started = asyncio.get_running_loop().time()
    with pytest.raises(AuthenticationError, match="cannot be reached"):
        await provider.access_token(GRAPH)
    assert asyncio.get_running_loop().time() - started < 5


async def test_a_refusal_is_not_asked_again(microsoft):
    provider = TokenProvider(
        microsoft.settings(azure_client_secret="wrong"), http_client=microsoft.requests_session()
    )
    with pytest.raises(AuthenticationError, match="invalid_client"):
        await provider.access_token(GRAPH)
    assert len(microsoft.token_requests) == 1
