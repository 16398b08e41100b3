"""An approval's life on its card, as people in #soc live it: a request withdrawn from its card or
the thread, a rejection with its reason, one reminder before expiry however many workers keep
house, a long run's progress, portal links, and undoing what a done run did.

The whole bot runs (real app over signed HTTP, Redis, the lab, the Slack stand-in); approvals are
asked for through the store and their cards posted by the approval flow, as Take actions does."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.actions.model import (
    ActionKind,
    ApprovalSpec,
    DeviceTarget,
    EmailTarget,
    OutcomeStatus,
    TargetOutcome,
)
from bot.app import start_services
from bot.flows import approvals as flow
from bot.slack.approval_card import render_approval_card
from bot.slack.ids import INPUT_ELEMENT, ApprovalAction, ApprovalView, ResultsAction
from bot.state.approval_records import Approval, ApprovalState
from bot.workspace.model import Message
from tests.slack.bot_under_test import SocBot, soc_bot
from tests.slack.safety import assert_safe_message


async def hunted(bot: SocBot, hunt: str, rows: int = 5) -> tuple[Message, list[dict[str, Any]]]:
    """Run a hunt in #soc: its results message (the incident thread) and its first rows."""
    await bot.run(f"/hunt {hunt}")
    results = bot.messages_with(ResultsAction.EXPORT)[-1]
    result_id = bot.button_value(results, ResultsAction.EXPORT)
    return results, await bot.services.results.rows(result_id, 0, rows)


async def ask(
    bot: SocBot,
    results: Message,
    spec: ApprovalSpec,
    *,
    requester: str = "U0ALICE",
    expires_in: timedelta | None = None,
) -> Approval:
    """A pending request in the results' thread with its card posted, as Take actions makes it."""
    result_id = bot.button_value(results, ResultsAction.EXPORT)
    rule = bot.services.policy.rule(spec.action)
    approval = await bot.services.approvals.create(
        spec,
        requester,
        "spam-emails",
        result_id,
        "C0SOC",
        results.ts,
        rule.quorum,
        datetime.now(UTC) + (expires_in or rule.expiry),
        requester_name="alice",
    )
    await flow.post_card(bot.services, approval.id)
    return approval


def emails(rows: list[dict[str, Any]], action: ActionKind, n: int = 2) -> ApprovalSpec:
    return ApprovalSpec(
        action=action,
        targets=tuple(
            EmailTarget(
                network_message_id=row["NetworkMessageId"], recipient=row["RecipientEmailAddress"]
            )
            for row in rows[:n]
        ),
        name="Spam campaign",
        description="Take the spam out of the inboxes",
    )


def card_of(bot: SocBot, approval_id: str) -> Message:
    return bot.messages_with(f"Approval {approval_id}:")[0]


def card_text(bot: SocBot, approval_id: str) -> str:
    """The card's blocks as text ('' before it is posted)."""
    found = bot.messages_with(f"Approval {approval_id}:")
    return json.dumps(found[0].blocks) if found else ""


async def posted(bot: SocBot, text: str, timeout: float = 10.0) -> list[Message]:
    """The messages saying `text`, once there is one (answers are paced per channel)."""
    deadline = time.monotonic() + timeout
    while not (found := bot.messages_with(text)):
        assert time.monotonic() < deadline, f"nothing says {text!r}"
        await asyncio.sleep(0.1)
    return found


async def card_says(bot: SocBot, approval_id: str, text: str, timeout: float = 10.0) -> str:
    """The card once it says `text` (updates follow the click, paced per channel)."""
    deadline = time.monotonic() + timeout
    while text not in (card := card_text(bot, approval_id)):
        assert time.monotonic() < deadline, card
        await asyncio.sleep(0.1)
    return card


async def settled(bot: SocBot, approval_id: str, timeout: float = 60.0) -> Approval:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        approval = await bot.services.approvals.get(approval_id)
        if approval is not None and approval.state.final:
            await bot.slack.calls.quiet(period=0.5)
            return approval
        await asyncio.sleep(0.2)
    raise AssertionError(f"{approval_id} did not finish")


