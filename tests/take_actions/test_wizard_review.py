"""A review as good as Defender's wizard: targets named as a person recognises them, targets an
earlier approval already remediated flagged with it, several device actions in one request (one
approval each, each with its own quorum), and the sender's copy exactly as documented."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.actions.model import (
    ActionKind,
    ActionOptions,
    ApprovalSpec,
    DeviceTarget,
    EmailTarget,
    OutcomeStatus,
    TargetOutcome,
)
from bot.actions.offer import (
    ActionChoice,
    choose_actions,
    offered_actions,
    plan_emails,
    targets_from_rows,
)
from bot.config import Settings
from bot.errors import BadArgument
from bot.slack.take_actions import describe_target
from bot.state.drafts import Draft
from bot.state.remediated import REMEMBER_FOR, RemediatedTargets, remediated_key
from bot.workspace.console import run_console
from bot.workspace.model import Message
from tests.slack.bot_under_test import soc_bot
from tests.slack.conftest import settings  # noqa: F401 (the fixture soc_settings reuses)

EVERYTHING = {
    "email": ["NetworkMessageId", "RecipientEmailAddress", "EmailDirection", "SenderFromAddress"],
    "device": ["DeviceId"],
    "file": ["SHA1", "InitiatingProcessSHA1", "DeviceId"],
}
CHOICES = offered_actions(EVERYTHING, capabilities=None)


def choice(key: str) -> ActionChoice:
    return next(c for c in CHOICES if c.key == key)


def flat(text: str) -> str:
    """What the console showed, without its frames and line breaks."""
    return " ".join(re.sub(r"[║│]", " ", text).split())


# -- targets named as a person recognises them -------------------------------------------------


def test_each_target_is_named_by_what_a_person_recognises_and_keeps_its_key():
    row = {
        "NetworkMessageId": "m-1",
        "RecipientEmailAddress": "maya@contoso.com",
        "SenderFromAddress": "billing@fabrikam.example",
        "EmailDirection": "Inbound",
        "Subject": "Invoice 4401 overdue",
        "DeliveryLocation": "Junk folder",
        "LatestDeliveryLocation": "Inbox/folder",
        "DeviceId": "d" * 40,
        "DeviceName": "ws-17.contoso.com",
        "OSPlatform": "Windows11",
        "SHA1": "A" * 40,
        "FileName": "Invoice.docm",
        "FolderPath": r"C:\Users\maya\Downloads\Invoice.docm",
        "InitiatingProcessSHA1": "b" * 40,
        "InitiatingProcessFileName": "svcupd.exe",
        "InitiatingProcessFolderPath": r"C:\ProgramData\SvcUpdate",
    }
    (email,) = targets_from_rows(choice("email.soft_delete"), [row])
    assert email.key == "email:m-1:maya@contoso.com"
    assert describe_target(email) == (
        "maya@contoso.com · from billing@fabrikam.example · “Invoice 4401 overdue” · "
        "in Inbox/folder when hunted · message m-1"  # the latest location, not the first
    )
    (device,) = targets_from_rows(choice("device.isolate.full"), [row])
    assert device.key == f"device:{'d' * 40}"
    assert describe_target(device) == f"ws-17.contoso.com (Windows11) · id {'d' * 40}"
    (file,) = targets_from_rows(choice("file.stop_and_quarantine:SHA1"), [row])
    assert file.key == f"file:{'d' * 40}:{'a' * 40}"
    assert describe_target(file) == (
        rf"C:\Users\maya\Downloads\Invoice.docm · SHA1 {'a' * 40} · on ws-17.contoso.com"
    )
    (process,) = targets_from_rows(choice("file.stop_and_quarantine:InitiatingProcessSHA1"), [row])
    assert describe_target(process).startswith(r"svcupd.exe in C:\ProgramData\SvcUpdate · ")


def test_a_spec_stored_before_targets_carried_names_still_hashes_as_approved():
    spec = ApprovalSpec(
        action=ActionKind.DEVICE_ISOLATE,
        options=ActionOptions(isolation_type="Full"),
        targets=(DeviceTarget(device_id="d1", device_name="ws-1"),),
        name="n",
        description="d",
    )
    stored_before = spec.canonical_json()
    assert "os_platform" not in stored_before  # unset: not part of what was approved
    assert ApprovalSpec.model_validate_json(stored_before).canonical_json() == stored_before
    named = spec.model_copy(
        update={"targets": (DeviceTarget(device_id="d1", device_name="ws-1", os_platform="macOS"),)}
    )
    assert named.digest() != spec.digest()  # the names shown are part of what is approved


def test_a_draft_kept_before_requests_held_several_actions_still_opens():
    spec = ApprovalSpec(
        action=ActionKind.DEVICE_RELEASE,
        targets=(DeviceTarget(device_id="d1"),),
        name="n",
        description="d",
    )
    old = {
        "spec": json.loads(spec.model_dump_json()),
        "excluded": [],
        "choice_label": "Release from isolation",
        "requester": "U0ALICE",
        "result_id": "r",
        "hunt": "h",
        "team": "T",
        "channel": "C",
        "thread_ts": "1.1",
    }
    draft = Draft.model_validate_json(json.dumps(old))
    assert [p.spec for p in draft.parts] == [spec]
    assert draft.parts[0].choice_label == "Release from isolation"


# -- several actions in one request ------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        (["device.isolate.full", "device.release"], "undo each other"),
        (["device.unrestrict_apps", "device.restrict_apps"], "undo each other"),
        (["device.isolate.full", "device.isolate.selective"], "not both"),
        (["device.av_scan.quick", "device.av_scan.full"], "not both"),
        (
            ["file.stop_and_quarantine:SHA1", "file.stop_and_quarantine:InitiatingProcessSHA1"],
            "not both",
        ),
        (["email.soft_delete", "device.isolate.full"], "Email actions go one to a request"),
        (["email.soft_delete", "email.move_to_junk"], "Email actions go one to a request"),
        ([], "Choose an action"),
    ],
)
def test_actions_the_wizard_would_not_run_together_are_refused(keys, says):
    with pytest.raises(BadArgument, match=says):
        choose_actions(CHOICES, keys)


def test_device_and_file_actions_on_the_same_rows_go_together():
    keys = [
        "device.isolate.selective",
        "device.collect_package",
        "device.av_scan.full",
        "file.stop_and_quarantine:SHA1",
    ]
    assert [c.key for c in choose_actions(CHOICES, keys)] == keys


@pytest.fixture
def soc_settings(settings: Settings) -> Settings:  # noqa: F811 (the fixture imported above)
    """A whole bot on the lab, for `soc_bot` (tests/slack/bot_under_test.py), as the Slack
    scenarios set it up."""
    return settings


def card_text(message: Message) -> str:
    return str(message.blocks)


async def test_several_device_actions_are_reviewed_together_and_each_gets_its_own_approval(
    soc_settings: Settings,
) -> None:
    async with soc_bot(soc_settings) as bot:
        await bot.run(
            "/hunt ransomware-precursors",
            "click Take actions",
            "fill Action=Isolate device (full),Collect investigation package,"
            "Antivirus scan (quick)",
            "fill Rows=1",
            "fill Description=Shadow copies deleted: contain it and gather evidence",
            "submit",
        )
        review = flat(bot.out.export_text().rsplit("alice ▸ submit", 1)[1])
        assert "3 actions, from row 1." in review, review
        isolate, package, scan = (
            review.split("Isolate device (full) on ", 1)[1],
            review.split("Collect investigation package on ", 1)[1],
            review.split("Antivirus scan (quick) on ", 1)[1],
        )
        assert isolate.startswith("1 device. Needs 2 approvals"), isolate
        assert package.startswith("1 device. Needs 1 approval from"), package
        assert scan.startswith("1 device. Needs 1 approval from"), scan
        assert review.count("Isolation cuts the devices off the network") == 1  # its caution

        await bot.run("click ◀ Back")
        back = flat(bot.out.export_text().rsplit("alice ▸ click ◀ Back", 1)[1])
        chosen = "Isolate device (full), Collect investigation package, Antivirus scan (quick)"
        assert chosen in back, back  # the choice is kept, to change

        await bot.run("submit", "submit")
        # One card per action, in the order chosen (posted a second apart: Slack's pace).
        third = await bot.slack.calls.next_call(
            lambda c: c.method == "chat.postMessage" and "Approval HB-3" in str(c.args),
            after=0,
            timeout=15,
        )
        assert "Antivirus scan (quick)" in str(third.args["text"])
        cards = {f"HB-{n}": bot.messages_with(f"Approval HB-{n}") for n in (1, 2, 3)}
        assert all(len(found) == 1 for found in cards.values()), cards
        assert "Isolate device (full)" in cards["HB-1"][0].text
        assert "Collect investigation package" in cards["HB-2"][0].text

        await bot.run("as @bob", "click Approve")  # the latest card: the scan
        assert "approvals 1 of 1: <@U0BOB>" in card_text(bot.messages_with("Approval HB-3")[0])
        isolate_card = card_text(bot.messages_with("Approval HB-1")[0])
        assert "approvals 0 of 2" in isolate_card and "Waiting for approval" in isolate_card
        assert "approvals 0 of 1" in card_text(bot.messages_with("Approval HB-2")[0])


async def test_actions_that_undo_each_other_are_refused_next_to_the_action_field(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "undo.txt"
    script.write_text(
        "/hunt ransomware-precursors\nclick Take actions\n"
        "fill Action=Isolate device (full),Release from isolation\nfill Description=x\nsubmit\n"
    )
    transcript = tmp_path / "transcript.jsonl"
    code = await run_console(console_settings, script=script, transcript=transcript)
    shown = flat(capsys.readouterr().out)
    assert code == 0, shown
    assert "Isolate device (full) and Release from isolation undo each other" in shown
    assert "Approval HB-" not in transcript.read_text()


# -- already remediated ------------------------------------------------------------------------


def outcome(key: str, status: OutcomeStatus) -> TargetOutcome:
    return TargetOutcome(target_key=key, status=status)


async def test_remediated_targets_are_remembered_30_days_for_the_actions_of_their_family(
    redis: aioredis.Redis,
):
    now = [1_800_000_000.0]
    store = RemediatedTargets(redis, clock=lambda: now[0])
    recorded = await store.record(
        "HB-1",
        ActionKind.EMAIL_SOFT_DELETE,
        [
            outcome("email:m1:a@x.com", OutcomeStatus.SUBMITTED),
            outcome("email:m2:b@x.com", OutcomeStatus.SUCCEEDED),
            outcome("email:m3:c@x.com", OutcomeStatus.FAILED),  # not remediated: not flagged
        ],
    )
    assert recorded == 2
    assert 0 < await redis.ttl(remediated_key("email:m1:a@x.com")) <= REMEMBER_FOR.total_seconds()
    await store.record(
        "HB-2", ActionKind.DEVICE_ISOLATE, [outcome("device:d1", OutcomeStatus.SUCCEEDED)]
    )

    keys = ["email:m1:a@x.com", "email:m2:b@x.com", "email:m3:c@x.com"]
    found = await store.earlier(ActionKind.EMAIL_HARD_DELETE, keys)
    assert {k: (e.approval_id, e.action) for k, e in found.items()} == {
        "email:m1:a@x.com": ("HB-1", ActionKind.EMAIL_SOFT_DELETE),
        "email:m2:b@x.com": ("HB-1", ActionKind.EMAIL_SOFT_DELETE),
    }
    # Isolation and its release are one family; a scan of the same device is not.
    assert (await store.earlier(ActionKind.DEVICE_RELEASE, ["device:d1"]))[
        "device:d1"
    ].approval_id == "HB-2"
    assert await store.earlier(ActionKind.DEVICE_AV_SCAN, ["device:d1"]) == {}

    now[0] += 60
    await store.record(
        "HB-3", ActionKind.DEVICE_RELEASE, [outcome("device:d1", OutcomeStatus.SUCCEEDED)]
    )
    latest = (await store.earlier(ActionKind.DEVICE_ISOLATE, ["device:d1"]))["device:d1"]
    assert (latest.approval_id, latest.action) == ("HB-3", ActionKind.DEVICE_RELEASE)

    now[0] += REMEMBER_FOR.total_seconds() + 1  # past Defender's retention: no longer said
    assert await store.earlier(ActionKind.EMAIL_HARD_DELETE, keys) == {}


AGAIN = """
/hunt spam-emails
click Take actions
fill Action=Soft delete
fill Rows=1-3
fill Description=spam wave
submit
submit
as @bob
click Approve
as @alice
click Take actions
fill Action=Hard delete
fill Rows=1-4
fill Description=purge it for good
submit
"""


async def test_a_new_request_flags_targets_an_earlier_approval_already_remediated(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "again.txt"
    script.write_text(AGAIN)
    transcript = tmp_path / "transcript.jsonl"
    code = await run_console(console_settings, script=script, transcript=transcript)
    shown = capsys.readouterr().out
    assert code == 0, shown
    review = flat(shown.rsplit("alice ▸ submit", 1)[1])
    assert "Hard delete on 4 messages in" in review, review
    assert (
        "3 of these 4 targets were already handled by an earlier approval (HB-1): flagged below."
        in review
    )
    assert review.count("— already soft-deleted by HB-1") == 3
    assert "Hard delete is permanent and cannot be undone" in review
    # Each target says whose mailbox, from whom and what it is.
    calls = [json.loads(line) for line in transcript.read_text().splitlines()]
    rows = _table_rows(calls)
    for row in rows[:4]:
        assert f"{row['RecipientEmailAddress']} · from {row['SenderFromAddress']}" in review
        assert f"“{row['Subject']}”" in review
    # The approval card names them the same way (bot/slack/approval_card.py uses describe_target).
    card = next(
        str(c["args"]["blocks"])
        for c in calls
        if c["method"] == "chat.postMessage" and "Approval HB-1" in c["args"].get("text", "")
    )
    assert f"from {rows[0]['SenderFromAddress']}" in card


def _table_rows(calls: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The first results table's rows, by column name."""
    table = next(
        b
        for c in calls
        if c["method"] == "chat.postMessage"
        for b in c["args"].get("blocks", [])
        if b.get("type") == "table"
    )

    def text(cell: dict[str, Any]) -> str:
        return str(cell.get("text", ""))

    header = [text(cell) for cell in table["rows"][0]]
    return [dict(zip(header, map(text, row), strict=True)) for row in table["rows"][1:]]


