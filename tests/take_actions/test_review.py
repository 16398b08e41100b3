"""The review before a request: what cannot be undone is said plainly, and Back returns to the
first step as it was filled in, to change it before anything is requested."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.workspace.console import run_console


async def test_back_edits_the_request_and_hard_delete_says_it_is_permanent(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "review.txt"
    script.write_text(
        "/hunt spam-emails\nclick Take actions\nfill Action=Hard delete\nfill Rows=1-5\n"
        "fill Description=phish wave\nsubmit\nclick ◀ Back\nfill Rows=1-2\nsubmit\nsubmit\n"
    )
    code = await run_console(console_settings, script=script, transcript=None)
    shown = capsys.readouterr().out
    assert code == 0, shown
    first, after_back = shown.split("alice ▸ click ◀ Back", 1)
    assert "Hard delete is permanent" in " ".join(first.split())
    assert "5 messages in" in " ".join(first.split())
    editing = after_back.split("alice ▸ fill Rows=1-2", 1)[0]
    assert "phish wave" in editing and "1-5" in editing  # what was filled in is kept
    review = " ".join(after_back.split("alice ▸ fill Rows=1-2", 1)[1].split())
    assert "2 messages in" in review
    assert "Approval HB-1: Hard delete" in review
