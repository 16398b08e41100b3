"""The console's `wait` (the schedules' clock moves on and what falls due runs) and `plant` (a
fresh copy of a lab scenario, timed now), end to end: the real bot, the lab, Redis, and the Web
API stand-in."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from bot.config import Settings
from bot.state.clock import ScheduleClock
from bot.state.schedules import ScheduleStore
from bot.workspace.console import run_console
from bot.workspace.model import TEAM_ID
from bot.workspace.session import LineFailed, parse_wait


def script(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "session.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def posts(transcript: Path) -> list[dict[str, Any]]:
    """The bot's new messages in channels (not ephemerals, not updates), in order."""
    calls = [json.loads(line) for line in transcript.read_text().splitlines()]
    return [c["args"] for c in calls if c["method"] == "chat.postMessage"]


async def test_a_planted_zap_miss_is_the_one_new_row_a_short_lookback_finds(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transcript = tmp_path / "transcript.jsonl"
    code = await run_console(
        console_settings,
        script=script(
            tmp_path,
            "/hunt zap-misses lookback=1h",
            "plant zap-miss",
            "/hunt zap-misses lookback=1h",
        ),
        transcript=transcript,
    )
    shown = capsys.readouterr().out
    assert code == 0, shown
    planted = re.search(r"NetworkMessageId\s+([0-9a-f-]{36})", shown)
    assert planted is not None, shown
    message_id = planted.group(1)

    before, after = (json.dumps(p) for p in posts(transcript))
    assert message_id not in before
    assert message_id in after
    assert "1 row" in after and "2 rows" not in after
    # The line wraps where the terminal's width says: compare words, not lines.
    assert "/hunt zap-misses finds it" in " ".join(shown.split())


async def test_wait_moves_the_schedules_clock_and_runs_a_due_schedule_once_for_missed_ticks(
    console_settings: Settings,
    redis: aioredis.Redis,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = console_settings.model_copy(update={"redis_url": SecretStr(redis_url)})
    created = datetime.now(UTC)
    schedule = await ScheduleStore(redis).create(
        team=TEAM_ID,
        channel="C0SOC",
        hunt="zap-misses",
        arguments={},
        every=timedelta(hours=1),
        owner="U0ALICE",
        now=created,
    )
    transcript = tmp_path / "transcript.jsonl"
    code = await run_console(
        settings,
        # Not due after 30 minutes; then three hourly ticks pass in one wait.
        script=script(tmp_path, "wait 30m", "wait 3h"),
        transcript=transcript,
    )
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "30 min ahead of the real time; no schedule was due" in shown
    assert "3 h 30 min ahead of the real time; 1 schedule ran: SCH-1 zap-misses" in shown

    results = [p for p in posts(transcript) if p["channel"] == "C0SOC" and "thread_ts" not in p]
    assert len(results) == 1, results
    assert "zap-misses" in json.dumps(results[0])

    ahead = await ScheduleClock(redis, movable=True).now() - datetime.now(UTC)
    assert timedelta(hours=3, minutes=29) < ahead <= timedelta(hours=3, minutes=30)
    # The ticks at +1 h, +2 h and +3 h ran as one; the next is the first after the clock.
    after = await ScheduleStore(redis).get(schedule.id)
    assert after.next_run_at == schedule.next_run_at + timedelta(hours=3)


async def test_plant_answers_an_unknown_scenario_with_the_ones_there_are(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_console(
        console_settings, script=script(tmp_path, "help", "plant zap"), transcript=None
    )
    shown = capsys.readouterr().out
    assert code == 1
    assert "wait DURATION" in shown and "  powershell-after-email  " in shown
    assert "✗ line 2: The lab has no scenario 'zap' to plant. Scenarios: zap-miss, spam" in shown


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("1h", timedelta(hours=1)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("15 min", timedelta(minutes=15)),
    ],
)
def test_wait_reads_durations_as_people_write_them(text: str, span: timedelta) -> None:
    assert parse_wait(text) == span


@pytest.mark.parametrize("text", ["", "1", "1x", "h1", "0m", "1h then 2h"])
def test_wait_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(LineFailed):
        parse_wait(text)
