"""The approval policy: who may approve what, how many must, for how long, and on what."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.actions.model import ActionKind, EmailTarget
from bot.errors import SettingsError
from bot.policy import ApprovalPolicy, RequestRefused

from .conftest import Groups, devices, emails, files, make_settings


def policy_of(groups: Groups | None = None, **settings: object) -> ApprovalPolicy:
    return ApprovalPolicy.from_settings(make_settings(**settings), groups or Groups())


async def test_console_defaults_make_bob_and_carol_approvers_and_not_alice():
    policy = policy_of()
    for action in ActionKind:
        assert (await policy.may_approve("U0BOB", action, "U0ALICE")).allowed
        assert (await policy.may_approve("U0CAROL", action, "U0ALICE")).allowed
        refused = await policy.may_approve("U0ALICE", action, "U0BOB")
        assert not refused.allowed
        assert "not an approver" in refused.reason
        assert refused.ask.usergroups == ("S0APPROVERS",)  # whom to ask instead


async def test_the_requester_never_approves_their_own_request():
    decision = await policy_of().may_approve("U0BOB", ActionKind.EMAIL_SOFT_DELETE, "U0BOB")
    assert not decision.allowed
    assert "You asked for this action" in decision.reason


async def test_group_membership_is_asked_afresh_every_time():
    groups = Groups()
    policy = policy_of(groups)
    assert (await policy.may_approve("U0CAROL", ActionKind.DEVICE_ISOLATE, "U0ALICE")).allowed
    groups.groups["S0APPROVERS"].discard("U0CAROL")
    assert not (await policy.may_approve("U0CAROL", ActionKind.DEVICE_ISOLATE, "U0ALICE")).allowed
    assert groups.asked == 2


async def test_a_failed_membership_lookup_refuses_rather_than_guesses():
    async def broken(group: str) -> set[str]:
        raise TimeoutError

    policy = ApprovalPolicy.from_settings(make_settings(), broken)
    decision = await policy.may_approve("U0BOB", ActionKind.DEVICE_ISOLATE, "U0ALICE")
    assert not decision.allowed and "could not be checked" in decision.reason


async def test_with_no_approvers_configured_nothing_can_be_approved_and_it_says_how_to_fix_it():
    policy = policy_of(approval_approver_usergroups="")
    decision = await policy.may_approve("U0BOB", ActionKind.EMAIL_SOFT_DELETE, "U0ALICE")
    assert not decision.allowed
    assert "APPROVAL_APPROVER_USERS" in decision.reason


def test_quorum_is_two_for_hard_to_undo_actions_and_one_otherwise():
    policy = policy_of()
    two_person = {
        ActionKind.EMAIL_HARD_DELETE,
        ActionKind.DEVICE_ISOLATE,
        ActionKind.DEVICE_RESTRICT_APPS,
        ActionKind.FILE_STOP_AND_QUARANTINE,
    }
    for action in ActionKind:
        assert policy.rule(action).quorum == (2 if action in two_person else 1), action


def test_approvals_expire_after_four_hours_by_default():
    assert policy_of().rule(ActionKind.EMAIL_SOFT_DELETE).expiry == timedelta(hours=4)
    shorter = policy_of(approval_expiry_minutes=30)
    assert shorter.rule(ActionKind.DEVICE_ISOLATE).expiry == timedelta(minutes=30)


def test_protected_devices_and_mailboxes_are_excluded_and_listed_as_excluded():
    policy = policy_of(
        approval_protected_devices="DC01, id-ceo-laptop",
        approval_protected_mailboxes="User1@Contoso.com",
    )
    screened = policy.screen(devices("dc01.contoso.local", "ceo-laptop", "ws-042"))
    assert [t.device_name for t in screened.spec.targets] == ["ws-042"]
    assert {e.target.device_name: e.reason for e in screened.excluded} == {
        "dc01.contoso.local": "the device dc01.contoso.local is protected",
        "ceo-laptop": "the device ceo-laptop is protected",
    }
    mail = policy.screen(emails(3))
    assert [t.recipient for t in mail.spec.targets] == ["user0@contoso.com", "user2@contoso.com"]
    assert mail.excluded[0].reason == "the mailbox user1@contoso.com is protected"
    on_protected_device = policy.screen(files("dc01", "ws-042"))
    assert [e.target.device_name for e in on_protected_device.excluded] == ["dc01"]


def test_a_senders_copy_is_not_touched_when_the_sender_is_protected():
    policy = policy_of(approval_protected_mailboxes="ceo@contoso.com")
    target = EmailTarget(
        network_message_id="nm", recipient="a@contoso.com", sender="ceo@contoso.com"
    )
    spec = emails(1).model_copy(update={"targets": (target,)})
    assert not policy.screen(spec).excluded  # only the recipient's copy is acted on
    senders_copy = spec.model_copy(
        update={"options": spec.options.model_copy(update={"remediate_senders_copy": True})}
    )
    with pytest.raises(RequestRefused, match="Every chosen target is protected"):
        policy.screen(senders_copy)


def test_a_request_over_the_target_cap_is_refused_with_the_numbers():
    policy = policy_of(approval_max_targets=3)
    assert len(policy.screen(emails(3)).spec.targets) == 3
    with pytest.raises(RequestRefused) as refused:
        policy.screen(emails(4))
    assert "4 targets" in refused.value.message and "at most 3" in refused.value.message
    assert "Narrow the rows" in (refused.value.hint or "")


def test_protected_targets_do_not_count_against_the_cap():
    policy = policy_of(approval_max_targets=2, approval_protected_mailboxes="user0@contoso.com")
    assert len(policy.screen(emails(3)).spec.targets) == 2


POLICY_FILE = """
default:
  approvers: {users: [U0LEAD1, U0LEAD2]}
  expiry_minutes: 60
