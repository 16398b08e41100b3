"""Fenced intents: only the current claim may send, a target an earlier claim may have sent is
reconciled rather than sent, and Retry these sends only the unknown targets, once, for an
approver who is not the requester."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from bot.actions.model import OutcomeStatus, TargetOutcome
from bot.slack.approval_card import render_approval_card
from bot.slack.ids import ApprovalAction
from bot.state.approvals import ApprovalState, LeaseLost

from .conftest import ask, devices

LEASE = timedelta(seconds=20)


async def approved(store, clock, spec):
    approval = await ask(store, spec, clock)
    for voter in ("U0BOB", "U0CAROL")[: approval.quorum]:
        await store.vote(approval.id, voter, True)
    return approval


async def test_only_the_current_claim_writes_intents_and_a_taken_over_target_is_reconciled(
    store, clock
):
    approval = await approved(store, clock, devices("a", "b"))
    first, second = (t.key for t in approval.spec.targets)
    a = await store.claim(approval.id, "host:1:a", lease=LEASE)
    assert a is not None and not a.taken_over
    answer = await store.write_intents(approval.id, a, [first], lease=LEASE)
    assert answer.send == (first,)

    clock.advance(LEASE.total_seconds() + 1)  # worker a died after sending `first`
    with pytest.raises(LeaseLost):  # a lapsed lease sends nothing, even before a takeover
        await store.write_intents(approval.id, a, [second], lease=LEASE)
    b = await store.claim(approval.id, "host:2:b", lease=LEASE)
    assert b is not None and b.taken_over and b.fence != a.fence
    with pytest.raises(LeaseLost):  # a's token is stale for good
        await store.write_intents(approval.id, a, [second], lease=LEASE)

    answer = await store.write_intents(approval.id, b, [first, second], lease=LEASE)
    assert answer.reconcile == (first,) and answer.send == (second,)
    # b asked Microsoft about `first` and found nothing of ours: now it may send it.
    answer = await store.write_intents(approval.id, b, [first], lease=LEASE, reconciled={first})
    assert answer.send == (first,)
    done = TargetOutcome(target_key=first, status=OutcomeStatus.SUCCEEDED)
    assert await store.record_outcome(approval.id, done, worker_id=b.worker)
    answer = await store.write_intents(approval.id, b, [first], lease=LEASE, reconciled={first})
    assert answer.settled == (first,) and not answer.send
    card = render_approval_card(await store.get(approval.id), await store.outcomes(approval.id))
    assert "Resumed by another worker" in str(card.blocks)


async def test_retry_these_sends_only_the_unknown_targets_once_for_an_approver(store, clock):
    approval = await approved(store, clock, devices("a", "b"))
    first, second = (t.key for t in approval.spec.targets)
    claim = await store.claim(approval.id, "host:1:a", lease=LEASE)
    assert claim is not None
    await store.write_intents(approval.id, claim, [first, second], lease=LEASE)
    await store.record_outcome(
        approval.id, TargetOutcome(target_key=first, status=OutcomeStatus.SUCCEEDED)
    )
    unknown = TargetOutcome(
        target_key=second,
        status=OutcomeStatus.UNKNOWN,
        detail="Unknown whether it ran",
        link="https://security.microsoft.com/action-center/history",
    )
    await store.record_outcome(approval.id, unknown)
    assert await store.finish(approval.id, ApprovalState.DONE, worker_id=claim.worker)

    finished = await store.get(approval.id)
    card = render_approval_card(finished, await store.outcomes(approval.id))
    assert ApprovalAction.RETRY_UNKNOWN in str(card.blocks)
    assert "security.microsoft.com/action-center" in str(card.blocks)

    refused = await store.retry_unknown(approval.id, "U0ALICE")  # the requester
    assert not refused.retrying and "cannot count" in refused.reason
    refused = await store.retry_unknown(approval.id, "U0DAVE")  # not an approver
    assert not refused.retrying

    result = await store.retry_unknown(approval.id, "U0CAROL", user_name="carol")
    assert result.retrying == 1 and result.approval is not None
    assert result.approval.state is ApprovalState.APPROVED and not result.approval.reason
    outcomes = await store.outcomes(approval.id)
    assert set(outcomes) == {first}  # the known outcome is kept
    assert set(await store.intents(approval.id)) == {first}
    again = await store.retry_unknown(approval.id, "U0BOB")
    assert not again.retrying

    retry = await store.claim(approval.id, "host:2:b", lease=LEASE)
    assert retry is not None
    answer = await store.write_intents(approval.id, retry, [first, second], lease=LEASE)
    assert answer.send == (second,) and answer.settled == (first,)
    card = render_approval_card(await store.get(approval.id), await store.outcomes(approval.id))
    assert ApprovalAction.RETRY_UNKNOWN not in str(card.blocks)
    assert "retried once by <@U0CAROL>" in str(card.blocks)


async def test_an_error_after_the_claim_is_retried_then_fails_the_approval_with_the_reason(
    redis, redis_url, tmp_path, monkeypatch
):
    """The lab file is a directory, so the executor can't open: tried RUN_ATTEMPTS times with
    backoff, then FAILED with the reason (no file path in it), not left Running."""
    from bot.app import start_services
    from bot.config import Settings
    from bot.flows import approvals as flow
    from bot.policy import ApprovalPolicy
    from tests.clock import Clock

    from .conftest import Groups

    monkeypatch.setattr(flow, "RETRY_BACKOFF", 0.01)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_url,
        hunt_backend="lab",
        lab_db=tmp_path,
        approval_approver_usergroups=("S0APPROVERS",),
    )
    services = await start_services(settings, wait_for_redis=5)
    try:
        store = services.approvals
        store.policy = ApprovalPolicy.from_settings(settings, Groups())
        approval = await approved(store, Clock(time.time()), devices("a"))
        await flow.execute(services, approval.id)
        failed = await store.get(approval.id)
    finally:
        await services.aclose()
    assert failed is not None and failed.state is ApprovalState.FAILED
    assert failed.reason and f"after {flow.RUN_ATTEMPTS} attempts" in failed.reason
    assert "cannot be opened" in failed.reason and str(tmp_path) not in failed.reason