# -- the sender's copy, as documented ----------------------------------------------------------


def mail(message: str, recipient: str, direction: str, sender: str = "lidia@contoso.com"):
    return EmailTarget(
        network_message_id=message, recipient=recipient, sender=sender, direction=direction
    )


# m1 went to a colleague and to a partner; m2 only to two partners; m3 came in from outside.
CAMPAIGN = [
    mail("m1", "maya@contoso.com", "Intra-org"),
    mail("m1", "ap@partner.example", "Outbound"),
    mail("m2", "ap@partner.example", "Outbound"),
    mail("m2", "cfo@partner.example", "Outbound"),
    mail("m3", "lidia@contoso.com", "Inbound", sender="courier@parcel.example"),
]


def test_soft_delete_takes_the_senders_copy_and_never_targets_an_outside_recipient():
    plan = plan_emails(ActionKind.EMAIL_SOFT_DELETE, CAMPAIGN, sender_copy_possible=True)
    assert plan.senders_copy
    # m1's copy goes with its colleague's pair; m2's with one pair of its own, which the review
    # names as the sender's copy; the other outbound rows are left out and counted.
    assert [(t.network_message_id, t.recipient) for t in plan.targets] == [
        ("m1", "maya@contoso.com"),
        ("m2", "ap@partner.example"),
        ("m3", "lidia@contoso.com"),
    ]
    assert plan.left_out == 2
    assert describe_target(plan.targets[1]).startswith(
        "sender's copy: lidia@contoso.com Sent Items · sent to ap@partner.example, outside"
    )


