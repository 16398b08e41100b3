"""The approval policy: who may approve which action, how many must, for how long, on what.

App-only Microsoft tokens act tenant-wide, so the bot scopes itself. The policy comes from settings
and, optionally, a YAML file (APPROVAL_POLICY_FILE) that refines it per entity kind and per action:

    default:  {approvers: {users: [U0LEAD], usergroups: [S0APPROVERS]}, expiry_minutes: 240}
    entities: {device: {approvers: {usergroups: [S0ENDPOINT]}}}
    actions:  {device.isolate: {quorum: 2, max_targets: 10}}
    protected: {devices: [dc01, 3e9fc41d...], mailboxes: [ceo@contoso.com]}

For each setting the most specific rule that gives it wins (action, then entity kind, then the
default, then the settings). Approvers are replaced, not merged, so a rule can narrow who approves.
Protected devices and mailboxes from the file and the settings are both honoured.

Group membership is asked of a callable on every vote: someone removed from a group stops counting
as soon as the caller's cache lets go.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.actions.model import ActionKind, ApprovalSpec, DeviceTarget, EmailTarget, Target
from bot.actions.registry import ACTIONS
from bot.config import Settings
from bot.errors import HuntBotError, SettingsError

# Slack user group id -> its members' user ids. The caller's lookup (with its short cache).
MembersOf = Callable[[str], Awaitable[Collection[str]]]


# One approval's reach when the settings and policy file say nothing. Emails: a campaign of a
# few hundred messages is common and Graph takes them in one remediation (Microsoft recommends
# batches of at most 50,000); devices and files: each is its own Defender call (100 a minute),
# and isolating more than 100 machines at once is an outage, not a remediation.
DEFAULT_MAX_TARGETS = {"email": 1_000, "device": 100, "file": 100}


class RequestRefused(HuntBotError):
    """An approval cannot be asked for as it stands; the message says why."""


# -- the policy file ------------------------------------------------------------------------------


class Approvers(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    users: tuple[str, ...] = ()
    usergroups: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.users and not self.usergroups


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approvers: Approvers | None = None
    quorum: int | None = Field(default=None, ge=1, le=10)
    expiry_minutes: int | None = Field(default=None, ge=5, le=7 * 24 * 60)
    max_targets: int | None = Field(default=None, ge=1, le=10_000)


class ProtectedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    devices: tuple[str, ...] = ()
    mailboxes: tuple[str, ...] = ()


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: RuleFile = RuleFile()
    entities: dict[Literal["email", "device", "file"], RuleFile] = {}
    actions: dict[ActionKind, RuleFile] = {}
    protected: ProtectedFile = ProtectedFile()


def read_policy_file(path: Path) -> PolicyFile:
    """Parse and check the file, or SettingsError saying where it is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return PolicyFile.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        problem = f"cannot be read: {exc}"
    except ValidationError as exc:
        where = [
            f"{'.'.join(str(part) for part in error['loc']) or 'top level'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        problem = "is invalid:\n  " + "\n  ".join(where)
    raise SettingsError(
        f"APPROVAL_POLICY_FILE {path} {problem}",
        hint="Fix the file (see bot/policy.py for its shape) and start again.",
    )


# -- the resolved policy --------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionRule:
    """Everything the policy says about one action, resolved."""

    action: ActionKind
    approvers: Approvers
    quorum: int
    expiry: timedelta
    max_targets: int


@dataclass(frozen=True)
class ProtectedTargets:
    """Devices (by id or name) and mailboxes the bot never acts on. Compared case-insensitively."""

    devices: frozenset[str] = frozenset()
    mailboxes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, devices: Collection[str], mailboxes: Collection[str]) -> ProtectedTargets:
        return cls(
            frozenset(d.strip().lower() for d in devices if d.strip()),
            frozenset(m.strip().lower() for m in mailboxes if m.strip()),
        )

    def reason(self, target: Target, *, senders_copy: bool = False) -> str | None:
        """Why this target is protected, or None when it is not."""
        if isinstance(target, EmailTarget):
            if target.recipient.lower() in self.mailboxes:
                return f"the mailbox {target.recipient} is protected"
            if senders_copy and target.sender and target.sender.lower() in self.mailboxes:
                return f"the sender's mailbox {target.sender} is protected"
            return None
        device = "the device" if isinstance(target, DeviceTarget) else "the file's device"
        if target.device_id.lower() in self.devices:
            return f"{device} {target.device_name or target.device_id} is protected"
        if target.device_name:
            name = target.device_name.lower()
            # A policy naming "dc01" protects "dc01.contoso.local" too: both are the same machine.
            if name in self.devices or name.split(".", 1)[0] in self.devices:
                return f"{device} {target.device_name} is protected"
        return None


class ExcludedTarget(BaseModel):
    """A target taken out of a request by policy, shown on the card as excluded."""

    model_config = ConfigDict(frozen=True)
    target: Target
    reason: str


@dataclass(frozen=True)
class Screened:
    """A request as policy lets it run: the spec minus protected targets, and what was left out."""

    spec: ApprovalSpec
    excluded: tuple[ExcludedTarget, ...]
    rule: ActionRule


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # for the person refused, privately
    # Whom to ask instead (rendered by the Slack layer as mentions); empty when allowed.
    ask: Approvers = field(default_factory=Approvers)


