"""Approvals in Redis: what was asked for, who voted, and whether it may run, exactly once.

An approval binds a canonical ApprovalSpec and its SHA-256 digest. Its state moves

    pending -> approved -> executing -> done | failed
    pending -> rejected | expired | cancelled;   approved -> cancelled

and every move is one Lua script, so any number of processes voting, claiming and cancelling at
once see one order of events: one vote reaches the quorum, one worker claims the execution, and
a cancel either lands before the claim or is refused. Each script writes its audit entry in the
same step. Who may vote is the policy's call (bot/policy.py), asked again on every vote.

A process that dies after reaching the quorum, or a worker that dies while executing, leaves the
approval in `due_for_execution()`: a periodic job re-enqueues those ids and the claim decides.

Times are epoch milliseconds from this process's clock (injectable for tests); hosts are expected
to keep their clocks in step (NTP), as the hunting quota already assumes. The scripts touch several
keys, so the approvals need a single Redis node (no cluster), as the quota does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import cast

import redis.asyncio as aioredis

from bot.actions.model import ActionKind, ApprovalSpec, OutcomeStatus, Target, TargetOutcome
from bot.policy import ApprovalPolicy, ExcludedTarget, RequestRefused
from bot.state import approval_scripts as lua
from bot.state import keys
from bot.state.approval_records import (
    Approval,
    ApprovalState,
    ApprovalTampered,
    CancelResult,
    Claim,
    IntentAnswer,
    LeaseLost,
    RetryResult,
    UndoMark,
    Vote,
    VoteOutcome,
    VoteResult,
    approval_from_hash,
    closed_reason,
    digest_of,
    spec_matches,
    vote_result,
)
from bot.state.audit import AuditEntry, AuditEvent, AuditLog, from_ms, to_ms

__all__ = [
    "DEFAULT_LEASE",
    "Approval",
    "ApprovalState",
    "ApprovalStore",
    "ApprovalTampered",
    "CancelResult",
    "Claim",
    "IntentAnswer",
    "LeaseLost",
    "RetryResult",
    "UndoMark",
    "Vote",
    "VoteOutcome",
    "VoteResult",
]

ID_PREFIX = "HB-"  # goes into Defender comments and remediation names: findable in Action center
DEFAULT_LEASE = timedelta(minutes=5)  # renewed well within; after it, another takes over


class ApprovalStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        policy: ApprovalPolicy,
        audit: AuditLog | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`redis` answers str (decode_responses=True); `clock` gives epoch seconds."""
        self._redis = redis
        self.policy = policy
        self.audit = audit or AuditLog(redis)
        self._clock = clock
        script = redis.register_script
        self._create, self._vote, self._claim = (
            script(lua.CREATE),
            script(lua.VOTE),
            script(lua.CLAIM),
        )
        self._renew, self._finish, self._record = (
            script(lua.RENEW),
            script(lua.FINISH),
            script(lua.RECORD),
        )
        self._cancel, self._expire = script(lua.CANCEL), script(lua.EXPIRE)
        self._intent, self._retry = script(lua.INTENT), script(lua.RETRY_UNKNOWN)
        self._remind, self._undo_mark = script(lua.REMIND), script(lua.UNDO_MARK)

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def _base(self, approval_id: str, action: str, now: int, **fields: str) -> str:
        """The audit fields a script's entries start from."""
        entry = {"at": str(now), "approval_id": approval_id, "action": action, **fields}
        return json.dumps({k: v for k, v in entry.items() if v})

    async def _fields(self, approval_id: str, *names: str) -> list[str | None]:
        values = await self._redis.hmget(keys.approval(approval_id), list(names))
        return cast(list[str | None], values)

    async def _refused(self, base: str, reason: str, **fields: str) -> None:
        """Audit a refusal decided here rather than in a script (policy says no)."""
        entry = {**json.loads(base), **fields, "event": AuditEvent.REFUSED, "reason": reason}
        entry["at"] = from_ms(int(entry["at"]))
        await self.audit.append(AuditEntry.model_validate(entry))

    # -- asking -------------------------------------------------------------------------------

    async def create(
        self,
        spec: ApprovalSpec,
        requester: str,
        hunt: str,
        result_id: str,
        channel: str,
        thread_ts: str,
        quorum: int,
        expires_at: datetime,
        *,
        requester_name: str = "",
        excluded: Sequence[ExcludedTarget] = (),
        undoes: str = "",
    ) -> Approval:
        """Store a pending approval of a spec the policy has screened (`excluded` from it);
        `undoes` names the approval whose effect it reverses, if that is what it is for."""
        now = self._now()
        rule = self.policy.rule(spec.action)
        if quorum < rule.quorum:
            raise ValueError(f"quorum {quorum} is below the policy's {rule.quorum}")
        if to_ms(expires_at) <= now:
            raise ValueError("expires_at is not in the future")
        if self.policy.screen(spec).excluded:  # also refuses a spec over the target cap
            raise RequestRefused(
                "The request names protected targets, which are never acted on.",
                hint="Screen the request with the approval policy first.",
            )
        spec_json = spec.canonical_json()
        approval_id = f"{ID_PREFIX}{await self._redis.incr(keys.approval_sequence())}"
        fields = {
            "spec": spec_json,
            "digest": digest_of(spec_json),
            "action": spec.action.value,
            "targets": str(len(spec.targets)),
            "excluded": json.dumps([e.model_dump(mode="json") for e in excluded]),
            "requester": requester,
            "requester_name": requester_name,
            "hunt": hunt,
            "result_id": result_id,
            "channel": channel,
            "thread_ts": thread_ts,
            "quorum": str(quorum),
            "undoes": undoes,
        }
        audit_fields = (
            "hunt",
            "result_id",
            "channel",
            "thread_ts",
            "digest",
            "quorum",
            "targets",
            "undoes",
        )
        base = self._base(
            approval_id,
            spec.action.value,
            now,
            user_id=requester,
            user_name=requester_name,
            **{name: fields[name] for name in audit_fields},
        )
        created = await self._create(
            keys=[
                keys.approval(approval_id),
                keys.approvals_expiring(),
                keys.approvals_in_thread(channel, thread_ts),
                keys.audit_stream(),
            ],
            args=[approval_id, json.dumps(fields), now, to_ms(expires_at), base],
        )
        if not int(created):
            raise RuntimeError(f"approval {approval_id} exists already: was the sequence reset?")
        approval = await self.get(approval_id)
        assert approval is not None
        return approval

    # -- voting -------------------------------------------------------------------------------

    async def vote(
        self, approval_id: str, user: str, approve: bool, *, user_name: str = "", reason: str = ""
    ) -> VoteResult:
        """Count a vote if policy and state allow it; the answer says what happened and why.
        A reject's `reason` is kept with the approval and in the audit."""
        now = self._now()
        action, requester = await self._fields(approval_id, "action", "requester")
        if action is None or requester is None:
            return VoteResult(VoteOutcome.NOT_FOUND, "This approval no longer exists.", None)
        choice = "approve" if approve else "reject"
        base = self._base(approval_id, action, now, user_id=user, user_name=user_name)
        decision = await self.policy.may_approve(user, ActionKind(action), requester)
        if not decision.allowed:
            await self._refused(base, decision.reason, vote=choice)
            approval = await self.get(approval_id)
            return VoteResult(VoteOutcome.REFUSED, decision.reason, approval, decision.ask)
        code, _count, detail = await self._vote(
            keys=[
                keys.approval(approval_id),
                keys.approval_votes(approval_id),
                keys.approvals_expiring(),
                keys.audit_stream(),
                keys.approvals_to_run(),
            ],
            args=[approval_id, user, choice, now, base, user_name, reason],
        )
        return vote_result(str(code), str(detail), await self.get(approval_id))

    # -- executing ----------------------------------------------------------------------------

    async def claim_execution(
        self, approval_id: str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE
    ) -> bool:
        """True for exactly one worker per approval, and again once per lapsed lease (a worker
        that died). `worker_id` must be unique per attempt (host, pid and a random part).
        A spec that no longer matches its digest is never claimed: the approval fails instead."""
        return await self.claim(approval_id, worker_id, lease=lease) is not None

    async def claim(
        self, approval_id: str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE
    ) -> Claim | None:
        """claim_execution, answering the claim's fencing token (None when not claimed)."""
        spec_json, digest, action = await self._fields(approval_id, "spec", "digest", "action")
        if spec_json is None:
            return None
        now = self._now()
        code, _holder, *fence = await self._claim(
            keys=[keys.approval(approval_id), keys.audit_stream(), keys.approvals_to_run()],
            args=[
                worker_id,
                now,
                int(lease.total_seconds() * 1000),
                "1" if spec_matches(spec_json, digest or "") else "0",
                self._base(approval_id, action or "", now, worker=worker_id),
            ],
        )
        if str(code) not in {"claimed", "taken_over"}:
            return None
        return Claim(worker_id, str(fence[0]), taken_over=str(code) == "taken_over")

    async def write_intents(
        self,
        approval_id: str,
        claim: Claim,
        target_keys: Sequence[str],
        *,
        lease: timedelta = DEFAULT_LEASE,
        reconciled: Collection[str] = (),
    ) -> IntentAnswer:
        """Before one call to Microsoft: mark these targets as being sent, fenced by the claim
        (and renew its lease). LeaseLost when this worker no longer holds the execution.

        A target with an intent from before is answered `reconcile`, unless it is in
        `reconciled`: this claim asked Microsoft and found nothing of ours, so it is sent."""
        now = self._now()
        intent = json.dumps({"fence": claim.fence, "worker": claim.worker, "at": now})
        answer = await self._intent(
            keys=[
                keys.approval(approval_id),
                keys.approval_intents(approval_id),
                keys.approval_outcomes(approval_id),
                keys.approvals_to_run(),
            ],
            args=[
                claim.worker,
                claim.fence,
                now,
                int(lease.total_seconds() * 1000),
                intent,
                *(f"!{key}" if key in reconciled else key for key in target_keys),
            ],
        )
        code, *answers = [str(a) for a in answer]
        if code != "ok":
            raise LeaseLost(f"{approval_id}: this worker's claim is {code}")
        by: dict[str, list[str]] = {"send": [], "reconcile": [], "settled": []}
        for key, verdict in zip(target_keys, answers, strict=True):
            by[verdict].append(key)
        return IntentAnswer(tuple(by["send"]), tuple(by["reconcile"]), tuple(by["settled"]))

    async def intents(self, approval_id: str) -> dict[str, dict[str, str]]:
        """Target key -> the intent written before it was sent ({fence, worker, at})."""
        stored = await self._redis.hgetall(keys.approval_intents(approval_id))  # type: ignore[misc]
        return {str(k): json.loads(v) for k, v in stored.items()}

    async def set_note(self, approval_id: str, note: str) -> None:
        """What the run is doing about an error, for the card ('' clears it)."""
        if note:
            await self._redis.hset(keys.approval(approval_id), "note", note)  # type: ignore[misc]
        else:
            await self._redis.hdel(keys.approval(approval_id), "note")  # type: ignore[misc]

    async def retry_unknown(
        self, approval_id: str, user: str, *, user_name: str = ""
    ) -> RetryResult:
        """Retry these: an approver (never the requester) sends the targets whose outcome is
        UNKNOWN once more, once per approval. The caller enqueues the execution."""
        now = self._now()
        action, requester = await self._fields(approval_id, "action", "requester")
        if action is None or requester is None:
            return RetryResult(0, "This approval no longer exists.", None)
        base = self._base(approval_id, action, now, user_id=user, user_name=user_name)
        decision = await self.policy.may_approve(user, ActionKind(action), requester)
        if not decision.allowed:
            await self._refused(base, f"retry: {decision.reason}")
            return RetryResult(0, decision.reason, await self.get(approval_id))
        code, detail = await self._retry(
            keys=[
                keys.approval(approval_id),
                keys.approval_outcomes(approval_id),
                keys.approval_intents(approval_id),
                keys.audit_stream(),
                keys.approvals_to_run(),
            ],
            args=[approval_id, user, now, base],
        )
        approval = await self.get(approval_id)
        code, detail = str(code), str(detail)
        if code == "retrying":
            return RetryResult(int(detail), "", approval)
        reasons = {
            "not_found": "This approval no longer exists.",
            "retried": f"The unknown targets were already retried once (by <@{detail}>).",
            "none": "No target of this approval is unknown: there is nothing to retry.",
        }
        await self._refused(base, f"retry: {code}")
        return RetryResult(0, reasons.get(code, closed_reason(detail, approval)), approval)

    async def renew_lease(
        self, approval_id: str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE
    ) -> bool:
        """Keep the execution; False means another worker has it now, so stop."""
        renewed = await self._renew(
            keys=[keys.approval(approval_id), keys.approvals_to_run()],
            args=[worker_id, self._now(), int(lease.total_seconds() * 1000)],
        )
        return bool(int(renewed))

    async def spec_to_run(self, approval_id: str) -> ApprovalSpec:
        """The approved spec, checked against its digest; ApprovalTampered if it does not match."""
        spec_json, digest = await self._fields(approval_id, "spec", "digest")
        if spec_json is None or not spec_matches(spec_json, digest or ""):
            raise ApprovalTampered(
                f"Approval {approval_id} does not match what was approved, so it will not run.",
                hint="Ask for the action again.",
            )
        return ApprovalSpec.model_validate_json(spec_json)

    async def record_outcome(
        self, approval_id: str, outcome: TargetOutcome, *, worker_id: str = ""
    ) -> bool:
        """Store a target's outcome as soon as it is known. False when not stored: execution
        has not started, or that target's outcome is already final."""
        approval = await self.get(approval_id)
        if approval is None:
            return False
        known = {t.key for t in approval.spec.targets} | {e.target.key for e in approval.excluded}
        if outcome.target_key not in known:
            raise ValueError(f"{outcome.target_key} is not a target of {approval_id}")
        now = self._now()
        answer = await self._record(
            keys=[
                keys.approval(approval_id),
                keys.approval_outcomes(approval_id),
                keys.audit_stream(),
            ],
            args=[
                outcome.target_key,
                outcome.model_dump_json(),
                outcome.status.value,
                outcome.detail,
                self._base(approval_id, approval.action.value, now, worker=worker_id),
            ],
        )
        return str(answer) in {"stored", "unchanged"}

    async def outcomes(self, approval_id: str) -> dict[str, TargetOutcome]:
        stored = await self._redis.hgetall(keys.approval_outcomes(approval_id))  # type: ignore[misc]
        return {str(k): TargetOutcome.model_validate_json(v) for k, v in stored.items()}

    async def remaining_targets(self, approval_id: str, *, worker_id: str = "") -> list[Target]:
        """What a (resumed) execution still has to act on: targets without an outcome yet.

        A target that became protected after the request is recorded as skipped, not returned.
        """
        spec = await self.spec_to_run(approval_id)
        known = await self.outcomes(approval_id)
        remaining = []
        for target in spec.targets:
            outcome = known.get(target.key)
            if outcome is not None and outcome.status is not OutcomeStatus.PENDING:
                continue
            reason = self.policy.protected.reason(
                target, senders_copy=spec.options.remediate_senders_copy
            )
            if reason is None:
                remaining.append(target)
                continue
            skipped = TargetOutcome(
                target_key=target.key, status=OutcomeStatus.SKIPPED, detail=reason
            )
            await self.record_outcome(approval_id, skipped, worker_id=worker_id)
        return remaining

    async def finish(
        self,
        approval_id: str,
        status: ApprovalState,
        *,
        worker_id: str = "",
        reason: str = "",
    ) -> bool:
        """executing -> done | failed, once; given `worker_id`, only by the lease holder."""
        if status not in {ApprovalState.DONE, ApprovalState.FAILED}:
            raise ValueError("an execution finishes as done or failed")
        now = self._now()
        (action,) = await self._fields(approval_id, "action")
        finished = await self._finish(
            keys=[keys.approval(approval_id), keys.audit_stream(), keys.approvals_to_run()],
            args=[
                status.value,
                worker_id,
                now,
                reason,
                self._base(approval_id, action or "", now, worker=worker_id),
            ],
        )
        return bool(int(finished))

    # -- stopping -----------------------------------------------------------------------------

    async def cancel(
        self,
        approval_id: str,
        by: str,
        *,
        by_name: str = "",
        reason: str = "",
        only_pending: bool = False,
    ) -> CancelResult:
        """Withdraw a pending or approved (not yet running) approval: all of it, or nothing.
        `only_pending`: a request withdrawn by a person stops only while it still waits."""
        now = self._now()
        action, requester = await self._fields(approval_id, "action", "requester")
        if action is None or requester is None:
            return CancelResult(False, "This approval no longer exists.", None)
        base = self._base(approval_id, action, now, user_id=by, user_name=by_name)
        decision = await self.policy.may_cancel(by, ActionKind(action), requester)
        if not decision.allowed:
            await self._refused(base, f"cancel: {decision.reason}")
            return CancelResult(False, decision.reason, await self.get(approval_id))
        code, state = await self._cancel(
            keys=[
                keys.approval(approval_id),
                keys.approvals_expiring(),
                keys.audit_stream(),
                keys.approvals_to_run(),
            ],
            args=[approval_id, by, now, reason, base, "1" if only_pending else "0"],
        )
        approval = await self.get(approval_id)
        if str(code) == "cancelled":
            return CancelResult(True, "", approval)
        return CancelResult(False, closed_reason(str(state), approval), approval)

    async def expire_due(self, now: datetime | None = None) -> list[str]:
        """Expire each pending approval whose time is up; returns their ids (to update cards)."""
        now_ms = self._now() if now is None else to_ms(now)
        due = cast(
            list[str], await self._redis.zrangebyscore(keys.approvals_expiring(), "-inf", now_ms)
        )
        expired = []
        for approval_id in due:
            (action,) = await self._fields(approval_id, "action")
            done = await self._expire(
                keys=[keys.approval(approval_id), keys.approvals_expiring(), keys.audit_stream()],
                args=[approval_id, now_ms, self._base(approval_id, action or "", now_ms)],
            )
            if int(done):
                expired.append(approval_id)
        return expired

    async def remind_due(self, share: float) -> list[str]:
        """Pending approvals past `share` of their time (0-1) and not yet reminded of: each id
        is answered to one caller only, however many ask at once."""
        now = self._now()
        pending = cast(
            list[str], await self._redis.zrangebyscore(keys.approvals_expiring(), now, "+inf")
        )
        due = []
        for approval_id in pending:
            (action,) = await self._fields(approval_id, "action")
            if action is None:
                continue
            reminded = await self._remind(
                keys=[keys.approval(approval_id), keys.audit_stream()],
                args=[now, share, self._base(approval_id, action, now)],
            )
            if int(reminded):
                due.append(approval_id)
        return due

    async def mark_undo(self, approval_id: str, expected: str, new: str) -> UndoMark:
        """Name `new` as the request undoing this approval if it still names `expected`."""
        code, current = await self._undo_mark(
            keys=[keys.approval(approval_id)], args=[expected, new]
        )
        return UndoMark(str(code) == "ok", expected if str(code) == "ok" else str(current))

    async def due_for_execution(self, grace: timedelta = timedelta(seconds=30)) -> list[str]:
        """Approvals to (re-)enqueue: approved more than `grace` ago and never claimed (the
        process that reached the quorum died before enqueueing), or executing under a lease that
        ran out `grace` ago (the worker died). Enqueueing twice is harmless: claims decide."""
        until = self._now() - int(grace.total_seconds() * 1000)
        due = await self._redis.zrangebyscore(keys.approvals_to_run(), "-inf", until)
        return cast(list[str], due)

    # -- reading ------------------------------------------------------------------------------

    async def get(self, approval_id: str) -> Approval | None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys.approval(approval_id))
            pipe.hgetall(keys.approval_votes(approval_id))
            fields, votes = await pipe.execute()
        return approval_from_hash(fields, votes) if fields else None

    async def in_thread(self, channel: str, thread_ts: str) -> list[Approval]:
        """Every approval asked for in the thread, oldest first."""
        ids = cast(
            list[str], await self._redis.zrange(keys.approvals_in_thread(channel, thread_ts), 0, -1)
        )
        found = [await self.get(approval_id) for approval_id in ids]
        return [approval for approval in found if approval is not None]

    async def pending_in_thread(self, channel: str, thread_ts: str) -> list[Approval]:
        """Those still waiting for votes (and not past their expiry)."""
        now = self._now()
        return [
            approval
            for approval in await self.in_thread(channel, thread_ts)
            if approval.state is ApprovalState.PENDING and to_ms(approval.expires_at) > now
        ]
