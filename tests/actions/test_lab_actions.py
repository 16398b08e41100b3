"""The lab tenant carries actions out on its data: a hunt run again afterwards shows the effect.

Targets are built from a hunt's rows, as the Take actions modal builds them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.actions.model import ActionKind, DeviceTarget, EmailTarget, FileTarget, OutcomeStatus
from bot.defender.lab import LabTenant
from bot.defender.lab.actions import LabRemediation
from bot.defender.lab.scenarios import RANSOMWARE_PARENT, UNOPENED_MALWARE_SHA256, message_id
from bot.hunts.catalog import load_catalog

from .conftest import LAB_TIMING
from .specs import APPROVAL_ID, device, email, spec_for

CATALOG = load_catalog()
SETTLED_AFTER = LAB_TIMING.pending + LAB_TIMING.running + 0.05


async def hunt(lab: LabTenant, name: str, **args: str) -> list[dict]:
    result = await lab.run_query(CATALOG.get(name).render(args).kql)
    return result.rows


_UNTOUCHED_ROWS: dict[str, list[dict]] = {}


async def rows_before_any_action(lab: LabTenant, name: str) -> list[dict]:
    """A hunt's rows on a fresh copy of the default lab; every copy has the same, so once."""
    if name not in _UNTOUCHED_ROWS:
        _UNTOUCHED_ROWS[name] = await hunt(lab, name)
    return _UNTOUCHED_ROWS[name]


def email_targets(rows: list[dict]) -> list[EmailTarget]:
    return [
        EmailTarget(
            network_message_id=row["NetworkMessageId"],
            recipient=row["RecipientEmailAddress"],
            sender=row.get("SenderFromAddress"),
            direction=row.get("EmailDirection"),
        )
        for row in rows
    ]


async def test_soft_deleted_spam_shows_in_deleted_items_when_the_hunt_runs_again(lab, lab_actions):
    before = await hunt(lab, "spam-emails")
    planted = {message_id("spam"), message_id("phish-and-spam")}
    targets = email_targets([r for r in before if r["NetworkMessageId"] in planted])
    assert len(targets) == 2

    outcomes = await lab_actions.submit(
        spec_for(ActionKind.EMAIL_SOFT_DELETE, targets), APPROVAL_ID, targets
    )

    assert [o.status for o in outcomes] == [OutcomeStatus.SUCCEEDED] * 2
    assert outcomes[0].detail == "Soft delete: Junk folder -> Deleted items"
    after = {r["NetworkMessageId"]: r for r in await hunt(lab, "spam-emails")}
    for message in planted:
        assert after[message]["LatestDeliveryLocation"] == "Deleted items"
        assert after[message]["LatestDeliveryAction"] == "Soft delete"
    others = {r["NetworkMessageId"]: r["LatestDeliveryLocation"] for r in before}
    assert all(
        after[message]["LatestDeliveryLocation"] == location
        for message, location in others.items()
        if message not in planted
    )
    # The action is on record as Defender records a manual remediation.
    trail = await lab.run_query(
        "EmailPostDeliveryEvents | where ActionType == 'Manual remediation' "
        f"and NetworkMessageId in ('{message_id('spam')}', '{message_id('phish-and-spam')}') "
        "| project Action, ActionResult, DeliveryLocation, ActionTrigger, Timestamp"
    )
    assert {(r["Action"], r["ActionResult"], r["DeliveryLocation"]) for r in trail.rows} == {
        ("Soft delete", "Success", "Deleted items")
    }
    assert len(trail.rows) == 2
    # Written at the lab's present, so `ago()` lookbacks find it.
    assert all(r["Timestamp"] is not None for r in trail.rows)


async def test_moving_twice_reports_already_in_destination(lab, lab_actions):
    [row] = [
        r for r in await hunt(lab, "spam-emails") if r["NetworkMessageId"] == message_id("spam")
    ]
    targets = email_targets([row])
    spec = spec_for(ActionKind.EMAIL_MOVE_TO_INBOX, targets)

    [first] = await lab_actions.submit(spec, APPROVAL_ID, targets)
    [second] = await lab_actions.submit(spec, APPROVAL_ID, targets)

    assert first.detail == "Moved to inbox: Junk folder -> Inbox/folder"
    assert second.status is OutcomeStatus.SUCCEEDED
    assert "already in destination" in second.detail


