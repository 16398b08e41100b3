"""Journeys 2 and 3 in the console: ask for a soft delete, the requester's own approval is
refused, an approver's executes it once on the lab, and re-running the hunt shows the effect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import Settings
from bot.workspace.console import run_console
from tests.slack.safety import assert_safe_message

JOURNEY = """
/hunt spam-emails
click Take actions
fill Action=Soft delete
fill Rows=1-3
fill Description=Spam campaign: take it out of the mailboxes
submit
submit
click Approve
as @bob
click Approve
/hunt spam-emails
"""


async def test_soft_delete_needs_someone_else_and_runs_once(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "journey.txt"
    script.write_text(JOURNEY)
    transcript = tmp_path / "transcript.jsonl"
    code = await run_console(console_settings, script=script, transcript=transcript)
    shown = capsys.readouterr().out
    assert code == 0, shown
    calls = [json.loads(line) for line in transcript.read_text().splitlines()]

    assert "your vote cannot count" in shown  # alice, the requester
    cards = [
        c["args"]
        for c in calls
        if c["method"] in ("chat.postMessage", "chat.update") and "Approval HB-" in str(c["args"])
    ]
    for card in cards:
        assert_safe_message(card["blocks"], card["text"])
    final = str(cards[-1]["blocks"])
    assert "Done" in final and "approvals 1 of 1: <@U0BOB>" in final
    assert final.count("— succeeded") == 3
    assert not [b for b in cards[-1]["blocks"] if b["type"] == "actions"]
    # Once decided, the card has no buttons left to press (double clicks and simultaneous
    # votes are covered against Redis in tests/approvals).

    rerun = [c["args"] for c in calls if c["method"] == "chat.postMessage"][-1]
    table = next(b for b in rerun["blocks"] if b["type"] == "table")
    header = [cell["text"] for cell in table["rows"][0]]
    locations = [row[header.index("LatestDeliveryLocation")]["text"] for row in table["rows"][1:4]]
    assert locations == ["Deleted items"] * 3


async def test_the_audit_trail_is_for_approvers_and_exports_as_json_lines(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "audit.txt"
    script.write_text(JOURNEY + "/hunt audit 5\nas @alice\n/hunt audit\n")
    code = await run_console(console_settings, script=script, transcript=None)
    shown = capsys.readouterr().out
    assert code == 0, shown
    bob_part, alice_part = shown.rsplit("alice ▸ /hunt audit", 1)
    assert "state_changed" in bob_part.rsplit("bob ▸ /hunt audit 5", 1)[1]
    assert "Only approvers can read the audit log" in alice_part


async def test_bad_input_is_shown_next_to_its_field_and_nothing_is_requested(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "bad.txt"
    script.write_text(
        "/hunt spam-emails\nclick Take actions\nfill Action=Hard delete\nfill Rows=0-900\n"
        "submit\nfill Rows=2\nsubmit\n"
    )
    transcript = tmp_path / "transcript.jsonl"
    code = await run_console(console_settings, script=script, transcript=transcript)
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "is outside them" in shown  # rows, next to the Rows field
    assert "Say why" in shown  # the missing description
    assert "Approval HB-" not in transcript.read_text()


TWO_PERSON = {"Hard delete", "Isolate device (full)", "Restrict app execution"}

EVERY_ACTION = [
    ("spam-emails", "Move to Junk"),
    ("spam-emails", "Move to Inbox"),
    ("spam-emails", "Move to Deleted items"),
    ("spam-emails", "Hard delete"),
    ("ransomware-precursors", "Isolate device (full)"),
    ("ransomware-precursors", "Release from isolation"),
    ("ransomware-precursors", "Collect investigation package"),
    ("ransomware-precursors", "Antivirus scan (full)"),
    ("ransomware-precursors", "Start automated investigation"),
    ("ransomware-precursors", "Restrict app execution"),
    ("ransomware-precursors", "Remove app restriction"),
    ("ransomware-precursors", "Stop and quarantine file (InitiatingProcessSHA1)"),
    ("ransomware-precursors", "Stop and quarantine file (InitiatingProcessSHA256)"),
]


@pytest.mark.parametrize(("hunt", "label"), EVERY_ACTION)
async def test_every_action_from_the_modal_to_its_outcome_on_the_lab(
    hunt: str,
    label: str,
    console_settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    two = label in TWO_PERSON or label.startswith("Stop and quarantine")
    lines = [
        f"/hunt {hunt}",
        "click Take actions",
        f"fill Action={label}",
        "fill Rows=1",
        "fill Description=from the test of every action",
        "submit",
        "submit",
        "as @bob",
        "click Approve",
        *(["as @carol", "click Approve"] if two else []),
    ]
    script = tmp_path / "action.txt"
    script.write_text("\n".join(lines) + "\n")
    transcript = tmp_path / "transcript.jsonl"
    code = await run_console(console_settings, script=script, transcript=transcript)
    shown = capsys.readouterr().out
    assert code == 0, shown
    cards = [
        c["args"]
        for c in map(json.loads, transcript.read_text().splitlines())
        if c["method"] in ("chat.postMessage", "chat.update") and "Approval HB-" in str(c["args"])
    ]
    final = str(cards[-1]["blocks"])
    assert f"approvals {2 if two else 1} of {2 if two else 1}" in final
    assert "Done" in final and "— succeeded" in final, final
