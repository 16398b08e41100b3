"""`hunt-bot doctor` against the local Microsoft stand-in: tokens, roles, and what they unlock."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from bot.defender.auth import TokenProvider
from bot.doctor import run_doctor
from tests.standins.microsoft import GRAPH_RESOURCE, MDE_RESOURCE


@pytest.fixture(autouse=True)
def private_data_dir(monkeypatch, tmp_path):
    # The embedded Redis and the lab keep their files here, not in the user's home.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))


async def doctor(microsoft, tmp_path, **overrides):
    settings = microsoft.settings(lab_db=tmp_path / "lab.duckdb", **overrides)
    tokens = TokenProvider(settings, http_client=microsoft.requests_session())
    console = Console(record=True, width=200)
    ok = await run_doctor(settings, console, tokens=tokens)
    return ok, console.export_text()


async def test_a_consented_app_can_hunt_and_the_missing_permissions_are_named(microsoft, tmp_path):
    microsoft.grant_roles(MDE_RESOURCE, ["Machine.Isolate", "Machine.Read.All"])
    ok, text = await doctor(microsoft, tmp_path)
    assert ok, text
    assert "Token for Microsoft Graph acquired" in text
    assert "ThreatHunting.Read.All" in text
    assert "This app registration can run all 12 hunts" in text
    # Granted: isolation. Not granted: scans, named with what to grant.
    assert re.search(r"Isolate and release devices\s+│ available", text)
    assert "grant the application permission Machine.Scan on WindowsDefenderATP" in text
    assert microsoft.client_secret not in text


async def test_an_app_without_hunting_permission_is_told_what_to_grant(microsoft, tmp_path):
    microsoft.grant_roles(GRAPH_RESOURCE, [])
    ok, text = await doctor(microsoft, tmp_path)
    assert not ok
    assert "cannot run hunts" in text
    assert "grant the application permission ThreatHunting.Read.All" in text


async def test_a_wrong_secret_fails_without_showing_it(microsoft, tmp_path):
    ok, text = await doctor(microsoft, tmp_path, azure_client_secret="not-the-secret-42")
    assert not ok
    assert "No token for Microsoft Graph" in text
    assert "not-the-secret-42" not in text


async def test_on_the_lab_without_an_app_registration_nothing_fails(tmp_path):
    from bot.config import Settings

    settings = Settings(_env_file=None, lab_db=tmp_path / "lab.duckdb")
    console = Console(record=True, width=200)
    assert await run_doctor(settings, console)
    text = console.export_text()
    assert "hunts run on the lab tenant" in text
    assert "Redis" in text and "answers" in text
