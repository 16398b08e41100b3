"""The console draws what Slack would show, as data, and plays each line as Slack would."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from bot.workspace.model import Message, console_workspace
from bot.workspace.render import Renderer
from bot.workspace.session import ConsoleSession, Timing

from .small_bot import Rig


def drawn(renderable: Any, width: int = 120) -> str:
    out = Console(file=io.StringIO(), width=width, color_system=None)
    out.print(renderable)
    return out.file.getvalue()  # type: ignore[attr-defined]


def bot_message(blocks: list[dict[str, Any]]) -> Message:
    return Message("C0SOC", "1763800000.000100", "fallback", blocks, "U0HUNTBOT", "B0HUNTBOT")


def test_mrkdwn_is_shown_readably_and_never_as_rich_markup() -> None:
    renderer = Renderer(console_workspace())
    text = (
        "[bold red]pwned[/] &lt;!channel&gt; <!channel> <@U0BOB> <!subteam^S0APPROVERS> "
        "<#C0SOC> <https://evil.example/x?a=1&amp;b=2|Approve> *bold* `code` :wave:"
    )
    shown = drawn(renderer.mrkdwn(text))
    assert "[bold red]pwned[/]" in shown
    assert "<!channel> @channel @bob @approvers #soc" in shown
    assert "Approve (https://evil.example/x?a=1&b=2)" in shown
    assert "bold code 👋" in shown


def test_a_message_shows_header_fields_table_and_numbered_buttons() -> None:
    renderer = Renderer(console_workspace())
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "Next"}}
    message = bot_message(
        [
            {"type": "header", "block_id": "h", "text": {"type": "plain_text", "text": "Results"}},
            {
                "type": "section",
                "block_id": "s",
                "fields": [{"type": "mrkdwn", "text": "*Rows* 14"}],
            },
            {
                "type": "table",
                "block_id": "t",
                "rows": [
                    [{"type": "raw_text", "text": "Sender"}, {"type": "raw_text", "text": "Size"}],
                    [{"type": "raw_text", "text": "[i]x[/i]"}, {"type": "raw_number", "value": 3}],
                ],
            },
            {"type": "context", "block_id": "c", "elements": [{"type": "mrkdwn", "text": "p 1"}]},
            {"type": "actions", "block_id": "b", "elements": [button, button | {"action_id": "c"}]},
        ]
    )
    shown = drawn(renderer.message(message))
    for expected in ("Results", "Rows 14", "Sender", "[i]x[/i]", "p 1", "[1 Next] [2 Next]"):
        assert expected in shown
    assert [b.block_id for b in renderer.numbers.buttons] == ["b", "b"]


def test_a_table_too_wide_for_the_terminal_becomes_one_card_per_row() -> None:
    header = [{"type": "raw_text", "text": f"Column{i}"} for i in range(8)]
    row = [{"type": "raw_text", "text": "v" * 20} for _ in range(8)]
    table = {"type": "table", "block_id": "t", "rows": [header, row]}
    shown = drawn(Renderer(console_workspace(), width=80).message(bot_message([table])), 80)
    assert "Column7" in shown and "v" * 20 in shown
    assert "row 1" not in shown  # Slack draws no row numbers: the console invents none


def test_a_card_is_titled_by_the_row_number_the_table_itself_carries() -> None:
    header = [{"type": "raw_text", "text": "#"}]
    header += [{"type": "raw_text", "text": f"Column{i}"} for i in range(8)]
    row = [{"type": "raw_text", "text": "12"}] + [{"type": "raw_text", "text": "v" * 20}] * 8
    table = {"type": "table", "block_id": "t", "rows": [header, row]}
    shown = drawn(Renderer(console_workspace(), width=80).message(bot_message([table])), 80)
    assert "row 12" in shown


def session_for(rig: Rig) -> tuple[ConsoleSession, io.StringIO]:
    output = io.StringIO()
    out = Console(file=output, width=120, color_system=None)
    return ConsoleSession(rig.platform, out, timing=Timing(quiet=0.1, limit=2.0)), output


async def test_a_script_pages_opens_a_modal_fills_and_submits(rig: Rig) -> None:
    session, output = session_for(rig)
    code = await session.run_script(
        [
            "# comments and blank lines are skipped",
            "",
            "/hunt zap-misses",
            "click Take actions",
            "fill Action=Move to junk",
            "submit",
            "fill remediation name = purge phish",
            "submit",
            # Numbers stay those of the last drawing that had buttons: the results message.
            "click 1",
        ]
    )
    shown = output.getvalue()
    assert code == 0, shown
    assert "Running zap-misses" in shown and "only visible to you (@alice)" in shown
    assert "[1 Next] [2 Take actions]" in shown
    assert "page 2" in shown and "(updated)" in shown
    assert "[ Move to junk ]" in shown
    assert "⚠ Give it a name" in shown
    assert "(modal closed)" in shown
    submitted = [b for b in rig.heard.bodies if b.get("type") == "view_submission"]
    assert submitted[-1]["view"]["state"]["values"]["name"]["value"]["value"] == "purge phish"


async def test_as_changes_who_acts_and_mentions_go_to_the_incident_thread(rig: Rig) -> None:
    session, _ = session_for(rig)
    assert await session.run_script(["/hunt zap-misses", "as @bob", "click Next"]) == 0
    assert rig.heard.bodies[-1]["user"]["id"] == "U0BOB"
    await session.run_line("@hunt-bot handoff @carol going off shift <soon>")
    event = rig.heard.bodies[-1]["event"]
    results = rig.slack.workspace.channel_history("C0SOC")[0]
    assert event["thread_ts"] == results.ts
    assert event["text"] == "<@U0HUNTBOT> handoff <@U0CAROL> going off shift &lt;soon&gt;"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("frobnicate", "unknown command 'frobnicate'"),
        ("click Nope", "no button labelled 'Nope'"),
        ("click 7", "no button 7 on screen"),
        ("fill Action", "fill needs LABEL=VALUE"),
        ("submit", "no modal is open"),
        ("as @mallory", "no person '@mallory'"),
        ("thread", "there is no incident thread yet"),
        ("/unhandled", "the bot answered HTTP 404"),
    ],
)
async def test_a_failing_line_says_why_and_stops_the_script(rig: Rig, line: str, why: str) -> None:
    session, output = session_for(rig)
    assert await session.run_script([line, "/hunt never reached"]) == 1
    assert f"✗ line 1: {why}" in output.getvalue()
    assert "never reached" not in str(rig.heard.bodies)
