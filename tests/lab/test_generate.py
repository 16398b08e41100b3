"""Sample data: deterministic from a seed, shaped like Defender's, quick to create."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.defender.lab import DEFAULT_ROWS, generate_rows, load_schema

ANCHOR = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def rows():
    return generate_rows(anchor=ANCHOR, seed=0, rows=1_000)


def test_the_same_seed_gives_the_same_rows(rows):
    assert generate_rows(anchor=ANCHOR, seed=0, rows=1_000).tables == rows.tables


def test_a_different_seed_gives_different_rows(rows):
    other = generate_rows(anchor=ANCHOR, seed=1, rows=1_000)
    assert other.tables["EmailEvents"] != rows.tables["EmailEvents"]
    assert other.tables["DeviceProcessEvents"] != rows.tables["DeviceProcessEvents"]


def test_rows_scales_the_big_tables():
    small = generate_rows(anchor=ANCHOR, seed=0, rows=500).counts()
    large = generate_rows(anchor=ANCHOR, seed=0, rows=4_000).counts()
    for table in ("EmailEvents", "IdentityLogonEvents", "DeviceProcessEvents"):
        assert 500 <= small[table] < 600
        assert 4_000 <= large[table] < 4_100


def test_every_table_has_rows(rows):
    assert all(count > 0 for count in rows.counts().values()), rows.counts()


def test_timestamps_are_aware_and_within_a_fortnight_before_the_anchor(rows):
    timed = {name for name, table in load_schema().items()
             if ("Timestamp", "datetime") in table.columns}
    for table, table_rows in rows.tables.items():
        if table not in timed:
            continue  # inventories (DeviceTvm*...) have none; one documents it as a string
        for row in table_rows:
            stamp = row.get("Timestamp")
            assert stamp is not None and stamp.tzinfo is not None, table
            assert ANCHOR - timedelta(days=14, hours=1) <= stamp <= ANCHOR, table


def test_identifiers_have_defender_shapes(rows):
    for row in rows.tables["DeviceProcessEvents"]:
        assert HEX40.match(row["DeviceId"])
        assert HEX40.match(row["SHA1"]) and HEX40.match(row["InitiatingProcessSHA1"])
        assert HEX64.match(row["SHA256"])
    for row in rows.tables["EmailEvents"]:
        assert GUID.match(row["NetworkMessageId"])
    for row in rows.tables["EmailAttachmentInfo"]:
        assert HEX64.match(row["SHA256"])


def test_mail_columns_use_documented_values():
    # The default size: big enough for the rarer verdicts (malware delivered, then zapped).
    rows = generate_rows(anchor=ANCHOR, seed=0, rows=DEFAULT_ROWS)
    emails = rows.tables["EmailEvents"]
    assert {e["EmailDirection"] for e in emails} == {"Inbound", "Outbound", "Intra-org"}
    assert {e["ThreatTypes"] for e in emails} >= {"", "Spam", "Phish", "Malware", "Phish, Spam"}
    assert {e["DeliveryAction"] for e in emails} <= {"Delivered", "Junked", "Blocked", "Replaced"}
    assert {e["LatestDeliveryLocation"] for e in emails} <= {
        "Inbox/folder", "Junk folder", "Deleted items", "Quarantine", "On-premises/external",
    }
    post = rows.tables["EmailPostDeliveryEvents"]
    assert {p["ActionType"] for p in post} >= {"Phish ZAP", "Malware ZAP"}
    assert {p["ActionResult"] for p in post} == {"Success", "Error"}


def test_the_default_lab_is_created_quickly(default_lab):
    # About 1.5 s on a developer laptop; the bound leaves room for a busy CI runner.
    assert default_lab.seconds < 6
    assert default_lab.rows["EmailEvents"] >= DEFAULT_ROWS
