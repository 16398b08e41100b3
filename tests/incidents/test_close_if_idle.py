"""Closing an incident only if it is still idle: a hunt, note or owner change after the moment
asked about keeps it open, decided in the same step as the close."""

from __future__ import annotations

from datetime import timedelta

from bot.state.audit import AuditLog
from bot.state.incidents import IncidentStore
from tests.incidents.conftest import CHANNEL, TEAM, THREAD, Clock, alices_incident


async def test_an_idle_incident_closes_and_is_audited(store: IncidentStore, clock: Clock, redis):
    await alices_incident(store)
    clock.advance(8 * 24 * 3600)
    since = clock.datetime() - timedelta(days=7)
    closed = await store.close_if_idle(
        TEAM, CHANNEL, THREAD, by="U0BOB", reason="stale: idle for more than 7 days", since=since
    )
    assert closed is not None and not closed.is_open and closed.closed_by == "U0BOB"
    assert await store.open_in_channel(TEAM, CHANNEL) == []
    (entry,) = [e for e in await AuditLog(redis).recent(10) if e.event == "incident_closed"]
    assert entry.user_id == "U0BOB" and entry.thread_ts == THREAD


async def test_an_incident_touched_since_stays_open_and_unchanged(store: IncidentStore, clock):
    await alices_incident(store)
    clock.advance(8 * 24 * 3600)
    since = clock.datetime() - timedelta(days=7)
    await store.add_note(TEAM, CHANNEL, THREAD, user="U0CAROL", text="still on it")
    assert (
        await store.close_if_idle(TEAM, CHANNEL, THREAD, by="U0BOB", reason="stale", since=since)
        is None
    )
    incident = await store.get(TEAM, CHANNEL, THREAD)
    assert incident is not None and incident.is_open and incident.closed_by is None
    assert [i.thread_ts for i in await store.open_in_channel(TEAM, CHANNEL)] == [THREAD]
