"""Choosing the executor, and the rules every executor shares."""

from __future__ import annotations

import pytest

from bot.actions.model import ActionKind, OutcomeStatus
from bot.config import Settings
from bot.defender.actions import DefenderRemediation, open_remediation
from bot.defender.actions.operations import split_runnable
from bot.defender.lab.actions import LabRemediation
from bot.errors import SettingsError

from .specs import email, spec_for


async def test_graph_settings_open_the_defender_executor(microsoft, tokens):
    backend = open_remediation(microsoft.settings(), tokens=tokens, verify=microsoft.ssl_context())
    assert isinstance(backend, DefenderRemediation)
    assert backend.name == "defender"
    await backend.aclose()


def test_graph_without_an_app_registration_says_what_is_missing(tmp_path):
    settings = Settings(_env_file=None, hunt_backend="graph", lab_db=tmp_path / "lab.duckdb")
    with pytest.raises(SettingsError, match="AZURE_TENANT_ID"):
        open_remediation(settings)


async def test_the_lab_executor_shares_the_hunting_lab(lab):
    settings = Settings(_env_file=None, hunt_backend="lab", lab_db=lab.path)
    backend = open_remediation(settings, lab=lab)
    assert isinstance(backend, LabRemediation)
    target = email("00000000-0000-0000-0000-000000000000", "nobody@contoso.com")
    [outcome] = await backend.submit(
        spec_for(ActionKind.EMAIL_SOFT_DELETE, [target]), "apv-1", [target]
    )
    assert outcome.status is OutcomeStatus.FAILED
    await backend.aclose()
    assert (await lab.run_query("EmailEvents | take 1")).row_count == 1  # still open


async def test_the_lab_executor_opens_the_lab_itself_when_given_none(default_lab, tmp_path):
    import shutil

    path = tmp_path / "own.duckdb"
    shutil.copyfile(default_lab.path, path)
    backend = open_remediation(Settings(_env_file=None, hunt_backend="lab", lab_db=path))
    assert backend.name == "lab"
    await backend.aclose()


def test_targets_of_the_wrong_kind_or_given_twice_are_handled_once():
    target = email("m-1", "a@contoso.com")
    spec = spec_for(ActionKind.EMAIL_SOFT_DELETE, [target])
    runnable, refused = split_runnable(spec, [target, target])
    assert runnable == [target] and refused == []

    device_spec = spec_for(ActionKind.DEVICE_ISOLATE, [target])
    runnable, refused = split_runnable(device_spec, [target])
    assert runnable == [] and "device action cannot act on a email" in refused[0].detail
