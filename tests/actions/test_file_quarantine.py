"""Stop and quarantine a file: SHA-1 as given, SHA-256 mapped to SHA-1 through /api/files first."""

from __future__ import annotations

from bot.actions.model import ActionKind, OutcomeStatus
from tests.standins.defender_api import (
    KNOWN_SHA1,
    KNOWN_SHA256,
    LAPTOP,
    SHA256_WITHOUT_SHA1,
    WORKSTATION,
)
from tests.standins.microsoft import MDE_RESOURCE

from .specs import APPROVAL_ID, file_sha1, file_sha256, spec_for

QUARANTINE = ActionKind.FILE_STOP_AND_QUARANTINE


async def test_a_sha1_target_is_quarantined_by_its_sha1(defender, microsoft):
    targets = [file_sha1(WORKSTATION, KNOWN_SHA1)]

    [outcome] = await defender.submit(spec_for(QUARANTINE, targets), APPROVAL_ID, targets)

    [request] = microsoft.machine_action_requests
    assert request.path == f"/api/machines/{WORKSTATION}/StopAndQuarantineFile"
    assert request.json["Sha1"] == KNOWN_SHA1
    assert APPROVAL_ID in request.json["Comment"]
    assert outcome.status is OutcomeStatus.IN_PROGRESS
    assert outcome.action_type == "StopAndQuarantineFile"
    assert not [r for r in microsoft.mde_requests if r.path.startswith("/api/files/")]


async def test_a_sha256_target_is_mapped_to_sha1_once_per_file(defender, microsoft):
    targets = [file_sha256(WORKSTATION, KNOWN_SHA256), file_sha256(LAPTOP, KNOWN_SHA256.upper())]

    outcomes = await defender.submit(spec_for(QUARANTINE, targets), APPROVAL_ID, targets)

    lookups = [r for r in microsoft.mde_requests if r.path.startswith("/api/files/")]
    assert [r.path for r in lookups] == [f"/api/files/{KNOWN_SHA256}"]
    assert [r.json["Sha1"] for r in microsoft.machine_action_requests] == [KNOWN_SHA1] * 2
    assert all(o.status is OutcomeStatus.IN_PROGRESS for o in outcomes)
    assert f"is SHA-1 {KNOWN_SHA1}" in outcomes[0].detail


async def test_a_sha256_with_no_sha1_fails_clearly_and_the_others_still_run(defender, microsoft):
    unknown = "ab" * 32
    targets = [
        file_sha256(WORKSTATION, SHA256_WITHOUT_SHA1),
        file_sha256(WORKSTATION, unknown),
        file_sha1(LAPTOP, KNOWN_SHA1),
    ]

    outcomes = await defender.submit(spec_for(QUARANTINE, targets), APPROVAL_ID, targets)

    assert [o.status for o in outcomes] == [
        OutcomeStatus.FAILED,
        OutcomeStatus.FAILED,
        OutcomeStatus.IN_PROGRESS,
    ]
    assert "no SHA-1" in outcomes[0].detail and "SHA1" in outcomes[0].detail
    assert "knows no file with SHA-256" in outcomes[1].detail
    # Nothing was asked of the devices for the two that could not be mapped.
    assert [r.path.split("/")[3] for r in microsoft.machine_action_requests] == [LAPTOP]


async def test_mapping_without_file_read_permission_names_it(defender, microsoft):
    microsoft.grant_roles(MDE_RESOURCE, ["Machine.StopAndQuarantine", "Machine.Read.All"])
    targets = [file_sha256(WORKSTATION, KNOWN_SHA256)]

    [outcome] = await defender.submit(spec_for(QUARANTINE, targets), APPROVAL_ID, targets)

    assert outcome.status is OutcomeStatus.FAILED
    assert "File.Read.All" in outcome.detail


async def test_a_quarantine_is_followed_until_it_succeeds(defender, microsoft):
    targets = [file_sha1(WORKSTATION, KNOWN_SHA1)]
    [outcome] = await defender.submit(spec_for(QUARANTINE, targets), APPROVAL_ID, targets)

    for _ in range(5):
        outcome = await defender.refresh(outcome)

    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.detail == "StopAndQuarantineFile: Succeeded"
