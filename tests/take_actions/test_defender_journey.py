"""Take actions against Microsoft, from the modal to the outcome: the hunt runs through Graph,
the isolation through Defender for Endpoint (both local HTTPS stand-ins answering as Microsoft
does), with two approvals as the policy asks for isolation. The bot's own clients trust the
stand-ins' CA through the environment, as they would a corporate CA."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
from rich.console import Console

from bot.defender.lab import create_lab
from tests.standins.lab_answers import answer_from
from tests.standins.microsoft import MicrosoftStandIn
from tests.take_actions.microsoft_console import console_on_microsoft

SECRET = "defender-journey-secret"


@pytest.fixture(scope="module")
def microsoft(tmp_path_factory: pytest.TempPathFactory):
    with MicrosoftStandIn().running(tmp_path_factory.mktemp("microsoft")) as standin:
        yield standin


@pytest.fixture(scope="module")
def lab_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_lab(tmp_path_factory.mktemp("lab") / "lab.duckdb").path


async def test_isolating_a_device_needs_two_approvers_and_is_followed_to_success(
    microsoft,
    lab_path,
    redis_url,
    tmp_path,
    monkeypatch,
):
    redis.Redis.from_url(redis_url).flushdb()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(microsoft.ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(microsoft.ca_file))
    microsoft.reset()
    microsoft.grant_roles(
        "https://api.securitycenter.microsoft.com", ["Machine.Isolate", "Machine.Read.All"]
    )
    lab = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_path, lab)
    con, microsoft.query_handler = answer_from(lab)
    # Defender knows the lab's devices: the ones the hunt will name.
    for device_id, name in con.sql(
        'SELECT DISTINCT "DeviceId", "DeviceName" FROM DeviceInfo'
    ).fetchall():
        microsoft.defender.add_machine(device_id, name)
    out = Console(record=True, width=160)
    async with console_on_microsoft(microsoft, redis_url, lab, SECRET, out) as session:
        script = [
            "/hunt ransomware-precursors",
            "click Take actions",
            "fill Action=Isolate device (selective)",
            "fill Rows=1",
            "fill Description=Shadow copies deleted: contain it",
            "submit",
            "submit",
            "as @bob",
            "click Approve",
            "as @carol",
            "click Approve",
        ]
        assert await session.run_script(script) == 0, out.export_text()
    con.close()
    shown = out.export_text()

    hunted = microsoft.hunting_requests
    assert hunted and "DeviceProcessEvents" in hunted[0].json["Query"]
    isolations = [r for r in microsoft.mde_requests if r.path.endswith("/isolate")]
    assert len(isolations) == 1
    body = isolations[0].json
    assert body["IsolationType"] == "Selective" and "HB-1" in body["Comment"]
    assert "approvals 1 of 2" in shown  # bob's vote alone was not enough
    final = shown.rsplit("Approval HB-1", 1)[1]
    assert "Done" in final and "succeeded" in final
