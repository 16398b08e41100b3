"""What one OS process does in the exactly-once test: many approvers click Approve at once
(each clicking several times, as people and Slack redeliveries do), then several workers try to
claim the execution. Run in spawned processes against the same Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from bot.policy import ApprovalPolicy
from bot.state.approvals import ApprovalStore

from .conftest import make_settings

MANY_APPROVERS = tuple(f"U0APPROVER{i:02d}" for i in range(16))


def many_approvers_policy() -> ApprovalPolicy:
    async def no_groups(group: str) -> set[str]:
        return set()

    settings = make_settings(
        approval_approver_users=",".join(MANY_APPROVERS), approval_approver_usergroups=""
    )
    return ApprovalPolicy.from_settings(settings, no_groups)


def click_and_claim(
    redis_url: str,
    approval_ids: list[str],
    voters: list[str],
    tag: str,
    barrier: Any,
    results: Any,
) -> None:
    results.put(asyncio.run(_click_and_claim(redis_url, approval_ids, voters, tag, barrier)))


async def _click_and_claim(
    redis_url: str, approval_ids: list[str], voters: list[str], tag: str, barrier: Any
) -> dict[str, Any]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True, max_connections=64)
    store = ApprovalStore(client, many_approvers_policy())
    outcome: dict[str, Any] = {"tag": tag, "votes": {}, "claims": {}}
    try:
        for approval_id in approval_ids:
            await asyncio.to_thread(barrier.wait)  # every process starts clicking together
            clicks = [store.vote(approval_id, user, True) for user in voters for _ in range(3)]
            answers = await asyncio.gather(*clicks)
            outcome["votes"][approval_id] = [answer.outcome.value for answer in answers]
            await asyncio.to_thread(barrier.wait)
            claims = [store.claim_execution(approval_id, f"{tag}-worker-{i}") for i in range(4)]
            outcome["claims"][approval_id] = list(await asyncio.gather(*claims))
    finally:
        await client.aclose()
    return outcome
