"""Go hunt… from a row: the follow-up runs with its typed parameter filled from that row's
value, posting in the same incident thread, through the same checks as any hunt."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.defender.lab.scenarios import (
    ADMIN_COMMANDS,
    HOSTILE_SUBJECTS,
    NEAR_MISS_SUBJECTS,
    RANSOMWARE_COMMANDS,
    cast_upn,
    message_id,
)
from bot.slack.ids import ResultsAction
from bot.state.results import StoredResult
from bot.workspace.model import TEAM_ID, Message
from tests.pivots.conftest import choose, go_hunt_menu, option_texts
from tests.slack.bot_under_test import SocBot, soc_bot
from tests.slack.safety import assert_safe_message

SENDER_OF_HOSTILE_SUBJECTS = "news@partner.example"  # bot/defender/lab/scenarios.py


async def follow_up(
    bot: SocBot, thread_ts: str, after: int
) -> tuple[StoredResult, list[dict[str, Any]], dict[str, Any]]:
    """The follow-up's results, posted in the thread: what was stored, its rows, the post."""
    posted = await bot.slack.calls.next_call(
        lambda c: c.method == "chat.postMessage" and c.args.get("thread_ts") == thread_ts,
        after=after,
        timeout=30,
    )
    assert posted.ok, posted.response
    assert_safe_message(posted.args["blocks"], posted.args["text"])
    result_id = next(
        e["value"]
        for b in posted.args["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == ResultsAction.EXPORT
    )
    meta = await bot.services.results.meta(result_id)
    rows = await bot.services.results.rows(result_id, 0, meta.row_count)
    return meta, rows, posted.args


def results_with_menu(bot: SocBot) -> Message:
    (results,) = bot.messages_with("Go hunt")
    assert_safe_message(results.blocks, results.text)
    return results


async def test_a_device_row_runs_its_timeline_in_the_incident_thread(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt ransomware-precursors")
        results = results_with_menu(bot)
        texts = option_texts(results)
        # Each row offers the hunt's pivots, a device by its name rather than its id.
        assert "Row 1 · Device timeline (nwilke-lt01.contoso.com)" in texts
        assert any(t.startswith("Row 6 · Where this file was seen (") for t in texts)
        assert all(len(t) <= 75 for t in texts) and len(texts) <= 100
        result_id = bot.button_value(results, ResultsAction.EXPORT)
        first = await bot.services.results.rows(result_id, 0, 1)

        answer, before = await choose(bot, "bob", results, "Row 1 · Device timeline")
        assert answer.status == 200
        told = await bot.told("bob", before)
        assert "Running `device-timeline`" in told and "posted in this thread" in told

        meta, rows, _ = await follow_up(bot, results.ts, before)
        assert meta.hunt == "device-timeline"
        assert meta.arguments == {"device_id": first[0]["DeviceId"]}
        assert meta.requested_by == "U0BOB" and meta.channel == "C0SOC"
        commands = {row["ProcessCommandLine"] for row in rows}
        assert set(RANSOMWARE_COMMANDS) <= commands  # the last day, by default
        assert not set(ADMIN_COMMANDS) & commands
        # The thread's incident records the follow-up (just after posting it).
        for _ in range(50):
            incident = await bot.services.incidents.get(TEAM_ID, "C0SOC", results.ts)
            assert incident is not None
            if len(incident.hunts) > 1:
                break
            await asyncio.sleep(0.1)
        assert [run.hunt for run in incident.hunts] == ["ransomware-precursors", "device-timeline"]


async def test_a_file_row_finds_where_else_the_file_ran(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt ransomware-precursors")
        results = results_with_menu(bot)
        answer, before = await choose(bot, "alice", results, "Row 2 · Where this file was seen")
        assert answer.status == 200
        meta, rows, _ = await follow_up(bot, results.ts, before)
        assert meta.hunt == "where-file-seen"
        (sha1,) = meta.arguments.values()
        assert {row["SHA1"] for row in rows} == {sha1}
        assert {row["FileName"] for row in rows} == {"svcupd.exe"}
        assert set(RANSOMWARE_COMMANDS) <= {row["ProcessCommandLine"] for row in rows}


async def test_a_zap_miss_offers_the_recipients_other_mail(settings):
    async with soc_bot(settings) as bot:
        # The last 30 h: the planted miss (29 h ago) and few of the background's, all on page 1.
        await bot.run("/hunt zap-misses lookback=30h")
        results = results_with_menu(bot)
        megan = cast_upn("zap_miss")
        # The planted miss, among the background's misses: whichever row it is, its own option.
        (hers,) = [t for t in option_texts(results) if t.endswith(f"recipient ({megan})")]

        answer, before = await choose(bot, "carol", results, hers)
        assert answer.status == 200
        meta, rows, posted = await follow_up(bot, results.ts, before)
        assert meta.hunt == "emails-to" and meta.arguments == {"recipient": megan}
        assert message_id("zap-miss") in {row["NetworkMessageId"] for row in rows}
        assert {row["RecipientEmailAddress"].lower() for row in rows} == {megan}
        assert "<@U0CAROL>" in str(posted["blocks"])


async def test_hostile_values_reach_the_follow_up_as_typed_escaped_parameters(settings):
    """Subjects built to break a query (quotes, backslashes, pipes, comment markers) become the
    follow-up's `subject`, found exactly: never KQL, never markup."""
    async with soc_bot(settings) as bot:
        await bot.run(f"/hunt emails-from {SENDER_OF_HOSTILE_SUBJECTS}")
        results = results_with_menu(bot)
        result_id = bot.button_value(results, ResultsAction.EXPORT)
        listed = await bot.services.results.rows(result_id, 0, 10)
        subjects = [row["Subject"] for row in listed]
        assert set(HOSTILE_SUBJECTS) <= set(subjects)
        for subject in HOSTILE_SUBJECTS:
            number = subjects.index(subject) + 1
            answer, before = await choose(
                bot, "alice", results, f"Row {number} · Mail with this subject"
            )
            assert answer.status == 200
            meta, rows, _ = await follow_up(bot, results.ts, before)
            assert meta.hunt == "emails-by-subject"
            assert meta.arguments == {"subject": subject}, subject
            found = {row["Subject"] for row in rows}
            assert subject in found, subject
            assert not found & set(NEAR_MISS_SUBJECTS), subject


HUNT_WITH_A_MISMATCHED_PIVOT = f"""
name: subjects-as-senders
title: Subjects, wrongly offered as senders
description: A pivot whose column never holds what the follow-up's parameter takes.
query: |
  EmailEvents
  | where Timestamp > ago(7d)
  | where SenderFromAddress =~ "{SENDER_OF_HOSTILE_SUBJECTS}"
  | project Timestamp, Subject, NetworkMessageId
  | order by Subject asc
columns: [Timestamp, Subject, NetworkMessageId]
pivots:
  - column: Subject
    hunt: emails-from
    parameter: sender
    label: Mail from this sender
"""


async def test_a_value_the_parameter_refuses_is_said_and_nothing_runs(settings):
    (settings.hunts_dir / "subjects-as-senders.yaml").write_text(HUNT_WITH_A_MISMATCHED_PIVOT)
    async with soc_bot(settings) as bot:
        await bot.run("/hunt subjects-as-senders")
        results = results_with_menu(bot)
        answer, before = await choose(bot, "alice", results, "Row 1 · Mail from this sender")
        assert answer.status == 200
        told = await bot.told("alice", before)
        assert "Row 1's Subject cannot be used for emails-from" in told
        assert "expected an email address" in told and "Nothing was run" in told
        await bot.slack.calls.quiet(period=0.5)
        assert not [c for c in bot.calls[before:] if c.method == "chat.postMessage"]


async def test_a_forged_or_stale_choice_runs_nothing(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt zap-misses")
        results = results_with_menu(bot)
        result_id = bot.button_value(results, ResultsAction.EXPORT)
        for value, says in (
            (f"{result_id}:1:00000000", "no longer offered"),  # no such pivot
            (f"{result_id}:999:" + option_value(results, 0).split(":")[2], "no longer offered"),
            ("0123456789abcdef0123456789abcdef:1:00000000", "no longer kept"),
            ("junk", "no longer offered"),
        ):
            answer, before = await choose(bot, "alice", results, "Row 1", value=value)
            assert answer.status == 200
            assert says in await bot.told("alice", before), value
            await bot.slack.calls.quiet(period=0.3)
            assert not [c for c in bot.calls[before:] if c.method == "chat.postMessage"]


def option_value(message: Message, index: int) -> str:
    return str(go_hunt_menu(message)[1]["options"][index]["value"])


async def test_the_menu_follows_the_page_shown(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt spam-emails lookback=14d")
        results = results_with_menu(bot)
        assert option_texts(results)[0].startswith("Row 1 · ")
        result_id = bot.button_value(results, ResultsAction.EXPORT)
        answer, before = await bot.press("alice", results, ResultsAction.NEXT, f"{result_id}:2")
        assert answer.status == 200
        update = await bot.slack.calls.next_call(
            lambda c: c.method == "chat.update", after=before, timeout=10
        )
        assert update.ok
        page_two = bot.slack.workspace.message("C0SOC", results.ts)
        assert page_two is not None
        texts = option_texts(page_two)
        assert texts[0].startswith("Row 11 · ")
        assert not any(t.startswith("Row 1 · ") for t in texts)
