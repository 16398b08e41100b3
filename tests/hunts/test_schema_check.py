"""The hunt validator refuses only what Defender would refuse, names the file and field, and
never crashes: what the lab cannot check is accepted with a note."""

from __future__ import annotations

import pytest

from bot.errors import HuntFileError
from bot.hunts.schema_check import SchemaChecker


@pytest.fixture(scope="module")
def checker():
    found = SchemaChecker()
    yield found
    found.close()


@pytest.mark.parametrize(
    "kql",
    [
        "DeviceRegistryEvents | where RegistryKey has 'Run' | project DeviceName",
        "DeviceImageLoadEvents | summarize makeset(FileName) by DeviceId",
        "IdentityQueryEvents | where QueryType == 'Dns' | project Query",
        "DeviceTvmSoftwareVulnerabilities | join kind=inner DeviceTvmSoftwareVulnerabilitiesKB"
        " on CveId | project DeviceName, CveId",
        "DeviceFileCertificateInfo | take 5 | invoke FileProfile()",
        "DeviceNetworkInfo | project-reorder IPAddresses",
    ],
)
def test_hunts_over_the_whole_schema_are_accepted_and_checked(checker, kql):
    found = checker.check_query(kql, "hunts/x.yaml")
    assert found.columns, found.note
    assert found.note is None


@pytest.mark.parametrize(
    ("kql", "says"),
    [
        ("EmailEvents | where | project", "is not valid KQL"),
        ("EmailEvent | take 1", "reads EmailEvent, which is not a table"),
        ("EmailEvents | where Sender == 'x'", "uses `Sender`, which is neither"),
        ("_LabFileProfiles | take 1", "not a table of Defender's"),
    ],
)
def test_what_defender_refuses_is_refused_naming_the_file_and_field(checker, kql, says):
    with pytest.raises(HuntFileError) as caught:
        checker.check_query(kql, "hunts/bad.yaml")
    assert caught.value.path == "hunts/bad.yaml" and caught.value.field == "query"
    assert says in caught.value.detail


@pytest.mark.parametrize(
    ("kql", "note"),
    [
        ('externaldata(h: string)[@"https://example.com/x.csv"] | take 1', "internet"),
        ("DeviceInfo | evaluate bag_unpack(AdditionalFields)", "does not support"),
        (
            "DeviceInfo | summarize d = set_difference(make_set(DeviceId), dynamic([]))",
            "does not support",
        ),
        ("DeviceEvents | as T | take 1", "does not support"),
    ],
)
def test_what_the_lab_cannot_check_is_accepted_with_a_note(checker, kql, note):
    found = checker.check_query(kql, "hunts/x.yaml")
    assert found.columns is None
    assert note in (found.note or "")


def test_a_failure_inside_the_check_is_a_note_not_a_crash(checker, monkeypatch):
    def broken(*_args):
        raise RuntimeError("the lab fell over")

    monkeypatch.setattr(checker, "_check", broken)
    found = checker.check_query("DeviceInfo | take 1", "hunts/x.yaml")
    assert found.note == "accepted; the lab could not check it (RuntimeError)"
