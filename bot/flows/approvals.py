"""The approval journey: votes on a card, the quorum starting the run, the run done exactly once
and followed to its end, and housekeeping (expiry, resuming a run whose worker died)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from datetime import timedelta

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from slack_sdk.errors import SlackApiError

from bot.actions.model import OutcomeStatus, TargetOutcome
from bot.defender.actions import RemediationBackend
from bot.errors import HuntBotError
from bot.policy import Decision
from bot.services import Services
from bot.slack.approval_card import render_approval_card
from bot.slack.blocks import Message, render_markup_notice
from bot.slack.mrkdwn import escape, user
from bot.state.approval_records import (
    Approval,
    ApprovalState,
    ApprovalTampered,
    Claim,
    LeaseLost,
    VoteOutcome,
)

log = logging.getLogger(__name__)

FAILED_OUTCOMES = {OutcomeStatus.FAILED, OutcomeStatus.TIMED_OUT, OutcomeStatus.CANCELLED}
STATUS_POLL_EVERY = 2.0  # seconds between machine-action status reads
STATUS_POLL_FOR = 60 * 60.0  # give up following a device action after an hour
RUN_ATTEMPTS = 3  # an error after the claim: tried this many times in all, then failed
RETRY_BACKOFF = 2.0  # seconds before the second attempt; doubles


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
    if result.outcome is VoteOutcome.REJECTED:
        await tell_requester(services, approval_id)  # first: the card's update is not paced
    await update_card(services, approval_id)
    if result.reached_quorum:
        await services.queue.enqueue_execution(approval_id)
    return None


def approvers_of(services: Services, approval: Approval) -> tuple[list[str], list[str]]:
    """Who may approve this approval's action: users and user groups, for the card to mention."""
    rule = services.policy.rule(approval.spec.action)
    return list(rule.approvers.users), list(rule.approvers.usergroups)


OUTCOME_FOR_REQUESTER = {
    ApprovalState.DONE: "is done",
    ApprovalState.FAILED: "finished with failures",
    ApprovalState.REJECTED: "was rejected",
    ApprovalState.EXPIRED: "expired before enough approvals: nothing ran",
}


async def tell_requester(services: Services, approval_id: str) -> None:
    """The requester is told in the thread (a mention notifies them) how their request ended."""
    approval = await services.approvals.get(approval_id)
    if approval is None or approval.state not in OUTCOME_FOR_REQUESTER:
        return
    if await services.cards.find(approval_id) is None:
        return  # never shown in a thread (made outside Slack): nobody there to tell
    said = (
        f"{user(approval.requester)}, {approval.id} ({escape(approval.spec.name)}) "
        + (OUTCOME_FOR_REQUESTER[approval.state])
    )
    if approval.decided_by and approval.state is ApprovalState.REJECTED:
        said += f" by {user(approval.decided_by)}"
    if approval.reason:
        said += f": {escape(approval.reason)}"
    message = render_markup_notice(said + ".", fallback=f"{approval.id} {approval.state}")
    await services.pacer.wait_turn(approval.channel)
    try:
        await services.slack.chat_postMessage(
            channel=approval.channel,
            thread_ts=approval.thread_ts,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
        )
    except Exception as exc:  # telling is a courtesy: it must never undo or stall the outcome
        log.warning("could not tell the requester of %s: %s", approval_id, exc)


async def update_card(services: Services, approval_id: str) -> None:
    s = services
    approval = await s.approvals.get(approval_id)
    where = await s.cards.find(approval_id)
    if approval is None or where is None:
        return
    card = render_approval_card(
        approval, await s.approvals.outcomes(approval_id), approvers=approvers_of(s, approval)
    )
    try:
        await s.slack.chat_update(channel=where[0], ts=where[1], text=card.text, blocks=card.blocks)
    except SlackApiError as exc:
        log.warning("approval card %s not updated: %s", approval_id, exc.response.get("error"))


async def execute(services: Services, approval_id: str) -> None:
    """Run an approved spec once: claim it, act on each target not yet done, follow status.

    The claim's lease is short (APPROVAL_LEASE_SECONDS) and renewed while the run lives, so a
    worker that dies is taken over within about a minute; every call to Microsoft is preceded
    by a fenced intent, so a worker that lost its lease sends nothing and a target a dead worker
    may have sent is reconciled with Microsoft, never sent again blindly. An error after the
    claim is retried with backoff a few times, then fails the approval with the reason."""
    s = services
    lease = timedelta(seconds=s.settings.approval_lease_seconds)
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"  # unique per try
    claim = await s.approvals.claim(approval_id, worker, lease=lease)
    if claim is None:
        return
    if claim.taken_over:
        log.warning("approval %s: resumed a run whose worker stopped", approval_id)
    await update_card(s, approval_id)
    keeper = asyncio.create_task(_keep_lease(s, approval_id, claim, lease))
    try:
        for attempt in range(1, RUN_ATTEMPTS + 1):
            try:
                await _run(s, approval_id, claim, lease)
                return
            except LeaseLost as exc:
                log.warning("approval %s: stopped, %s", approval_id, exc)
                return
            except (RedisConnectionError, RedisTimeoutError):
                raise  # Redis away: nothing can be recorded; housekeeping resumes the run
            except ApprovalTampered as exc:  # never runs, however often it is tried
                await _fail(s, approval_id, claim, exc.message)
                return
            except Exception as exc:
                # A HuntBotError's message is written for people; anything else is named only.
                what = (
                    exc.message
                    if isinstance(exc, HuntBotError)
                    else f"an unexpected error ({type(exc).__name__})"
                )
                log.exception("approval %s: attempt %d failed", approval_id, attempt)
                if attempt == RUN_ATTEMPTS:
                    await _fail(s, approval_id, claim, f"stopped after {attempt} attempts: {what}")
                    return
                wait = RETRY_BACKOFF * 2 ** (attempt - 1)
                await s.approvals.set_note(
                    approval_id,
                    f"retrying in {wait:g} s after {what} (attempt {attempt + 1} of "
                    f"{RUN_ATTEMPTS})",
                )
                await update_card(s, approval_id)
                await asyncio.sleep(wait)
    finally:
        keeper.cancel()


