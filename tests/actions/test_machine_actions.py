"""Device actions through the Defender for Endpoint API, against the stand-in, through the real
token provider and HTTP client: requests, outcomes, polling, and failures kept to their target."""

from __future__ import annotations

import pytest

from bot.actions.model import ActionKind, OutcomeStatus, TargetOutcome
from bot.defender.actions import DefenderRemediation
from bot.defender.auth import TokenProvider
from tests.standins.defender_api import LAPTOP, MAC, WORKSTATION
from tests.standins.microsoft import MDE_RESOURCE

from .specs import APPROVAL_ID, device, spec_for

# action -> (path after /api/machines/{id}/, body beyond Comment, MachineAction type)
DEVICE_ACTIONS = {
    ActionKind.DEVICE_ISOLATE: ("isolate", {"IsolationType": "Selective"}, "Isolate"),
    ActionKind.DEVICE_RELEASE: ("unisolate", {}, "Unisolate"),
    ActionKind.DEVICE_AV_SCAN: ("runAntiVirusScan", {"ScanType": "Full"}, "RunAntiVirusScan"),
    ActionKind.DEVICE_COLLECT_PACKAGE: (
        "collectInvestigationPackage",
        {},
        "CollectInvestigationPackage",
    ),
    ActionKind.DEVICE_RESTRICT_APPS: ("restrictCodeExecution", {}, "RestrictCodeExecution"),
    ActionKind.DEVICE_UNRESTRICT_APPS: ("unrestrictCodeExecution", {}, "UnrestrictCodeExecution"),
    ActionKind.DEVICE_INVESTIGATE: ("startInvestigation", {}, "Investigation"),
}
OPTIONS = {
    ActionKind.DEVICE_ISOLATE: {"isolation_type": "Selective"},
    ActionKind.DEVICE_AV_SCAN: {"scan_type": "Full"},
}


async def settle(backend, outcome: TargetOutcome, polls: int = 10) -> TargetOutcome:
    for _ in range(polls):
        if outcome.status is not OutcomeStatus.IN_PROGRESS:
            return outcome
        outcome = await backend.refresh(outcome)
    return outcome


@pytest.mark.parametrize("action", list(DEVICE_ACTIONS), ids=str)
async def test_each_device_action_posts_its_documented_body_and_is_followed_until_it_settles(
    defender, microsoft, action
):
    path, extra, action_type = DEVICE_ACTIONS[action]
    targets = [device(WORKSTATION)]
    spec = spec_for(action, targets, **OPTIONS.get(action, {}))

    [outcome] = await defender.submit(spec, APPROVAL_ID, targets)

    [request] = microsoft.machine_action_requests
    assert request.path == f"/api/machines/{WORKSTATION}/{path}"
    body = request.json
    comment = body.pop("Comment")
    assert APPROVAL_ID in comment and "Invoice phish cleanup" in comment
    assert body == extra
    assert outcome.status is OutcomeStatus.IN_PROGRESS
    assert outcome.machine_action_id
    assert outcome.action_type == action_type

    settled = await settle(defender, outcome)

    assert settled.status is OutcomeStatus.SUCCEEDED
    assert settled.machine_action_id == outcome.machine_action_id
    status_path = "investigations" if action_type == "Investigation" else "machineactions"
    polls = [r for r in microsoft.mde_requests if r.method == "GET"]
    assert polls and all(r.path == f"/api/{status_path}/{outcome.machine_action_id}" for r in polls)


@pytest.mark.parametrize(
    ("ending", "status"),
    [
        ("Failed", OutcomeStatus.FAILED),
        ("TimeOut", OutcomeStatus.TIMED_OUT),
        ("Cancelled", OutcomeStatus.CANCELLED),
    ],
)
async def test_an_action_that_ends_badly_says_so(defender, microsoft, ending, status):
    microsoft.defender.end_actions_as(WORKSTATION, ending)
    targets = [device(WORKSTATION)]
    [outcome] = await defender.submit(
        spec_for(ActionKind.DEVICE_ISOLATE, targets), APPROVAL_ID, targets
    )

    settled = await settle(defender, outcome)

    assert settled.status is status
    assert ending in settled.detail


