"""The approval journey: votes on a card, the quorum starting the run, the run done exactly once
and followed to its end, and housekeeping (expiry, resuming a run whose worker died)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from slack_sdk.errors import SlackApiError

from bot.actions.model import OutcomeStatus
from bot.defender.actions import RemediationBackend
from bot.errors import HuntBotError
from bot.policy import Decision
from bot.services import Services
from bot.slack.approval_card import render_approval_card
from bot.slack.blocks import Message, render_markup_notice
from bot.slack.mrkdwn import escape, user
from bot.state.approval_records import ApprovalState

log = logging.getLogger(__name__)

FAILED_OUTCOMES = {OutcomeStatus.FAILED, OutcomeStatus.TIMED_OUT, OutcomeStatus.CANCELLED}
STATUS_POLL_EVERY = 2.0  # seconds between machine-action status reads
STATUS_POLL_FOR = 60 * 60.0  # give up following a device action after an hour


def refusal_message(decision: Decision) -> Message:
    """A vote refused: why, and whom to ask instead."""
    ask = ", ".join([user(u) for u in decision.ask.users] + list(decision.ask.usergroups))
    return render_markup_notice(
        escape(decision.reason), f"Approvers: {ask}" if ask else None, fallback=decision.reason
    )


async def vote(
    services: Services, approval_id: str, user_id: str, user_name: str, approve: bool
) -> Message | None:
    """Count a vote; None when counted (the card shows it), else the private reason."""
    result = await services.approvals.vote(approval_id, user_id, approve, user_name=user_name)
    if not result.counted:
        return refusal_message(Decision(False, result.reason, result.ask))
    await update_card(services, approval_id)
    if result.reached_quorum:
        await services.queue.enqueue_execution(approval_id)
    return None


async def update_card(services: Services, approval_id: str) -> None:
    s = services
    approval = await s.approvals.get(approval_id)
    where = await s.cards.find(approval_id)
    if approval is None or where is None:
        return
    card = render_approval_card(approval, await s.approvals.outcomes(approval_id))
    try:
        await s.slack.chat_update(channel=where[0], ts=where[1], text=card.text, blocks=card.blocks)
    except SlackApiError as exc:
        log.warning("approval card %s not updated: %s", approval_id, exc.response.get("error"))


async def execute(services: Services, approval_id: str) -> None:
    """Run an approved spec once: claim it, act on each target not yet done, follow status."""
    s = services
    worker = uuid.uuid4().hex
    if not await s.approvals.claim_execution(approval_id, worker):
        return
    await update_card(s, approval_id)
    try:
        spec = await s.approvals.spec_to_run(approval_id)
    except HuntBotError as exc:
        await s.approvals.finish(
            approval_id, ApprovalState.FAILED, worker_id=worker, reason=exc.message
        )
        await update_card(s, approval_id)
        return
    remediation = await s.remediation()
    remaining = await s.approvals.remaining_targets(approval_id, worker_id=worker)
    if remaining:
        for outcome in await remediation.submit(spec, approval_id, remaining):
            await s.approvals.record_outcome(approval_id, outcome, worker_id=worker)
        await update_card(s, approval_id)
    await _follow_status(s, approval_id, worker, remediation)
    outcomes = (await s.approvals.outcomes(approval_id)).values()
    failed = [o for o in outcomes if o.status in FAILED_OUTCOMES]
    await s.approvals.finish(
        approval_id,
        ApprovalState.FAILED if failed else ApprovalState.DONE,
        worker_id=worker,
        reason=f"{len(failed)} target(s) failed" if failed else "",
    )
    await update_card(s, approval_id)


async def _follow_status(
    services: Services, approval_id: str, worker: str, remediation: RemediationBackend
) -> None:
    """Poll device and file actions until each settles, keeping the execution's lease."""
    s = services
    deadline = time.monotonic() + STATUS_POLL_FOR
    while time.monotonic() < deadline:
        running = [
            o
            for o in (await s.approvals.outcomes(approval_id)).values()
            if o.status is OutcomeStatus.IN_PROGRESS
        ]
        if not running:
            return
        await asyncio.sleep(STATUS_POLL_EVERY)
        if not await s.approvals.renew_lease(approval_id, worker):
            raise RuntimeError(f"lost the execution lease of {approval_id}")
        changed = False
        for outcome in running:
            fresh = await remediation.refresh(outcome)
            if fresh.status is not outcome.status:
                await s.approvals.record_outcome(approval_id, fresh, worker_id=worker)
                changed = True
        if changed:
            await update_card(s, approval_id)


async def housekeeping(services: Services) -> None:
    """Expire approvals whose time is up, and resume executions whose worker went away."""
    for approval_id in await services.approvals.expire_due():
        await update_card(services, approval_id)
    for approval_id in await services.approvals.due_for_execution():
        await services.queue.enqueue_execution(approval_id)
