"""Which targets earlier approvals acted on, so the review of a new request can flag them
("already soft-deleted by HB-1"). Written when an approval finishes, for the targets Microsoft
accepted (succeeded, or submitted for email); kept 30 days, as long as Defender keeps its own
Action center history and hunting data.

One hash a target (field = action, value = the approval and when), so one lookup answers for
every action of a family (soft then hard delete of one message; isolate after a release).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from bot.actions.model import ActionKind, OutcomeStatus, TargetOutcome
from bot.actions.registry import ACTIONS
from bot.state import keys

REMEMBER_FOR = timedelta(days=30)
REMEDIATED = frozenset({OutcomeStatus.SUCCEEDED, OutcomeStatus.SUBMITTED})


def remediated_key(target_key: str) -> str:
    """A hash, field = action, value = JSON {approval, at}: who last did that to the target."""
    return f"{keys.PREFIX}:remediated:{target_key}"


@dataclass(frozen=True)
class Earlier:
    """An earlier approval that did an action of the same family to a target."""

    approval_id: str
    action: ActionKind
    at: datetime


def family_of(action: ActionKind) -> list[ActionKind]:
    family = ACTIONS[action].flag_family
    return [kind for kind in ActionKind if ACTIONS[kind].flag_family == family]


class RemediatedTargets:
    def __init__(self, redis: aioredis.Redis, *, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock

    async def record(
        self, approval_id: str, action: ActionKind, outcomes: Iterable[TargetOutcome]
    ) -> int:
        """Remember the targets this approval remediated; how many that was."""
        done = [o.target_key for o in outcomes if o.status in REMEDIATED]
        if not done:
            return 0
        value = json.dumps({"approval": approval_id, "at": int(self._clock())})
        pipe = self._redis.pipeline(transaction=False)
        for target_key in done:
            pipe.hset(remediated_key(target_key), action.value, value)
            pipe.expire(remediated_key(target_key), REMEMBER_FOR)
        await pipe.execute()
        return len(done)

    async def earlier(self, action: ActionKind, target_keys: Sequence[str]) -> dict[str, Earlier]:
        """Per target key, the latest earlier approval (within 30 days) that did this action or
        one of its family to it."""
        if not target_keys:
            return {}
        family = family_of(action)
        fields = [kind.value for kind in family]
        pipe = self._redis.pipeline(transaction=False)
        for target_key in target_keys:
            pipe.hmget(remediated_key(target_key), fields)
        answers = await pipe.execute()
        oldest = self._clock() - REMEMBER_FOR.total_seconds()
        found: dict[str, Earlier] = {}
        for target_key, values in zip(target_keys, answers, strict=True):
            latest: Earlier | None = None
            for kind, raw in zip(family, values, strict=True):
                if raw is None:
                    continue
                record = json.loads(raw)
                at = float(record["at"])
                if at < oldest or (latest is not None and at <= latest.at.timestamp()):
                    continue
                latest = Earlier(str(record["approval"]), kind, datetime.fromtimestamp(at, UTC))
            if latest is not None:
                found[target_key] = latest
        return found
