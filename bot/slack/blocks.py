"""Block Kit for /hunt: help, the catalog, and the results message with its page of rows.

Everything here returns plain dicts ready for the Web API and stays inside Slack's limits whatever
the data: at most 50 blocks, one table of at most 100 rows and 20 columns with non-empty cells,
and a bounded number of characters in the table.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
    TableBlock,
)
from slack_sdk.models.views import View

from bot.formats import cell_text
from bot.hunts import Catalog, Hunt
from bot.slack.ids import ResultsAction, ResultsBlock
from bot.slack.mrkdwn import clip, code, escape, user, when
from bot.state.results import StoredResult

PAGE_ROWS = 10
# Slack reports ~10,000 characters as the most a table may hold; stay well inside it.
TABLE_CHAR_BUDGET = 8_000
CELL_MAX = 300
EMPTY_CELL = "–"  # noqa: RUF001 (raw_text cells may not be empty; a dash reads as "none")
MAX_CATALOG_SECTIONS = 45
MAX_TABLE_COLUMNS = 20  # Slack's limit for a table block
ROW_NUMBER = "#"  # the first column: the row's number in the whole result


@dataclass
class Message:
    text: str  # the notification / fallback text: plain words, escaped here
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Slack parses a message's top-level text as mrkdwn too.
        self.text = escape(clip(self.text, 3000))


def as_dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in blocks]


def mrkdwn(text: str) -> MarkdownTextObject:
    # verbatim: Slack must not turn anything in it into links or mentions by itself.
    return MarkdownTextObject(text=clip(text, 3000), verbatim=True)


# -- help and the catalog --------------------------------------------------------------------


def render_help() -> Message:
    lines = [
        "*/hunt* runs a named advanced-hunting query on Microsoft Defender and posts the results "
        "here; results that found something start an incident thread.",
        "• `/hunt list` — the hunts there are, with their parameters",
        "• `/hunt NAME [name=value ...]` — run one, e.g. `/hunt zap-misses lookback=3d`",
        '• Quote values with spaces: `/hunt emails-by-subject subject="invoice due"`',
        "• `/hunt incidents` — this channel's open incident threads",
        "• `/hunt audit [N]` — the last N audit entries (approvers only)",
        "• `/hunt help` — this",
        "In an incident thread, mention me: `@hunt-bot status`, `note TEXT`, `take`, "
        "`handoff @someone [note]`, `hunt NAME [name=value ...]`, `close [reason]`, `reopen`, "
        "`help`.",
    ]
    return Message(
        text="How to use /hunt", blocks=as_dicts([SectionBlock(text=mrkdwn("\n".join(lines)))])
    )


def describe_hunt(hunt: Hunt) -> str:
    text = f"*{escape(hunt.name)}* — {escape(hunt.title)}\n{escape(hunt.description.strip())}"
    for p in hunt.parameters:
        default = "required" if p.required else f"default {code(p.example)}"
        kind = f"one of {', '.join(p.values or ())}" if p.values else p.type.value
        text += f"\n• {code(p.name)} ({escape(kind)}, {default}) {escape(p.description)}"
    return text


def render_catalog(catalog: Catalog) -> Message:
    hunts = list(catalog)
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=f"{len(hunts)} hunts"))]
    for hunt in hunts[:MAX_CATALOG_SECTIONS]:
        blocks.append(SectionBlock(text=mrkdwn(describe_hunt(hunt))))
    if len(hunts) > MAX_CATALOG_SECTIONS:
        rest = len(hunts) - MAX_CATALOG_SECTIONS
        blocks.append(ContextBlock(elements=[PlainTextObject(text=f"…and {rest} more.")]))
    blocks.append(ContextBlock(elements=[mrkdwn("Run one with `/hunt NAME [name=value ...]`")]))
    return Message(text=f"{len(hunts)} hunts", blocks=as_dicts(blocks))


def render_notice(text: str, hint: str | None = None) -> Message:
    """A short answer in mrkdwn; `text` and `hint` are escaped (they may quote what was typed)."""
    body = escape(text) + (f"\n{escape(hint)}" if hint else "")
    return Message(text=clip(text, 300), blocks=as_dicts([SectionBlock(text=mrkdwn(body))]))


def render_markup_notice(markup: str, hint: str | None = None, *, fallback: str) -> Message:
    """A short answer from mrkdwn we built ourselves (mentions kept, values already escaped)."""
    body = markup + (f"\n{hint}" if hint else "")
    return Message(text=fallback, blocks=as_dicts([SectionBlock(text=mrkdwn(body))]))


def render_running(
    hunt_name: str, parameters: dict[str, str], *, in_thread: bool = False, warning: str = ""
) -> Message:
    shown = " ".join(code(f"{name}={value}") for name, value in parameters.items())
    body = f":hourglass_flowing_sand: Running {code(hunt_name)} {shown}".rstrip()
    body += f"\nThe results will be posted in this {'thread' if in_thread else 'channel'}."
    if warning:
        body += f"\n:warning: {escape(warning)}"
    return Message(text=f"Running {hunt_name}", blocks=as_dicts([SectionBlock(text=mrkdwn(body))]))


# -- results ---------------------------------------------------------------------------------


def rows_text(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def page_count(row_count: int) -> int:
    return max(1, math.ceil(row_count / PAGE_ROWS))


def render_results(meta: StoredResult, rows: list[dict[str, Any]], page: int) -> Message:
    """The results message showing `page` (1-based) of `meta`; `rows` are that page's rows."""
    pages = page_count(meta.row_count)
    page = min(max(page, 1), pages)
    # Slack advises a fresh block_id whenever a message is updated.
    fresh = uuid.uuid4().hex[:8]
    blocks: list[Block] = [
        HeaderBlock(
            block_id=f"{ResultsBlock.HEADER}.{fresh}",
            text=PlainTextObject(text=clip(meta.title, 150)),
        ),
        SectionBlock(block_id=f"{ResultsBlock.SUMMARY}.{fresh}", text=mrkdwn(_summary(meta))),
    ]
    if meta.parameters:
        shown = " · ".join(f"{name}={value}" for name, value in meta.parameters.items())
        blocks.append(ContextBlock(elements=[PlainTextObject(text=clip(shown, 2000), emoji=False)]))
    if meta.truncated:
        blocks.append(
            SectionBlock(
                text=mrkdwn(
                    ":warning: Defender stops at 100,000 rows, so this result is *truncated*. "
                    "Narrow the hunt (a shorter lookback, a more specific value) to see everything."
                )
            )
        )
    if rows:
        first = (page - 1) * PAGE_ROWS + 1
        blocks.append(_table(meta, rows, fresh, first))
        blocks.append(
            ContextBlock(
                block_id=f"{ResultsBlock.PAGER}.{fresh}",
                elements=[
                    PlainTextObject(
                        text=f"Page {page} of {pages:,} · rows {first}-{first + len(rows) - 1} "
                        f"of {meta.row_count:,}"
                    )
                ],
            )
        )
    else:
        blocks.append(SectionBlock(text=mrkdwn(f"No rows: nothing matched {code(meta.hunt)}.")))
    blocks.append(_buttons(meta, page, pages, fresh))
    text = f"{meta.title}: {rows_text(meta.row_count)}" + (" (truncated)" if meta.truncated else "")
    return Message(text=clip(text, 300), blocks=as_dicts(blocks))