async def test_a_request_is_withdrawn_from_its_card_and_a_late_press_is_told_why(settings):
    async with soc_bot(settings) as bot:
        results, rows = await hunted(bot, "spam-emails")
        approval = await ask(bot, results, emails(rows, ActionKind.EMAIL_SOFT_DELETE))
        pending = card_text(bot, approval.id)
        assert "Cancel request" in pending and "Expires in 4 h" in pending
        assert f"spec fingerprint {approval.digest[:12]}" in pending
        assert_safe_message(card_of(bot, approval.id).blocks)

        # Dave neither asked nor approves: refused privately, nothing changes.
        _, before = await bot.press(
            "dave", card_of(bot, approval.id), ApprovalAction.WITHDRAW, approval.id
        )
        assert "Only <@U0ALICE>, who asked for this, or an approver" in await bot.told(
            "dave", before
        )
        still = await bot.services.approvals.get(approval.id)
        assert still is not None and still.state is ApprovalState.PENDING

        # Alice withdraws her own request from the card.
        await bot.run("as @alice", "click Cancel request")
        cancelled = await bot.services.approvals.get(approval.id)
        assert cancelled is not None and cancelled.state is ApprovalState.CANCELLED
        card = card_text(bot, approval.id)
        assert "Cancelled by <@U0ALICE>" in card and "Nothing ran." in card
        assert "approval.approve" not in card  # no buttons left to vote with
        audit = await bot.services.approvals.audit.recent(50)
        assert any(
            e.event == "state_changed" and e.state == "cancelled" and e.user_id == "U0ALICE"
            for e in audit
        )

        # Bob's press of a button he still sees on an old copy: a clear private answer.
        _, before = await bot.press(
            "bob", card_of(bot, approval.id), ApprovalAction.WITHDRAW, approval.id
        )
        assert "This approval was cancelled" in await bot.told("bob", before)


async def test_an_approver_cancels_in_the_thread_with_a_reason_and_the_requester_hears(settings):
    async with soc_bot(settings) as bot:
        results, rows = await hunted(bot, "spam-emails")
        approval = await ask(bot, results, emails(rows, ActionKind.EMAIL_HARD_DELETE))
        await bot.run("as @dave", f"@hunt-bot cancel {approval.id}")
        assert (await bot.services.approvals.get(approval.id)).state is ApprovalState.PENDING  # type: ignore[union-attr]
        await bot.run("as @bob", f"@hunt-bot cancel {approval.id} wrong rows <!channel>")
        cancelled = await bot.services.approvals.get(approval.id)
        assert cancelled is not None and cancelled.state is ApprovalState.CANCELLED
        assert cancelled.reason == "wrong rows <!channel>"
        card = card_text(bot, approval.id)
        assert "Cancelled by <@U0BOB>*: wrong rows &lt;!channel&gt;. Nothing ran." in card
        thread = [json.dumps(m.blocks) for m in bot.messages_with(approval.id)]
        assert any("<@U0ALICE>, HB-1" in t and "was cancelled by <@U0BOB>" in t for t in thread)
        assert bot.messages_with("Only the person who asked for this action")  # dave
        await bot.run(f"@hunt-bot cancel {approval.id}", "@hunt-bot cancel HB-99")
        await posted(bot, "This approval was cancelled.")
        await posted(bot, "No approval HB-99 in this thread")
        audit = await bot.services.approvals.audit.recent(50)
        assert any(e.state == "cancelled" and e.reason == "wrong rows <!channel>" for e in audit)
        for message in bot.messages_with(approval.id):
            assert_safe_message(message.blocks)


