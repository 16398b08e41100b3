"""The console shows emoji codes as Slack does (`:white_check_mark:` as ✅), in mrkdwn and plain
text, while the transcript keeps the text the bot sent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.config import Settings
from bot.workspace.console import run_console
from bot.workspace.model import console_workspace
from bot.workspace.render import Renderer, emojize

from .test_render_and_session import bot_message, drawn

ROOT = Path(__file__).resolve().parents[2]
# An emoji code where the bot writes Slack text: at the start of a string or after a space.
WRITTEN = re.compile(r"""(?:["'\s]|^):([a-z0-9_+\-]+):""", re.MULTILINE)


def test_every_emoji_code_the_bot_writes_is_drawn_as_its_character() -> None:
    sources = [*ROOT.glob("bot/slack/*.py"), *ROOT.glob("bot/flows/*.py")]
    codes = {m[1] for path in sources for m in WRITTEN.finditer(path.read_text())}
    assert {"white_check_mark", "hourglass_flowing_sand", "warning", "handshake"} <= codes
    unknown = sorted(code for code in codes if emojize(f":{code}:") == f":{code}:")
    assert not unknown, f"the console cannot draw these as Slack would: {unknown}"


def test_plain_text_and_mrkdwn_show_emoji_where_slack_does() -> None:
    renderer = Renderer(console_workspace())
    button = {
        "type": "button",
        "action_id": "a",
        "text": {"type": "plain_text", "text": ":x: Reject"},
    }
    message = bot_message(
        [
            {"type": "header", "text": {"type": "plain_text", "text": ":white_check_mark: Done"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*:warning: truncated*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "`:gear:` at 12:15:30"}},
            {
                "type": "context",
                "elements": [
                    {"type": "plain_text", "text": ":alarm_clock: soon"},
                    {"type": "plain_text", "text": ":gear: as typed", "emoji": False},
                    {"type": "mrkdwn", "text": ":no-such-emoji: stays"},
                ],
            },
            {"type": "actions", "elements": [button]},
        ]
    )
    shown = drawn(renderer.message(message))
    assert "✅ Done" in shown and "[1 ❌ Reject]" in shown
    assert "⚠ truncated" in shown  # inside bold too
    assert ":gear: at 12:15:30" in shown  # never in code, and a time is not a code
    assert "⏰ soon" in shown and ":gear: as typed" in shown
    assert ":no-such-emoji: stays" in shown


async def test_the_console_draws_emoji_and_its_transcript_keeps_the_codes(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "session.txt"
    script.write_text("/hunt zap-misses\n")
    transcript = tmp_path / "transcript.jsonl"
    code = await run_console(console_settings, script=script, transcript=transcript)
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "⏳ Running zap-misses" in shown and ":hourglass_flowing_sand:" not in shown
    acks = [json.loads(line) for line in transcript.read_text().splitlines()]
    running = [a for a in acks if a["method"] == "ack" and "Running" in json.dumps(a)]
    assert running and ":hourglass_flowing_sand: Running" in json.dumps(running[0])
