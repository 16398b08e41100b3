"""Journey 4 in the console: a hard delete waits for its second approval while the owner hands
the incident thread to a colleague; the summary and the new owner's status say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import Settings
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
@hunt-bot handoff @bob
as @carol
@hunt-bot handoff @hunt-bot
@hunt-bot handoff @dave
@hunt-bot handoff @carol
@hunt-bot status
@hunt-bot note checked the sender domain
as @bob
@hunt-bot take
@hunt-bot close
click Keep it open
"""


async def test_handoff_summary_and_the_new_owners_status(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "journey.txt"
    script.write_text(JOURNEY)
    code = await run_console(console_settings, script=script, transcript=None)
    shown = capsys.readouterr().out
    assert code == 0, shown
    handover = shown.split("alice ▸ @hunt-bot handoff @carol going off shift", 1)[1]
    handover = handover.split("alice ▸", 1)[0]
    assert "@alice handed this incident to @carol" in handover
    assert "going off shift" in handover
    assert "Hard delete on 2 targets: pending, 1 of 2" in handover
    assert "HB-1 (http" in handover  # linked to its card
    # Alice no longer owns it and is no approver: she is told to take it instead.
    refused = shown.split("alice ▸ @hunt-bot handoff @bob", 1)[1].split("carol ▸", 1)[0]
    assert "Only the incident's owner, @carol, or an approver can hand it off" in refused
    assert "@hunt-bot take" in refused
    assert "not to a bot" in shown
    assert "They are not in this channel" in shown
    assert "cannot hand an incident off to yourself" in shown or "already owns" in shown
    status = shown.split("carol ▸ @hunt-bot status", 1)[1].split("carol ▸", 1)[0]
    assert "Owner @carol" in status and "pending, 1 of 2 approvals" in status
    assert "Noted." in shown
    taken = shown.split("bob ▸ @hunt-bot take", 1)[1].split("bob ▸", 1)[0]
    assert "@bob took over from @carol" in taken and "Owner @bob" in taken
    assert "Close it and cancel them, or keep it open?" in shown
    assert "Kept open: the approvals stand." in shown


async def test_thread_verbs_take_over_hunt_in_thread_close_with_approvals_and_list(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "verbs.txt"
    script.write_text(
        "/hunt spam-emails\nclick Take actions\nfill Action=Hard delete\nfill Rows=1\n"
        "fill Description=phish\nsubmit\nsubmit\n"
        "@hunt-bot hunt emails-from sender=security@contoso.com\n"
        "@hunt-bot status\nas @bob\nclick Take over\n"
        "@hunt-bot close done here\nclick Cancel them and close\n"
        "/hunt incidents\n"
    )
    transcript = tmp_path / "t.jsonl"
    code = await run_console(console_settings, script=script, transcript=transcript)
    shown = capsys.readouterr().out
    assert code == 0, shown
    calls = [json.loads(line) for line in transcript.read_text().splitlines()]
    posts = [c["args"] for c in calls if c["method"] == "chat.postMessage"]
    root = posts[0]
    in_thread = [p for p in posts[1:] if p.get("thread_ts")]
    assert any("Emails from a sender" in str(p["blocks"]) for p in in_thread)  # hunt in thread
    assert "Owner @bob" in shown.split("bob ▸ click Take over", 1)[1]
    assert "Close it and cancel them, or keep it open?" in shown
    assert "Cancelled by @bob" in shown and "done here. Nothing ran." in shown
    assert "Incident closed; its open approvals were cancelled." in shown
    listing = shown.split("bob ▸ /hunt incidents", 1)[1]
    assert "No open incidents in this channel." in listing
    assert root["channel"] == "C0SOC"


async def test_handoff_by_the_status_cards_modal(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "modal.txt"
    script.write_text(
        "/hunt zap-misses\n@hunt-bot status\nclick Hand off\nfill Hand off to=carol\n"
        "fill Note=night shift takes it\nsubmit\nas @carol\n@hunt-bot status\n"
        "click Hand off\nfill Hand off to=hunt-bot\nsubmit\n"
    )
    code = await run_console(console_settings, script=script, transcript=None)
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "@alice handed this incident to @carol" in shown and "night shift takes it" in shown
    assert "Owner @carol" in shown.split("carol ▸ @hunt-bot status", 1)[1]
    assert "not to a bot" in shown.rsplit("carol ▸ submit", 1)[1]


async def test_names_slack_could_not_resolve_are_answered_and_a_bad_form_keeps_the_note(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "names.txt"
    script.write_text(
        "/hunt zap-misses\n"
        "@hunt-bot handoff carol night shift\n"
        "@hunt-bot handoff @zed\n"
        "@hunt-bot status\nclick Hand off\nfill Hand off to=hunt-bot\n"
        "fill Note=isolation still pending\nsubmit\n"
    )
    code = await run_console(console_settings, script=script, transcript=None)
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "Did you mean @carol?" in shown
    assert "I can't find @zed in this channel." in shown
    again = shown.rsplit("alice ▸ submit", 1)[1]
    assert "not to a bot" in again and "isolation still pending" in again
