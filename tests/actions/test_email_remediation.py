"""Email remediation through Graph's analyzedEmails/remediate, against the stand-in, through the
real token provider and HTTP client. The executor batches by 2 here."""

from __future__ import annotations

import pytest

from bot.actions.model import ActionKind, OutcomeStatus
from bot.defender.actions import bulk_id_from
from bot.defender.actions.operations import GRAPH_EMAIL_ACTIONS
from tests.standins.microsoft import GRAPH_RESOURCE, HUNTING_ROLE

from .specs import APPROVAL_ID, email, spec_for

EMAIL_ACTIONS = sorted(GRAPH_EMAIL_ACTIONS, key=str)


@pytest.mark.parametrize("action", EMAIL_ACTIONS, ids=str)
async def test_each_email_action_is_one_documented_request_and_a_submitted_outcome(
    defender, microsoft, action
):
    targets = [email("6f1e-0001", "alex@contoso.com")]
    outcomes = await defender.submit(spec_for(action, targets), APPROVAL_ID, targets)

    [request] = microsoft.remediation_requests
    assert request.path == "/v1.0/security/collaboration/analyzedEmails/remediate"
    assert request.json == {
        "displayName": f"Invoice phish cleanup (hunt-bot approval {APPROVAL_ID})",
        "description": "Phish campaign from fabrikam-payments",
        "severity": "medium",
        "action": GRAPH_EMAIL_ACTIONS[action],
        "remediateSendersCopy": False,
        "analyzedEmails": [
            {"networkMessageId": "6f1e-0001", "recipientEmailAddress": "alex@contoso.com"}
        ],
    }
    [outcome] = outcomes
    [remediation] = microsoft.defender.remediations
    # No status can be read back: submitted, with the Action center link and its bulkId.
    assert outcome.status is OutcomeStatus.SUBMITTED
    assert outcome.bulk_id == remediation.bulk_id
    assert outcome.link is not None
    assert outcome.link.startswith("https://security.microsoft.com/action-center/history?")
    assert outcome.target_key == targets[0].key


async def test_targets_go_in_batches_each_its_own_remediation(defender, microsoft):
    targets = [email(f"msg-{i}", f"user{i}@contoso.com") for i in range(5)]
    outcomes = await defender.submit(
        spec_for(ActionKind.EMAIL_SOFT_DELETE, targets), APPROVAL_ID, targets
    )

    bodies = [r.json for r in microsoft.remediation_requests]
    assert [len(b["analyzedEmails"]) for b in bodies] == [2, 2, 1]
    assert [b["displayName"][-9:] for b in bodies] == ["batch 1/3", "batch 2/3", "batch 3/3"]
    sent = [e["networkMessageId"] for b in bodies for e in b["analyzedEmails"]]
    assert sent == [f"msg-{i}" for i in range(5)]
    # Every target reports the remediation (bulkId) it went in, in the order given.
    assert [o.target_key for o in outcomes] == [t.key for t in targets]
    bulk_ids = [r.bulk_id for r in microsoft.defender.remediations]
    assert [o.bulk_id for o in outcomes] == [bulk_ids[0]] * 2 + [bulk_ids[1]] * 2 + [bulk_ids[2]]


async def test_the_senders_copy_is_asked_for_only_in_requests_of_internal_mail(defender, microsoft):
    internal = [email("m-1", "a@contoso.com", "Intra-org"), email("m-2", "b@x.example", "Outbound")]
    inbound = [email("m-3", "c@contoso.com", "Inbound")]
    targets = [*internal, *inbound]
    spec = spec_for(ActionKind.EMAIL_SOFT_DELETE, targets, remediate_senders_copy=True)

    outcomes = await defender.submit(spec, APPROVAL_ID, targets)

    flags = {
        tuple(e["networkMessageId"] for e in r.json["analyzedEmails"]): r.json[
            "remediateSendersCopy"
        ]
        for r in microsoft.remediation_requests
    }
    # Real JSON booleans (the stand-in refuses the doc sample's string "true").
    assert flags == {("m-1", "m-2"): True, ("m-3",): False}
    assert all(o.status is OutcomeStatus.SUBMITTED for o in outcomes)
    assert "not the sender's copy" in outcomes[2].detail


async def test_without_the_permission_the_targets_fail_naming_it(defender, microsoft):
    microsoft.grant_roles(GRAPH_RESOURCE, [HUNTING_ROLE])
    targets = [email("m-1", "a@contoso.com")]

    [outcome] = await defender.submit(
        spec_for(ActionKind.EMAIL_HARD_DELETE, targets), APPROVAL_ID, targets
    )

    assert outcome.status is OutcomeStatus.FAILED
    assert "SecurityAnalyzedMessage.ReadWrite.All" in outcome.detail
    assert "403" in outcome.detail
    assert len(microsoft.remediation_requests) == 1  # a refusal is not retried


async def test_a_throttled_request_is_sent_again_after_retry_after(defender, microsoft):
    microsoft.defender.throttle_next(retry_after=0.2, path_contains="remediate")
    targets = [email("m-1", "a@contoso.com")]

    [outcome] = await defender.submit(
        spec_for(ActionKind.EMAIL_MOVE_TO_JUNK, targets), APPROVAL_ID, targets
    )

    assert outcome.status is OutcomeStatus.SUBMITTED
    assert [r.status for r in microsoft.remediation_requests] == [429, 202]


async def test_a_batch_that_keeps_failing_fails_its_targets_and_the_next_batch_still_runs(
    defender, microsoft
):
    for _ in range(3):  # the executor's three attempts, all for the first batch
        microsoft.defender.fail_next(503, path_contains="remediate")
    targets = [email(f"m-{i}", f"u{i}@contoso.com") for i in range(3)]

    outcomes = await defender.submit(
        spec_for(ActionKind.EMAIL_SOFT_DELETE, targets), APPROVAL_ID, targets
    )

    assert [o.status for o in outcomes] == [
        OutcomeStatus.FAILED,
        OutcomeStatus.FAILED,
        OutcomeStatus.SUBMITTED,
    ]
    assert "503" in outcomes[0].detail and "gave up after 3 attempts" in outcomes[0].detail


async def test_no_token_appears_in_any_outcome(defender, microsoft):
    microsoft.grant_roles(GRAPH_RESOURCE, [HUNTING_ROLE])  # a refusal, whose text is kept
    targets = [email("m-1", "a@contoso.com")]
    outcomes = await defender.submit(
        spec_for(ActionKind.EMAIL_SOFT_DELETE, targets), APPROVAL_ID, targets
    )
    token = microsoft.remediation_requests[0].bearer_token
    assert token
    assert all(token not in o.model_dump_json() for o in outcomes)
    assert microsoft.client_secret not in outcomes[0].detail


@pytest.mark.parametrize(
    "location",
    [
        'https://security.microsoft.com/action-center/history?filters={"bulkId":["9c3d-1"]}&tid=t',
        "https://security.microsoft.com/action-center/history?filters=%7B%22bulkId%22%3A%5B%22"
        "9c3d-1%22%5D%7D&tid=t",
    ],
    ids=["raw", "percent-encoded"],
)
def test_the_bulk_id_is_read_from_the_action_center_url(location):
    assert bulk_id_from(location) == "9c3d-1"


def test_a_location_without_a_bulk_id_gives_none():
    assert bulk_id_from("https://security.microsoft.com/action-center/history") is None
