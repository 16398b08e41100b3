"""What an approval is, as read back from Redis, and the answers to votes and cancels."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.actions.model import ActionKind, ApprovalSpec
from bot.errors import HuntBotError
from bot.policy import Approvers, ExcludedTarget
from bot.state.audit import from_ms


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self not in {ApprovalState.PENDING, ApprovalState.APPROVED, ApprovalState.EXECUTING}


class ApprovalTampered(HuntBotError):
    """The stored spec no longer hashes to the digest that was approved: it must not run."""


class Vote(BaseModel):
    model_config = ConfigDict(frozen=True)
    user_id: str
    user_name: str = ""
    approve: bool
    at: datetime


class Approval(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    state: ApprovalState
    spec: ApprovalSpec
    digest: str
    excluded: tuple[ExcludedTarget, ...] = ()
    requester: str
    requester_name: str = ""
    hunt: str
    result_id: str
    channel: str
    thread_ts: str
    quorum: int
    approvals: int  # approve votes counted
    votes: tuple[Vote, ...] = ()
    created_at: datetime
    expires_at: datetime
    decided_by: str | None = None  # who rejected or cancelled it
    reason: str | None = None  # why it was rejected, cancelled or failed
    executor: str | None = None  # the worker holding the execution lease
    lease_until: datetime | None = None
    claims: int = 0  # 2 or more: a worker took over from one that stopped
    resumed_at: datetime | None = None  # when another worker last took the run over
    retried_by: str | None = None  # the approver who pressed Retry these (once per approval)
    note: str | None = None  # what the run is doing about an error (retrying, and why)
    reminded_at: datetime | None = None  # when the thread was reminded it needs approvals
    undo_id: str | None = None  # the request asked for to undo this one (or one being asked)
    undoes: str | None = None  # the approval this request undoes

    @property
    def approved_by(self) -> list[str]:
        return [vote.user_id for vote in self.votes if vote.approve]

    @property
    def action(self) -> ActionKind:
        return self.spec.action


class VoteOutcome(StrEnum):
    COUNTED = "counted"  # an approval counted; more are needed
    REACHED_QUORUM = "reached_quorum"  # this vote approved it: start the execution (once)
    REJECTED = "rejected"  # an authorised approver rejected it
    ALREADY_VOTED = "already_voted"  # not counted again
    REFUSED = "refused"  # policy: the requester, or not an approver
    CLOSED = "closed"  # no longer pending
    EXPIRED = "expired"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class VoteResult:
    outcome: VoteOutcome
    reason: str  # for the voter, privately; empty when the vote counted
    approval: Approval | None
    ask: Approvers = field(default_factory=Approvers)  # whom to ask, when refused

    @property
    def counted(self) -> bool:
        return self.outcome in {
            VoteOutcome.COUNTED,
            VoteOutcome.REACHED_QUORUM,
            VoteOutcome.REJECTED,
        }

    @property
    def reached_quorum(self) -> bool:
        return self.outcome is VoteOutcome.REACHED_QUORUM


@dataclass(frozen=True)
class UndoMark:
    """Marking an approval as being undone: `marked`, or the request that already names it."""

    marked: bool
    current: str  # what the approval named before ('' for nothing)


@dataclass(frozen=True)
class CancelResult:
    cancelled: bool
    reason: str  # why not, for the person; empty when cancelled
    approval: Approval | None


class LeaseLost(Exception):
    """This worker no longer holds the execution (its lease ran out and another took over, or
    the approval moved on): it must not send anything more to Microsoft."""


@dataclass(frozen=True)
class Claim:
    """A worker's hold on an execution: its fencing token, and whether it took over a run."""

    worker: str
    fence: str
    taken_over: bool


@dataclass(frozen=True)
class IntentAnswer:
    """For targets about to be sent: those to send now, those that may have reached Microsoft
    already (an earlier claim wrote their intent: reconcile them), and those already settled."""

    send: tuple[str, ...]
    reconcile: tuple[str, ...]
    settled: tuple[str, ...]


