"""Approvers hear of a request, and the requester hears how it ended, where they work: the card
mentions the approvers, and the thread mentions the requester when it is done or rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import Settings
from bot.workspace.console import run_console
from tests.slack.safety import assert_safe_message

ASK = (
    "/hunt spam-emails\nclick Take actions\nfill Action=Soft delete\nfill Rows=1\n"
    "fill Description=phish\nsubmit\nsubmit\n"
)


async def posts_of(settings: Settings, tmp_path: Path, lines: str) -> tuple[list[dict], str]:
    script = tmp_path / "notify.txt"
    script.write_text(lines)
    transcript = tmp_path / "t.jsonl"
    code = await run_console(settings, script=script, transcript=transcript)
    calls = [json.loads(line) for line in transcript.read_text().splitlines()]
    posts = [c["args"] for c in calls if c["method"] == "chat.postMessage"]
    return posts, "" if code == 0 else "the script failed"


async def test_the_card_mentions_the_approvers_and_the_requester_hears_it_is_done(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    posts, failed = await posts_of(console_settings, tmp_path, ASK + "as @bob\nclick Approve\n")
    shown = capsys.readouterr().out
    assert not failed, shown
    card = next(p for p in posts if "Approval HB-1" in str(p["blocks"]))
    assert "<!subteam^S0APPROVERS>" in str(card["blocks"])  # Bob and Carol are notified
    assert_safe_message(card["blocks"], card["text"])
    told = [p for p in posts if "<@U0ALICE>, HB-1" in str(p["blocks"])]
    assert len(told) == 1 and "is done" in str(told[0]["blocks"])
    assert told[0]["thread_ts"] == card["thread_ts"]
    assert "Waiting for @approvers" in shown  # the group by its handle


async def test_the_requester_hears_who_rejected_it(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reject = "as @carol\nclick Reject\nfill Reason=a newsletter, not spam\nsubmit\n"
    posts, failed = await posts_of(console_settings, tmp_path, ASK + reject)
    shown = capsys.readouterr().out
    assert not failed, shown
    told = [p for p in posts if "<@U0ALICE>, HB-1" in str(p["blocks"])]
    assert len(told) == 1, shown
    assert "was rejected by <@U0CAROL>: a newsletter, not spam" in str(told[0]["blocks"])