entities:
  device:
    approvers: {usergroups: [S0ENDPOINT]}
    max_targets: 5
actions:
  device.isolate:
    quorum: 3
  email.hard_delete:
    quorum: 1
    approvers: {users: [U0LEAD1]}
protected:
  devices: [dc02]
"""


async def test_a_policy_file_refines_per_entity_and_per_action(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_FILE)
    groups = Groups({"S0ENDPOINT": {"U0EVE"}})
    policy = policy_of(groups, approval_policy_file=path, approval_protected_devices="dc01")
    isolate = policy.rule(ActionKind.DEVICE_ISOLATE)
    assert (isolate.quorum, isolate.max_targets, isolate.expiry) == (3, 5, timedelta(hours=1))
    assert policy.rule(ActionKind.DEVICE_RESTRICT_APPS).quorum == 2  # still two-person
    assert policy.rule(ActionKind.EMAIL_HARD_DELETE).quorum == 1  # named, so lowered
    assert policy.rule(ActionKind.EMAIL_SOFT_DELETE).max_targets == 1_000  # the email default
    assert policy_of().rule(ActionKind.DEVICE_AV_SCAN).max_targets == 100  # the device default
    # Device actions are for the endpoint group only; email ones for the leads.
    assert (await policy.may_approve("U0EVE", ActionKind.DEVICE_ISOLATE, "U0ALICE")).allowed
    assert not (await policy.may_approve("U0LEAD1", ActionKind.DEVICE_ISOLATE, "U0A")).allowed
    assert (await policy.may_approve("U0LEAD2", ActionKind.EMAIL_SOFT_DELETE, "U0A")).allowed
    assert not (await policy.may_approve("U0LEAD2", ActionKind.EMAIL_HARD_DELETE, "U0A")).allowed
    # Protected devices from the file and from settings both hold.
    assert len(policy.screen(devices("dc01", "dc02", "ws-1")).excluded) == 2


def test_a_bad_policy_file_is_refused_at_start_saying_where(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("actions:\n  device.explode: {quorum: 2}\n  device.isolate: {quorum: 0}\n")
    with pytest.raises(SettingsError) as caught:
        policy_of(approval_policy_file=path)
    assert "APPROVAL_POLICY_FILE" in caught.value.message
    assert "actions.device.explode" in caught.value.message
    assert "actions.device.isolate.quorum" in caught.value.message


def test_a_quorum_too_few_people_could_ever_meet_is_refused_at_start():
    with pytest.raises(SettingsError, match="needs 2 approvals but only 1 person"):
        policy_of(approval_approver_usergroups="", approval_approver_users="U0BOB")


def test_settings_check_approver_ids_and_mailboxes():
    with pytest.raises(ValueError):
        make_settings(approval_approver_users="bob")
    with pytest.raises(ValueError):
        make_settings(approval_protected_mailboxes="not-an-address")


async def test_only_approvers_may_read_the_audit_log():
    policy = policy_of()
    assert (await policy.may_see_audit("U0BOB")).allowed
    refused = await policy.may_see_audit("U0ALICE")
    assert not refused.allowed and "Only approvers" in refused.reason