class ApprovalPolicy:
    def __init__(
        self,
        rules: Mapping[ActionKind, ActionRule],
        protected: ProtectedTargets,
        members_of: MembersOf,
    ) -> None:
        missing = set(ActionKind) - set(rules)
        if missing:
            raise ValueError(f"no rule for {sorted(missing)}")
        self._rules = dict(rules)
        self.protected = protected
        self._members_of = members_of

    @classmethod
    def from_settings(cls, settings: Settings, members_of: MembersOf) -> ApprovalPolicy:
        file = (
            read_policy_file(settings.approval_policy_file)
            if settings.approval_policy_file is not None
            else PolicyFile()
        )
        base = RuleFile(
            approvers=Approvers(
                users=settings.approval_approver_users,
                usergroups=settings.approval_approver_usergroups,
            ),
            expiry_minutes=settings.approval_expiry_minutes,
            max_targets=settings.approval_max_targets,
        )
        rules = {action: _resolve(action, file, base) for action in ActionKind}
        protected = ProtectedTargets.of(
            (*settings.approval_protected_devices, *file.protected.devices),
            (*settings.approval_protected_mailboxes, *file.protected.mailboxes),
        )
        return cls(rules, protected, members_of)

    def rule(self, action: ActionKind) -> ActionRule:
        return self._rules[action]

    def screen(self, spec: ApprovalSpec) -> Screened:
        """Take protected targets out and check the cap; RequestRefused when nothing may run."""
        rule = self.rule(spec.action)
        kept: list[Target] = []
        excluded: list[ExcludedTarget] = []
        for target in spec.targets:
            reason = self.protected.reason(target, senders_copy=spec.options.remediate_senders_copy)
            if reason is None:
                kept.append(target)
            else:
                excluded.append(ExcludedTarget(target=target, reason=reason))
        if not kept:
            raise RequestRefused(
                "Every chosen target is protected, so there is nothing to approve.",
                hint="Protected devices and mailboxes are never acted on by the bot.",
            )
        if len(kept) > rule.max_targets:
            raise RequestRefused(
                f"This would act on {len(kept)} targets; one approval may cover at most "
                f"{rule.max_targets} for {ACTIONS[spec.action].doing}.",
                hint="Narrow the rows with a filter (e.g. LatestDeliveryLocation = Inbox/folder), "
                "or split them: request some rows now and the rest in another request.",
            )
        return Screened(spec.model_copy(update={"targets": tuple(kept)}), tuple(excluded), rule)

    async def may_approve(self, user: str, action: ActionKind, requester: str) -> Decision:
        """Whether this person's vote may count, asked afresh on every vote."""
        rule = self.rule(action)
        if user == requester:
            return Decision(
                False,
                "You asked for this action, so your vote cannot count: another approver "
                "must decide. To withdraw the request, cancel it.",
                rule.approvers,
            )
        if rule.approvers.empty:
            return Decision(
                False,
                f"Nobody is set up to approve {ACTIONS[action].doing}. An administrator can name "
                "approvers with APPROVAL_APPROVER_USERS, APPROVAL_APPROVER_USERGROUPS or the "
                "approval policy file.",
            )
        if user in rule.approvers.users:
            return Decision(True)
        for group in rule.approvers.usergroups:
            try:
                members = await self._members_of(group)
            except Exception:
                # Fail closed: an unanswered membership question is not a yes.
                return Decision(
                    False,
                    "Your approver group membership could not be checked just now. "
                    "Try again in a minute.",
                    rule.approvers,
                )
            if user in members:
                return Decision(True)
        return Decision(
            False,
            f"You are not an approver for {ACTIONS[action].doing}. Ask one of the approvers.",
            rule.approvers,
        )

    async def may_see_audit(self, user: str) -> Decision:
        """Approvers of any action may read the audit log (`/hunt audit`)."""
        rules = self._rules.values()
        if any(user in rule.approvers.users for rule in rules):
            return Decision(True)
        groups = dict.fromkeys(g for rule in rules for g in rule.approvers.usergroups)
        for group in groups:
            try:
                if user in await self._members_of(group):
                    return Decision(True)
            except Exception:
                break  # fail closed, as for votes
        return Decision(False, "Only approvers can read the audit log.")

    async def may_cancel(self, user: str, action: ActionKind, requester: str) -> Decision:
        """The requester may withdraw a request; an approver may stop one."""
        if user == requester:
            return Decision(True)
        decision = await self.may_approve(user, action, requester)
        if decision.allowed:
            return decision
        return Decision(
            False,
            "Only the person who asked for this action or one of its approvers can cancel it.",
            decision.ask,
        )


def _resolve(action: ActionKind, file: PolicyFile, base: RuleFile) -> ActionRule:
    layers = [
        file.actions.get(action),
        file.entities.get(action.entity),
        file.default,
        base,
    ]
    rules = [layer for layer in layers if layer is not None]

    def first(name: str) -> object:
        return next((v for r in rules if (v := getattr(r, name)) is not None), None)

    approvers = next((r.approvers for r in rules if r.approvers is not None), Approvers())
    # A file default quorum raises every action but lowers none of the two-person ones: to
    # lower those, a rule must name the action or its entity kind.
    specific = [layer for layer in layers[:2] if layer is not None]
    quorum = next((r.quorum for r in specific if r.quorum is not None), None)
    if quorum is None:
        quorum = max(ACTIONS[action].quorum, file.default.quorum or 1)
    if not approvers.usergroups and 0 < len(approvers.users) < quorum:
        people = "1 person" if len(approvers.users) == 1 else f"{len(approvers.users)} people"
        raise SettingsError(
            f"{action.value} needs {quorum} approvals but only {people} may approve it, "
            "so it could never run.",
            hint="Name more approvers (or a user group) for it, or lower its quorum in the "
            "approval policy file.",
        )
    expiry = first("expiry_minutes")
    max_targets = first("max_targets") or DEFAULT_MAX_TARGETS[action.entity]
    assert isinstance(expiry, int) and isinstance(max_targets, int)  # the base layer has expiry
    return ActionRule(action, approvers, quorum, timedelta(minutes=expiry), max_targets)