async def test_a_permanent_error_fails_only_its_target(defender, microsoft):
    microsoft.defender.refuse_machine(MAC)
    targets = [device(WORKSTATION), device(MAC), device("0" * 40), device(LAPTOP)]

    outcomes = await defender.submit(
        spec_for(ActionKind.DEVICE_RESTRICT_APPS, targets), APPROVAL_ID, targets
    )

    assert [o.status for o in outcomes] == [
        OutcomeStatus.IN_PROGRESS,
        OutcomeStatus.FAILED,
        OutcomeStatus.FAILED,
        OutcomeStatus.IN_PROGRESS,
    ]
    assert "OsPlatformNotSupported" in outcomes[1].detail
    assert "does not know device" in outcomes[2].detail
    # One request each: a 4xx is not retried.
    assert len(microsoft.machine_action_requests) == 4


async def test_an_action_already_in_progress_from_someone_else_fails_that_target(
    defender, microsoft
):
    other = spec_for(ActionKind.DEVICE_ISOLATE, [device(WORKSTATION)])
    await defender.submit(other, "apv-other", [device(WORKSTATION)])
    targets = [device(WORKSTATION), device(LAPTOP)]

    outcomes = await defender.submit(
        spec_for(ActionKind.DEVICE_ISOLATE, targets), APPROVAL_ID, targets
    )

    assert outcomes[0].status is OutcomeStatus.FAILED
    assert "Action is already in progress" in outcomes[0].detail
    assert outcomes[1].status is OutcomeStatus.IN_PROGRESS


async def test_submitting_again_for_the_same_approval_follows_the_action_already_started(
    defender, microsoft
):
    # A resumed job, or a retried POST whose first answer was lost, asks again.
    targets = [device(WORKSTATION)]
    spec = spec_for(ActionKind.DEVICE_ISOLATE, targets)
    [first] = await defender.submit(spec, APPROVAL_ID, targets)

    [again] = await defender.submit(spec, APPROVAL_ID, targets)

    assert again.status is OutcomeStatus.IN_PROGRESS
    assert again.machine_action_id == first.machine_action_id
    assert "submitted earlier for this approval" in again.detail
    assert len(microsoft.defender.actions) == 1


async def test_a_duplicate_answered_with_the_pending_action_is_followed_too(defender, microsoft):
    microsoft.defender.duplicate_answer = "existing"
    targets = [device(WORKSTATION)]
    spec = spec_for(ActionKind.DEVICE_AV_SCAN, targets)
    [first] = await defender.submit(spec, APPROVAL_ID, targets)
    [again] = await defender.submit(spec, APPROVAL_ID, targets)
    assert again.machine_action_id == first.machine_action_id


async def test_a_throttled_action_is_sent_again_after_retry_after(defender, microsoft):
    microsoft.defender.throttle_next(retry_after=0.2, path_contains="/isolate")
    targets = [device(WORKSTATION)]

    [outcome] = await defender.submit(
        spec_for(ActionKind.DEVICE_ISOLATE, targets), APPROVAL_ID, targets
    )

    assert outcome.status is OutcomeStatus.IN_PROGRESS
    assert [r.status for r in microsoft.machine_action_requests] == [429, 201]


async def test_a_wait_longer_than_the_budget_fails_the_target_with_the_reason(defender, microsoft):
    microsoft.defender.throttle_next(retry_after=600, path_contains=f"/{WORKSTATION}/")
    targets = [device(WORKSTATION), device(LAPTOP)]

    outcomes = await defender.submit(
        spec_for(ActionKind.DEVICE_ISOLATE, targets), APPROVAL_ID, targets
    )

    assert outcomes[0].status is OutcomeStatus.FAILED
    assert "429" in outcomes[0].detail and "600 s" in outcomes[0].detail
    assert outcomes[1].status is OutcomeStatus.IN_PROGRESS


