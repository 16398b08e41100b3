"""Filters narrow the results message itself: rows keep their number in the whole result, pages
turn within the matching rows, Clear filter brings back all of them, and Take actions from a
filtered view starts with the filter in its Rows field. A filter the results can't answer is
said beside the field."""

from __future__ import annotations

import json
from typing import Any

from bot.slack.ids import INPUT_ELEMENT, ResultsAction, ResultsBlock, ResultsView
from bot.workspace.model import Message
from tests.slack.bot_under_test import SocBot, soc_bot
from tests.slack.safety import assert_safe_message

SHOP = "SenderFromAddress ends with @shop-now.example"


def table_of(message: Message) -> list[list[str]]:
    table = next(b for b in message.blocks if b["type"] == "table")
    return [[_cell_text(cell) for cell in row] for row in table["rows"]]


def _cell_text(cell: dict[str, Any]) -> str:
    if cell["type"] == "raw_text":
        return str(cell["text"])
    return "".join(e["text"] for part in cell["elements"] for e in part["elements"])


def column(rows: list[list[str]], name: str) -> list[str]:
    index = rows[0].index(name)
    return [row[index] for row in rows[1:]]


async def results_message(bot: SocBot) -> Message:
    (found,) = bot.messages_with("Take actions")
    return found


async def test_a_filter_narrows_the_view_keeps_row_numbers_and_pages_within_the_matches(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt spam-emails")
        everything = await results_message(bot)
        result_id = bot.button_value(everything, ResultsAction.EXPORT)
        meta = await bot.services.results.meta(result_id)
        all_rows = await bot.services.results.all_rows(result_id)
        shop = [
            n + 1
            for n, row in enumerate(all_rows)
            if str(row["SenderFromAddress"]).endswith("@shop-now.example")
        ]
        assert 10 < len(shop) < meta.row_count  # a filter that narrows, and needs paging

        await bot.run("click Filter", f"fill Rows where={SHOP}", "submit")
        filtered = await results_message(bot)
        assert_safe_message(filtered.blocks, filtered.text)
        said = str(filtered.blocks)
        assert f"{len(shop)} of {meta.row_count} rows" in said and SHOP in said
        rows = table_of(filtered)
        # Each row keeps its number in the whole result, so "Take actions rows 12" still means it.
        assert [int(n) for n in column(rows, "#")] == shop[:10]
        assert all(s.endswith("@shop-now.example") for s in column(rows, "SenderFromAddress"))
        assert f"Page 1 of {-(-len(shop) // 10)}" in said

        await bot.run("click Next")
        second = await results_message(bot)
        assert [int(n) for n in column(table_of(second), "#")] == shop[10:20]
        assert "matches 11-" in str(second.blocks)

        # Take actions from the filtered view starts with the filter as its rows.
        await bot.run("click Take actions")
        modal = bot.slack.workspace.top_view("U0ALICE")
        assert modal is not None
        assert SHOP in json.dumps(modal.spec)
        await bot.run("cancel")

        await bot.run("click Clear filter")
        cleared = await results_message(bot)
        assert [int(n) for n in column(table_of(cleared), "#")] == list(range(1, 11))
        assert "Clear filter" not in str(cleared.blocks)
        assert f"rows 1-10 of {meta.row_count}" in str(cleared.blocks)


async def test_a_filter_the_results_cannot_answer_is_said_beside_the_field(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt spam-emails")
        results = await results_message(bot)
        result_id = bot.button_value(results, ResultsAction.EXPORT)
        metadata = {"result": result_id, "channel": "C0SOC", "message": results.ts}
        for typed, says in [
            ("Colour = red", "These results have no column `Colour`"),
            ("1-5", "A filter names a column and a value"),
            ("", "Say which rows to show"),
        ]:
            before = len(bot.calls)
            answer = await bot.submit_view(
                "alice",
                ResultsView.FILTER,
                metadata | {"shown_to": "U0ALICE"},
                {
                    ResultsBlock.FILTER: {
                        INPUT_ELEMENT: {"type": "plain_text_input", "value": typed}
                    }
                },
            )
            body = answer.json()
            assert body["response_action"] == "errors", body
            assert says in body["errors"][ResultsBlock.FILTER], body
            await bot.slack.calls.quiet(period=0.3)
            assert not [c for c in bot.calls[before:] if c.method == "chat.update"]


async def test_a_filter_matching_nothing_says_so_and_offers_clear(settings):
    async with soc_bot(settings) as bot:
        await bot.run(
            "/hunt spam-emails",
            "click Filter",
            "fill Rows where=Subject contains zzz-none",
            "submit",
        )
        message = await results_message(bot)
        said = str(message.blocks)
        assert "0 of 196 rows" in said and "No row matches that filter" in said
        assert not [b for b in message.blocks if b["type"] == "table"]
        labels = [
            e["text"]["text"]
            for b in message.blocks
            if b["type"] == "actions"
            for e in b["elements"]
        ]
        assert "Clear filter" in labels and "Next ▶" not in labels
