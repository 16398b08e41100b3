"""Choosing rows in the Take actions modal as a person in real Slack can: by the numbers the
results table shows, or by what a column says; the review says how many rows that chose."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.actions.row_filter import parse_row_filter
from bot.config import Settings
from bot.errors import BadArgument
from bot.workspace.console import run_console

COLUMNS = ["LatestDeliveryLocation", "SenderFromAddress", "Subject"]


def test_a_filter_reads_as_a_person_writes_it():
    wanted = parse_row_filter(
        "latestdeliverylocation = 'Inbox/folder' and subject contains PRIZE", COLUMNS
    )
    assert wanted.describe() == "LatestDeliveryLocation = Inbox/folder and Subject contains PRIZE"
    assert wanted.matches({"LatestDeliveryLocation": "Inbox/folder", "Subject": "Your prize"})
    assert not wanted.matches({"LatestDeliveryLocation": "Junk folder", "Subject": "Your prize"})
    ends = parse_row_filter("SenderFromAddress ends with @shop-now.example", COLUMNS)
    assert ends.matches({"SenderFromAddress": "promo@SHOP-NOW.example"})


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Colour = red", "no column `Colour`"),
        ("Subject maybe x", "neither rows"),
    ],
)
def test_a_filter_that_is_unclear_says_why(text, says):
    with pytest.raises(BadArgument, match=says):
        parse_row_filter(text, COLUMNS)


async def test_rows_chosen_by_value_in_the_modal_and_counted_in_the_review(
    console_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "filter.txt"
    script.write_text(
        "/hunt spam-emails\nclick Take actions\nfill Action=Soft delete\n"
        "fill Rows=Colour = red\nfill Description=phish\nsubmit\n"
        "fill Rows=SenderFromAddress ends with @shop-now.example\nsubmit\n"
    )
    code = await run_console(console_settings, script=script, transcript=None)
    shown = capsys.readouterr().out
    assert code == 0, shown
    assert "| #" in shown or " # " in shown  # the table shows row numbers
    assert "These results have no column `Colour`" in shown
    review = " ".join(shown.rsplit("alice ▸ submit", 1)[1].split())
    assert "62 messages in" in review, review
    assert "62 rows of 196 where SenderFromAddress ends with @shop-now.example" in review, review
