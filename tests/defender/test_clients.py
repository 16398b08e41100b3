"""One TokenProvider per process: hunting, remediation and the capability check share MSAL's
token cache, so a worker asks Entra once per scope, not once per client."""

from __future__ import annotations

from bot.actions.model import ActionKind, OutcomeStatus
from bot.config import Settings
from bot.defender.actions import open_remediation
from bot.defender.backends import open_backend
from bot.defender.capabilities import current_capabilities
from bot.defender.clients import MicrosoftClients
from tests.actions.specs import APPROVAL_ID, device, email, spec_for
from tests.standins.defender_api import WORKSTATION


async def test_a_worker_asks_entra_once_per_scope_whatever_it_does(microsoft):
    settings = microsoft.settings()
    clients = MicrosoftClients(settings, http_client=microsoft.requests_session())
    hunting = open_backend(settings, tokens=clients.tokens, verify=microsoft.ssl_context())
    remediation = open_remediation(settings, tokens=clients.tokens, verify=microsoft.ssl_context())
    mail = [email("6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f", "alex@contoso.com")]
    machines = [device(WORKSTATION)]
    try:
        capabilities = await current_capabilities(settings, tokens=clients.tokens)
        result = await hunting.run_query("EmailEvents | take 2")
        [junked] = await remediation.submit(
            spec_for(ActionKind.EMAIL_MOVE_TO_JUNK, mail), APPROVAL_ID, mail
        )
        [isolated] = await remediation.submit(
            spec_for(ActionKind.DEVICE_ISOLATE, machines), APPROVAL_ID, machines
        )
        await remediation.refresh(isolated)
        await hunting.run_query("EmailEvents | take 2")
    finally:
        await hunting.aclose()
        await remediation.aclose()
        await clients.aclose()

    assert capabilities is not None and {"hunting", "device.isolate"} <= capabilities
    assert result.row_count == 2
    assert junked.status is OutcomeStatus.SUBMITTED
    assert isolated.status is OutcomeStatus.IN_PROGRESS
    scopes = [request.form["scope"] for request in microsoft.token_requests]
    assert sorted(scopes) == sorted([settings.hosts.graph_scope, settings.hosts.mde_scope])


def test_the_lab_needs_no_tokens(tmp_path):
    settings = Settings(_env_file=None, hunt_backend="lab", lab_db=tmp_path / "lab.duckdb")
    assert MicrosoftClients(settings).tokens is None


async def test_capabilities_are_unknown_when_no_token_can_be_had(microsoft):
    settings = microsoft.settings(azure_client_secret="not-the-secret")
    clients = MicrosoftClients(settings, http_client=microsoft.requests_session())
    try:
        assert await current_capabilities(settings, tokens=clients.tokens) is None
    finally:
        await clients.aclose()
