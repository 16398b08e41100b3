"""The results message stays within Slack's limits and shows data without live markup,
whatever the result: wide rows, huge cells, 100,000 rows, empty strings, nulls, unicode."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.defender.results import Column
from bot.hunts import load_catalog
from bot.slack.blocks import (
    PAGE_ROWS,
    TABLE_CHAR_BUDGET,
    render_catalog,
    render_notice,
    render_results,
)
from bot.state.results import StoredResult
from tests.slack.safety import assert_safe_message

HOSTILE = [
    "<!channel> urgent",
    "<https://evil.example|Approve>",
    "a & b < c > d",
    "",
    None,
    "x" * 10_000,
    "🎣 ünïcödé 中文 \u202e reversed",
    "*bold* _it_ ~s~ `code`",
    "line\nbreak\ttab",
]


def meta(columns: int, rows: int, **extra) -> StoredResult:
    values = dict(
        id="r1",
        hunt="spam-emails",
        title="<!here> Spam <b>emails</b> & more",
        arguments={"threat": "<!channel>"},
        parameters={"threat": "<!channel>", "lookback": "7d"},
        requested_by="U0ALICE",
        team="T0",
        channel="C0SOC",
        backend="lab",
        started_at=datetime(2026, 11, 22, 8, tzinfo=UTC),
        seconds=1.23,
        columns=[Column(name=f"Col{i}", type="String") for i in range(columns)],
        display_columns=[f"Col{i}" for i in range(columns)],
        entity_kinds=["email"],
        row_count=rows,
        truncated=rows >= 100_000,
        lookback="7d",
    )
    values.update(extra)
    return StoredResult(**values)


def hostile_rows(columns: int, count: int) -> list[dict]:
    return [
        {f"Col{c}": HOSTILE[(r + c) % len(HOSTILE)] for c in range(columns)} for r in range(count)
    ]


@pytest.mark.parametrize("columns", [1, 11, 20, 35])
@pytest.mark.parametrize("page", [1, 7, 10_000])
def test_any_page_of_any_result_fits_and_is_inert(columns, page):
    stored = meta(columns, 100_000)
    message = render_results(stored, hostile_rows(columns, PAGE_ROWS), page)
    assert_safe_message(message.blocks, message.text)
    table = next(b for b in message.blocks if b["type"] == "table")
    assert len(table["rows"]) == PAGE_ROWS + 1
    assert all(len(row) <= 20 for row in table["rows"])
    assert sum(len(cell["text"]) for row in table["rows"] for cell in row) <= TABLE_CHAR_BUDGET + 40
    # Data is shown as typed (raw_text is literal), clipped but never rewritten.
    shown = {cell["text"] for row in table["rows"][1:] for cell in row}
    assert any(text.startswith("<!channel>") for text in shown)


def test_truncation_and_page_position_are_said():
    message = render_results(meta(3, 100_000), hostile_rows(3, PAGE_ROWS), 2)
    flat = str(message.blocks)
    assert "truncated" in flat
    assert "Page 2 of 10,000" in flat
    labels = [
        e["text"]["text"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["◀ Previous", "Next ▶", "Export CSV", "Re-run", "Take actions"]


def test_no_rows_is_said_plainly_and_offers_only_rerun():
    message = render_results(meta(3, 0, entity_kinds=[]), [], 1)
    assert_safe_message(message.blocks, message.text)
    assert "No rows: nothing matched" in str(message.blocks)
    labels = [
        e["text"]["text"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["Re-run"]


def test_parameters_typed_by_the_person_are_not_live_markup():
    message = render_results(meta(2, 1), hostile_rows(2, 1), 1)
    context = next(b for b in message.blocks if b["type"] == "context")
    assert context["elements"][0]["type"] == "plain_text"
    assert "<!channel>" in context["elements"][0]["text"]


def test_catalog_and_notices_are_safe():
    catalog_message = render_catalog(load_catalog())
    assert_safe_message(catalog_message.blocks, catalog_message.text)
    notice = render_notice("There is no hunt called `<!channel>`.", "Did you mean <@U1|x>?")
    assert_safe_message(notice.blocks, notice.text)


def test_every_row_carries_its_number_in_the_whole_result():
    stored = meta(35, 25)
    table = next(
        b
        for b in render_results(stored, hostile_rows(35, PAGE_ROWS), 2).blocks
        if b["type"] == "table"
    )
    assert table["rows"][0][0]["text"] == "#"
    assert [r[0]["text"] for r in table["rows"][1:]] == [str(n) for n in range(11, 21)]
    assert len(table["rows"][0]) <= 20 and len(table["column_settings"]) == len(table["rows"][0])