async def test_reject_asks_why_and_the_reason_is_on_the_card_in_the_notice_and_audited(settings):
    async with soc_bot(settings) as bot:
        results, rows = await hunted(bot, "spam-emails")
        approval = await ask(bot, results, emails(rows, ActionKind.EMAIL_SOFT_DELETE))
        await bot.run("as @bob", "click Reject")
        form = bot.slack.workspace.top_view("U0BOB")
        assert form is not None and form.spec["callback_id"] == ApprovalView.REJECT
        assert (await bot.services.approvals.get(approval.id)).state is ApprovalState.PENDING  # type: ignore[union-attr]
        # An empty reason is refused next to the field.
        empty = await bot.submit_view(
            "bob",
            ApprovalView.REJECT,
            json.loads(form.spec["private_metadata"]),
            {ApprovalView.REASON_BLOCK: {INPUT_ELEMENT: {"value": "  "}}},
        )
        assert json.loads(empty.text)["response_action"] == "errors"
        await bot.run("fill Reason=A newsletter, not spam", "submit")

        rejected = await bot.services.approvals.get(approval.id)
        assert rejected is not None and rejected.state is ApprovalState.REJECTED
        assert rejected.decided_by == "U0BOB" and rejected.reason == "A newsletter, not spam"
        await card_says(
            bot, approval.id, "Rejected by <@U0BOB>*: A newsletter, not spam. Nothing ran."
        )
        told = [json.dumps(m.blocks) for m in bot.messages_with("<@U0ALICE>, HB-1")]
        assert len(told) == 1 and "was rejected by <@U0BOB>: A newsletter, not spam" in told[0]
        audit = await bot.services.approvals.audit.recent(50)
        assert any(e.event == "voted" and e.reason == "A newsletter, not spam" for e in audit)
        assert any(e.state == "rejected" and e.reason == "A newsletter, not spam" for e in audit)

        # Carol's form was opened before: submitting it now is answered in the form.
        late = await bot.submit_view(
            "carol",
            ApprovalView.REJECT,
            {"subject": approval.id, "shown_to": "U0CAROL", "channel": "C0SOC"},
            {ApprovalView.REASON_BLOCK: {INPUT_ELEMENT: {"value": "me too"}}},
        )
        assert "This approval was rejected." in late.text
        # And pressing Reject on a stale copy of the card opens no form.
        _, before = await bot.press("carol", results, ApprovalAction.REJECT, approval.id)
        assert "This approval was rejected." in await bot.told("carol", before)
        assert not [c for c in bot.calls[before:] if c.method == "views.open"]


async def test_one_reminder_before_expiry_however_many_workers_keep_house(settings):
    async with soc_bot(settings) as bot:
        results, rows = await hunted(bot, "spam-emails")
        approval = await ask(
            bot,
            results,
            emails(rows, ActionKind.EMAIL_HARD_DELETE),
            expires_in=timedelta(seconds=10),
        )
        await bot.press("carol", card_of(bot, approval.id), ApprovalAction.APPROVE, approval.id)
        await bot.slack.calls.quiet(period=0.5)
        assert (await bot.services.approvals.get(approval.id)).approvals == 1  # type: ignore[union-attr]
        # Before three quarters of its time: no reminder.
        await flow.housekeeping(bot.services)
        assert not bot.messages_with("and needs")

        await asyncio.sleep(
            max(0.0, (approval.created_at + timedelta(seconds=7.6)).timestamp() - time.time())
        )
        other = await start_services(bot.services.settings)  # a second worker's view
        try:
            await asyncio.gather(*(flow.housekeeping(s) for s in (bot.services, other) * 3))
        finally:
            await other.aclose()
        await bot.slack.calls.quiet(period=0.5)
        reminders = bot.messages_with("and needs")
        assert len(reminders) == 1, [m.blocks for m in reminders]
        said = json.dumps(reminders[0].blocks)
        assert reminders[0].thread_ts == results.ts
        assert "HB-1 (Spam campaign) expires in" in said
        assert "needs 1 more approval: <!subteam^S0APPROVERS>" in said
        assert "<@U0CAROL>" not in said  # she approved already
        assert_safe_message(reminders[0].blocks)
        reminded = await bot.services.approvals.get(approval.id)
        assert reminded is not None and reminded.reminded_at is not None