@pytest.mark.parametrize(
    ("action", "possible"),
    [
        (ActionKind.EMAIL_HARD_DELETE, True),  # never for hard delete
        (ActionKind.EMAIL_MOVE_TO_JUNK, True),  # nor for moves
        (ActionKind.EMAIL_SOFT_DELETE, False),  # nor when the result can't say (not EmailEvents)
    ],
)
def test_no_senders_copy_otherwise_and_outside_recipients_are_left_out(action, possible):
    plan = plan_emails(action, CAMPAIGN, sender_copy_possible=possible)
    assert not plan.senders_copy
    assert [t.recipient for t in plan.targets] == ["maya@contoso.com", "lidia@contoso.com"]
    assert plan.left_out == 3


def test_inbound_mail_alone_has_no_senders_copy():
    plan = plan_emails(ActionKind.EMAIL_SOFT_DELETE, CAMPAIGN[-1:], sender_copy_possible=True)
    assert not plan.senders_copy and plan.left_out == 0


async def test_outbound_rows_alone_are_refused_with_why_and_what_would_reach_the_sender(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "outbound.txt"
    script.write_text(
        "/hunt internal-malware-senders\nclick Take actions\nfill Action=Hard delete\n"
        "fill Rows=EmailDirection = Outbound\nfill Description=x\nsubmit\n"
    )
    transcript = tmp_path / "transcript.jsonl"
    code = await run_console(console_settings, script=script, transcript=transcript)
    shown = flat(capsys.readouterr().out)
    assert code == 0, shown
    assert (
        "These rows are outbound mail: the recipients' mailboxes are outside the organisation, "
        "beyond Defender's reach. Soft delete would take the sender's Sent Items copy."
    ) in shown
    assert "Approval HB-" not in transcript.read_text()


async def test_on_the_lab_a_soft_delete_of_outbound_mail_takes_the_senders_copy_and_ends_done(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """What the review promises for outbound mail (the sender's Sent Items copy) is what the lab
    does: the pair naming it succeeds, and the outside recipient's mail is never acted on."""
    script = tmp_path / "outbound.txt"
    script.write_text(
        "/hunt internal-malware-senders\nclick Take actions\nfill Action=Soft delete\n"
        "fill Description=internal malware\nsubmit\nsubmit\nas @bob\nclick Approve\n"
    )
    code = await run_console(console_settings, script=script, transcript=None)
    shown = flat(capsys.readouterr().out)
    assert code == 0, shown
    assert "sender's copy:" in shown
    assert "Done" in shown and "FAILED" not in shown, shown[-3000:]
    assert "Finished with failures" not in shown