def _summary(meta: StoredResult) -> str:
    window = (
        f"last {code(meta.lookback)} (from {when(meta.started_at)} back)"
        if meta.lookback
        else "all the data Defender keeps (30 days)"
    )
    return (
        f"{code(meta.hunt)} run by {user(meta.requested_by)} on {escape(meta.backend)} · "
        f"*{rows_text(meta.row_count)}*{' (truncated)' if meta.truncated else ''} · "
        f"{meta.seconds:.1f}s · {window}"
    )


def _table(meta: StoredResult, rows: list[dict[str, Any]], fresh: str, first: int) -> TableBlock:
    """The page as a table whose first column is each row's number in the whole result, so rows
    can be chosen by number in Take actions (Slack draws no row numbers of its own)."""
    columns = [c for c in meta.display_columns if c in {col.name for col in meta.columns}]
    if not columns:
        columns = [c.name for c in meta.columns]
    columns = columns[: MAX_TABLE_COLUMNS - 1]
    per_cell = max(12, min(CELL_MAX, TABLE_CHAR_BUDGET // ((len(rows) + 1) * (len(columns) + 1))))
    header = [_cell(ROW_NUMBER, per_cell), *(_cell(name, per_cell) for name in columns)]
    body = [
        [_cell(f"{first + index:,}", per_cell)]
        + [_cell(cell_text(row.get(name)), per_cell) for name in columns]
        for index, row in enumerate(rows[:100])
    ]
    return TableBlock(
        block_id=f"{ResultsBlock.TABLE}.{fresh}",
        rows=[header, *body],
        column_settings=[{"is_wrapped": False, "align": "right"}]
        + [{"is_wrapped": True} for _ in columns],
    )


def _cell(text: str, limit: int) -> dict[str, str]:
    # raw_text is shown as is: no mrkdwn, no mentions, no links; it must not be empty.
    shown = clip(" ".join(text.split()), limit) if text.strip() else EMPTY_CELL
    return {"type": "raw_text", "text": shown}


def _buttons(meta: StoredResult, page: int, pages: int, fresh: str) -> ActionsBlock:
    elements = []
    if page > 1:
        elements.append(_button("◀ Previous", ResultsAction.PREVIOUS, f"{meta.id}:{page - 1}"))
    if page < pages:
        elements.append(_button("Next ▶", ResultsAction.NEXT, f"{meta.id}:{page + 1}"))
    if meta.row_count:
        elements.append(_button("Export CSV", ResultsAction.EXPORT, meta.id))
    elements.append(_button("Re-run", ResultsAction.RERUN, meta.id))
    if meta.entity_kinds and meta.row_count:
        elements.append(_button("Take actions", ResultsAction.TAKE_ACTIONS, meta.id, "primary"))
    return ActionsBlock(block_id=f"{ResultsBlock.ACTIONS}.{fresh}", elements=elements)


def _button(
    label: str, action: ResultsAction, value: str, style: str | None = None
) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=label), action_id=action, value=value, style=style
    )


def render_divider() -> dict[str, Any]:
    return DividerBlock().to_dict()


def render_notice_view(title: str, message: Message) -> dict[str, Any]:
    """A modal that only says something (an outcome, or what went wrong), with a Close button."""
    return View(
        type="modal",
        title=PlainTextObject(text=clip(title, 24)),
        close=PlainTextObject(text="Close"),
        blocks=message.blocks,
    ).to_dict()