async def _fail(services: Services, approval_id: str, claim: Claim, reason: str) -> None:
    await services.approvals.set_note(approval_id, "")
    await services.approvals.finish(
        approval_id, ApprovalState.FAILED, worker_id=claim.worker, reason=reason
    )
    await update_card(services, approval_id)
    await tell_requester(services, approval_id)


async def _keep_lease(services: Services, approval_id: str, claim: Claim, lease: timedelta) -> None:
    """Renew the lease every third of it while the run lives; stop once it is lost."""
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        try:
            if not await services.approvals.renew_lease(approval_id, claim.worker, lease=lease):
                return  # lost: the next intent refuses, so nothing more is sent
        except Exception:
            log.warning("approval %s: lease not renewed this time", approval_id, exc_info=True)


async def _run(services: Services, approval_id: str, claim: Claim, lease: timedelta) -> None:
    s = services
    spec = await s.approvals.spec_to_run(approval_id)
    remediation = await s.remediation()
    remaining = await s.approvals.remaining_targets(approval_id, worker_id=claim.worker)
    if remaining:
        intents = await s.approvals.intents(approval_id)
        maybe_sent = [t for t in remaining if t.key in intents]
        found: dict[str, TargetOutcome] = {}
        if maybe_sent:  # an earlier claim wrote their intent: ask Microsoft, don't resend
            found = await remediation.reconcile(spec, approval_id, maybe_sent)
            for outcome in found.values():
                await s.approvals.record_outcome(approval_id, outcome, worker_id=claim.worker)
        never_sent = {t.key for t in maybe_sent if t.key not in found}
        to_send = [t for t in remaining if t.key not in found]
        for batch in remediation.batches(spec, to_send):
            answer = await s.approvals.write_intents(
                approval_id, claim, [t.key for t in batch], lease=lease, reconciled=never_sent
            )
            if answer.reconcile:  # not expected within one claim; reconciled all the same
                again = [t for t in batch if t.key in answer.reconcile]
                for outcome in (await remediation.reconcile(spec, approval_id, again)).values():
                    await s.approvals.record_outcome(approval_id, outcome, worker_id=claim.worker)
            send = [t for t in batch if t.key in answer.send]
            if send:
                for outcome in await remediation.submit(spec, approval_id, send):
                    await s.approvals.record_outcome(approval_id, outcome, worker_id=claim.worker)
        await update_card(s, approval_id)
    await s.approvals.set_note(approval_id, "")
    await _follow_status(s, approval_id, claim.worker, remediation, lease)
    outcomes = (await s.approvals.outcomes(approval_id)).values()
    failed = [o for o in outcomes if o.status in FAILED_OUTCOMES]
    unknown = [o for o in outcomes if o.status is OutcomeStatus.UNKNOWN]
    reasons = []
    if failed:
        reasons.append(f"{len(failed)} target(s) failed")
    if unknown:
        reasons.append(f"{len(unknown)} target(s) unknown: check the Action center")
    finished = await s.approvals.finish(
        approval_id,
        ApprovalState.FAILED if failed else ApprovalState.DONE,
        worker_id=claim.worker,
        reason="; ".join(reasons),
    )
    if not finished:
        raise LeaseLost("the run was finished or taken over by another worker")
    await update_card(s, approval_id)
    await tell_requester(s, approval_id)


async def retry_unknown(
    services: Services, approval_id: str, user_id: str, user_name: str
) -> Message | None:
    """Retry these: an approver sends the UNKNOWN targets once more (once per approval); None
    when it starts (the card shows it), else the private reason."""
    result = await services.approvals.retry_unknown(approval_id, user_id, user_name=user_name)
    if not result.retrying:
        return render_markup_notice(escape(result.reason), None, fallback=result.reason)
    await update_card(services, approval_id)
    await services.queue.enqueue_execution(approval_id)
    return None


async def _follow_status(
    services: Services,
    approval_id: str,
    worker: str,
    remediation: RemediationBackend,
    lease: timedelta,
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
        if not await s.approvals.renew_lease(approval_id, worker, lease=lease):
            raise LeaseLost(f"lost the execution lease of {approval_id}")
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
        await tell_requester(services, approval_id)
    grace = timedelta(seconds=services.settings.approval_takeover_grace_seconds)
    for approval_id in await services.approvals.due_for_execution(grace):
        await services.queue.enqueue_execution(approval_id)
