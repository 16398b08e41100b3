"""Scheduled hunts in a channel: made and listed by slash command, run once per tick as ordinary
results (an incident thread, Take actions), posting only rows no earlier run posted, and paused,
resumed or deleted by the list's buttons, each change audited."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.flows.schedules import run_arguments, run_due
from bot.slack.ids import ScheduleAction
from bot.state.audit import AuditEvent
from bot.workspace.model import TEAM_ID
from tests.slack.bot_under_test import SocBot, soc_bot

HOUR = timedelta(hours=1)


async def test_a_schedule_posts_what_is_there_then_only_what_is_new(settings):
    async with soc_bot(settings) as bot:
        before = len(bot.calls)
        await bot.run("/hunt schedule zap-misses every 1h")
        said = await bot.told("alice", before)
        assert "scheduled `zap-misses`" in said and "*SCH-1*" in said
        assert "every 1 h in this channel" in said

        (schedule,) = await bot.services.schedules.in_channel(TEAM_ID, "C0SOC")
        assert schedule.owner == "U0ALICE" and schedule.every == HOUR

        posted_before = len(bot.messages_with("SCH-1"))
        await bot.services.clock.advance(HOUR)
        await run_due(bot.services)
        first = await _wait_for_run(bot, "SCH-1")
        assert first.found >= 1 and first.new == first.found
        (results,) = bot.messages_with("scheduled as *SCH-1*")
        assert posted_before == 0
        assert f"{first.new:,} new* of" in str(results.blocks)
        assert "Take actions" in str(results.blocks)  # an ordinary results message
        incident = await bot.services.incidents.get(TEAM_ID, "C0SOC", results.ts)
        assert incident is not None and incident.owner == "U0ALICE"

        await bot.services.clock.advance(HOUR)
        await run_due(bot.services)
        second = await _wait_for_run(bot, "SCH-1", after=first.at)
        assert second.new == 0 and second.result_id is None
        assert len(bot.messages_with("scheduled as *SCH-1*")) == 1  # nothing new: nothing posted

        before = len(bot.calls)
        await bot.run("/hunt schedules")
        listed = await bot.told("alice", before)
        assert "SCH-1" in listed and "nothing new (nothing posted)" in listed
        assert ScheduleAction.PAUSE in listed and ScheduleAction.DELETE in listed

        # On time, a run looks back over its period and the overlap; after ticks were missed
        # (every process down for 4 h), over the whole gap, so catching up once loses nothing.
        schedule = await bot.services.schedules.get("SCH-1")
        on_time = await run_arguments(bot.services, schedule, second.at + HOUR)
        assert on_time == {"lookback": "75m"}
        late = await run_arguments(bot.services, schedule, second.at + 4 * HOUR)
        assert late == {"lookback": "255m"}
        month = await run_arguments(bot.services, schedule, second.at + timedelta(days=60))
        assert month == {"lookback": "30d"}  # no further than Defender keeps data


async def _wait_for_run(bot: SocBot, schedule_id: str, after=None):
    for _ in range(300):
        last = (await bot.services.schedules.get(schedule_id)).last_run
        ran = last is not None and (after is None or last.at > after)
        posted = last is not None and (
            last.result_id is None or bot.messages_with(f"scheduled as *{schedule_id}*")
        )
        if ran and posted:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError("the scheduled run did not finish")


async def test_pause_resume_and_delete_from_the_list_are_audited(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt schedule spam-emails every 3h", "/hunt schedules")
        before = len(bot.calls)
        await bot.run("click Pause")
        listed = await bot.told("alice", before)
        assert "paused" in listed and ScheduleAction.RESUME in listed
        (schedule,) = await bot.services.schedules.in_channel(TEAM_ID, "C0SOC")
        assert schedule.paused
        await bot.services.clock.advance(timedelta(hours=7))
        assert await run_due(bot.services) == []  # a paused schedule never runs

        await bot.run("click Resume")
        (schedule,) = await bot.services.schedules.in_channel(TEAM_ID, "C0SOC")
        assert not schedule.paused

        await bot.run("click Delete")
        assert await bot.services.schedules.in_channel(TEAM_ID, "C0SOC") == []
        events = [e.event for e in await bot.services.approvals.audit.recent(50)]
        for event in (
            AuditEvent.SCHEDULE_CREATED,
            AuditEvent.SCHEDULE_PAUSED,
            AuditEvent.SCHEDULE_RESUMED,
            AuditEvent.SCHEDULE_DELETED,
        ):
            assert event in events


async def test_only_people_on_the_schedule_list_may_schedule(settings):
    async with soc_bot(settings, schedule_allowed_users=("U0BOB",)) as bot:
        before = len(bot.calls)
        await bot.run("/hunt schedule zap-misses every 1h")
        said = await bot.told("alice", before)
        assert "not on the list of people who may schedule hunts" in said
        assert await bot.services.schedules.in_channel(TEAM_ID, "C0SOC") == []

        before = len(bot.calls)
        await bot.run("as bob", "/hunt schedule zap-misses every 1h")
        assert "*SCH-1*" in await bot.told("bob", before)


async def test_a_bad_schedule_says_what_to_type(settings):
    async with soc_bot(settings) as bot:
        for typed, said in (
            ("/hunt schedule zap-misses", "/hunt schedule NAME every 1h"),
            ("/hunt schedule zap-misses every 5m", "every 15 minutes at most often"),
            ("/hunt schedule zap-misses every 1h lookback=forever", "lookback"),
            ("/hunt schedule zap-mises every 1h", "zap-misses"),
        ):
            before = len(bot.calls)
            await bot.run(typed)
            assert said in await bot.told("alice", before), typed
        assert await bot.services.schedules.in_channel(TEAM_ID, "C0SOC") == []


async def test_a_saved_hunt_is_scheduled_by_name_and_an_ad_hoc_query_is_not(settings):
    from bot.flows.hunt_lookup import saved_hunts

    async with soc_bot(settings) as bot:
        zap = bot.services.catalog.get("zap-misses")
        mine = zap.model_copy(update={"name": "my-zap-misses", "title": "Mine"})
        await saved_hunts(bot.services).save(mine, "U0ALICE", expected_version=0)

        before = len(bot.calls)
        await bot.run("/hunt schedule my-zap-misses every 3h")
        assert "*SCH-1*" in await bot.told("alice", before)
        await bot.services.clock.advance(3 * HOUR)
        await run_due(bot.services)
        first = await _wait_for_run(bot, "SCH-1")
        assert first.error == "" and first.found >= 1

        before = len(bot.calls)
        await bot.run("/hunt schedule adhoc-1234 every 1h")
        assert "Save it with Save as hunt" in await bot.told("alice", before)