async def test_unknown_and_unactionable_messages_fail_and_the_rest_are_done(lab, lab_actions):
    outbound = [
        r
        for r in await hunt(lab, "internal-malware-senders")
        if r["NetworkMessageId"] == message_id("outbound-malware")
    ]
    [spam] = [
        r for r in await hunt(lab, "spam-emails") if r["NetworkMessageId"] == message_id("spam")
    ]
    targets = [
        email("00000000-0000-0000-0000-000000000000", "nobody@contoso.com"),
        *email_targets(outbound[:1]),
        *email_targets([spam]),
    ]

    outcomes = await lab_actions.submit(
        spec_for(ActionKind.EMAIL_HARD_DELETE, targets), APPROVAL_ID, targets
    )

    assert [o.status for o in outcomes] == [
        OutcomeStatus.FAILED,
        OutcomeStatus.FAILED,
        OutcomeStatus.SUCCEEDED,
    ]
    assert "no message" in outcomes[0].detail
    assert "not actionable" in outcomes[1].detail and "On-premises/external" in outcomes[1].detail
    # Hard-deleted mail cannot be acted on again.
    [again] = await lab_actions.submit(
        spec_for(ActionKind.EMAIL_MOVE_TO_INBOX, targets[2:]), APPROVAL_ID, targets[2:]
    )
    assert again.status is OutcomeStatus.FAILED and "hard-deleted" in again.detail


