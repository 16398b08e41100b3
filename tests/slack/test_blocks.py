"""The results message stays within Slack's limits and shows data without live markup,
whatever the result: wide rows, huge cells, 100,000 rows, empty strings, nulls, unicode."""

from __future__ import annotations

import json
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
from bot.state.results import Selection, StoredResult
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
    assert labels == ["◀ Previous", "Next ▶", "Filter", "Export CSV", "Re-run", "Take actions"]


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


PORTAL = "https://security.microsoft.com/"
ENTITY_COLUMNS = ["DeviceName", "DeviceId", "SHA256", "NetworkMessageId", "RecipientEmailAddress"]


def entity_meta() -> StoredResult:
    stored = meta(0, 3)
    stored.columns = [Column(name=n, type="String") for n in ENTITY_COLUMNS]
    stored.display_columns = ENTITY_COLUMNS
    return stored


def links_in(message) -> list[dict]:
    table = next(b for b in message.blocks if b["type"] == "table")
    return [
        element
        for row in table["rows"]
        for cell in row
        if cell["type"] == "rich_text"
        for part in cell["elements"]
        for element in part["elements"]
    ]


def test_device_file_and_email_ids_link_to_their_portal_pages():
    device, digest = "a" * 40, "b" * 64
    row = {
        "DeviceName": "ws-alice.contoso.example",
        "DeviceId": device,
        "SHA256": digest,
        "NetworkMessageId": "6f1c0a9e-1111-2222-3333-444455556666",
        "RecipientEmailAddress": "alice@contoso.example",
    }
    message = render_results(entity_meta(), [row], 1, tenant="tenant-1")
    assert_safe_message(message.blocks, message.text)
    links = {link["text"]: link["url"] for link in links_in(message)}
    assert links["ws-alice.contoso.example"] == links[device]  # the name opens the device page
    assert links[device].startswith(f"{PORTAL}machines/v2/{device}/overview")
    assert links[digest].startswith(f"{PORTAL}file/{digest}/overview")
    assert links["6f1c0a9e-1111-2222-3333-444455556666"].startswith(f"{PORTAL}emailentity?")
    assert "recipient=alice%40contoso.example" in links["6f1c0a9e-1111-2222-3333-444455556666"]
    assert all("tid=tenant-1" in url for url in links.values())


@pytest.mark.parametrize(
    "hostile",
    [
        "<https://evil.example|Approve>",
        "x/../../evil",
        "https://evil.example",
        "a?b=c#frag",
        "<!channel>",
        "x" * 500,
    ],
)
def test_a_hostile_value_never_becomes_a_link_of_its_own(hostile):
    row = {
        "DeviceName": hostile,
        "DeviceId": hostile,
        "SHA256": hostile,
        "NetworkMessageId": "6f1c0a9e-1111-2222-3333-444455556666",
        "RecipientEmailAddress": hostile,
    }
    message = render_results(entity_meta(), [row], 1)
    assert_safe_message(message.blocks, message.text)
    # Nothing it says is linked (the email's link needs a recipient that looks like one), and
    # it is still shown, literally, as raw text.
    assert links_in(message) == []
    table = next(b for b in message.blocks if b["type"] == "table")
    assert any(c.get("text", "").startswith(hostile[:20]) for c in table["rows"][1])


def test_a_linked_value_is_only_ever_a_path_under_the_portal():
    # Shaped like an id, yet trying to climb out of the path: it stays one encoded segment.
    row = {"DeviceName": "d", "DeviceId": "..", "SHA256": "@evil.example", "NetworkMessageId": ""}
    message = render_results(entity_meta(), [row], 1)
    for link in links_in(message):
        assert link["url"].startswith(PORTAL), link
        assert "evil.example/" not in link["url"].removeprefix(PORTAL).split("/")[0]


def test_a_filtered_page_keeps_each_rows_number_and_says_what_it_shows():
    stored = meta(3, 400)
    chosen = Selection(id="fabc", text="Col0 contains x", positions=[4, 17, 250, 399])
    message = render_results(
        stored, hostile_rows(3, 4), 1, numbers=[p + 1 for p in chosen.positions], selection=chosen
    )
    assert_safe_message(message.blocks, message.text)
    table = next(b for b in message.blocks if b["type"] == "table")
    assert [r[0]["text"] for r in table["rows"][1:]] == ["5", "18", "251", "400"]
    said = str(message.blocks)
    assert "4 of 400 rows" in said and "Col0 contains x" in said
    buttons = {
        e["text"]["text"]: e["value"]
        for b in message.blocks
        if b["type"] == "actions"
        for e in b["elements"]
    }
    assert "Clear filter" in buttons and "Next ▶" not in buttons
    assert json.loads(buttons["Take actions"]) == {"result": "r1", "rows": "Col0 contains x"}
