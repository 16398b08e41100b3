"""Fixtures: a local Microsoft (Entra + Graph hunting) over HTTPS and real clients aimed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.defender.auth import TokenProvider
from bot.defender.hunting import GraphHunting
from tests.standins.certificates import AppCertificate, make_app_certificate
from tests.standins.microsoft import MicrosoftStandIn


@pytest.fixture(scope="session")
def app_certificate(tmp_path_factory: pytest.TempPathFactory) -> AppCertificate:
    return make_app_certificate(tmp_path_factory.mktemp("cert"))


@pytest.fixture(scope="session")
def encrypted_app_certificate(tmp_path_factory: pytest.TempPathFactory) -> AppCertificate:
    return make_app_certificate(tmp_path_factory.mktemp("cert"), password="correct horse")


@pytest.fixture
def tokens(microsoft: MicrosoftStandIn) -> TokenProvider:
    return TokenProvider(microsoft.settings(), http_client=microsoft.requests_session())


@pytest.fixture
async def hunting(
    microsoft: MicrosoftStandIn, tokens: TokenProvider
) -> AsyncIterator[GraphHunting]:
    backend = GraphHunting(
        microsoft.settings(),
        tokens,
        verify=microsoft.ssl_context(),
        max_quota_wait=5.0,
        retries=2,
        backoff=0.01,
        timeout=2.0,
    )
    yield backend
    await backend.aclose()