class SteppedClock:
    """A clock the test moves on, so an action's states don't hang on how busy the machine is."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def test_isolating_a_device_moves_from_pending_through_in_progress_to_succeeded(lab):
    clock = SteppedClock()
    lab_actions = LabRemediation(lab, timing=LAB_TIMING, clock=clock)
    rows = await rows_before_any_action(lab, "ransomware-precursors")
    device_id = rows[0]["DeviceId"]
    targets = [DeviceTarget(device_id=device_id, device_name=rows[0]["DeviceName"])]

    [outcome] = await lab_actions.submit(
        spec_for(ActionKind.DEVICE_ISOLATE, targets, isolation_type="Selective"),
        APPROVAL_ID,
        targets,
    )
    assert outcome.status is OutcomeStatus.IN_PROGRESS
    assert outcome.detail == "Isolate (Selective): Pending"
    assert outcome.action_type == "Isolate"

    clock.step(LAB_TIMING.pending / 2)
    still_pending = await lab_actions.refresh(outcome)
    assert still_pending.detail == "Isolate (Selective): Pending"

    clock.step(LAB_TIMING.pending)
    running = await lab_actions.refresh(still_pending)
    assert running.detail == "Isolate (Selective): InProgress"

    clock.step(LAB_TIMING.running)
    done = await lab_actions.refresh(running)
    assert done.status is OutcomeStatus.SUCCEEDED
    assert done.machine_action_id == outcome.machine_action_id


async def test_a_second_action_while_one_is_pending_is_refused_unless_it_is_ours(lab, lab_actions):
    [row] = (await rows_before_any_action(lab, "ransomware-precursors"))[:1]
    targets = [device(row["DeviceId"])]
    spec = spec_for(ActionKind.DEVICE_RESTRICT_APPS, targets)
    [first] = await lab_actions.submit(spec, APPROVAL_ID, targets)

    [ours] = await lab_actions.submit(spec, APPROVAL_ID, targets)
    [theirs] = await lab_actions.submit(spec, "apv-other", targets)

    assert ours.machine_action_id == first.machine_action_id
    assert theirs.status is OutcomeStatus.FAILED
    assert "Action is already in progress" in theirs.detail


async def test_an_unknown_device_fails_and_the_others_run(lab, lab_actions):
    [row] = (await rows_before_any_action(lab, "ransomware-precursors"))[:1]
    targets = [device("f" * 40), device(row["DeviceId"])]

    outcomes = await lab_actions.submit(
        spec_for(ActionKind.DEVICE_AV_SCAN, targets), APPROVAL_ID, targets
    )

    assert outcomes[0].status is OutcomeStatus.FAILED
    assert "no device" in outcomes[0].detail
    assert outcomes[1].status is OutcomeStatus.IN_PROGRESS


async def test_a_finished_scan_shows_in_device_events(lab, lab_actions):
    [row] = (await rows_before_any_action(lab, "ransomware-precursors"))[:1]
    targets = [device(row["DeviceId"])]
    [outcome] = await lab_actions.submit(
        spec_for(ActionKind.DEVICE_AV_SCAN, targets, scan_type="Full"), APPROVAL_ID, targets
    )
    await asyncio.sleep(SETTLED_AFTER)
    done = await lab_actions.refresh(outcome)
    await lab_actions.refresh(outcome)  # a second look writes no second event

    assert done.status is OutcomeStatus.SUCCEEDED
    events = await lab.run_query(
        f"DeviceEvents | where DeviceId == '{row['DeviceId']}' "
        "and ActionType == 'AntivirusScanCompleted' and Timestamp > ago(1h)"
    )
    assert len(events.rows) == 1


async def test_the_ransomware_launcher_is_quarantined_by_its_sha256(lab, lab_actions):
    rows = await rows_before_any_action(lab, "ransomware-precursors")
    [row] = [r for r in rows if r["InitiatingProcessFolderPath"] == RANSOMWARE_PARENT][:1]
    target = FileTarget(
        device_id=row["DeviceId"],
        sha256=row["InitiatingProcessSHA256"],
        hash_column="InitiatingProcessSHA256",
    )

    [outcome] = await lab_actions.submit(
        spec_for(ActionKind.FILE_STOP_AND_QUARANTINE, [target]), APPROVAL_ID, [target]
    )
    assert outcome.status is OutcomeStatus.IN_PROGRESS
    assert f"is SHA-1 {row['InitiatingProcessSHA1']}" in outcome.detail

    await asyncio.sleep(SETTLED_AFTER)
    done = await lab_actions.refresh(outcome)
    assert done.status is OutcomeStatus.SUCCEEDED
    events = await lab.run_query(
        f"DeviceEvents | where SHA1 == '{row['InitiatingProcessSHA1']}' "
        "| project FileName, FolderPath, ActionType"
    )
    assert events.rows == [
        {
            "FileName": "svcupd.exe",
            "FolderPath": RANSOMWARE_PARENT,
            "ActionType": "AntivirusDetection",
        }
    ]


async def test_quarantining_a_file_the_device_never_had_fails_when_it_runs(lab, lab_actions):
    rows = await rows_before_any_action(lab, "ransomware-precursors")
    [launcher] = [r for r in rows if r["InitiatingProcessFolderPath"] == RANSOMWARE_PARENT][:1]
    other = await lab.run_query(
        f"DeviceInfo | where DeviceId != '{launcher['DeviceId']}' | take 1 | project DeviceId"
    )
    target = FileTarget(
        device_id=other.rows[0]["DeviceId"],
        sha1=launcher["InitiatingProcessSHA1"],
        hash_column="InitiatingProcessSHA1",
    )

    [outcome] = await lab_actions.submit(
        spec_for(ActionKind.FILE_STOP_AND_QUARANTINE, [target]), APPROVAL_ID, [target]
    )
    assert outcome.status is OutcomeStatus.IN_PROGRESS
    await asyncio.sleep(SETTLED_AFTER)
    done = await lab_actions.refresh(outcome)

    assert done.status is OutcomeStatus.FAILED
    assert done.detail == "StopAndQuarantineFile: Failed (the file was never seen on this device)"


async def test_a_file_with_no_known_sha1_fails_clearly(lab, lab_actions):
    [row] = (await rows_before_any_action(lab, "ransomware-precursors"))[:1]
    target = FileTarget(
        device_id=row["DeviceId"], sha256=UNOPENED_MALWARE_SHA256, hash_column="SHA256"
    )

    [outcome] = await lab_actions.submit(
        spec_for(ActionKind.FILE_STOP_AND_QUARANTINE, [target]), APPROVAL_ID, [target]
    )

    assert outcome.status is OutcomeStatus.FAILED
    assert "no SHA-1" in outcome.detail


async def test_an_investigation_runs_to_its_end(lab, lab_actions):
    [row] = (await rows_before_any_action(lab, "ransomware-precursors"))[:1]
    targets = [device(row["DeviceId"])]
    [outcome] = await lab_actions.submit(
        spec_for(ActionKind.DEVICE_INVESTIGATE, targets), APPROVAL_ID, targets
    )
    assert outcome.action_type == "Investigation"
    assert outcome.detail.endswith(": Queued")

    await asyncio.sleep(SETTLED_AFTER)
    done = await lab_actions.refresh(outcome)
    assert done.status is OutcomeStatus.SUCCEEDED
    assert done.detail.endswith("SuccessfullyRemediated")


@pytest.mark.parametrize("owns", [False, True])
async def test_closing_the_executor_closes_the_lab_only_if_it_opened_it(lab, owns):
    actions = LabRemediation(lab, owns_tenant=owns)
    await actions.aclose()
    if owns:
        with pytest.raises(Exception, match="closed"):
            await lab.run_query("EmailEvents | take 1")
    else:
        assert (await lab.run_query("EmailEvents | take 1")).row_count == 1