async def test_server_errors_are_retried(defender, microsoft):
    microsoft.defender.fail_next(500, path_contains="/isolate")
    microsoft.defender.fail_next(503, path_contains="/isolate")
    targets = [device(WORKSTATION)]

    [outcome] = await defender.submit(
        spec_for(ActionKind.DEVICE_ISOLATE, targets), APPROVAL_ID, targets
    )

    assert outcome.status is OutcomeStatus.IN_PROGRESS
    assert [r.status for r in microsoft.machine_action_requests] == [500, 503, 201]


async def test_without_the_permission_the_target_fails_naming_it(defender, microsoft):
    microsoft.grant_roles(MDE_RESOURCE, ["Machine.Read.All"])
    targets = [device(WORKSTATION)]

    [outcome] = await defender.submit(
        spec_for(ActionKind.DEVICE_ISOLATE, targets), APPROVAL_ID, targets
    )

    assert outcome.status is OutcomeStatus.FAILED
    assert "Machine.Isolate" in outcome.detail and "WindowsDefenderATP" in outcome.detail
    token = microsoft.machine_action_requests[0].bearer_token
    assert token and token not in outcome.model_dump_json()


async def test_a_rejected_token_fails_the_target_without_retrying(defender, microsoft):
    targets = [device(WORKSTATION)]
    spec = spec_for(ActionKind.DEVICE_COLLECT_PACKAGE, targets)
    await defender.submit(spec_for(ActionKind.DEVICE_RELEASE, targets), APPROVAL_ID, targets)
    microsoft.entra.rotate_signing_key()  # the cached token no longer verifies

    [outcome] = await defender.submit(spec, APPROVAL_ID, targets)

    assert outcome.status is OutcomeStatus.FAILED
    assert "rejected the bot's token (401 Unauthorized" in outcome.detail
    assert "Machine.CollectForensics" in outcome.detail
    assert [r.status for r in microsoft.machine_action_requests] == [201, 401]


async def test_a_status_that_cannot_be_read_keeps_the_action_in_progress(defender, microsoft):
    targets = [device(WORKSTATION)]
    [outcome] = await defender.submit(
        spec_for(ActionKind.DEVICE_ISOLATE, targets), APPROVAL_ID, targets
    )
    # Consent withdrawn: the next token (a new process, say) lacks Machine.Read.All.
    microsoft.grant_roles(MDE_RESOURCE, ["Machine.Isolate"])
    tokens = TokenProvider(microsoft.settings(), http_client=microsoft.requests_session())
    later = DefenderRemediation(microsoft.settings(), tokens, verify=microsoft.ssl_context())

    polled = await later.refresh(outcome)
    await later.aclose()

    assert polled.status is OutcomeStatus.IN_PROGRESS
    assert "Machine.Read.All" in polled.detail


async def test_targets_outside_the_approved_spec_do_not_run(defender, microsoft):
    spec = spec_for(ActionKind.DEVICE_ISOLATE, [device(WORKSTATION)])

    [outcome] = await defender.submit(spec, APPROVAL_ID, [device(LAPTOP)])

    assert outcome.status is OutcomeStatus.FAILED
    assert "Not among the approved targets" in outcome.detail
    assert microsoft.machine_action_requests == []


async def test_settled_and_email_outcomes_are_not_polled(defender, microsoft):
    done = TargetOutcome(target_key="device:x", status=OutcomeStatus.SUCCEEDED, detail="ok")
    sent = TargetOutcome(target_key="email:m:a", status=OutcomeStatus.SUBMITTED)
    assert await defender.refresh(done) == done
    assert await defender.refresh(sent) == sent
    assert microsoft.mde_requests == []
