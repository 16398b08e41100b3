"""Results as CSV and JSON: all columns, ISO datetimes, formulas defused for spreadsheets."""

import csv
import io
import json
from datetime import UTC, datetime

from bot.defender.results import Column, HuntResult
from bot.formats import cell_text, to_csv, to_json

RESULT = HuntResult.build(
    [Column(name="Timestamp", type="DateTime"), Column(name="Subject", type="String")],
    [
        {"Timestamp": datetime(2026, 11, 20, 8, 30, tzinfo=UTC), "Subject": '=HYPERLINK("x")'},
        {"Timestamp": None, "Subject": "plain, with a comma"},
    ],
)


def test_csv_keeps_every_value_for_scripts():
    rows = list(csv.reader(io.StringIO(to_csv(RESULT))))
    assert rows == [
        ["Timestamp", "Subject"],
        ["2026-11-20T08:30:00Z", '=HYPERLINK("x")'],
        ["", "plain, with a comma"],
    ]


def test_csv_for_spreadsheets_defuses_formulas():
    rows = list(csv.reader(io.StringIO(to_csv(RESULT, for_spreadsheets=True))))
    assert rows[1][1] == '\'=HYPERLINK("x")'
    assert rows[2][1] == "plain, with a comma"


def test_json_carries_types_rows_and_truncation():
    document = json.loads(to_json(RESULT, hunt="h"))
    assert document["hunt"] == "h"
    assert document["columns"][0] == {"name": "Timestamp", "type": "DateTime"}
    assert document["rows"][0]["Timestamp"] == "2026-11-20T08:30:00Z"
    assert document["truncated"] is False


def test_cells_read_as_a_person_expects():
    assert cell_text(None) == ""
    assert cell_text(True) == "true"
    assert cell_text(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05Z"
    assert cell_text({"a": [1]}) == '{"a":[1]}'
