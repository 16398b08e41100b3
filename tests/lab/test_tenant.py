"""The lab tenant as a hunting backend: Graph's column types, aware datetimes, readable errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from bot.defender.lab import LabTenant, load_schema
from bot.defender.results import ROW_CAP
from bot.errors import LabError, QueryError


async def test_result_columns_carry_graph_type_names(lab):
    result = await lab.run_query(
        "print when = datetime(2026-01-02T03:04:05Z), text = 'x', big = long(5), small = int(3),"
        " flag = true, ratio = real(1.5), bag = dynamic({\"a\": [1, 2]}),"
        " id = guid(74be27de-1e4e-49d9-b579-fe0b331d3642), span = 90m"
    )
    assert {c.name: c.type for c in result.columns} == {
        "when": "DateTime", "text": "String", "big": "Int64", "small": "Int32",
        "flag": "Boolean", "ratio": "Double", "bag": "Object", "id": "Guid", "span": "TimeSpan",
    }
    (row,) = result.rows
    assert row["when"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert row["when"].tzinfo is UTC
    assert row["bag"] == {"a": [1, 2]}
    assert row["id"] == "74be27de-1e4e-49d9-b579-fe0b331d3642"


async def test_table_datetimes_are_aware_utc(lab):
    result = await lab.run_query("EmailEvents | take 5 | project Timestamp, AttachmentCount")
    assert [c.type for c in result.columns] == ["DateTime", "Int32"]
    assert all(row["Timestamp"].tzinfo is UTC for row in result.rows)


async def test_no_row_is_in_the_future(lab):
    now = datetime.now(UTC)
    for table, schema in load_schema().items():
        if ("Timestamp", "datetime") not in schema.columns:
            continue  # inventories (DeviceTvm*...) have none; one documents it as a string
        result = await lab.run_query(f"{table} | summarize latest = max(Timestamp)")
        latest = result.rows[0]["latest"]
        assert latest is None or latest <= now, table


async def test_a_syntax_error_is_a_query_error(lab):
    with pytest.raises(QueryError, match="parse"):
        await lab.run_query("EmailEvents | wherex Subject == 'x'")


async def test_an_unknown_column_is_a_query_error_in_kql_terms(lab):
    with pytest.raises(QueryError) as caught:
        await lab.run_query("EmailEvents | where Subjekt == 'x'")
    assert 'unknown column "Subjekt"' in caught.value.message
    assert "FROM clause" not in caught.value.message


async def test_an_unknown_table_is_a_query_error(lab):
    with pytest.raises(QueryError, match='unknown table "EmailEventz"'):
        await lab.run_query("EmailEventz | take 1")


async def test_an_unsupported_construct_is_a_lab_error_that_keeps_the_hunt_valid(lab):
    with pytest.raises(LabError) as caught:
        await lab.run_query("DeviceInfo | evaluate bag_unpack(AdditionalFields)")
    assert not isinstance(caught.value, QueryError)
    assert "lab tenant cannot run" in caught.value.message
    assert "still valid for Microsoft Defender" in (caught.value.hint or "")


async def test_results_stop_at_graphs_row_cap(lab):
    result = await lab.run_query(f"range n from 1 to {ROW_CAP + 10} step 1")
    assert result.row_count == ROW_CAP
    assert result.truncated


async def test_queries_can_arrive_concurrently(lab):
    results = await asyncio.gather(*(lab.run_query("EmailEvents | count") for _ in range(5)))
    assert len({r.rows[0]["Count"] for r in results}) == 1


async def test_a_closed_lab_refuses_queries(lab_copy: Path):
    tenant = LabTenant.open(lab_copy)
    await tenant.aclose()
    await tenant.aclose()  # closing twice is harmless
    with pytest.raises(LabError, match="closed"):
        await tenant.run_query("EmailEvents | count")


def test_a_missing_lab_is_an_error_unless_creation_is_allowed(tmp_path: Path):
    with pytest.raises(LabError, match="no lab tenant"):
        LabTenant.open(tmp_path / "missing.duckdb", create_if_missing=False)
    assert not (tmp_path / "missing.duckdb").exists()


async def test_a_missing_lab_is_created_on_open(tmp_path: Path):
    path = tmp_path / "nested" / "lab.duckdb"
    tenant = LabTenant.open(path)
    try:
        result = await tenant.run_query("EmailEvents | count")
        assert result.rows[0]["Count"] > 0
    finally:
        await tenant.aclose()


def test_a_duckdb_file_that_is_not_a_lab_is_refused(tmp_path: Path):
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(LabError, match="not a hunt-bot lab"):
        LabTenant.open(path)
