"""Voting on approvals stored in Redis: who counts, how many, until when."""

from __future__ import annotations

import pytest

from bot.policy import ApprovalPolicy, RequestRefused
from bot.state.approvals import ApprovalState, ApprovalStore, VoteOutcome

from .conftest import ask, devices, emails, make_settings


async def test_a_new_approval_is_pending_and_binds_the_canonical_spec_and_its_digest(store, clock):
    approval = await ask(store, emails(2), clock)
    assert approval.id.startswith("HB-")
    assert approval.state is ApprovalState.PENDING
    assert approval.spec == emails(2) and approval.digest == emails(2).digest()
    assert (approval.requester, approval.requester_name) == ("U0ALICE", "alice")
    assert (approval.hunt, approval.result_id, approval.channel) == ("spam-emails", "R1", "C0SOC")
    assert approval.quorum == 1
    assert (approval.expires_at - approval.created_at).total_seconds() == 4 * 3600


async def test_alice_cannot_approve_her_own_request_and_bob_can(store, clock):
    approval = await ask(store, emails(), clock)
    alice = await store.vote(approval.id, "U0ALICE", True, user_name="alice")
    assert alice.outcome is VoteOutcome.REFUSED and not alice.counted
    assert "You asked for this action" in alice.reason
    bob = await store.vote(approval.id, "U0BOB", True, user_name="bob")
    assert bob.reached_quorum
    assert bob.approval.state is ApprovalState.APPROVED
    assert bob.approval.approved_by == ["U0BOB"]
    assert bob.approval.votes[0].user_name == "bob"


async def test_someone_who_is_not_an_approver_is_told_so_and_not_counted(store, clock):
    approval = await ask(store, emails(), clock, requester="U0BOB")
    refused = await store.vote(approval.id, "U0ALICE", True)
    assert refused.outcome is VoteOutcome.REFUSED
    assert "not an approver" in refused.reason
    assert refused.approval.approvals == 0 and refused.approval.state is ApprovalState.PENDING


async def test_isolation_needs_two_different_approvers_and_nobody_counts_twice(store, clock):
    approval = await ask(store, devices("ws-1"), clock)
    assert approval.quorum == 2
    first = await store.vote(approval.id, "U0BOB", True)
    assert first.outcome is VoteOutcome.COUNTED
    again = await store.vote(approval.id, "U0BOB", True)
    assert again.outcome is VoteOutcome.ALREADY_VOTED
    assert "already voted (approve)" in again.reason
    assert again.approval.approvals == 1 and again.approval.state is ApprovalState.PENDING
    second = await store.vote(approval.id, "U0CAROL", True)
    assert second.reached_quorum
    late = await store.vote(approval.id, "U0CAROL", True)
    assert late.outcome is VoteOutcome.CLOSED and "already been approved" in late.reason


async def test_one_reject_by_an_approver_rejects(store, clock):
    approval = await ask(store, devices("ws-1"), clock)
    await store.vote(approval.id, "U0BOB", True)
    rejected = await store.vote(approval.id, "U0CAROL", False)
    assert rejected.outcome is VoteOutcome.REJECTED
    assert rejected.approval.state is ApprovalState.REJECTED
    assert rejected.approval.decided_by == "U0CAROL"
    assert (await store.vote(approval.id, "U0CAROL", True)).outcome is VoteOutcome.CLOSED


async def test_a_reject_by_a_non_approver_changes_nothing(store, clock):
    approval = await ask(store, emails(), clock, requester="U0BOB")
    assert (await store.vote(approval.id, "U0ALICE", False)).outcome is VoteOutcome.REFUSED
    assert (await store.get(approval.id)).state is ApprovalState.PENDING


async def test_membership_is_rechecked_on_every_vote(store, clock, groups):
    approval = await ask(store, devices("ws-1"), clock)
    assert (await store.vote(approval.id, "U0BOB", True)).counted
    groups.groups["S0APPROVERS"].discard("U0CAROL")  # Carol left the approvers group
    refused = await store.vote(approval.id, "U0CAROL", True)
    assert refused.outcome is VoteOutcome.REFUSED
    groups.groups["S0APPROVERS"].add("U0CAROL")
    assert (await store.vote(approval.id, "U0CAROL", True)).reached_quorum


async def test_an_expired_approval_takes_no_votes_even_before_the_sweep(store, clock):
    approval = await ask(store, emails(), clock)
    clock.advance(4 * 3600)
    late = await store.vote(approval.id, "U0BOB", True)
    assert late.outcome is VoteOutcome.EXPIRED
    assert "expired at 13:00 UTC" in late.reason
    assert late.approval.state is ApprovalState.EXPIRED


async def test_the_sweep_expires_what_is_due_and_nothing_else(store, clock):
    due = await ask(store, emails(), clock)
    clock.advance(3600)
    later = await ask(store, emails(), clock)
    decided = await ask(store, emails(), clock)
    await store.vote(decided.id, "U0BOB", True)
    clock.advance(3 * 3600)
    assert await store.expire_due() == [due.id]
    assert (await store.get(due.id)).state is ApprovalState.EXPIRED
    assert (await store.get(later.id)).state is ApprovalState.PENDING
    clock.advance(3600)
    assert await store.expire_due() == [later.id]
    assert (await store.get(decided.id)).state is ApprovalState.APPROVED
    assert await store.expire_due() == []


async def test_pending_approvals_are_listed_per_thread(store, clock):
    first = await ask(store, emails(), clock, thread_ts="1.1")
    second = await ask(store, devices("ws-1"), clock, thread_ts="1.1")
    await ask(store, emails(), clock, thread_ts="2.2")
    await store.vote(first.id, "U0BOB", True)
    assert [a.id for a in await store.pending_in_thread("C0SOC", "1.1")] == [second.id]
    assert [a.id for a in await store.in_thread("C0SOC", "1.1")] == [first.id, second.id]
    clock.advance(5 * 3600)
    assert await store.pending_in_thread("C0SOC", "1.1") == []


async def test_protected_targets_are_stored_as_excluded(store, clock, redis, groups):
    policy = ApprovalPolicy.from_settings(make_settings(approval_protected_devices="dc01"), groups)
    guarded = ApprovalStore(redis, policy, clock=clock)
    approval = await ask(guarded, devices("dc01", "ws-1"), clock)
    assert [t.device_name for t in approval.spec.targets] == ["ws-1"]
    assert [e.target.device_name for e in approval.excluded] == ["dc01"]
    with pytest.raises(RequestRefused):  # an unscreened spec naming a protected device
        await guarded.create(
            devices("dc01"), "U0ALICE", "h", "R1", "C0SOC", "1.1", 2, clock.datetime(60)
        )


async def test_create_keeps_the_policy_quorum_as_a_floor(store, clock):
    with pytest.raises(ValueError, match="below the policy"):
        await ask(store, devices("ws-1"), clock, quorum=1)
    assert (await ask(store, devices("ws-1"), clock, quorum=3)).quorum == 3
