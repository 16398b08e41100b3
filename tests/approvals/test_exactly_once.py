"""Exactly once: simultaneous votes in several processes approve once, one worker runs it, a
worker that died is taken over once without losing what it did, and a cancel and a claim never
both win."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections import Counter
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from bot.actions.model import OutcomeStatus, TargetOutcome
from bot.state.approvals import ApprovalState, ApprovalStore, ApprovalTampered, VoteOutcome
from bot.state.audit import AuditEvent

from .conftest import Clock, ask, devices, emails
from .voters import MANY_APPROVERS, click_and_claim, many_approvers_policy

PROCESSES = 4


async def test_simultaneous_approvals_from_several_processes_reach_quorum_exactly_once(
    redis, redis_url
):
    store = ApprovalStore(redis, many_approvers_policy(), clock=time.time)
    two_person = [await ask(store, devices(f"ws-{i}"), Clock(time.time())) for i in range(3)]
    one_person = [await ask(store, emails(2), Clock(time.time())) for _ in range(2)]
    approvals = two_person + one_person
    ids = [a.id for a in approvals]

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    share = len(MANY_APPROVERS) // PROCESSES
    workers = [
        context.Process(
            target=click_and_claim,
            args=(
                redis_url,
                ids,
                # The requester clicks too, in every process: never counted.
                ["U0ALICE", *MANY_APPROVERS[n * share : (n + 1) * share]],
                f"p{n}",
                barrier,
                results,
            ),
        )
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    outcomes = [await asyncio.to_thread(results.get, True, 120) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0

    for approval in approvals:
        answers = Counter(v for o in outcomes for v in o["votes"][approval.id])
        assert answers["reached_quorum"] == 1, answers
        assert answers["counted"] == approval.quorum - 1
        assert answers["refused"] == 3 * PROCESSES  # Alice's clicks
        assert sum(answers.values()) == 3 * (len(MANY_APPROVERS) + PROCESSES)
        claims = [c for o in outcomes for c in o["claims"][approval.id]]
        assert claims.count(True) == 1 and len(claims) == 4 * PROCESSES
        stored = await store.get(approval.id)
        assert stored.state is ApprovalState.EXECUTING
        assert stored.approvals == approval.quorum == len(stored.approved_by)
        assert stored.claims == 1

    changes = Counter(
        (e.approval_id, e.state)
        for e in await store.audit.recent(10_000)
        if e.event == AuditEvent.STATE_CHANGED
    )
    for approval_id in ids:
        assert changes[(approval_id, "approved")] == 1
        assert changes[(approval_id, "executing")] == 1


async def approved(store, clock, spec=None):
    approval = await ask(store, spec or emails(3), clock)
    for user in ("U0BOB", "U0CAROL")[: approval.quorum]:
        await store.vote(approval.id, user, True)
    return approval


async def test_a_worker_that_died_is_taken_over_once_and_what_it_did_is_kept(store, clock):
    approval = await approved(store, clock)
    first, second, third = (t.key for t in approval.spec.targets)
    lease = timedelta(seconds=60)
    assert await store.claim_execution(approval.id, "worker-a", lease=lease)
    assert not await store.claim_execution(approval.id, "worker-a", lease=lease)
    done = TargetOutcome(target_key=first, status=OutcomeStatus.SUBMITTED, link="https://x")
    failed = TargetOutcome(target_key=second, status=OutcomeStatus.FAILED, detail="not found")
    assert await store.record_outcome(approval.id, done, worker_id="worker-a")
    assert await store.record_outcome(approval.id, failed, worker_id="worker-a")
    # worker-a dies here. Within its lease, nobody else may start.
    clock.advance(30)
    assert not await store.claim_execution(approval.id, "worker-b", lease=lease)
    clock.advance(31)
    claims = await asyncio.gather(
        *(store.claim_execution(approval.id, f"worker-{n}", lease=lease) for n in "bcdef")
    )
    assert claims.count(True) == 1
    winner = f"worker-{'bcdef'[claims.index(True)]}"
    resumed = await store.get(approval.id)
    assert (resumed.executor, resumed.claims) == (winner, 2)
    assert set(await store.outcomes(approval.id)) == {first, second}
    assert [t.key for t in await store.remaining_targets(approval.id)] == [third]
    # A final outcome stays final whoever writes later.
    retry = TargetOutcome(target_key=second, status=OutcomeStatus.SUBMITTED)
    assert not await store.record_outcome(approval.id, retry, worker_id=winner)
    # The old worker, if it comes back, has lost the execution.
    assert not await store.renew_lease(approval.id, "worker-a")
    assert not await store.finish(approval.id, ApprovalState.DONE, worker_id="worker-a")
    assert await store.renew_lease(approval.id, winner)
    assert await store.finish(approval.id, ApprovalState.DONE, worker_id=winner)
    assert not await store.finish(approval.id, ApprovalState.DONE, worker_id=winner)
    assert (await store.get(approval.id)).state is ApprovalState.DONE
    reasons = [e.reason for e in await store.audit.recent(100) if e.reason]
    assert "taken over from worker-a after its lease ran out" in reasons


async def test_device_status_can_still_settle_after_the_execution_is_done(store, clock):
    approval = await approved(store, clock, devices("ws-1"))
    key = approval.spec.targets[0].key
    assert await store.claim_execution(approval.id, "w")
    running = TargetOutcome(target_key=key, status=OutcomeStatus.IN_PROGRESS, machine_action_id="m")
    assert await store.record_outcome(approval.id, running)
    assert await store.record_outcome(approval.id, running)  # the same again: nothing changes
    assert await store.finish(approval.id, ApprovalState.DONE)
    settled = running.model_copy(update={"status": OutcomeStatus.SUCCEEDED})
    assert await store.record_outcome(approval.id, settled)
    assert (await store.outcomes(approval.id))[key].status is OutcomeStatus.SUCCEEDED
    outcome_entries = [e for e in await store.audit.recent(50) if e.event == AuditEvent.OUTCOME]
    assert [e.status for e in outcome_entries] == ["in_progress", "succeeded"]


async def test_outcomes_are_refused_before_execution_and_for_targets_not_in_the_approval(
    store, clock
):
    approval = await ask(store, emails(1), clock)
    key = approval.spec.targets[0].key
    early = TargetOutcome(target_key=key, status=OutcomeStatus.SUBMITTED)
    assert not await store.record_outcome(approval.id, early)
    with pytest.raises(ValueError, match="not a target"):
        await store.record_outcome(
            approval.id, TargetOutcome(target_key="email:x:y", status=OutcomeStatus.SUBMITTED)
        )


async def test_a_spec_changed_after_approval_never_runs(store, clock, redis):
    approval = await approved(store, clock)
    bigger = emails(5).canonical_json()  # what an attacker with Redis access might swap in
    await redis.hset(f"hunt-bot:approval:{approval.id}", "spec", bigger)
    with pytest.raises(ApprovalTampered):
        await store.spec_to_run(approval.id)
    assert not await store.claim_execution(approval.id, "w")
    failed = await store.get(approval.id)
    assert failed.state is ApprovalState.FAILED
    assert failed.reason == "the stored spec no longer matches its digest"


async def test_a_changed_digest_is_caught_too(store, clock, redis):
    approval = await approved(store, clock)
    await redis.hset(f"hunt-bot:approval:{approval.id}", "digest", emails(5).digest())
    assert not await store.claim_execution(approval.id, "w")
    assert (await store.get(approval.id)).state is ApprovalState.FAILED


async def test_cancel_and_claim_racing_never_both_win(redis_url, policy, clock):
    # Separate connections, as separate processes would have; jitter varies who gets there first.
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(3)]
    voter, canceller, worker = (ApprovalStore(c, policy, clock=clock) for c in clients)
    jitter = random.Random(4)

    async def later(action):
        await asyncio.sleep(jitter.random() * 0.004)
        return await action

    tally: Counter[str] = Counter()
    try:
        for round_ in range(40):
            approval = await ask(voter, emails(1), clock)
            if round_ % 2:  # half the rounds race the approving vote too
                vote = voter.vote(approval.id, "U0BOB", True)
            else:
                await voter.vote(approval.id, "U0BOB", True)
                vote = asyncio.sleep(0)
            _, cancel, *claims = await asyncio.gather(
                later(vote),
                later(canceller.cancel(approval.id, "U0ALICE", by_name="alice")),
                later(worker.claim_execution(approval.id, f"w{round_}")),
                later(worker.claim_execution(approval.id, f"v{round_}")),
            )
            final = (await voter.get(approval.id)).state
            assert not (cancel.cancelled and any(claims)), round_
            assert claims.count(True) <= 1
            if cancel.cancelled:
                assert final is ApprovalState.CANCELLED
                assert not await worker.claim_execution(approval.id, "late")
            elif any(claims):
                assert final is ApprovalState.EXECUTING and "running" in cancel.reason
            tally[final.value] += 1
    finally:
        for client in clients:
            await client.aclose()
    assert tally["cancelled"] and tally["executing"], tally  # both orders happened


async def test_cancel_takes_pending_or_approved_whole_and_nothing_later(store, clock):
    pending = await ask(store, devices("ws-1"), clock)
    await store.vote(pending.id, "U0BOB", True)
    cancelled = await store.cancel(pending.id, "U0ALICE", reason="wrong device")
    assert cancelled.cancelled and cancelled.approval.state is ApprovalState.CANCELLED
    assert cancelled.approval.reason == "wrong device"
    assert (await store.vote(pending.id, "U0CAROL", True)).outcome is VoteOutcome.CLOSED
    assert await store.expire_due(clock.datetime(5 * 3600)) == []  # left the expiry sweep

    ready = await approved(store, clock)
    assert (await store.cancel(ready.id, "U0CAROL")).cancelled  # an approver may stop it
    assert not await store.claim_execution(ready.id, "w")

    running = await approved(store, clock)
    assert await store.claim_execution(running.id, "w")
    too_late = await store.cancel(running.id, "U0ALICE")
    assert not too_late.cancelled and "running" in too_late.reason

    stranger = await ask(store, emails(), clock, requester="U0BOB")
    refused = await store.cancel(stranger.id, "U0ALICE")
    assert not refused.cancelled and "Only the person who asked" in refused.reason
    assert (await store.get(stranger.id)).state is ApprovalState.PENDING

    clock.advance(5 * 3600)
    expired = await store.cancel(stranger.id, "U0BOB")
    assert not expired.cancelled and "expired" in expired.reason


async def test_approvals_nobody_ran_come_back_to_be_enqueued_again(store, clock):
    # The process that reached the quorum may die before enqueueing; a worker may die running.
    ran = await approved(store, clock)
    orphan = await approved(store, clock)
    stopped = await approved(store, clock)
    assert await store.due_for_execution() == []  # give the normal enqueue a moment
    clock.advance(31)
    assert set(await store.due_for_execution()) == {ran.id, orphan.id, stopped.id}
    assert await store.claim_execution(ran.id, "w1", lease=timedelta(seconds=60))
    assert await store.claim_execution(stopped.id, "w2", lease=timedelta(seconds=60))
    assert (await store.cancel(orphan.id, "U0ALICE")).cancelled
    assert await store.due_for_execution() == []
    clock.advance(45)
    assert await store.renew_lease(ran.id, "w1", lease=timedelta(seconds=60))  # w1 is alive
    clock.advance(46)  # w2's lease ran out 31 s ago
    assert await store.due_for_execution() == [stopped.id]
    assert await store.finish(stopped.id, ApprovalState.FAILED, reason="gave up")
    assert await store.due_for_execution() == []
