"""A remediation POST is never sent again blindly: after an unclear answer the executor asks
Microsoft what it holds of ours (MDE, the lab) or says UNKNOWN (Graph email), and `reconcile`
finds an earlier submission of this approval for a resumed run."""

from __future__ import annotations

from bot.actions.model import ActionKind, OutcomeStatus
from bot.defender.actions.operations import ACTION_CENTER_URL
from tests.standins.defender_api import LAPTOP, WORKSTATION

from .specs import APPROVAL_ID, device, email, spec_for


async def test_an_unclear_answer_to_a_device_action_is_reconciled_before_sending_again(
    defender, microsoft
):
    spec = spec_for(ActionKind.DEVICE_AV_SCAN, [device(WORKSTATION)])
    microsoft.defender.fail_next(502, path_contains="runAntiVirusScan")  # nothing was done
    (outcome,) = await defender.submit(spec, APPROVAL_ID, spec.targets)
    assert outcome.status is OutcomeStatus.IN_PROGRESS, outcome
    listed = [r for r in microsoft.mde_requests if r.path == "/api/machineactions"]
    assert len(listed) == 1  # asked Defender first, found nothing of ours, then sent once more
    assert len(microsoft.machine_action_requests) == 2
    assert len(microsoft.defender.actions) == 1


async def test_reconcile_adopts_our_earlier_machine_action_and_leaves_the_unsent_out(
    defender, microsoft
):
    spec = spec_for(ActionKind.DEVICE_ISOLATE, [device(WORKSTATION), device(LAPTOP)])
    (sent,) = await defender.submit(spec, APPROVAL_ID, spec.targets[:1])
    for _ in range(3):  # it has finished since: a resend would start a second isolation
        sent = await defender.refresh(sent)
    assert sent.status is OutcomeStatus.SUCCEEDED

    found = await defender.reconcile(spec, APPROVAL_ID, spec.targets)
    assert set(found) == {spec.targets[0].key}  # the laptop was never sent: free to send
    adopted = found[spec.targets[0].key]
    assert adopted.machine_action_id == sent.machine_action_id
    assert adopted.status is OutcomeStatus.SUCCEEDED
    assert "submitted earlier" in adopted.detail
    assert not await defender.reconcile(spec, "apv-other", spec.targets)  # not ours
    assert len(microsoft.machine_action_requests) == 1


async def test_an_email_remediation_that_timed_out_is_unknown_and_never_resent(defender, microsoft):
    targets = [email("msg-1", "alex@contoso.com")]
    spec = spec_for(ActionKind.EMAIL_SOFT_DELETE, targets)
    microsoft.defender.fail_next(504, path_contains="remediate")
    (outcome,) = await defender.submit(spec, APPROVAL_ID, targets)
    assert outcome.status is OutcomeStatus.UNKNOWN, outcome
    assert outcome.link == ACTION_CENTER_URL and "Action center" in outcome.detail
    assert len(microsoft.remediation_requests) == 1

    microsoft.defender.fail_next(503, path_contains="remediate")  # refused: safe to send again
    (outcome,) = await defender.submit(spec, APPROVAL_ID, targets)
    assert outcome.status is OutcomeStatus.SUBMITTED
    assert len(microsoft.remediation_requests) == 3

    (unknown,) = (await defender.reconcile(spec, APPROVAL_ID, targets)).values()
    assert unknown.status is OutcomeStatus.UNKNOWN  # Graph can't look a remediation up


async def test_the_lab_reconciles_against_its_machine_actions_table(lab, lab_actions):
    with lab.connection() as con:
        rows = con.execute('SELECT DISTINCT DeviceId FROM "DeviceInfo" LIMIT 2').fetchall()
    ids = [r[0] for r in rows]
    spec = spec_for(ActionKind.DEVICE_AV_SCAN, [device(i) for i in ids])
    (sent,) = await lab_actions.submit(spec, APPROVAL_ID, spec.targets[:1])
    found = await lab_actions.reconcile(spec, APPROVAL_ID, spec.targets)
    assert set(found) == {spec.targets[0].key}
    assert found[spec.targets[0].key].machine_action_id == sent.machine_action_id
    assert not await lab_actions.reconcile(spec, "apv-other", spec.targets)

    mail = spec_for(ActionKind.EMAIL_SOFT_DELETE, [email("nm-1", "alex@contoso.com")])
    (unknown,) = (await lab_actions.reconcile(mail, APPROVAL_ID, mail.targets)).values()
    assert unknown.status is OutcomeStatus.UNKNOWN
