"""The thread is the incident: opened once, owned by one person at a time, handed off, taken
over, closed and reopened, with its hunts and notes, every change in the audit stream."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing

import pytest
import redis.asyncio as aioredis

from bot.state.audit import AuditEvent, AuditLog
from bot.state.incident_records import (
    IncidentNotFound,
    IncidentRefused,
    IncidentState,
    OwnerChangeKind,
    Refusal,
)
from bot.state.incidents import IncidentStore

from .conftest import CHANNEL, TEAM, THREAD, THREAD_IDS, Clock, alices_incident
from .workers import ROUNDS, hand_off_and_take


async def events(store: IncidentStore) -> list[str]:
    return [entry.event for entry in await store.audit.recent(1000)]


async def test_the_first_hunt_opens_the_incident_once_whoever_else_races_it(redis_url, redis):
    # Separate connections, as separate processes would have.
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(8)]
    stores = [IncidentStore(c, AuditLog(c)) for c in clients]
    opened = await asyncio.gather(
        *(
            s.open_or_get(*THREAD_IDS, title=f"hunt {n}", owner=f"U0USER{n}")
            for n, s in enumerate(stores)
        )
    )
    for client in clients:
        await client.aclose()

    assert len({(i.title, i.owner, i.opened_at) for i in opened}) == 1
    incident = opened[0]
    assert incident.state is IncidentState.OPEN and incident.opened_by == incident.owner
    assert [c.kind for c in incident.owner_history] == [OwnerChangeKind.OPENED]
    assert (await events(stores[0])).count(AuditEvent.INCIDENT_OPENED) == 1


async def test_a_later_hunt_in_the_thread_keeps_the_title_and_owner(store):
    first = await alices_incident(store)
    again = await store.open_or_get(*THREAD_IDS, title="Other", owner="U0BOB")
    assert again == first
    assert (first.title, first.owner) == ("Spam emails", "U0ALICE")


async def test_handoff_moves_ownership_and_records_who_when_and_why(store, clock: Clock):
    await alices_incident(store)
    clock.advance(60)
    incident = await store.hand_off(*THREAD_IDS, by="U0ALICE", to="U0CAROL", note="going off shift")

    assert incident.owner == "U0CAROL"
    change = incident.owner_history[-1]
    assert (change.kind, change.from_user, change.to_user, change.by, change.note) == (
        OwnerChangeKind.HANDOFF,
        "U0ALICE",
        "U0CAROL",
        "U0ALICE",
        "going off shift",
    )
    assert (change.at - incident.opened_at).total_seconds() == 60
    entry = (await store.audit.recent(1))[0]
    assert entry.event == AuditEvent.HANDOFF
    assert (entry.from_user, entry.to_user, entry.user_id, entry.note) == (
        "U0ALICE",
        "U0CAROL",
        "U0ALICE",
        "going off shift",
    )
    assert (entry.team, entry.channel, entry.thread_ts) == THREAD_IDS
    assert entry.at == change.at


async def test_take_over_makes_the_taker_owner(store):
    await alices_incident(store)
    incident = await store.take(*THREAD_IDS, by="U0BOB")
    assert incident.owner == "U0BOB"
    change = incident.owner_history[-1]
    assert (change.kind, change.from_user, change.to_user) == (
        OwnerChangeKind.TAKEN,
        "U0ALICE",
        "U0BOB",
    )
    assert (await store.audit.recent(1))[0].event == AuditEvent.TAKEN


@pytest.mark.parametrize(
    ("change", "code", "says"),
    [
        ("handoff to self", Refusal.TO_SELF, "to yourself"),
        ("handoff to owner", Refusal.ALREADY_OWNER, "<@U0ALICE> already owns"),
        ("take by owner", Refusal.ALREADY_OWNER, "You already own"),
        ("handoff when closed", Refusal.CLOSED, "closed"),
        ("take when closed", Refusal.CLOSED, "closed"),
    ],
)
async def test_an_ownership_change_that_makes_no_sense_is_refused_and_changes_nothing(
    store, change, code, says
):
    await alices_incident(store)
    if "closed" in change:
        await store.close(*THREAD_IDS, by="U0ALICE", reason="false positive")
    before = await store.get(*THREAD_IDS)
    attempts = {
        "handoff to self": store.hand_off(*THREAD_IDS, by="U0BOB", to="U0BOB", note="x"),
        "handoff to owner": store.hand_off(*THREAD_IDS, by="U0BOB", to="U0ALICE", note="x"),
        "take by owner": store.take(*THREAD_IDS, by="U0ALICE"),
        "handoff when closed": store.hand_off(*THREAD_IDS, by="U0ALICE", to="U0BOB", note="x"),
        "take when closed": store.take(*THREAD_IDS, by="U0BOB"),
    }
    for name, other in attempts.items():
        if name != change:
            other.close()  # never awaited
    with pytest.raises(IncidentRefused, match=says) as refused:
        await attempts[change]

    assert refused.value.code is code
    assert await store.get(*THREAD_IDS) == before
    last = (await store.audit.recent(1))[0]
    assert last.event == AuditEvent.REFUSED and last.reason


async def test_close_and_reopen_and_their_refusals(store, clock: Clock):
    await alices_incident(store)
    clock.advance(10)
    closed = await store.close(*THREAD_IDS, by="U0BOB", reason="contained")
    assert closed.state is IncidentState.CLOSED
    assert (closed.closed_by, closed.close_reason) == ("U0BOB", "contained")
    assert closed.closed_at is not None
    with pytest.raises(IncidentRefused) as refused:
        await store.close(*THREAD_IDS, by="U0BOB", reason="again")
    assert refused.value.code is Refusal.ALREADY_CLOSED

    reopened = await store.reopen(*THREAD_IDS, by="U0CAROL")
    assert reopened.is_open and reopened.reopened_by == "U0CAROL"
    assert reopened.closed_by is None and reopened.owner == "U0ALICE"
    with pytest.raises(IncidentRefused) as refused:
        await store.reopen(*THREAD_IDS, by="U0CAROL")
    assert refused.value.code is Refusal.ALREADY_OPEN

    assert (await events(store))[-4:] == [
        AuditEvent.INCIDENT_CLOSED,
        AuditEvent.REFUSED,
        AuditEvent.INCIDENT_REOPENED,
        AuditEvent.REFUSED,
    ]
    entry = next(e for e in await store.audit.recent(10) if e.event == AuditEvent.INCIDENT_CLOSED)
    assert (entry.user_id, entry.reason, entry.state, entry.previous_state) == (
        "U0BOB",
        "contained",
        "closed",
        "open",
    )


async def test_hunts_and_notes_are_kept_in_order_and_audited(store, clock: Clock):
    await alices_incident(store)
    await store.record_hunt(
        *THREAD_IDS, hunt="spam-emails", result_id="R1", user="U0ALICE", rows=42
    )
    clock.advance(5)
    await store.record_hunt(*THREAD_IDS, hunt="url-clicks", result_id="R2", user="U0BOB", rows=0)
    await store.add_note(*THREAD_IDS, user="U0ALICE", text="sender blocked at the gateway")
    incident = await store.add_note(*THREAD_IDS, user="U0BOB", text="two clicks, both blocked")

    assert [(h.hunt, h.result_id, h.user, h.rows) for h in incident.hunts] == [
        ("spam-emails", "R1", "U0ALICE", 42),
        ("url-clicks", "R2", "U0BOB", 0),
    ]
    assert (incident.hunts[1].at - incident.hunts[0].at).total_seconds() == 5
    assert [(n.user, n.text) for n in incident.notes] == [
        ("U0ALICE", "sender blocked at the gateway"),
        ("U0BOB", "two clicks, both blocked"),
    ]
    recorded = [e for e in await store.audit.recent(10) if e.event == AuditEvent.HUNT_RECORDED]
    assert [(e.hunt, e.result_id, e.rows) for e in recorded] == [
        ("spam-emails", "R1", "42"),
        ("url-clicks", "R2", "0"),
    ]
    assert (await store.audit.recent(1))[0].note == "two clicks, both blocked"


async def test_a_thread_that_is_not_an_incident_is_said_so(store):
    assert await store.get(*THREAD_IDS) is None
    with pytest.raises(IncidentNotFound):
        await store.add_note(*THREAD_IDS, user="U0BOB", text="hello")
    with pytest.raises(IncidentNotFound):
        await store.record_hunt(*THREAD_IDS, hunt="h", result_id="R1", user="U0BOB", rows=1)
    with pytest.raises(IncidentNotFound):
        await store.take(*THREAD_IDS, by="U0BOB")
    with pytest.raises(IncidentNotFound):
        await store.close(*THREAD_IDS, by="U0BOB", reason="")
    assert await store.audit.length() == 0


async def test_a_channel_lists_its_open_incidents_newest_first(store, clock: Clock):
    threads = ["1700000000.000100", "1700000100.000100", "1700000200.000100"]
    for thread_ts in threads:
        await alices_incident(store, thread_ts)
        clock.advance(60)
    await store.open_or_get(TEAM, "C0OTHER", "1.1", title="elsewhere", owner="U0BOB")
    await store.open_or_get("T0OTHER", CHANNEL, "2.2", title="other team", owner="U0BOB")

    assert [i.thread_ts for i in await store.open_in_channel(TEAM, CHANNEL)] == threads[::-1]
    await store.close(TEAM, CHANNEL, threads[1], by="U0ALICE", reason="done")
    assert [i.thread_ts for i in await store.open_in_channel(TEAM, CHANNEL)] == [
        threads[2],
        threads[0],
    ]
    await store.reopen(TEAM, CHANNEL, threads[1], by="U0ALICE")
    assert [i.thread_ts for i in await store.open_in_channel(TEAM, CHANNEL)] == threads[::-1]


async def test_the_incident_outlives_the_process_that_wrote_it(store, redis_url):
    await alices_incident(store)
    await store.hand_off(*THREAD_IDS, by="U0ALICE", to="U0CAROL", note="off shift")
    written = await store.get(*THREAD_IDS)

    fresh = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        read = await IncidentStore(fresh, AuditLog(fresh)).get(TEAM, CHANNEL, THREAD)
    finally:
        await fresh.aclose()
    assert read == written


async def test_simultaneous_handoffs_and_takes_from_several_processes_leave_one_owner(
    store, redis_url
):
    await alices_incident(store)
    people = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAN"]
    context = multiprocessing.get_context("spawn")
    processes = 3
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(
            target=hand_off_and_take,
            args=(redis_url, people[n:] + people[:n], barrier, results),
        )
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    counts = [await asyncio.to_thread(results.get, True, 120) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0

    changed = sum(c["changed"] for c in counts)
    refused = sum(c["refused"] for c in counts)
    assert changed + refused == 2 * processes * ROUNDS and changed > 0
    incident = await store.get(*THREAD_IDS)
    assert incident is not None
    history = incident.owner_history
    assert len(history) == 1 + changed
    for before, after in itertools.pairwise(history):
        assert after.from_user == before.to_user != after.to_user
    assert incident.owner == history[-1].to_user
    logged = await events(store)
    assert logged.count(AuditEvent.HANDOFF) + logged.count(AuditEvent.TAKEN) == changed
    assert logged.count(AuditEvent.REFUSED) == refused
