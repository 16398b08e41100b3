"""Fixtures: the Microsoft stand-in with Defender's action APIs, the real executors aimed at it,
and a private lab tenant per test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.defender.actions import DefenderRemediation, RetryPolicy
from bot.defender.auth import TokenProvider
from bot.defender.lab import LabSummary, LabTenant, create_lab
from bot.defender.lab.actions import LabRemediation
from bot.defender.lab.machine_actions import LabTiming
from tests.standins.defender_api import EVERY_MDE_ROLE
from tests.standins.microsoft import (
    GRAPH_RESOURCE,
    HUNTING_ROLE,
    MDE_RESOURCE,
    MicrosoftStandIn,
)

# Seconds a lab machine action stays Pending, then InProgress: long enough to see each state.
LAB_TIMING = LabTiming(pending=0.15, running=0.15)


@pytest.fixture
def microsoft(microsoft_server: MicrosoftStandIn) -> Iterator[MicrosoftStandIn]:
    """The stand-in reset, with every permission remediation needs consented."""
    microsoft_server.reset()
    microsoft_server.grant_roles(
        GRAPH_RESOURCE, [HUNTING_ROLE, "SecurityAnalyzedMessage.ReadWrite.All"]
    )
    microsoft_server.grant_roles(MDE_RESOURCE, EVERY_MDE_ROLE)
    yield microsoft_server
    microsoft_server.reset()


@pytest.fixture
def tokens(microsoft: MicrosoftStandIn) -> TokenProvider:
    return TokenProvider(microsoft.settings(), http_client=microsoft.requests_session())


@pytest.fixture
async def defender(
    microsoft: MicrosoftStandIn, tokens: TokenProvider
) -> AsyncIterator[DefenderRemediation]:
    backend = DefenderRemediation(
        microsoft.settings(),
        tokens,
        verify=microsoft.ssl_context(),
        email_batch_size=2,
        retry=RetryPolicy(attempts=3, backoff=0.01, max_wait=2.0),
        timeout=5.0,
    )
    yield backend
    await backend.aclose()


@pytest.fixture(scope="session")
def default_lab(tmp_path_factory: pytest.TempPathFactory) -> LabSummary:
    return create_lab(tmp_path_factory.mktemp("lab") / "lab.duckdb")


@pytest.fixture
async def lab(default_lab: LabSummary, tmp_path: Path) -> AsyncIterator[LabTenant]:
    """A private copy of the default lab: actions change it."""
    target = tmp_path / "lab.duckdb"
    shutil.copyfile(default_lab.path, target)
    tenant = LabTenant.open(target, create_if_missing=False)
    yield tenant
    await tenant.aclose()


@pytest.fixture
def lab_actions(lab: LabTenant) -> LabRemediation:
    return LabRemediation(lab, timing=LAB_TIMING)
