"""A big lab is generated straight into DuckDB a batch at a time, never held whole in memory;
what it holds is exactly what the generator makes, the same seed giving the same rows."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from bot.defender.lab import generate, load_schema
from bot.defender.lab.generate import QuickRandom, generate_into, generate_rows, load_rows
from bot.defender.lab.loader import to_record_batch
from bot.defender.lab.rows import Columns, LabRows
from bot.defender.lab.schema import create_tables
from bot.errors import LabError

ANCHOR = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_the_quick_generator_draws_every_value_in_range_and_repeats_from_its_seed():
    quick = QuickRandom(11)
    assert {quick.randrange(5) for _ in range(2_000)} == set(range(5))
    assert {quick.randrange(-3, 2) for _ in range(2_000)} == set(range(-3, 2))
    assert {quick.choice("abc") for _ in range(2_000)} == {"a", "b", "c"}
    assert {quick.randrange(0, 10, 5) for _ in range(2_000)} == {0, 5}  # random.Random's own
    with pytest.raises(IndexError):
        quick.choice([])
    with pytest.raises(ValueError):
        quick.randrange(3, 3)
    again, same = QuickRandom(11), QuickRandom(11)
    assert [again.randrange(1_000) for _ in range(50)] == [same.randrange(1_000) for _ in range(50)]


def test_rows_handed_on_in_batches_are_all_counted():
    handed: list[tuple[str, int]] = []
    rows = LabRows(sink=lambda table, batch: handed.append((table, len(batch))), batch=3)
    for n in range(7):
        rows.add("EmailEvents", Subject=f"s{n}")
    rows.add("EmailUrlInfo", Url="https://x")
    assert handed == [("EmailEvents", 3), ("EmailEvents", 3)]
    rows.flush()
    assert handed[2:] == [("EmailEvents", 1), ("EmailUrlInfo", 1)]
    assert rows.count("EmailEvents") == 7 and rows.counts()["EmailUrlInfo"] == 1


def table(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[object, ...]]:
    return con.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()


def test_a_lab_made_in_batches_holds_what_the_generator_makes(monkeypatch):
    # Small batches, so every big table goes in several of them and the last one is partial.
    monkeypatch.setattr(generate.LabRows.__init__, "__defaults__", (None, 700))
    streamed = duckdb.connect()
    create_tables(streamed)
    counts = generate_into(streamed, anchor=ANCHOR, seed=3, rows=1_500)
    whole = duckdb.connect()
    create_tables(whole)
    made = generate_rows(anchor=ANCHOR, seed=3, rows=1_500)
    load_rows(whole, made)
    assert counts == made.counts()
    for name in load_schema():
        assert table(streamed, name) == table(whole, name), name
    assert streamed.execute('SELECT count(*) FROM "EmailEvents"').fetchone() == (
        made.count("EmailEvents"),
    )


def test_a_column_defender_does_not_document_is_refused_however_it_is_added():
    with pytest.raises(LabError, match="undocumented columns to EmailEvents"):
        to_record_batch("EmailEvents", [{"Subject": "hi", "Colour": "red"}])
    with pytest.raises(LabError, match="undocumented columns to EmailEvents"):
        to_record_batch("EmailEvents", Columns(2, {"Subject": ["a", "b"], "Colour": "red"}))
    with pytest.raises(LabError, match="3 values for 2 rows"):
        LabRows().add_columns("EmailEvents", 2, Subject=["a", "b", "c"])


def test_values_keep_their_types_and_empty_text_stays_empty():
    con = duckdb.connect()
    create_tables(con)
    rows = LabRows()
    rows.add(
        "EmailEvents",
        Timestamp=ANCHOR,
        Subject="",
        ThreatTypes=None,
        UrlCount=3,
        NetworkMessageId="0f0e0d0c-0000-4000-8000-000000000001",
    )
    rows.add(
        "EmailEvents",
        Timestamp=ANCHOR,
        Subject="=cmd",
        ThreatTypes="Phish",
        UrlCount=-1,
        NetworkMessageId="0f0e0d0c-0000-4000-8000-000000000002",
    )
    rows.add(
        "IdentityInfo",
        AccountUpn="a@contoso.com",
        Tags=[],
        IsAccountEnabled=True,
        AssignedRoles=["Global Administrator"],
    )
    load_rows(con, rows)
    assert con.execute(
        'SELECT Timestamp, Subject, ThreatTypes, UrlCount FROM "EmailEvents" ORDER BY UrlCount'
    ).fetchall() == [(ANCHOR, "=cmd", "Phish", -1), (ANCHOR, "", None, 3)]
    assert con.execute(
        'SELECT Tags, IsAccountEnabled, AssignedRoles FROM "IdentityInfo"'
    ).fetchall() == [("[]", True, '["Global Administrator"]')]
