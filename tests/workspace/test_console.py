"""`hunt-bot console --script` end to end: the real bot, the lab tenant, an embedded Redis, and
the Web API stand-in, in one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import Settings
from bot.workspace.console import run_console
from bot.workspace.limits import message_block_problems


def script(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "session.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_a_hunt_session_pages_exports_and_reruns(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transcript = tmp_path / "transcript.jsonl"
    code = await run_console(
        console_settings,
        script=script(
            tmp_path,
            "# journey 1 in the console",
            "/hunt help",
            "/hunt zap-misses lookback=7d",
            "click Next",
            "click Previous",
            "click Export CSV",
            "click Re-run",
            "as @bob",
            "thread",
        ),
        transcript=transcript,
    )
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "only visible to you (@alice)" in shown
    assert "zap-misses run by @alice" in shown
    assert "Page 2 of 2" in shown and "(updated)" in shown
    assert "📎 zap-misses" in shown and ".csv" in shown
    assert "(now acting as @bob)" in shown

    calls = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert all(set(call) == {"method", "args"} for call in calls)
    methods = [call["method"] for call in calls]
    # What each request was answered with is in the transcript too: /hunt help's ephemeral.
    acks = [c["args"] for c in calls if c["method"] == "ack"]
    assert acks[0]["request"] == "command" and "/hunt list" in json.dumps(acks[0]["body"])
    assert methods.count("chat.postMessage") == 2  # the results, and the re-run in the thread
    assert methods.count("chat.update") == 2  # next page, previous page
    assert "files.completeUploadExternal" in methods
    posts = [c["args"] for c in calls if c["method"] in ("chat.postMessage", "chat.update")]
    assert all(message_block_problems(args["blocks"]) == [] for args in posts)
    assert any(b["type"] == "table" for b in posts[0]["blocks"])
    rerun = posts[-1]
    assert (
        rerun.get("thread_ts")
        == next(c for c in calls if c["method"] == "chat.update")["args"]["ts"]
    )


async def test_a_script_line_that_fails_stops_the_console_with_a_reason(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_console(
        console_settings,
        script=script(tmp_path, "/hunt zap-misses", "click Approve", "/hunt help"),
        transcript=None,
    )
    shown = capsys.readouterr().out
    assert code == 1
    assert "✗ line 2: no button labelled 'Approve'" in shown
    assert "alice ▸ /hunt help" not in shown


async def test_a_missing_script_is_reported(console_settings: Settings, tmp_path: Path) -> None:
    assert await run_console(console_settings, script=tmp_path / "nope.txt", transcript=None) == 2
