"""Block Kit limits are refused as Slack refuses them: `invalid_blocks` naming the problem."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.workspace.limits import LIMITS, message_block_problems, view_problems
from bot.workspace.webapi import WebApiStandIn


def text(value: str, kind: str = "mrkdwn") -> dict[str, Any]:
    return {"type": kind, "text": value}


def section(value: str = "x") -> dict[str, Any]:
    return {"type": "section", "text": text(value)}


def button(label: str = "Go", value: str = "v", action_id: str = "go") -> dict[str, Any]:
    return {
        "type": "button",
        "text": text(label, "plain_text"),
        "value": value,
        "action_id": action_id,
    }


def table(rows: int = 2, cells: int = 2, cell: str = "c") -> dict[str, Any]:
    return {
        "type": "table",
        "rows": [[{"type": "raw_text", "text": cell} for _ in range(cells)] for _ in range(rows)],
    }


def actions(count: int) -> dict[str, Any]:
    return {"type": "actions", "elements": [button(action_id=f"a{i}") for i in range(count)]}


FITS = [
    [section() for _ in range(LIMITS.message_blocks)],
    [section("x" * LIMITS.text_object)],
    [{"type": "header", "text": text("h" * LIMITS.header_text, "plain_text")}],
    [{"type": "section", "fields": [text("f") for _ in range(LIMITS.section_fields)]}],
    [actions(LIMITS.actions_elements)],
    [{"type": "actions", "elements": [button("b" * 75, "v" * 2000)]}],
    [table(LIMITS.table_rows, LIMITS.table_cells_per_row)],
    [section(), table(), {"type": "divider"}],
]

REFUSED = [
    ([section() for _ in range(51)], "no more than 50 items allowed [json-pointer:/blocks]"),
    ([section("x" * 3001)], "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"),
    (
        [{"type": "header", "text": text("h" * 151, "plain_text")}],
        "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
    ),
    (
        [{"type": "section", "fields": [text("f") for _ in range(11)]}],
        "no more than 10 items allowed [json-pointer:/blocks/0/fields]",
    ),
    ([actions(26)], "no more than 25 items allowed [json-pointer:/blocks/0/elements]"),
    (
        [{"type": "actions", "elements": [button("b" * 76)]}],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
    ),
    (
        [{"type": "actions", "elements": [button(value="v" * 2001)]}],
        "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
    ),
    ([table(), table()], "only one table block is allowed per message [json-pointer:/blocks/1]"),
    ([table(rows=101)], "no more than 100 items allowed [json-pointer:/blocks/0/rows]"),
    ([table(cells=21)], "no more than 20 items allowed [json-pointer:/blocks/0/rows/0]"),
    ([table(cell="")], "must be more than 0 characters [json-pointer:/blocks/0/rows/0/0/text]"),
    (
        [{**section(), "block_id": "b" * 256}],
        "must be less than 256 characters [json-pointer:/blocks/0/block_id]",
    ),
    (
        [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
        "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
    ),
    ([section("")], "must be more than 0 characters [json-pointer:/blocks/0/text/text]"),
]


@pytest.mark.parametrize("blocks", FITS)
def test_blocks_at_the_limits_fit(blocks: list[dict[str, Any]]) -> None:
    assert message_block_problems(blocks) == []


@pytest.mark.parametrize(("blocks", "problem"), REFUSED)
def test_blocks_past_the_limits_are_named(blocks: list[dict[str, Any]], problem: str) -> None:
    assert problem in [str(p) for p in message_block_problems(blocks)]


@pytest.mark.parametrize(("blocks", "problem"), REFUSED[:4])
async def test_the_stand_in_answers_invalid_blocks_with_the_problem(
    slack: WebApiStandIn, client: AsyncWebClient, blocks: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C0SOC", text="t", blocks=blocks)
    response = raised.value.response
    assert response.status_code == 200
    assert response["error"] == "invalid_blocks"
    assert f"[ERROR] {problem}" in response["response_metadata"]["messages"]
    assert slack.workspace.channel_history("C0SOC") == []


async def test_update_and_ephemeral_check_blocks_too(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0SOC", text="t")
    too_many = [section() for _ in range(51)]
    for call in (
        client.chat_update(channel="C0SOC", ts=posted["ts"], text="t", blocks=too_many),
        client.chat_postEphemeral(channel="C0SOC", user="U0ALICE", text="t", blocks=too_many),
    ):
        with pytest.raises(SlackApiError) as raised:
            await call
        assert raised.value.response["error"] == "invalid_blocks"


def modal(**changes: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "take_actions",
        "title": text("Take actions", "plain_text"),
        "submit": text("Submit", "plain_text"),
        "close": text("Cancel", "plain_text"),
        "blocks": [
            {
                "type": "input",
                "block_id": "name",
                "label": text("Remediation name", "plain_text"),
                "element": {"type": "plain_text_input", "action_id": "value"},
            }
        ],
    }
    return view | changes


@pytest.mark.parametrize(
    ("view", "problem"),
    [
        (modal(title=text("t" * 25, "plain_text")), "[json-pointer:/view/title/text]"),
        (modal(submit=text("s" * 25, "plain_text")), "[json-pointer:/view/submit/text]"),
        (modal(close=text("c" * 25, "plain_text")), "[json-pointer:/view/close/text]"),
        (modal(private_metadata="m" * 3001), "[json-pointer:/view/private_metadata]"),
        (modal(blocks=[section() for _ in range(101)]), "no more than 100 items allowed"),
        (modal(blocks=[table()]), "unsupported block type: 'table'"),
        ({k: v for k, v in modal().items() if k != "submit"}, "submit is required"),
    ],
)
def test_modal_limits(view: dict[str, Any], problem: str) -> None:
    assert any(problem in str(p) for p in view_problems(view))


def test_a_modal_at_the_limits_fits() -> None:
    view = modal(
        title=text("t" * 24, "plain_text"),
        private_metadata="m" * 3000,
        blocks=[section() for _ in range(100)],
    )
    view.pop("submit")
    assert view_problems(view) == []