async def test_a_long_run_shows_its_progress_and_a_done_card_offers_the_undo(settings):
    async with soc_bot(settings) as bot:
        results, rows = await hunted(bot, "spam-emails")
        approval = await ask(bot, results, emails(rows, ActionKind.EMAIL_MOVE_TO_JUNK))
        pending = card_of(bot, approval.id)
        # Each target links to its page in the Defender portal, escaped.
        assert "https://security.microsoft.com/emailentity?f=summary&amp;id=" in json.dumps(
            pending.blocks
        )
        await bot.press("bob", pending, ApprovalAction.APPROVE, approval.id)
        done = await settled(bot, approval.id)
        assert done.state is ApprovalState.DONE
        card = card_text(bot, approval.id)
        assert "Move back to Inbox" in card and "action-center/history" in card
        assert_safe_message(card_of(bot, approval.id).blocks)

        # Carol (she may hunt here) asks for the undo: a new request, through the same policy.
        await bot.run("as @carol", "click Move back to Inbox")
        (_, undo) = await bot.services.approvals.in_thread("C0SOC", results.ts)
        assert undo.state is ApprovalState.PENDING and undo.requester == "U0CAROL"
        assert undo.spec.action is ActionKind.EMAIL_MOVE_TO_INBOX and undo.undoes == approval.id
        assert {t.key for t in undo.spec.targets} == {t.key for t in approval.spec.targets}
        assert undo.quorum == bot.services.policy.rule(ActionKind.EMAIL_MOVE_TO_INBOX).quorum
        undo_card = await card_says(bot, undo.id, f"Undoes {approval.id}")
        assert "<!subteam^S0APPROVERS>" in undo_card  # the approvers are mentioned
        assert card_of(bot, undo.id).thread_ts == results.ts
        done_card = await card_says(bot, approval.id, f"Undo asked for as {undo.id}")
        assert "Move back to Inbox" not in done_card

        # A second press (a stale copy of the card) asks for nothing more.
        _, before = await bot.press("dave", pending, ApprovalAction.UNDO, approval.id)
        assert f"{undo.id} already asks to undo {approval.id}" in await bot.told("dave", before)
        assert len(await bot.services.approvals.in_thread("C0SOC", results.ts)) == 2

        # Withdrawn, the undo may be asked for again: the button is back.
        await bot.run(f"@hunt-bot cancel {undo.id}")
        await card_says(bot, approval.id, "Move back to Inbox")


FLEET = """
name: fleet
title: Some devices of the fleet
description: A few devices, once each.
query: |
  DeviceInfo
  | distinct DeviceId, DeviceName
  | order by DeviceName asc
  | take 3
columns: [DeviceName, DeviceId]
"""


async def test_progress_is_shown_at_batch_boundaries_of_a_device_run(settings):
    assert settings.hunts_dir is not None
    (settings.hunts_dir / "fleet.yaml").write_text(FLEET)
    async with soc_bot(settings) as bot:
        results, devices = await hunted(bot, "fleet")
        spec = ApprovalSpec(
            action=ActionKind.DEVICE_COLLECT_PACKAGE,
            targets=tuple(
                DeviceTarget(device_id=r["DeviceId"], device_name=r["DeviceName"]) for r in devices
            ),
            name="Evidence",
            description="Collect the packages",
        )
        assert len(spec.targets) >= 2
        approval = await ask(bot, results, spec)
        where = await bot.services.cards.find(approval.id)
        assert where is not None
        await bot.press("bob", card_of(bot, approval.id), ApprovalAction.APPROVE, approval.id)
        await settled(bot, approval.id)
        updates = [
            json.dumps(c.args.get("blocks"))
            for c in bot.calls
            if c.method == "chat.update" and c.args.get("ts") == where[1]
        ]
        total = len(spec.targets)
        assert any(f"Running: 1 of {total} sent" in u for u in updates), updates
        # Not once per target: the next boundary is within PROGRESS_EVERY of the first.
        assert not any(f"Running: 2 of {total} sent" in u for u in updates)


def test_progress_words_on_the_card() -> None:
    spec = ApprovalSpec(
        action=ActionKind.DEVICE_AV_SCAN,
        targets=tuple(DeviceTarget(device_id=f"d{i}", device_name=f"pc{i}") for i in range(1000)),
        name="Scan",
        description="Scan them all",
    )
    now = datetime.now(UTC)
    approval = Approval(
        id="HB-7",
        state=ApprovalState.EXECUTING,
        spec=spec,
        digest=spec.digest(),
        requester="U0ALICE",
        hunt="h",
        result_id="R",
        channel="C0SOC",
        thread_ts="1.2",
        quorum=1,
        approvals=1,
        created_at=now,
        expires_at=now + timedelta(hours=4),
    )
    outcomes = {
        t.key: TargetOutcome(
            target_key=t.key,
            status=OutcomeStatus.IN_PROGRESS if i < 12 else OutcomeStatus.SUCCEEDED,
        )
        for i, t in enumerate(spec.targets[:420])
    }
    card = render_approval_card(approval, outcomes)
    assert "Running: 420 of 1,000 sent, 12 in progress" in json.dumps(card.blocks)
    assert_safe_message(card.blocks, card.text)
