"""Pivots in hunt files: checked when the catalog loads. A bad pivot is a HuntFileError naming
the file and the field; it never takes its hunt (or the catalog) down."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.hunts.catalog import load_catalog
from bot.hunts.pivots import offered_pivots

FOLLOW_UP = """
name: mail-to
title: Mail to someone
description: A follow-up that needs one address.
parameters:
  - name: recipient
    type: email
    description: Whose mail.
  - name: lookback
    type: timespan
    default: 7d
    description: How far back.
query: |
  EmailEvents
  | where Timestamp > ago(lookback)
  | where RecipientEmailAddress =~ recipient
  | project Timestamp, RecipientEmailAddress, SenderFromAddress, Subject
columns: [Timestamp, RecipientEmailAddress, SenderFromAddress, Subject]
"""

NEEDS_TWO = """
name: needs-two
title: Needs two values
description: A follow-up with two required parameters.
parameters:
  - name: recipient
    type: email
    description: Whose mail.
  - name: subject
    type: string
    description: Which subject.
query: |
  EmailEvents
  | where RecipientEmailAddress =~ recipient and Subject has subject
  | project Timestamp, RecipientEmailAddress
columns: [Timestamp, RecipientEmailAddress]
"""


def with_pivots(pivots: str, name: str = "recent-mail") -> str:
    return f"""
name: {name}
title: Recent mail
description: Mail of the last day, offering follow-ups.
query: |
  EmailEvents
  | where Timestamp > ago(1d)
  | project Timestamp, RecipientEmailAddress, SenderFromAddress, Subject
columns: [Timestamp, RecipientEmailAddress, SenderFromAddress, Subject]
pivots:
{pivots}
"""


def pivot(column: str, hunt: str, parameter: str, label: str = "Go") -> str:
    return (
        f"  - column: {column}\n    hunt: {hunt}\n    parameter: {parameter}\n    label: {label}\n"
    )


def catalog_of(tmp_path: Path, **files: str):
    for stem, text in files.items():
        (tmp_path / f"{stem}.yaml").write_text(text)
    return load_catalog(tmp_path)


def only_problem(catalog):
    (problem,) = catalog.problems
    return problem


def test_a_good_pivot_is_kept_and_offered(tmp_path):
    catalog = catalog_of(
        tmp_path,
        **{
            "mail-to": FOLLOW_UP,
            "recent-mail": with_pivots(
                pivot("RecipientEmailAddress", "mail-to", "recipient", "Their mail")
                + pivot("SenderFromAddress", "emails-from", "sender", "Sender's mail")
            ),
        },
    )
    assert catalog.problems == []
    offered = offered_pivots(catalog, "recent-mail")
    assert [(p.column, p.hunt, p.parameter, p.label) for p in offered] == [
        ("RecipientEmailAddress", "mail-to", "recipient", "Their mail"),
        ("SenderFromAddress", "emails-from", "sender", "Sender's mail"),
    ]
    assert offered_pivots(catalog, "no-such-hunt") == ()


@pytest.mark.parametrize(
    ("pivots", "field", "says"),
    [
        (
            pivot("SenderFromAddress", "mail-too", "recipient"),
            "pivots[0].hunt",
            "`mail-too` is not a hunt",
        ),
        (
            pivot("SenderFromAddress", "mail-to", "sender"),
            "pivots[0].parameter",
            "`mail-to` has no parameter `sender` (its parameters: recipient, lookback)",
        ),
        (
            pivot("RecipientEmailAddress", "needs-two", "recipient"),
            "pivots[0].hunt",
            "`needs-two` also needs `subject`, which a row cannot fill",
        ),
    ],
)
def test_a_pivot_to_a_missing_or_unfit_hunt_is_dropped_and_said(tmp_path, pivots, field, says):
    good = pivot("RecipientEmailAddress", "mail-to", "recipient", "Their mail")
    catalog = catalog_of(
        tmp_path,
        **{"mail-to": FOLLOW_UP, "needs-two": NEEDS_TWO, "recent-mail": with_pivots(good + pivots)},
    )
    problem = only_problem(catalog)
    assert problem.path.endswith("recent-mail.yaml")
    assert problem.field == field.replace("[0]", "[1]")
    assert says in problem.detail
    # The hunt stays, with the pivots that are good.
    assert [p.hunt for p in offered_pivots(catalog, "recent-mail")] == ["mail-to"]


@pytest.mark.parametrize(
    ("pivots", "field", "says"),
    [
        (pivot("DeviceId", "mail-to", "recipient"), "pivots[0].column", "`DeviceId` is not among"),
        (
            pivot("Subject", "mail-to", "recipient") + pivot("Subject", "mail-to", "recipient"),
            "pivots[1]",
            "declared twice",
        ),
        (
            "  - column: Subject\n    hunt: mail-to\n    label: Go\n",
            "pivots[0].parameter",
            "is required",
        ),
        (pivot("Subject", "Mail To!", "recipient"), "pivots[0].hunt", "pattern"),
        (pivot("Subject", "mail-to", "recipient", "x" * 31), "pivots[0].label", "at most 30"),
        (
            "  - column: Subject\n    hunt: mail-to\n    parameter: recipient\n    label: Go\n"
            "    lookback: 3d\n",
            "pivots[0].lookback",
            "is not a known field",
        ),
        (
            "".join(pivot("Subject", "mail-to", "recipient", f"L{i}") for i in range(6)),
            "pivots",
            "at most 5",
        ),
        ("  just text\n", "pivots", "tuple"),
    ],
)
def test_a_malformed_pivot_refuses_its_file_naming_the_field(tmp_path, pivots, field, says):
    catalog = catalog_of(tmp_path, **{"mail-to": FOLLOW_UP, "recent-mail": with_pivots(pivots)})
    problem = only_problem(catalog)
    assert problem.path.endswith("recent-mail.yaml")
    assert problem.field == field
    assert says in problem.detail
    assert "recent-mail" not in catalog.entries and "mail-to" in catalog.entries


def test_replacing_a_follow_up_drops_only_the_pivots_into_it(tmp_path):
    """A site's device-timeline without `device_id`: the built-ins that pivot into it stay,
    without that pivot, and each is named."""
    timeline = """
