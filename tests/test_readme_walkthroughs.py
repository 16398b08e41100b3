"""The README's walkthroughs run as written, in the console, on a fresh lab: the README cannot
drift from the product."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings
from bot.workspace.console import run_console

README = Path(__file__).resolve().parents[1] / "README.md"
WALKTHROUGH = re.compile(r"<!-- walkthrough: ([\w-]+) -->\n```text\n(.*?)```", re.DOTALL)

# What each walkthrough must end up showing, beyond running every line without a failure.
SHOWS = {
    "hunt": ["Page 2 of", "CSV export of zap-misses"],
    "remediation": ["Approval HB-1", "Done", "Deleted items"],
    "filter": ["62 of 196 rows where", "matches 11-20 of 62", "rows 1-10 of 196"],
    "schedule": [
        "scheduled as SCH-1",
        "1 schedule ran: SCH-1 zap-misses, nothing new to post",
        "1 new of 1 row found",
        "1 schedule ran: SCH-1 zap-misses, 1 new row posted",
        "Last run",
    ],
    "adhoc": [
        "Ad-hoc query",
        "Save as hunt",
        "Saved recent-phish as version 1",
        "recent-phish run by @bob",
        "saved, version 1 by @alice",
    ],
}


def walkthroughs() -> dict[str, str]:
    return dict(WALKTHROUGH.findall(README.read_text(encoding="utf-8")))


def test_the_readme_shows_the_walkthroughs_this_file_checks():
    assert set(walkthroughs()) == set(SHOWS)


@pytest.mark.parametrize("name", sorted(SHOWS))
async def test_a_readme_walkthrough_runs_as_written(
    name: str, console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / f"{name}.txt"
    script.write_text(walkthroughs()[name], encoding="utf-8")
    code = await run_console(console_settings, script=script, transcript=None)
    shown = capsys.readouterr().out
    assert code == 0, shown
    for expected in SHOWS[name]:
        assert expected in shown, (name, expected)
