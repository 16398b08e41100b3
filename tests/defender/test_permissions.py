"""Which capabilities the consented application permissions allow."""

from __future__ import annotations

from bot.defender.auth import TokenProvider, token_roles
from bot.defender.permissions import CAPABILITIES, Availability, Resource, check_capabilities

ALL_GRAPH = ["ThreatHunting.Read.All", "SecurityAnalyzedMessage.ReadWrite.All"]
ALL_MDE = [
    "Machine.Isolate",
    "Machine.Scan",
    "Machine.CollectForensics",
    "Machine.RestrictExecution",
    "Machine.StopAndQuarantine",
    "Alert.ReadWrite.All",
    "Machine.Read.All",
    "File.Read.All",
]


def _by_key(statuses):
    return {status.capability.key: status for status in statuses}


def test_everything_available_with_the_minimum_permissions():
    statuses = check_capabilities(ALL_GRAPH, ALL_MDE)

    assert all(status.available for status in statuses)
    assert all(status.grant is None for status in statuses)


def test_missing_permission_says_what_to_grant_and_where():
    statuses = _by_key(check_capabilities(["ThreatHunting.Read.All"], ["Machine.Isolate"]))

    assert statuses["hunting"].available
    assert statuses["device.isolate"].available
    email = statuses["email.remediate"]
    assert email.availability is Availability.MISSING
    assert email.grant == (
        "grant the application permission SecurityAnalyzedMessage.ReadWrite.All on "
        "Microsoft Graph and grant admin consent"
    )
    assert "Alert.ReadWrite.All on WindowsDefenderATP" in statuses["device.investigate"].grant
    assert "File.Read.All" in statuses["file.sha256_to_sha1"].grant


def test_broader_permission_serves_for_status():
    statuses = _by_key(check_capabilities([], ["Machine.ReadWrite.All"]))

    assert statuses["action.status"].available
    assert not statuses["device.isolate"].available


def test_no_token_for_a_resource_leaves_its_capabilities_unknown():
    statuses = _by_key(check_capabilities(ALL_GRAPH, None))

    assert statuses["hunting"].available
    assert statuses["device.scan"].availability is Availability.UNKNOWN
    assert "WindowsDefenderATP" in statuses["device.scan"].grant


def test_the_permissions_to_grant_are_the_documented_minimum():
    def needed(resource):
        return {cap.permission for cap in CAPABILITIES if cap.resource is resource}

    assert needed(Resource.GRAPH) == set(ALL_GRAPH)
    assert needed(Resource.MDE) == set(ALL_MDE)


async def test_roles_read_from_real_tokens(microsoft):
    microsoft.grant_roles("https://graph.microsoft.com", ["ThreatHunting.Read.All"])
    microsoft.grant_roles("https://api.securitycenter.microsoft.com", ["Machine.Scan"])
    tokens = TokenProvider(microsoft.settings(), http_client=microsoft.requests_session())
    settings = microsoft.settings()

    graph = token_roles(await tokens.access_token(settings.hosts.graph_scope))
    mde = token_roles(await tokens.access_token(settings.hosts.mde_scope))
    available = {s.capability.key for s in check_capabilities(graph, mde) if s.available}

    assert available == {"hunting", "device.scan"}
