"""Closing stale incidents in bulk: `/hunt incidents close-stale` shows which open incidents have
been idle that long and which stay open for their approvals; Close them closes those, says so in
each thread and in the audit, and answers with what it did."""

from __future__ import annotations

import json
import time

from bot.slack.ids import IncidentAction
from bot.state import keys
from bot.state.incident_records import Incident
from bot.workspace.model import TEAM_ID
from tests.slack.bot_under_test import SocBot, soc_bot

HOURS_AGO = 3


async def _age(bot: SocBot, incident: Incident, *, approval: str | None = None) -> None:
    """Nothing has happened in this incident (and its approval) for a few hours."""
    then = str(int((time.time() - HOURS_AGO * 3600) * 1000))
    redis = bot.services.redis.client
    await redis.hset(keys.incident(TEAM_ID, "C0SOC", incident.thread_ts), "updated_at", then)
    if approval:
        await redis.hset(keys.approval(approval), "created_at", then)


async def _open_incidents(bot: SocBot) -> dict[str, Incident]:
    return {i.title: i for i in await bot.services.incidents.open_in_channel(TEAM_ID, "C0SOC")}


async def test_stale_incidents_close_in_bulk_and_those_with_open_approvals_are_kept(settings):
    async with soc_bot(settings) as bot:
        await bot.run(
            "/hunt spam-emails",
            "click Take actions",
            "fill Action=Hard delete",
            "fill Rows=1",
            "fill Description=phish campaign",
            "submit",
            "submit",
            "/hunt zap-misses",
            "/hunt zap-misses lookback=14d",
            "/hunt zap-misses lookback=7d",
        )
        incidents = list((await _open_incidents(bot)).values())
        assert len(incidents) == 4, [i.title for i in incidents]
        spam = next(i for i in incidents if "threat verdict" in i.title)
        (approval,) = await bot.services.approvals.in_thread("C0SOC", spam.thread_ts)
        busy = next(i for i in incidents if "lookback=7d" in i.title)
        idle = [i for i in incidents if i not in (spam, busy)]
        await _age(bot, spam, approval=approval.id)
        for incident in idle:
            await _age(bot, incident)

        before = len(bot.calls)
        await bot.run("/hunt incidents close-stale older-than=2h")
        preview = await bot.told("alice", before)
        assert "2 incidents idle for more than 2 hours" in preview
        assert all(json.dumps(i.title)[1:-1] in preview for i in idle)
        assert json.dumps(busy.title)[1:-1] not in preview  # active an hour ago: not stale
        assert "Kept open: 1 idle incident with approvals still open" in preview
        assert f"`{approval.id}` waiting for votes" in preview
        assert '"confirm"' in preview  # Slack asks again before the button does anything
        assert not [c for c in bot.calls[before:] if c.method == "chat.postMessage"]

        before = len(bot.calls)
        await bot.run("click Close them")
        summary = await bot.told("alice", before)
        assert "Closed 2 incidents idle for more than 2 hours" in summary
        assert "(Slack asked “Close 2 incidents?”: Close them)" in bot.out.export_text()
        assert "kept 1 with approvals still open" in summary and approval.id in summary

        still_open = await _open_incidents(bot)
        assert {i.thread_ts for i in still_open.values()} == {spam.thread_ts, busy.thread_ts}
        for incident in idle:
            closed = await bot.services.incidents.get(TEAM_ID, "C0SOC", incident.thread_ts)
            assert closed is not None and not closed.is_open
            assert closed.closed_by == "U0ALICE"
            assert closed.close_reason == "stale: idle for more than 2 hours"
            told = [
                c.args
                for c in bot.calls[before:]
                if c.method == "chat.postMessage" and c.args.get("thread_ts") == incident.thread_ts
            ]
            assert len(told) == 1 and "Closed by <@U0ALICE> as stale" in json.dumps(told[0])
        audited = [
            e
            for e in await bot.services.approvals.audit.recent(100)
            if e.event == "incident_closed"
        ]
        assert {e.thread_ts for e in audited} == {i.thread_ts for i in idle}
        pending = await bot.services.approvals.get(approval.id)
        assert pending is not None and pending.state.value == "pending"


async def test_an_incident_that_comes_alive_after_the_preview_is_left_open(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt zap-misses", "/hunt spam-emails")
        first, second = (await _open_incidents(bot)).values()
        await _age(bot, first)
        await _age(bot, second)
        await bot.run("/hunt incidents close-stale older-than=1h")
        # Bob notes something in one of them before Alice presses Close them.
        await bot.services.incidents.add_note(
            TEAM_ID, "C0SOC", first.thread_ts, user="U0BOB", text="still looking at this"
        )
        before = len(bot.calls)
        await bot.run("click Close them")
        summary = await bot.told("alice", before)
        assert "Closed 1 incident idle for more than 1 hour" in summary
        assert "Left open 1 incident with activity since you looked" in summary
        left = await bot.services.incidents.get(TEAM_ID, "C0SOC", first.thread_ts)
        assert left is not None and left.is_open


async def test_the_incident_list_offers_it_and_nothing_idle_is_said_plainly(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt zap-misses", "/hunt incidents")
        before = len(bot.calls)
        await bot.run("click Close stale ones…")
        told = await bot.told("alice", before)
        assert "No open incident in this channel has been idle for more than 7 days" in told
        assert IncidentAction.CLOSE_STALE not in told  # nothing to close: no button


async def test_an_age_it_cannot_read_is_answered_with_how_to_ask(settings):
    async with soc_bot(settings) as bot:
        for asked, says in [
            ("older-than=forever", "I can't read 'older-than=forever' as an age"),
            ("older-than=0h", "after an hour at the least"),
        ]:
            before = len(bot.calls)
            await bot.run(f"/hunt incidents close-stale {asked}")
            told = await bot.told("alice", before)
            assert says in told
            assert "/hunt incidents close-stale older-than=7d" in told


async def test_only_someone_who_may_hunt_in_the_channel_may_close_stale_incidents(settings):
    async with soc_bot(settings, hunt_allowed_users=("U0ALICE",)) as bot:
        await bot.run("/hunt zap-misses")
        (incident,) = (await _open_incidents(bot)).values()
        await _age(bot, incident)
        await bot.run("as @bob", "/hunt incidents close-stale older-than=1h")
        assert "Close them" not in bot.out.export_text().split("bob ▸")[-1]
        still = await bot.services.incidents.get(TEAM_ID, "C0SOC", incident.thread_ts)
        assert still is not None and still.is_open
