"""The Go hunt… menu on a results page: within Slack's limits whatever the rows hold, plain text
only, and never carrying the value it hunts for (that is read from the stored row)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.defender.results import Column
from bot.hunts.model import Pivot
from bot.slack.blocks import PAGE_ROWS, render_results
from bot.slack.ids import ResultsAction
from bot.state.results import StoredResult
from tests.slack.safety import assert_safe_message

COLUMNS = ["DeviceName", "DeviceId", "SenderFromAddress", "Subject", "SHA1"]
PIVOTS = [
    Pivot(
        column="DeviceId", hunt="device-timeline", parameter="device_id", label="Device timeline"
    ),
    Pivot(column="SenderFromAddress", hunt="emails-from", parameter="sender", label="x" * 30),
    Pivot(column="Subject", hunt="emails-by-subject", parameter="subject", label="Same subject"),
    Pivot(column="SHA1", hunt="where-file-seen", parameter="sha1", label="Where seen"),
    Pivot(column="DeviceName", hunt="device-timeline", parameter="device_id", label="By name"),
]
HOSTILE = "<!channel> :x: *bold* <https://evil.example|Approve> " + "ü" * 200


def stored(rows: int) -> StoredResult:
    return StoredResult(
        id="0123456789abcdef0123456789abcdef",
        hunt="somewhere",
        title="Results",
        arguments={},
        parameters={},
        requested_by="U0ALICE",
        team="T0",
        channel="C0SOC",
        backend="lab",
        started_at=datetime(2026, 11, 22, 8, tzinfo=UTC),
        seconds=1.0,
        columns=[Column(name=c, type="String") for c in COLUMNS],
        display_columns=COLUMNS,
        entity_kinds=[],
        row_count=rows,
        truncated=False,
    )


def menu(blocks: list[dict]) -> dict | None:
    return next(
        (
            e
            for b in blocks
            for e in b.get("elements", [])
            if e.get("action_id") == ResultsAction.GO_HUNT
        ),
        None,
    )


def test_a_full_page_of_hostile_values_stays_within_slacks_limits():
    rows = [{c: f"{HOSTILE}{n}" for c in COLUMNS} for n in range(PAGE_ROWS)]
    message = render_results(stored(100_000), rows, 10_000, pivots=PIVOTS)
    assert_safe_message(message.blocks, message.text)
    found = menu(message.blocks)
    assert found is not None and found["type"] == "static_select"
    assert found["placeholder"]["text"] == "Go hunt…"
    options = found["options"]
    assert len(options) == PAGE_ROWS * len(PIVOTS) <= 100
    for option in options:
        assert option["text"]["type"] == "plain_text" and option["text"]["emoji"] is False
        assert len(option["text"]["text"]) <= 75
        assert len(option["value"]) <= 75
        assert HOSTILE[:10] not in option["value"]  # the value hunted for is not carried
    assert options[0]["text"]["text"].startswith("Row 99,991 · Device timeline (<!channel> :x:")
    assert options[-1]["text"]["text"].startswith("Row 100,000 · By name (")


def test_rows_without_the_value_offer_nothing_for_it_and_no_pivots_no_menu():
    rows = [{"DeviceId": "", "Subject": None, "SHA1": "  "}, {"DeviceId": "abc"}]
    message = render_results(stored(2), rows, 1, pivots=PIVOTS)
    texts = [o["text"]["text"] for o in menu(message.blocks)["options"]]
    assert texts == ["Row 2 · Device timeline (abc)"]
    assert menu(render_results(stored(2), rows, 1).blocks) is None
    assert menu(render_results(stored(0), [], 1, pivots=PIVOTS).blocks) is None
