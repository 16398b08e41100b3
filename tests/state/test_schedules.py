"""The schedule store on a real Redis: a tick is handed out once however many processes ask,
missed ticks collapse into one run, and "new" rows are new exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from bot.state.schedules import LastRun, ScheduleNotFound, ScheduleStore

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def _hourly(store: ScheduleStore, channel: str = "C1"):
    return await store.create(
        team="T1",
        channel=channel,
        hunt="zap-misses",
        arguments={"lookback": "2d"},
        every=HOUR,
        owner="U_ALICE",
        now=T0,
    )


async def test_a_schedule_is_due_at_its_first_tick_and_not_before(redis):
    store = ScheduleStore(redis)
    schedule = await _hourly(store)
    assert schedule.id == "SCH-1"
    assert await store.claim_due(T0 + timedelta(minutes=59)) == []
    due = await store.claim_due(T0 + HOUR)
    assert [(d.schedule_id, d.tick) for d in due] == [("SCH-1", T0 + HOUR)]
    assert (await store.get("SCH-1")).next_run_at == T0 + 2 * HOUR


async def test_a_tick_is_handed_to_one_of_many_processes_asking_at_once(redis_url):
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(8)]
    try:
        await clients[0].flushdb()
        stores = [ScheduleStore(c) for c in clients]
        for index in range(5):
            await _hourly(stores[0], channel=f"C{index}")
        claims = await asyncio.gather(*(s.claim_due(T0 + HOUR) for s in stores))
        handed = sorted(d.schedule_id for claim in claims for d in claim)
        assert handed == ["SCH-1", "SCH-2", "SCH-3", "SCH-4", "SCH-5"]
    finally:
        for client in clients:
            await client.aclose()


async def test_ticks_missed_while_every_process_was_down_run_once(redis):
    store = ScheduleStore(redis)
    await _hourly(store)
    late = T0 + 5 * HOUR + timedelta(minutes=10)  # four ticks missed
    due = await store.claim_due(late)
    assert [d.tick for d in due] == [T0 + HOUR]
    assert await store.claim_due(late) == []
    assert (await store.get("SCH-1")).next_run_at == T0 + 6 * HOUR


async def test_a_paused_schedule_never_runs_and_resumes_at_its_next_tick(redis):
    store = ScheduleStore(redis)
    await _hourly(store)
    assert (await store.pause("SCH-1")).paused
    assert await store.claim_due(T0 + 3 * HOUR) == []
    resumed = await store.resume("SCH-1", T0 + 3 * HOUR + timedelta(minutes=1))
    assert not resumed.paused
    assert resumed.next_run_at == T0 + 4 * HOUR
    assert [d.tick for d in await store.claim_due(T0 + 4 * HOUR)] == [T0 + 4 * HOUR]


async def test_a_deleted_schedule_is_gone_everywhere(redis):
    store = ScheduleStore(redis)
    await _hourly(store)
    await store.first_seen("SCH-1", "run-1", ["row-a"])
    await store.delete("SCH-1")
    assert await store.in_channel("T1", "C1") == []
    assert await store.claim_due(T0 + 2 * HOUR) == []
    with pytest.raises(ScheduleNotFound):
        await store.get("SCH-1")
    await store.record_run("SCH-1", LastRun(at=T0))  # a run that finishes after the delete
    assert await redis.exists("hunt-bot:schedule:SCH-1") == 0


async def test_rows_are_new_once_even_when_two_runs_overlap(redis):
    store = ScheduleStore(redis)
    await _hourly(store)
    assert await store.first_seen("SCH-1", "run-1", ["a", "b"]) == {"a", "b"}
    first, second = await asyncio.gather(
        store.first_seen("SCH-1", "run-2", ["b", "c", "d"]),
        store.first_seen("SCH-1", "run-3", ["c", "d", "e"]),
    )
    assert first | second == {"c", "d", "e"}
    assert not first & second


async def test_a_run_asking_again_after_a_crash_gets_the_same_new_rows(redis):
    store = ScheduleStore(redis)
    await _hourly(store)
    assert await store.first_seen("SCH-1", "run-1", ["a", "b"]) == {"a", "b"}
    assert await store.first_seen("SCH-1", "run-1", ["a", "b"]) == {"a", "b"}
    assert await store.first_seen("SCH-1", "run-2", ["a", "b"]) == set()
    assert await store.first_seen("SCH-1", "run-2", ["a", "b"]) == set()


async def test_the_channel_lists_its_schedules_with_their_last_run(redis):
    store = ScheduleStore(redis)
    await _hourly(store)
    await _hourly(store, channel="C2")
    await _hourly(store)
    await store.record_run("SCH-3", LastRun(at=T0 + HOUR, found=4, new=1, result_id="r1"))
    listed = await store.in_channel("T1", "C1")
    assert [s.id for s in listed] == ["SCH-1", "SCH-3"]
    assert listed[1].last_run is not None and listed[1].last_run.new == 1
    assert listed[0].arguments == {"lookback": "2d"} and listed[0].every == HOUR