name: device-timeline
title: Timeline by device name (site override)
description: This site looks devices up by name.
parameters:
  - name: device_name
    type: string
    description: The device's name.
query: |
  DeviceProcessEvents
  | where DeviceName =~ device_name
  | project Timestamp, DeviceName, ProcessCommandLine
columns: [Timestamp, DeviceName, ProcessCommandLine]
"""
    catalog = catalog_of(tmp_path, **{"device-timeline": timeline})
    named = {Path(p.path).stem for p in catalog.problems}
    assert named == {
        "malicious-attachments-on-devices",
        "powershell-after-malicious-email",
        "ransomware-precursors",
        "where-file-seen",
    }
    assert all(p.field.endswith(".parameter") for p in catalog.problems)
    ransomware = offered_pivots(catalog, "ransomware-precursors")
    assert [p.hunt for p in ransomware] == ["where-file-seen"]


def test_the_builtins_pivot_between_each_other():
    catalog = load_catalog(check_builtins=True)
    assert catalog.problems == []
    pivots = {hunt.name: {(p.column, p.hunt) for p in hunt.pivots} for hunt in catalog}
    assert ("DeviceId", "device-timeline") in pivots["ransomware-precursors"]
    assert ("InitiatingProcessSHA1", "where-file-seen") in pivots["ransomware-precursors"]
    assert ("RecipientEmailAddress", "emails-to") in pivots["zap-misses"]
    assert ("SenderFromAddress", "emails-from") in pivots["malicious-attachments-on-devices"]
    assert ("SHA1", "where-file-seen") in pivots["device-timeline"]
    assert ("DeviceId", "device-timeline") in pivots["where-file-seen"]
    # Every follow-up's parameter takes the kind of value its column holds.
    kinds = {"device_id": "DeviceId", "file_hash": "SHA", "email": "Address", "string": "Subject"}
    for hunt in catalog:
        for p in hunt.pivots:
            param = catalog.get(p.hunt).param(p.parameter)
            assert param is not None and kinds[param.type.value] in p.column, (hunt.name, p)