@dataclass(frozen=True)
class RetryResult:
    retrying: int  # how many unknown targets will be sent again; 0 when refused
    reason: str  # why not, for the person; empty when retrying
    approval: Approval | None


def digest_of(spec_json: str) -> str:
    return hashlib.sha256(spec_json.encode()).hexdigest()


def spec_matches(spec_json: str, digest: str) -> bool:
    """The stored text hashes to the digest, and parsing it gives back that same spec."""
    if digest_of(spec_json) != digest:
        return False
    try:
        return ApprovalSpec.model_validate_json(spec_json).digest() == digest
    except ValidationError:
        return False


def approval_from_hash(fields: dict[str, str], votes: dict[str, str]) -> Approval:
    def moment(name: str) -> datetime | None:
        return from_ms(int(float(fields[name]))) if fields.get(name) else None

    ballots = [
        Vote(
            user_id=user,
            user_name=record.get("name", ""),
            approve=record["vote"] == "approve",
            at=from_ms(int(record["at"])),
        )
        for user, record in ((u, json.loads(v)) for u, v in votes.items())
    ]
    data: dict[str, Any] = {
        **{
            name: fields.get(name) or None
            for name in (
                "decided_by",
                "reason",
                "executor",
                "retried_by",
                "note",
                "undo_id",
                "undoes",
            )
        },
        "id": fields["id"],
        "state": fields["state"],
        "spec": ApprovalSpec.model_validate_json(fields["spec"]),
        "digest": fields["digest"],
        "excluded": json.loads(fields.get("excluded") or "[]"),
        "requester": fields["requester"],
        "requester_name": fields.get("requester_name", ""),
        "hunt": fields["hunt"],
        "result_id": fields["result_id"],
        "channel": fields["channel"],
        "thread_ts": fields["thread_ts"],
        "quorum": int(fields["quorum"]),
        "approvals": int(fields.get("approvals") or 0),
        "votes": sorted(ballots, key=lambda v: v.at),
        "created_at": moment("created_at"),
        "expires_at": moment("expires_at"),
        "lease_until": moment("lease_until"),
        "resumed_at": moment("resumed_at"),
        "reminded_at": moment("reminded_at"),
        "claims": int(fields.get("claims") or 0),
    }
    return Approval.model_validate(data)


def vote_result(code: str, detail: str, approval: Approval | None) -> VoteResult:
    if code == "reached_quorum":
        return VoteResult(VoteOutcome.REACHED_QUORUM, "", approval)
    if code == "counted":
        return VoteResult(VoteOutcome.COUNTED, "", approval)
    if code == "rejected":
        return VoteResult(VoteOutcome.REJECTED, "", approval)
    if code == "already_voted":
        how = "approve" if json.loads(detail or "{}").get("vote") == "approve" else "reject"
        return VoteResult(
            VoteOutcome.ALREADY_VOTED,
            f"You already voted ({how}) on this approval; each person counts once.",
            approval,
        )
    if code == "self":
        return VoteResult(
            VoteOutcome.REFUSED,
            "You asked for this action, so your vote cannot count: another approver must decide.",
            approval,
        )
    if code == "expired":
        return VoteResult(VoteOutcome.EXPIRED, closed_reason("expired", approval), approval)
    if code == "not_found":
        return VoteResult(VoteOutcome.NOT_FOUND, "This approval no longer exists.", None)
    return VoteResult(VoteOutcome.CLOSED, closed_reason(detail, approval), approval)


def closed_reason(state: str, approval: Approval | None) -> str:
    if state == "expired":
        when = f" at {approval.expires_at:%H:%M} UTC" if approval else ""
        return f"This approval expired{when}. Ask for the action again if it is still needed."
    return {
        "approved": "This approval has already been approved; it is about to run.",
        "executing": "This approval has already been approved and is running.",
        "done": "This approval has already run.",
        "failed": "This approval has already run (and failed).",
        "rejected": "This approval was rejected.",
        "cancelled": "This approval was cancelled.",
    }.get(state, f"This approval is {state}.")
