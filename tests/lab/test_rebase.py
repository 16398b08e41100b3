"""The lab stays live: opened days after it was made, `ago(7d)` still finds the planted rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb_kql

from bot.defender.lab import LabTenant
from bot.defender.lab.scenarios import message_id
from bot.defender.lab.store import read_anchor, rebase
from bot.hunts.catalog import load_catalog

ZAP_MISS = message_id("zap-miss")
RECENT_ZAP = (
    f'EmailPostDeliveryEvents | where Timestamp > ago(7d) and NetworkMessageId == "{ZAP_MISS}"'
    " | project Timestamp"
)


def age_lab(path: Path, days: int) -> None:
    """Make the file look as if it was created `days` ago: data and anchor both move back."""
    con = duckdb_kql.connect(str(path))
    try:
        rebase(con, datetime.now(UTC) - timedelta(days=days))
        assert duckdb_kql.kql(con, RECENT_ZAP).fetchall() == []  # aged out, as intended
    finally:
        con.close()


async def test_opening_an_old_lab_brings_its_data_forward(lab_copy: Path):
    age_lab(lab_copy, days=10)
    tenant = LabTenant.open(lab_copy)
    try:
        recent = await tenant.run_query(RECENT_ZAP)
        hunt = await tenant.run_query(load_catalog().get("zap-misses").render({}).kql)
    finally:
        await tenant.aclose()
    assert recent.row_count == 1
    assert datetime.now(UTC) - recent.rows[0]["Timestamp"] < timedelta(days=2)
    assert ZAP_MISS in {row["NetworkMessageId"] for row in hunt.rows}


async def test_the_anchor_moves_to_now_and_relative_times_are_kept(lab_copy: Path):
    before = await _zap_and_email_times(lab_copy)
    age_lab(lab_copy, days=10)
    after = await _zap_and_email_times(lab_copy)
    assert after[0] - after[1] == before[0] - before[1]
    con = duckdb_kql.connect(str(lab_copy))
    try:
        assert datetime.now(UTC) - read_anchor(con) < timedelta(minutes=1)
    finally:
        con.close()


async def _zap_and_email_times(path: Path) -> tuple[datetime, datetime]:
    tenant = LabTenant.open(path)
    try:
        zap = await tenant.run_query(
            f'EmailPostDeliveryEvents | where NetworkMessageId == "{ZAP_MISS}" | project Timestamp'
        )
        sent = await tenant.run_query(
            f'EmailEvents | where NetworkMessageId == "{ZAP_MISS}" | project Timestamp'
        )
    finally:
        await tenant.aclose()
    return zap.rows[0]["Timestamp"], sent.rows[0]["Timestamp"]


async def test_a_lab_left_open_while_its_file_ages_is_brought_forward_before_a_hunt(
    lab_copy: Path,
):
    tenant = LabTenant.open(lab_copy)  # holds nothing open between hunts
    try:
        age_lab(lab_copy, days=10)  # another process may change the file meanwhile
        recent = await tenant.run_query(RECENT_ZAP)
    finally:
        await tenant.aclose()
    assert recent.row_count == 1
    assert datetime.now(UTC) - recent.rows[0]["Timestamp"] < timedelta(days=2)
