"""The audit log: every request, vote, refusal, state change and outcome, in order, with who."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from bot.actions.model import OutcomeStatus, TargetOutcome
from bot.state.approvals import ApprovalState
from bot.state.audit import AuditEntry, AuditEvent, AuditLog

from .conftest import ask, devices


async def walk_through_an_isolation(store, clock):
    approval = await ask(store, devices("ws-1"), clock)
    clock.advance(1)
    await store.vote(approval.id, "U0ALICE", True, user_name="alice")  # refused: her own
    await store.vote(approval.id, "U0BOB", True, user_name="bob")
    await store.vote(approval.id, "U0BOB", True, user_name="bob")  # refused: already voted
    clock.advance(1)
    await store.vote(approval.id, "U0CAROL", True, user_name="carol")
    await store.claim_execution(approval.id, "worker-1")
    key = approval.spec.targets[0].key
    await store.record_outcome(
        approval.id,
        TargetOutcome(target_key=key, status=OutcomeStatus.IN_PROGRESS, detail="Pending"),
        worker_id="worker-1",
    )
    await store.finish(approval.id, ApprovalState.DONE, worker_id="worker-1")
    return approval


async def test_every_step_of_an_approval_is_in_the_log_in_order_with_who(store, clock):
    approval = await walk_through_an_isolation(store, clock)
    entries = await store.audit.recent(50)
    assert all(e.approval_id == approval.id and e.action == "device.isolate" for e in entries)
    steps = [(e.event, e.user_id, e.user_name, e.vote, e.state, e.previous_state) for e in entries]
    assert steps == [
        ("requested", "U0ALICE", "alice", None, "pending", None),
        ("refused", "U0ALICE", "alice", "approve", None, None),
        ("voted", "U0BOB", "bob", "approve", None, None),
        ("refused", "U0BOB", "bob", "approve", None, None),
        ("voted", "U0CAROL", "carol", "approve", None, None),
        ("state_changed", "U0CAROL", "carol", None, "approved", "pending"),
        ("state_changed", None, None, None, "executing", "approved"),
        ("outcome", None, None, None, None, None),
        ("state_changed", None, None, None, "done", "executing"),
    ]
    requested, refused_self, _, refused_twice, *_ = entries
    assert (requested.hunt, requested.result_id, requested.channel) == (
        "spam-emails",
        "R1",
        "C0SOC",
    )
    assert requested.digest == approval.digest and requested.quorum == "2"
    assert "You asked for this action" in refused_self.reason
    assert refused_twice.reason == "already voted"
    assert entries[6].worker == "worker-1"
    assert (entries[7].target, entries[7].status) == (approval.spec.targets[0].key, "in_progress")
    assert entries[0].at == clock.datetime(-2)  # when it happened, by the bot's clock
    assert entries[-1].at == clock.datetime()


async def test_recent_gives_the_last_n_oldest_first(store, clock):
    await walk_through_an_isolation(store, clock)
    last_two = await store.audit.recent(2)
    assert [e.event for e in last_two] == ["outcome", "state_changed"]
    assert await store.audit.recent(0) == []


async def test_export_writes_json_lines_in_batches_and_by_time(redis):
    log = AuditLog(redis)
    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    for minute in range(7):
        await log.append(
            AuditEntry(
                at=start.replace(minute=minute),
                event=AuditEvent.REFUSED,
                user_id="U0ALICE",
                user_name="Alice <b>",
                reason=f"try {minute}",
            )
        )
    out = io.StringIO()
    assert await log.export_jsonl(out) == 7
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["reason"] for line in lines] == [f"try {m}" for m in range(7)]
    assert lines[0]["at"] == "2026-11-22T09:00:00Z"
    assert lines[0]["user_name"] == "Alice <b>" and lines[0]["id"]
    assert "approval_id" not in lines[0]  # absent fields are left out, not null
    in_batches = [e.reason async for e in log.entries(batch=3)]
    assert in_batches == [f"try {m}" for m in range(7)]


async def test_export_can_be_limited_to_a_time_window(redis):
    # The window is about when Redis stored the entries (the stream ids), i.e. about now.
    log = AuditLog(redis)
    await log.append(AuditEntry(at=datetime.now(UTC), event=AuditEvent.REQUESTED))
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    assert await log.export_jsonl(io.StringIO(), since=an_hour_ago) == 1
    assert await log.export_jsonl(io.StringIO(), since=an_hour_ago, until=in_an_hour) == 1
    assert await log.export_jsonl(io.StringIO(), until=an_hour_ago) == 0
    assert await log.export_jsonl(io.StringIO(), since=in_an_hour) == 0


async def test_entries_from_newer_versions_still_read(redis):
    log = AuditLog(redis)
    await redis.xadd("hunt-bot:audit", {"at": "1700000000000", "event": "handoff", "to": "U0C"})
    (entry,) = await log.recent(1)
    assert entry.event == "handoff" and entry.model_extra == {"to": "U0C"}
    assert json.loads(entry.json_line())["to"] == "U0C"


async def test_refusals_outside_approvals_are_recorded_too(redis):
    log = AuditLog(redis)
    await log.record(
        AuditEvent.REFUSED,
        user_id="U0ALICE",
        user_name="alice",
        action="device.isolate",
        reason="This would act on 240 targets; one approval may cover at most 100.",
    )
    (entry,) = await log.recent(1)
    assert (entry.event, entry.user_name, entry.action) == ("refused", "alice", "device.isolate")
    assert await log.length() == 1
