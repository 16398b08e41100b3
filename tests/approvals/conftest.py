"""Approvals against a real Redis: TEST_REDIS_URL if given, else an embedded redis-server.

Each test gets a flushed database, a clock it can move, and a policy built from settings the way
the bot builds it. Spec builders make emails, devices and files with readable keys.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.actions.model import (
    ActionKind,
    ActionOptions,
    ApprovalSpec,
    DeviceTarget,
    EmailTarget,
    FileTarget,
)
from bot.config import Settings
from bot.policy import ApprovalPolicy
from bot.state.approvals import ApprovalStore
from tests.clock import START, Clock  # noqa: F401  (tests import them from here)

APPROVERS = ("U0BOB", "U0CAROL")


class Groups:
    """Slack user groups as the caller's lookup would answer, changeable mid-test; counts asks."""

    def __init__(self, groups: dict[str, set[str]] | None = None) -> None:
        self.groups = groups if groups is not None else {"S0APPROVERS": set(APPROVERS)}
        self.asked = 0

    async def __call__(self, group: str) -> Collection[str]:
        self.asked += 1
        return set(self.groups.get(group, set()))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def groups() -> Groups:
    return Groups()


def make_settings(**overrides: Any) -> Settings:
    """The console's defaults: the S0APPROVERS group approves (Bob and Carol, not Alice)."""
    values: dict[str, Any] = {"approval_approver_usergroups": "S0APPROVERS"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def policy(groups: Groups) -> ApprovalPolicy:
    return ApprovalPolicy.from_settings(make_settings(), groups)


@pytest.fixture
def store(redis: aioredis.Redis, policy: ApprovalPolicy, clock: Clock) -> ApprovalStore:
    return ApprovalStore(redis, policy, clock=clock)


def emails(n: int = 2, action: ActionKind = ActionKind.EMAIL_SOFT_DELETE) -> ApprovalSpec:
    return ApprovalSpec(
        action=action,
        targets=tuple(
            EmailTarget(network_message_id=f"nm-{i}", recipient=f"user{i}@contoso.com")
            for i in range(n)
        ),
        name="Phish campaign",
        description="Soft delete the phish",
    )


def devices(
    *names: str, action: ActionKind = ActionKind.DEVICE_ISOLATE, **options: Any
) -> ApprovalSpec:
    return ApprovalSpec(
        action=action,
        options=ActionOptions(**options),
        targets=tuple(DeviceTarget(device_id=f"id-{name}", device_name=name) for name in names),
        name="Contain",
        description="Isolate the infected devices",
    )


def files(*device_names: str) -> ApprovalSpec:
    return ApprovalSpec(
        action=ActionKind.FILE_STOP_AND_QUARANTINE,
        targets=tuple(
            FileTarget(device_id=f"id-{name}", device_name=name, sha1="a" * 40, hash_column="SHA1")
            for name in device_names
        ),
        name="Quarantine",
        description="Stop the dropper",
    )


async def ask(
    store: ApprovalStore,
    spec: ApprovalSpec,
    clock: Clock,
    *,
    quorum: int | None = None,
    requester: str = "U0ALICE",
    thread_ts: str = "1700000000.000100",
):
    """Ask for an approval the way the Take actions flow will: screen, then create."""
    screened = store.policy.screen(spec)
    rule = screened.rule
    return await store.create(
        screened.spec,
        requester,
        "spam-emails",
        "R1",
        "C0SOC",
        thread_ts,
        quorum or rule.quorum,
        clock.datetime(rule.expiry.total_seconds()),
        requester_name="alice",
        excluded=screened.excluded,
    )
