"""The approval journey: votes on a card (Reject asks why), withdrawing a request, the quorum
starting the run, the run done exactly once and followed to its end (its progress on the card),
undoing what a done run did (a new request), and housekeeping (one reminder before expiry,
expiry, resuming a run whose worker died)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from slack_sdk.errors import SlackApiError

from bot.actions.model import (
    ActionKind,
    ActionOptions,
    ApprovalSpec,
    OutcomeStatus,
    Target,
    TargetOutcome,
)
from bot.actions.offer import action_label
from bot.defender.actions import RemediationBackend
from bot.errors import FieldErrors, HuntBotError
from bot.flows.permissions import ask_whom
from bot.policy import Decision
from bot.services import Services
from bot.slack.approval_card import (
    UndoOffer,
    render_approval_card,
    render_reject_view,
    render_reminder,
)
from bot.slack.blocks import Message, render_markup_notice, render_notice
from bot.slack.ids import ApprovalView
from bot.slack.mrkdwn import clip, escape, plural, user
from bot.state.approval_records import (
    Approval,
    ApprovalState,
    ApprovalTampered,
    Claim,
    LeaseLost,
    VoteOutcome,
    closed_reason,
)

log = logging.getLogger(__name__)

FAILED_OUTCOMES = {OutcomeStatus.FAILED, OutcomeStatus.TIMED_OUT, OutcomeStatus.CANCELLED}
STATUS_POLL_EVERY = 2.0  # seconds between machine-action status reads
STATUS_POLL_FOR = 60 * 60.0  # give up following a device action after an hour
RUN_ATTEMPTS = 3  # an error after the claim: tried this many times in all, then failed
RETRY_BACKOFF = 2.0  # seconds before the second attempt; doubles
PROGRESS_EVERY = 3.0  # seconds at least between progress updates of a card (Tier 3: 50 a minute)
REMIND_AT = 0.75  # the share of an approval's time after which the thread is reminded, once

# Reversible actions and the action that undoes each, with the words on a done card's button.
UNDO = {
    ActionKind.DEVICE_ISOLATE: ActionKind.DEVICE_RELEASE,
    ActionKind.EMAIL_MOVE_TO_JUNK: ActionKind.EMAIL_MOVE_TO_INBOX,
    ActionKind.EMAIL_MOVE_TO_DELETED: ActionKind.EMAIL_MOVE_TO_INBOX,
    ActionKind.DEVICE_RESTRICT_APPS: ActionKind.DEVICE_UNRESTRICT_APPS,
}
UNDO_BUTTON = {
    ActionKind.DEVICE_RELEASE: "Release from isolation",
    ActionKind.EMAIL_MOVE_TO_INBOX: "Move back to Inbox",
    ActionKind.DEVICE_UNRESTRICT_APPS: "Remove app restriction",
}
# What was acted on: an undo covers these targets (email remediation reads back as submitted).
UNDOABLE = {OutcomeStatus.SUCCEEDED, OutcomeStatus.SUBMITTED}
# A request that ended with nothing run: an undo it was for may be asked for again.
ENDED_UNRUN = {ApprovalState.REJECTED, ApprovalState.EXPIRED, ApprovalState.CANCELLED}
ASKING = "asking:"  # marks an undo being asked for, until its request exists
ASKING_STALE_MS = 60_000  # a mark older than this was left by a process that died mid-way


def refusal_message(decision: Decision) -> Message:
    """A vote refused: why, and whom to ask instead."""
    ask = ask_whom(decision.ask.users, decision.ask.usergroups)
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
    await after_vote(services, approval_id, result.outcome)
    return None


async def after_vote(services: Services, approval_id: str, outcome: VoteOutcome) -> None:
    """What a counted vote sets off: the requester told of a rejection, the card, the run."""
    if outcome is VoteOutcome.REJECTED:
        await tell_requester(services, approval_id)  # first: the card's update is not paced
    await update_card(services, approval_id)
    if outcome is VoteOutcome.REACHED_QUORUM:
        await services.queue.enqueue_execution(approval_id)


async def open_reject(
    services: Services, approval_id: str, user_id: str, channel: str | None, trigger_id: str
) -> Message | None:
    """Reject asks why: the form opens at once (the click's trigger lasts 3 s). None when it
    opened; the private answer when the approval is no longer waiting for votes."""
    approval = await services.approvals.get(approval_id)
    if approval is None:
        raise HuntBotError("This approval no longer exists.")
    if approval.state is not ApprovalState.PENDING:
        return render_notice(closed_reason(approval.state.value, approval))
    metadata = json.dumps({"subject": approval.id, "shown_to": user_id, "channel": channel})
    await services.slack.views_open(
        trigger_id=trigger_id, view=render_reject_view(approval, metadata)
    )
    return None


async def reject(
    services: Services, approval_id: str, user_id: str, user_name: str, reason: str
) -> Message | None:
    """Record a rejection with its reason (in the Reject form's ack: Redis only). The refusal
    to show in the form, if it was not counted; `after_rejection` follows a counted one."""
    reason = " ".join(reason.split())[:500]
    if not reason:
        raise FieldErrors({ApprovalView.REASON_BLOCK: "Say why: the requester is told."})
    result = await services.approvals.vote(
        approval_id, user_id, False, user_name=user_name, reason=reason
    )
    if not result.counted:
        return refusal_message(Decision(False, result.reason, result.ask))
    return None


async def after_rejection(services: Services, approval_id: str) -> None:
    await after_vote(services, approval_id, VoteOutcome.REJECTED)


async def withdraw(
    services: Services, approval_id: str, user_id: str, user_name: str, reason: str = ""
) -> Message | None:
    """Cancel a request that still waits for votes: its requester or an approver. None when
    cancelled (the card says by whom and why), else the private reason it was not."""
    result = await services.approvals.cancel(
        approval_id, user_id, by_name=user_name, reason=reason[:500], only_pending=True
    )
    if not result.cancelled:
        return render_markup_notice(escape(result.reason), None, fallback=result.reason)
    await update_card(services, approval_id)
    if result.approval is not None and result.approval.requester != user_id:
        await tell_requester(services, approval_id)
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
    ApprovalState.CANCELLED: "was cancelled",
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
    if approval.decided_by and approval.state in (
        ApprovalState.REJECTED,
        ApprovalState.CANCELLED,
    ):
        said += f" by {user(approval.decided_by)}"
    if approval.reason:
        said += f": {escape(approval.reason)}"
    said += "." + (
        " Nothing ran." if approval.state in ENDED_UNRUN - {ApprovalState.EXPIRED} else ""
    )
    message = render_markup_notice(said, fallback=f"{approval.id} {approval.state}")
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


async def render_card(services: Services, approval: Approval) -> Message:
    """The card as it stands: outcomes, approvers to mention, and what a done card may undo."""
    outcomes = await services.approvals.outcomes(approval.id)
    return render_approval_card(
        approval,
        outcomes,
        approvers=approvers_of(services, approval),
        tenant=services.settings.azure_tenant_id,
        undo=await _undo_offer(services, approval, outcomes),
    )


async def update_card(services: Services, approval_id: str) -> None:
    s = services
    approval = await s.approvals.get(approval_id)
    where = await s.cards.find(approval_id)
    if approval is None or where is None:
        return
    card = await render_card(s, approval)
    try:
        await s.slack.chat_update(channel=where[0], ts=where[1], text=card.text, blocks=card.blocks)
    except SlackApiError as exc:
        log.warning("approval card %s not updated: %s", approval_id, exc.response.get("error"))
    if approval.undoes and approval.state in ENDED_UNRUN:
        await update_card(s, approval.undoes)  # its Undo button may be pressed again


async def post_card(services: Services, approval_id: str) -> None:
    """A new approval's card in its incident thread, where approvers vote: each request Take
    actions makes, and each undo."""
    approval = await services.approvals.get(approval_id)
    if approval is None:
        return
    card = await render_card(services, approval)
    await services.pacer.wait_turn(approval.channel)
    posted = await services.slack.chat_postMessage(
        channel=approval.channel,
        thread_ts=approval.thread_ts,
        text=card.text,
        blocks=card.blocks,
        unfurl_links=False,
    )
    await services.cards.remember(approval.id, approval.channel, posted["ts"])


# -- undo ---------------------------------------------------------------------------------------


def _undoable(approval: Approval, outcomes: dict[str, TargetOutcome]) -> list[Target]:
    return [
        t
        for t in approval.spec.targets
        if (o := outcomes.get(t.key)) is not None and o.status in UNDOABLE
    ]


async def _undo_offer(
    services: Services, approval: Approval, outcomes: dict[str, TargetOutcome]
) -> UndoOffer | None:
    undo = UNDO.get(approval.spec.action)
    if undo is None or approval.state not in (ApprovalState.DONE, ApprovalState.FAILED):
        return None
    targets = _undoable(approval, outcomes)
    if not targets:
        return None
    offer = UndoOffer(UNDO_BUTTON[undo], action_label(undo, ActionOptions()), len(targets))
    if approval.undo_id and not approval.undo_id.startswith(ASKING):
        other = await services.approvals.get(approval.undo_id)
        if other is not None and other.state not in ENDED_UNRUN:
            return UndoOffer(offer.label, offer.action_label, offer.targets, asked=other.id)
    return offer


async def undo(
    services: Services, approval_id: str, user_id: str, user_name: str
) -> Message | None:
    """Undo a done run's reversible action: a new request for the reverse action on the targets
    it acted on, through the same policy (quorum, approvers, protected targets), with the person
    who pressed as its requester and its own card in the thread. Asked for once at a time.
    None when asked (the cards show it), else the private reason it was not."""
    s = services
    approval = await s.approvals.get(approval_id)
    if approval is None:
        raise HuntBotError("This approval no longer exists.")
    kind = UNDO.get(approval.spec.action)
    if kind is None or approval.state not in (ApprovalState.DONE, ApprovalState.FAILED):
        return render_notice(f"{approval.id} has nothing that can be undone from here.")
    targets = _undoable(approval, await s.approvals.outcomes(approval_id))
    if not targets:
        return render_notice(f"Nothing to undo: {approval.id} acted on no target.")
    now_ms = int(time.time() * 1000)
    token = f"{ASKING}{user_id}:{now_ms}"
    mark = await s.approvals.mark_undo(approval.id, "", token)
    previous = ""
    if not mark.marked:
        previous = mark.current
        if previous.startswith(ASKING):
            since = int(previous.rsplit(":", 1)[-1] or 0)
            if now_ms - since < ASKING_STALE_MS:
                return render_notice(
                    f"Someone is asking to undo {approval.id} right now: its card will be in "
                    "this thread."
                )
        else:
            other = await s.approvals.get(previous)
            if other is not None and other.state not in ENDED_UNRUN:
                return render_notice(
                    f"{other.id} already asks to undo {approval.id} ({other.state.value}): its "
                    "card is in this thread."
                )
        mark = await s.approvals.mark_undo(approval.id, previous, token)
        if not mark.marked:
            return render_notice(
                f"Someone asked to undo {approval.id} at the same moment: see the thread."
            )
    try:
        label = action_label(approval.spec.action, approval.spec.options)
        spec = ApprovalSpec(
            action=kind,
            options=ActionOptions(),
            targets=tuple(targets),
            name=clip(f"Undo {approval.id}: {approval.spec.name}", 100),
            description=clip(
                f"Undo of {approval.id} ({label}) on the {plural(len(targets), 'target')} it "
                f"acted on. Its reason was: {approval.spec.description}",
                1000,
            ),
        )
        screened = s.policy.screen(spec)
        created = await s.approvals.create(
            screened.spec,
            user_id,
            approval.hunt,
            approval.result_id,
            approval.channel,
            approval.thread_ts,
            screened.rule.quorum,
            datetime.now(UTC) + screened.rule.expiry,
            requester_name=user_name,
            excluded=screened.excluded,
            undoes=approval.id,
        )
    except BaseException:
        await s.approvals.mark_undo(approval.id, token, previous)  # free to be asked again
        raise
    await s.approvals.mark_undo(approval.id, token, created.id)
    await post_card(s, created.id)
    await update_card(s, approval.id)
    return None


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
        batches = remediation.batches(spec, to_send)
        shown_at = -math.inf
        for number, batch in enumerate(batches, start=1):
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
            # How far it has got, on the card: at batch boundaries, paced for chat.update.
            if number < len(batches) and time.monotonic() - shown_at >= PROGRESS_EVERY:
                await update_card(s, approval_id)
                shown_at = time.monotonic()
        await update_card(s, approval_id)
    await s.approvals.set_note(approval_id, "")
    await _follow_status(s, approval_id, claim.worker, remediation, lease)
    outcomes = (await s.approvals.outcomes(approval_id)).values()
    failed = [o for o in outcomes if o.status in FAILED_OUTCOMES]
    unknown = [o for o in outcomes if o.status is OutcomeStatus.UNKNOWN]
    reasons = []
    if failed:
        reasons.append(f"{plural(len(failed), 'target')} failed")
    if unknown:
        reasons.append(f"{plural(len(unknown), 'target')} unknown: check the Action center")
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
    # Take actions' review flags targets an earlier approval already remediated ("already
    # soft-deleted by HB-1"): remember this one's (bot/state/remediated.py). A courtesy after
    # the outcome is recorded and told, so a failure here changes nothing of it.
    try:
        from bot.state.remediated import RemediatedTargets

        await RemediatedTargets(s.redis.client).record(approval_id, spec.action, outcomes)
    except Exception as exc:
        log.warning("approval %s: remediated targets not remembered: %s", approval_id, exc)


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
    """Expire approvals whose time is up, remind the thread of those near it, and resume
    executions whose worker went away."""
    for approval_id in await services.approvals.expire_due():
        await update_card(services, approval_id)
        await tell_requester(services, approval_id)
    for approval_id in await services.approvals.remind_due(REMIND_AT):
        await remind(services, approval_id)
    grace = timedelta(seconds=services.settings.approval_takeover_grace_seconds)
    for approval_id in await services.approvals.due_for_execution(grace):
        await services.queue.enqueue_execution(approval_id)


async def remind(services: Services, approval_id: str) -> None:
    """The one reminder (its flag was set atomically, so one worker sends it): in the thread,
    how long is left and how many approvals are missing, mentioning who can still give one."""
    s = services
    approval = await s.approvals.get(approval_id)
    if approval is None or await s.cards.find(approval_id) is None:
        return  # never shown in a thread: nobody there to remind
    users, groups = approvers_of(s, approval)
    voted = {vote.user_id for vote in approval.votes}
    users = [u for u in users if u != approval.requester and u not in voted]
    message = render_reminder(
        approval, max(1, approval.quorum - approval.approvals), users, groups, datetime.now(UTC)
    )
    try:
        await s.pacer.wait_turn(approval.channel)
        await s.slack.chat_postMessage(
            channel=approval.channel,
            thread_ts=approval.thread_ts,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
        )
    except SlackApiError as exc:  # a reminder is a courtesy: the approval stands regardless
        log.warning("approval %s: reminder not posted: %s", approval_id, exc)
    await update_card(s, approval_id)  # its "expires in" too
