"""A big export is written a chunk at a time, column by column; the file is the one `to_csv`
writes for the whole result, formula cells defused in every column however it is written."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from bot.defender.results import Column, HuntResult
from bot.formats import csv_columns, csv_header, csv_rows, to_csv

WHEN = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
NAMES = ["Subject", "Size", "Seen", "Flag", "Detail"]


def rows() -> list[dict[str, object]]:
    made = []
    for n in range(250):
        made.append(
            {
                "Subject": ["plain", '=HYPERLINK("http://x")', "", None, "+1 555", "a\n=b"][n % 6],
                "Size": [5, -5, 0, None, 2.5][n % 5],
                "Seen": WHEN if n % 3 else None,
                "Flag": n % 2 == 0,
                "Detail": {"n": n} if n % 4 == 0 else None,
            }
        )
    return made


def test_chunks_written_column_by_column_make_the_same_file_as_the_whole():
    result = HuntResult(columns=[Column(name=n, type="String") for n in NAMES], rows=rows())
    whole = to_csv(result, for_spreadsheets=True)
    chunked = csv_header(NAMES) + "".join(
        csv_columns(
            [[r.get(n) for r in result.rows[i : i + 100]] for n in NAMES], for_spreadsheets=True
        )
        for i in range(0, 250, 100)
    )
    assert chunked == whole
    assert csv_rows(NAMES, result.rows[:100], for_spreadsheets=True) == csv_columns(
        [[r.get(n) for r in result.rows[:100]] for n in NAMES], for_spreadsheets=True
    )


def test_formula_cells_are_defused_in_text_and_number_columns():
    table = list(
        csv.reader(
            io.StringIO(
                to_csv(
                    HuntResult(columns=[Column(name=n, type="String") for n in NAMES], rows=rows()),
                    for_spreadsheets=True,
                )
            )
        )
    )
    subjects = {line[0] for line in table[1:]}
    assert '\'=HYPERLINK("http://x")' in subjects and "'+1 555" in subjects
    assert not any(s.startswith(("=", "+", "-", "@")) for s in subjects)
    sizes = {line[1] for line in table[1:]}
    assert sizes == {"5", "'-5", "0", "", "2.5"}
    assert table[2][2] == "2026-11-02T09:30:00Z" and table[1][3] == "true"
    assert table[1][4] == '{"n":0}'


def test_scripts_get_the_values_as_they_are():
    text = to_csv(
        HuntResult(
            columns=[Column(name="Subject", type="String")],
            rows=[{"Subject": "=1+1"}, {"Subject": "-x"}],
        )
    )
    assert text == "Subject\n=1+1\n-x\n"
