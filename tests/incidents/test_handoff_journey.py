"""Journey 4 in the console: a hard delete waits for its second approval while the owner hands
the incident thread to a colleague; the summary and the new owner's status say so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import Settings
from bot.defender.lab import create_lab
from bot.workspace.console import run_console

JOURNEY = """
/hunt spam-emails
click Take actions
fill Action=Hard delete
fill Rows=1-2
fill Description=phish campaign
submit
submit
as @bob
click Approve
as @alice
@hunt-bot handoff @carol going off shift
@hunt-bot handoff @hunt-bot
@hunt-bot handoff @alice
as @carol
@hunt-bot status
"""


@pytest.fixture
def settings(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> Settings:
    for name in ("REDIS_URL", "HUNTS_DIR", "HUNT_BACKEND", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    lab = tmp_path / "data" / "lab.duckdb"
    lab.parent.mkdir()
    shutil.copyfile(create_lab(tmp_path_factory.mktemp("lab") / "lab.duckdb").path, lab)
    return Settings(_env_file=None, lab_db=lab)  # type: ignore[call-arg]


async def test_handoff_summary_and_the_new_owners_status(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "journey.txt"
    script.write_text(JOURNEY)
    code = await run_console(settings, script=script, transcript=None)
    shown = capsys.readouterr().out
    assert code == 0, shown
    handover = shown.split("alice ▸ @hunt-bot handoff @carol going off shift", 1)[1]
    handover = handover.split("alice ▸", 1)[0]
    assert "@alice handed this incident to @carol" in handover
    assert "going off shift" in handover
    assert "Hard delete on 2 target(s): pending, 1 of 2 approvals" in handover
    assert "not to a bot" in shown
    assert "cannot hand an incident off to yourself" in shown or "already owns" in shown
    status = shown.split("carol ▸ @hunt-bot status", 1)[1]
    assert "Owner @carol" in status and "pending, 1 of 2 approvals" in status
