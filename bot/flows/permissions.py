"""Who may press what: the kinds of people a control can be meant for, and how each is checked.

Each action id and view callback names one `Who` where it is registered (commands/context.py);
the listener context asks `check` before any flow runs. A refusal changes nothing, is answered
privately, and is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from bot.services import Services
from bot.slack.mrkdwn import escape, user, usergroup
from bot.state.audit import AuditEntry, AuditEvent


class Who(StrEnum):
    ANYONE = "anyone who can reach the bot"  # the flow itself decides (help, thread verbs)
    IN_CHANNEL = "anyone who may hunt in the channel"
    REQUESTER = "the person who asked for the approval"
    REQUESTER_OR_APPROVER = "the person who asked for the approval, or an approver of it"
    OWNER = "the incident's owner, or an approver"
    APPROVER = "an approver of that action"
    SHOWN_TO = "the person the confirmation or form was shown to"
    HUNTER = "the person who ran the hunt, or an approver"  # Cancel on a running hunt


@dataclass(frozen=True)
class Press:
    """What a permission is decided on: who pressed, where, and what the control names."""

    user: str
    team: str
    channel: str | None
    control: str  # the action id, view callback, command or event
    subject: str = ""  # an approval id, or an incident's thread ts, from the control's value
    shown_to: str | None = None  # whom a confirmation or form was shown to


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # mrkdwn we built: mentions of people, every other value escaped
    hint: str | None = None  # the same


ALLOWED = Verdict(True)
# The rules decided on the approval a control names (its value or `subject`).
APPROVAL_RULES = (Who.APPROVER, Who.REQUESTER, Who.REQUESTER_OR_APPROVER)


def ask_whom(users: tuple[str, ...], usergroups: tuple[str, ...]) -> str:
    """Approvers to ask, as Slack shows them: people and groups by name (a group's handle)."""
    return ", ".join([user(u) for u in users] + [usergroup(g) for g in usergroups])


async def check(services: Services, who: Who, press: Press) -> Verdict:
    verdict = await _decide(services, who, press)
    if not verdict.allowed:
        await services.approvals.audit.append(
            AuditEntry(
                at=datetime.now(UTC),
                event=AuditEvent.REFUSED,
                user_id=press.user,
                channel=press.channel,
                target=press.control,
                approval_id=press.subject if who in APPROVAL_RULES else None,
                thread_ts=press.subject if who is Who.OWNER else None,
                reason=verdict.reason,
            )
        )
    return verdict


async def _decide(services: Services, who: Who, press: Press) -> Verdict:
    if who is Who.ANYONE:
        return ALLOWED
    if who is Who.SHOWN_TO:
        if press.shown_to and press.shown_to == press.user:
            return ALLOWED
        return Verdict(
            False,
            f"Only {user(press.shown_to)} can answer this: it was shown to them."
            if press.shown_to
            else "This was not shown to you, so you cannot answer it.",
            "Nothing was changed.",
        )
    if who is Who.IN_CHANNEL:
        access = await services.access.check(press.user, press.channel or "")
        return ALLOWED if access.allowed else Verdict(False, escape(access.reason))
    if who is Who.OWNER:
        incident = await services.incidents.get(press.team, press.channel or "", press.subject)
        if incident is None:
            return Verdict(False, "This thread is not an incident (any more).")
        if (
            incident.owner == press.user
            or (await services.policy.may_see_audit(press.user)).allowed
        ):
            return ALLOWED
        return Verdict(
            False,
            f"Only the incident's owner, {user(incident.owner)}, or an approver can do this.",
            "To take the incident yourself, press Take over or say @hunt-bot take.",
        )
    if who is Who.HUNTER:
        request = await services.hunt_requests.load(press.subject)
        if request is None:
            return Verdict(False, "This hunt is no longer known (hunts are kept for a day).")
        if (
            request.user_id == press.user
            or (await services.policy.may_see_audit(press.user)).allowed
        ):
            return ALLOWED
        return Verdict(
            False, f"Only {user(request.user_id)}, who ran it, or an approver can do this."
        )
    approval = await services.approvals.get(press.subject)
    if approval is None:
        return Verdict(False, "This approval no longer exists.")
    if who is Who.REQUESTER:
        if approval.requester == press.user:
            return ALLOWED
        return Verdict(False, f"Only {user(approval.requester)}, who asked for this, can do this.")
    if who is Who.REQUESTER_OR_APPROVER:
        decision = await services.policy.may_cancel(
            press.user, approval.spec.action, approval.requester
        )
        reason = f"Only {user(approval.requester)}, who asked for this, or an approver can do this."
    else:
        decision = await services.policy.may_approve(
            press.user, approval.spec.action, approval.requester
        )
        reason = escape(decision.reason)
    if decision.allowed:
        return ALLOWED
    ask = ask_whom(decision.ask.users, decision.ask.usergroups)
    return Verdict(False, reason, f"Approvers: {ask}" if ask else None)
