"""What Take actions offers for a result, which targets a choice acts on, and its blast radius."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.actions.model import ActionKind, DeviceTarget, EmailTarget, FileTarget
from bot.actions.offer import (
    blast_radius,
    offered_actions,
    parse_row_selection,
    targets_from_rows,
)
from bot.errors import BadArgument
from bot.slack.take_actions import ReviewedAction, render_choose_view, render_confirm_view
from bot.state.results import StoredResult
from bot.workspace.limits import view_problems

EMAIL = {
    "email": ["NetworkMessageId", "RecipientEmailAddress", "EmailDirection", "SenderFromAddress"]
}
DEVICE_AND_FILE = {
    "device": ["DeviceId"],
    "file": ["InitiatingProcessSHA1", "InitiatingProcessSHA256", "DeviceId"],
}


def keys(choices):
    return [c.key for c in choices]


def test_emails_get_the_wizards_five_moves_and_no_separate_senders_copy_entry():
    # The sender's copy goes with soft delete when the result qualifies, as in the wizard
    # (tests/take_actions/test_wizard_review.py), never as a menu entry of its own.
    assert keys(offered_actions(EMAIL, capabilities=None)) == [
        "email.move_to_junk",
        "email.move_to_inbox",
        "email.move_to_deleted_items",
        "email.soft_delete",
        "email.hard_delete",
    ]


def test_devices_and_files_get_their_actions_with_the_hash_column_chosen():
    choices = offered_actions(DEVICE_AND_FILE, capabilities=None)
    assert "device.isolate.selective" in keys(choices)
    assert "file.stop_and_quarantine:InitiatingProcessSHA256" in keys(choices)
    assert all(len(c.key) <= 75 and len(c.label) <= 75 for c in choices)


def test_only_actions_the_app_registration_may_perform_are_offered():
    choices = offered_actions(DEVICE_AND_FILE, capabilities={"device.isolate"})
    assert {c.action for c in choices} == {ActionKind.DEVICE_ISOLATE, ActionKind.DEVICE_RELEASE}


@pytest.mark.parametrize(
    ("text", "rows"),
    [("", [0, 1, 2, 3, 4]), ("1-3", [0, 1, 2]), (" 5, 1 ,2-2", [0, 1, 4])],
)
def test_row_selection(text, rows):
    assert parse_row_selection(text, 5) == rows


@pytest.mark.parametrize("text", ["0", "6", "3-1", "a", "1;2"])
def test_bad_row_selection_says_why(text):
    with pytest.raises(BadArgument):
        parse_row_selection(text, 5)


def test_targets_are_distinct_and_rows_without_the_columns_are_skipped():
    choice = next(
        c for c in offered_actions(EMAIL, capabilities=None) if c.key == "email.soft_delete"
    )
    rows = [
        {"NetworkMessageId": "m1", "RecipientEmailAddress": "a@x.com", "EmailDirection": "Inbound"},
        {"NetworkMessageId": "m1", "RecipientEmailAddress": "A@x.com", "EmailDirection": "Inbound"},
        {"NetworkMessageId": "m1", "RecipientEmailAddress": "b@x.com", "EmailDirection": "Inbound"},
        {"NetworkMessageId": None, "RecipientEmailAddress": "c@x.com"},
    ]
    targets = targets_from_rows(choice, rows)
    assert len(targets) == 2
    assert blast_radius(targets).describe() == "1 message in 2 mailboxes"


def test_sha256_targets_are_kept_for_mapping_and_devices_counted_once():
    choice = next(
        c
        for c in offered_actions(DEVICE_AND_FILE, capabilities=None)
        if c.key == "file.stop_and_quarantine:InitiatingProcessSHA256"
    )
    rows = [
        {"DeviceId": "d1", "InitiatingProcessSHA256": "AB" * 32},
        {"DeviceId": "d2", "InitiatingProcessSHA256": "ab" * 32},
    ]
    targets = targets_from_rows(choice, rows)
    assert all(
        isinstance(t, FileTarget) and t.sha256 == "ab" * 32 and t.sha1 is None for t in targets
    )
    assert blast_radius(targets).describe() == "1 file, 2 devices"


def test_both_views_are_within_slacks_limits():
    meta = StoredResult(
        id="r",
        hunt="malicious-attachments-on-devices",
        title="t",
        arguments={},
        parameters={},
        requested_by="U0ALICE",
        team="T",
        channel="C",
        backend="lab",
        started_at=datetime(2026, 11, 22, tzinfo=UTC),
        seconds=1,
        columns=[],
        display_columns=[],
        entity_kinds=["email", "device", "file"],
        entity_columns={**EMAIL, **DEVICE_AND_FILE},
        row_count=3,
        truncated=False,
    )
    choices = offered_actions(meta.entity_columns, capabilities=None)
    assert not view_problems(render_choose_view(meta, choices, "{}"))
    targets = [
        EmailTarget(network_message_id=f"m{i}", recipient="<!channel>@x.com") for i in range(30)
    ] + [DeviceTarget(device_id="d" * 40, device_name="ws-1")]
    confirm = render_confirm_view(
        actions=[
            ReviewedAction(
                label=choice.label,
                targets=targets,
                excluded=[(targets[-1], "protected device")],
                radius=blast_radius(targets),
                quorum=2,
                approvers=(["U0BOB"], ["S0APPROVERS"]),
                expires_at=datetime(2026, 11, 22, 12, tzinfo=UTC),
                flags={targets[0].key: ("already soft-deleted", "HB-1")},
            )
            for choice in choices[:8]
        ],
        chosen="all 400 rows",
        private_metadata="{}",
        back_value="{}",
    )
    assert not view_problems(confirm)
    assert "…and 21 more" in str(confirm)
