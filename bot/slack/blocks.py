"""Block Kit for /hunt: help, the catalog, and the results message with its page of rows.

Everything here returns plain dicts ready for the Web API and stays inside Slack's limits whatever
the data: at most 50 blocks, one table of at most 100 rows and 20 columns with non-empty cells,
and a bounded number of characters in the table.
"""

from __future__ import annotations

import functools
import json
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    TableBlock,
)
from slack_sdk.models.views import View

from bot.formats import cell_text
from bot.hunts import Catalog, Hunt
from bot.hunts.adhoc import is_adhoc
from bot.hunts.catalog import SAVED, Listing
from bot.hunts.model import Pivot
from bot.hunts.pivots import pivot_key
from bot.slack.ids import (
    INPUT_ELEMENT,
    ResultsAction,
    ResultsBlock,
    ResultsView,
    SavedHuntAction,
)
from bot.slack.mrkdwn import clip, code, escape, user, when
from bot.slack.portal import device_url, email_url, file_url
from bot.state.results import Selection, StoredResult

PAGE_ROWS = 10
# Slack reports ~10,000 characters as the most a table may hold; stay well inside it.
TABLE_CHAR_BUDGET = 8_000
CELL_MAX = 300
EMPTY_CELL = "–"  # noqa: RUF001 (raw_text cells may not be empty; a dash reads as "none")
MAX_CATALOG_SECTIONS = 45
MAX_TABLE_COLUMNS = 20  # Slack's limit for a table block
ROW_NUMBER = "#"  # the first column: the row's number in the whole result
FILTER_MAX_CHARS = 500
# Only values shaped like ids, hashes and host names become links (and never longer than this):
# the address is built from them, percent-encoded, and the link's text is literal (rich_text).
LINKABLE = re.compile(r"^[A-Za-z0-9._:@{}-]{1,200}$")


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
        "• `/hunt list [word] [table=T] [tactic=T]` — the hunts there are (built-in, file or "
        "saved), with their parameters",
        "• `/hunt kql` — run your own KQL (if allowed); `/hunt save [NAME]` keeps one as a "
        "hunt, `/hunt delete NAME` removes a saved one",
        "• `/hunt NAME [name=value ...]` — run one, e.g. `/hunt zap-misses lookback=3d`",
        '• Quote values with spaces: `/hunt emails-by-subject subject="invoice due"`',
        "• `/hunt incidents` — this channel's open incident threads",
        "• `/hunt incidents close-stale [older-than=7d]` — close the idle ones (you confirm first)",
        "• `/hunt schedule NAME every 1h [name=value ...]` — run a hunt on a schedule here, "
        "posting only rows no earlier run posted",
        "• `/hunt schedules` — this channel's schedules, with Pause, Resume and Delete",
        "• `/hunt audit [N]` — the last N audit entries (approvers only)",
        "• `/hunt help` — this",
        "In an incident thread, mention me: `@hunt-bot status`, `note TEXT`, `take`, "
        "`handoff @someone [note]`, `hunt NAME [name=value ...]`, `cancel HB-7 [reason]`, "
        "`close [reason]`, `reopen`, "
        "`help`.",
    ]
    return Message(
        text="How to use /hunt", blocks=as_dicts([SectionBlock(text=mrkdwn("\n".join(lines)))])
    )


def describe_hunt(hunt: Hunt, origin: str = "") -> str:
    """`origin` is mrkdwn we built (where the hunt comes from)."""
    text = f"*{escape(hunt.name)}* — {escape(hunt.title)}"
    if origin:
        text += f" _({origin})_"
    text += f"\n{escape(clip(hunt.description.strip(), 500))}"
    if hunt.tactics or hunt.techniques:
        text += "\nMITRE: " + escape(", ".join([*hunt.tactics, *hunt.techniques]))
    for p in hunt.parameters:
        default = "required" if p.required else f"default {code(p.example)}"
        kind = f"one of {', '.join(p.values or ())}" if p.values else p.type.value
        text += f"\n• {code(p.name)} ({escape(kind)}, {default}) {escape(p.description)}"
    return text


def render_catalog(hunts: Catalog | list[Listing], searched: str = "") -> Message:
    """`/hunt list [words] [table=T] [tactic=T]`: each hunt, where it comes from (built in, a
    hunt file, or saved from Slack with its version), its tactics and parameters."""
    listings = hunts.listings() if isinstance(hunts, Catalog) else hunts
    count = f"{len(listings)} hunt{'' if len(listings) == 1 else 's'}"
    heading = f"{count} matching {searched}" if searched else count
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=clip(heading, 150)))]
    if not listings:
        blocks.append(
            SectionBlock(
                text=mrkdwn(
                    f"No hunt matches {code(searched)}. Search by word, `table=EmailEvents` or "
                    "`tactic=InitialAccess`, or see them all with `/hunt list`."
                )
            )
        )
    for listing in listings[:MAX_CATALOG_SECTIONS]:
        blocks.append(SectionBlock(text=mrkdwn(describe_hunt(listing.hunt, _origin(listing)))))
    if len(listings) > MAX_CATALOG_SECTIONS:
        rest = len(listings) - MAX_CATALOG_SECTIONS
        blocks.append(ContextBlock(elements=[PlainTextObject(text=f"…and {rest} more.")]))
    blocks.append(ContextBlock(elements=[mrkdwn("Run one with `/hunt NAME [name=value ...]`")]))
    return Message(text=heading, blocks=as_dicts(blocks))


def _origin(listing: Listing) -> str:
    if listing.source != SAVED:
        return listing.source
    by = listing.saved_by or ""
    who = "an import" if by == "import" else user(by)
    return f"saved, version {listing.version} by {who}"


def render_notice(text: str, hint: str | None = None) -> Message:
    """A short answer in mrkdwn; `text` and `hint` are escaped (they may quote what was typed)."""
    body = escape(text) + (f"\n{escape(hint)}" if hint else "")
    return Message(text=clip(text, 300), blocks=as_dicts([SectionBlock(text=mrkdwn(body))]))


def render_markup_notice(markup: str, hint: str | None = None, *, fallback: str) -> Message:
    """A short answer from mrkdwn we built ourselves (mentions kept, values already escaped)."""
    body = markup + (f"\n{hint}" if hint else "")
    return Message(text=fallback, blocks=as_dicts([SectionBlock(text=mrkdwn(body))]))


def render_running(
    hunt_name: str,
    parameters: dict[str, str],
    *,
    in_thread: bool = False,
    warning: str = "",
    cancel: str | None = None,
) -> Message:
    """The private answer to /hunt NAME; `cancel` is the request id its Cancel button names."""
    body = _running_body(hunt_name, tuple(parameters.items()), in_thread, warning)
    # Plain dicts, not slack_sdk's models: this is on every /hunt's ack, and the models' to_dict
    # cost a tenth of it (benchmarks/README.md). The same JSON as those models make.
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": body, "verbatim": True}}
    ]
    if cancel:
        cancel_button = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Cancel"},
            "action_id": ResultsAction.CANCEL_HUNT.value,
            "value": cancel,  # a request id: 32 hex digits
            "style": "danger",
        }
        blocks.append({"type": "actions", "elements": [cancel_button]})
    return Message(text=f"Running {hunt_name}", blocks=blocks)


@functools.lru_cache(maxsize=1024)
def _running_body(
    hunt_name: str, parameters: tuple[tuple[str, str], ...], in_thread: bool, warning: str
) -> str:
    # Kept: most /hunt acks name a hunt and values asked for before (escaping is per character).
    shown = " ".join(code(f"{name}={value}") for name, value in parameters)
    body = f":hourglass_flowing_sand: Running {code(hunt_name)} {shown}".rstrip()
    body += f"\nThe results will be posted in this {'thread' if in_thread else 'channel'}."
    if warning:
        body += f"\n:warning: {escape(warning)}"
    return body


def _cancel_button(request_id: str) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text="Cancel"),
        action_id=ResultsAction.CANCEL_HUNT,
        value=request_id,
        style="danger",
    )


def render_hunt_progress(
    request_id: str,
    hunt_name: str,
    requested_by: str,
    elapsed: float,
    *,
    queued: tuple[int, float] | None = None,
    cancelled_by: str | None = None,
) -> Message:
    """The visible message of a hunt that is taking a while: how long so far, its place in the
    quota queue while it waits (`queued`: position, seconds to its start), and Cancel."""
    who = user(requested_by)
    if cancelled_by is not None:
        body = (
            f":no_entry_sign: {code(hunt_name)} for {who} was cancelled by {user(cancelled_by)} "
            f"after {_elapsed(elapsed)}; nothing will be posted."
        )
        return Message(
            text=f"{hunt_name} was cancelled",
            blocks=as_dicts([SectionBlock(block_id=ResultsBlock.PROGRESS, text=mrkdwn(body))]),
        )
    if queued is not None:
        position, seconds = queued
        state = (
            f"waiting for the tenant's hunting quota: number {position} in the queue, "
            f"should start in about {_elapsed(seconds)}"
        )
    else:
        state = "running on Defender"
    body = (
        f":hourglass_flowing_sand: {code(hunt_name)} for {who}: {state} · "
        f"{_elapsed(elapsed)} so far. The results will be posted here."
    )
    return Message(
        text=f"Running {hunt_name}: {_elapsed(elapsed)} so far",
        blocks=as_dicts(
            [
                SectionBlock(block_id=ResultsBlock.PROGRESS, text=mrkdwn(body)),
                ActionsBlock(elements=[_cancel_button(request_id)]),
            ]
        ),
    )


def _elapsed(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


# -- results ---------------------------------------------------------------------------------


def rows_text(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def page_count(row_count: int) -> int:
    return max(1, math.ceil(row_count / PAGE_ROWS))


def render_results(
    meta: StoredResult,
    rows: list[dict[str, Any]],
    page: int,
    *,
    numbers: list[int] | None = None,
    selection: Selection | None = None,
    tenant: str | None = None,
    pivots: Sequence[Pivot] = (),
) -> Message:
    """The results message showing `page` (1-based) of `meta`; `rows` are that page's rows.

    With a `selection` the page is of the rows the filter matched, and `numbers` are those rows'
    numbers in the whole result (so Take actions by number means the same rows either way).
    `pivots` (the hunt's follow-ups) are offered for the page's rows in a Go hunt… menu."""
    shown_count = len(selection.positions) if selection else meta.row_count
    pages = page_count(shown_count)
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
    if selection is not None:
        blocks.append(
            SectionBlock(
                text=mrkdwn(
                    f":mag: *{shown_count:,} of {rows_text(meta.row_count)}* where "
                    f"{code(clip(selection.text, FILTER_MAX_CHARS))}"
                )
            )
        )
    first = (page - 1) * PAGE_ROWS + 1
    menu = None
    if rows:
        numbers = numbers or list(range(first, first + len(rows)))
        menu = _pivot_menu(meta, rows, numbers, pivots)
        blocks.append(_table(meta, rows, fresh, numbers, tenant))
        where = (
            f"matches {first:,}-{first + len(rows) - 1:,} of {shown_count:,}"
            if selection
            else f"rows {first:,}-{first + len(rows) - 1:,} of {meta.row_count:,}"
        )
        blocks.append(
            ContextBlock(
                block_id=f"{ResultsBlock.PAGER}.{fresh}",
                elements=[PlainTextObject(text=f"Page {page} of {pages:,} · {where}")],
            )
        )
    elif selection is not None:
        blocks.append(
            SectionBlock(text=mrkdwn("No row matches that filter. Press Clear filter to see all."))
        )
    else:
        blocks.append(SectionBlock(text=mrkdwn(f"No rows: nothing matched {code(meta.hunt)}.")))
    blocks.append(_buttons(meta, page, pages, fresh, selection, menu))
    text = f"{meta.title}: {rows_text(meta.row_count)}" + (" (truncated)" if meta.truncated else "")
    return Message(text=clip(text, 300), blocks=as_dicts(blocks))


def _summary(meta: StoredResult) -> str:
    window = (
        f"last {code(meta.lookback)} (from {when(meta.started_at)} back)"
        if meta.lookback
        else "all the data Defender keeps (30 days)"
    )
    if meta.schedule_id is not None:
        # A schedule's run: say whose schedule it is and that rows posted before are left out.
        found = meta.found if meta.found is not None else meta.row_count
        return (
            f":calendar: {code(meta.hunt)} scheduled as *{escape(meta.schedule_id)}* by "
            f"{user(meta.requested_by)} on {escape(meta.backend)} · *{meta.row_count:,} new* of "
            f"{rows_text(found)} found{' (truncated)' if meta.truncated else ''} (rows earlier "
            f"runs posted are left out) · {meta.seconds:.1f}s · {window}"
        )
    return (
        f"{code(meta.hunt)} run by {user(meta.requested_by)} on {escape(meta.backend)} · "
        f"*{rows_text(meta.row_count)}*{' (truncated)' if meta.truncated else ''} · "
        f"{meta.seconds:.1f}s · {window}"
    )


def _table(
    meta: StoredResult,
    rows: list[dict[str, Any]],
    fresh: str,
    numbers: list[int],
    tenant: str | None,
) -> TableBlock:
    """The page as a table whose first column is each row's number in the whole result, so rows
    can be chosen by number in Take actions (Slack draws no row numbers of its own). Device, file
    and email ids link to their Defender portal pages."""
    columns = [c for c in meta.display_columns if c in {col.name for col in meta.columns}]
    if not columns:
        columns = [c.name for c in meta.columns]
    columns = columns[: MAX_TABLE_COLUMNS - 1]
    rows = rows[:100]
    links = [[_entity_url(name, row, tenant) for name in columns] for row in rows]
    # The addresses count towards what a table may hold: the cells' text gets what is left.
    budget = TABLE_CHAR_BUDGET - sum(len(u) for row in links for u in row if u)
    per_cell = max(12, min(CELL_MAX, budget // ((len(rows) + 1) * (len(columns) + 1))))
    header = [_cell(ROW_NUMBER, per_cell), *(_cell(name, per_cell) for name in columns)]
    body = [
        [_cell(f"{number:,}", per_cell)]
        + [
            _cell(cell_text(row.get(name)), per_cell, url)
            for name, url in zip(columns, row_links, strict=True)
        ]
        for number, row, row_links in zip(numbers, rows, links, strict=False)
    ]
    return TableBlock(
        block_id=f"{ResultsBlock.TABLE}.{fresh}",
        rows=[header, *body],
        column_settings=[{"is_wrapped": False, "align": "right"}]
        + [{"is_wrapped": True} for _ in columns],
    )


def _entity_url(column: str, row: dict[str, Any], tenant: str | None) -> str | None:
    """The portal page of the entity in this cell, when the column names one and its value (and,
    for an email, the row's recipient) looks like an id rather than arbitrary text."""

    def linkable(name: str) -> str | None:
        value = cell_text(row.get(name)).strip()
        return value if LINKABLE.match(value) else None

    if column in ("DeviceId", "DeviceName") and (device := linkable("DeviceId")):
        return device_url(device, tenant)
    if column in ("SHA1", "SHA256") and (digest := linkable(column)):
        return file_url(digest, tenant)
    if column == "NetworkMessageId" and (message := linkable(column)):
        recipient = linkable("RecipientEmailAddress")
        return email_url(message, recipient, tenant) if recipient else None
    return None


def _cell(text: str, limit: int, url: str | None = None) -> dict[str, Any]:
    # raw_text is shown as is: no mrkdwn, no mentions, no links; it must not be empty.
    shown = clip(" ".join(text.split()), limit) if text.strip() else EMPTY_CELL
    if url is None or not text.strip():
        return {"type": "raw_text", "text": shown}
    # A rich_text link's text is literal too; only the address (built by us) is a link.
    link = {"type": "link", "url": url, "text": shown}
    return {
        "type": "rich_text",
        "elements": [{"type": "rich_text_section", "elements": [link]}],
    }


def _buttons(
    meta: StoredResult,
    page: int,
    pages: int,
    fresh: str,
    selection: Selection | None,
    menu: StaticSelectElement | None = None,
) -> ActionsBlock:
    within = f":{selection.id}" if selection else ""
    elements: list[ButtonElement | StaticSelectElement] = []
    if page > 1:
        elements.append(
            _button("◀ Previous", ResultsAction.PREVIOUS, f"{meta.id}:{page - 1}{within}")
        )
    if page < pages:
        elements.append(_button("Next ▶", ResultsAction.NEXT, f"{meta.id}:{page + 1}{within}"))
    if meta.row_count:
        elements.append(_button("Filter", ResultsAction.FILTER, f"{meta.id}{within}"))
    if selection is not None:
        elements.append(_button("Clear filter", ResultsAction.CLEAR_FILTER, meta.id))
    if meta.row_count:
        elements.append(_button("Export CSV", ResultsAction.EXPORT, meta.id))
    elements.append(_button("Re-run", ResultsAction.RERUN, meta.id))
    if is_adhoc(meta.hunt):
        elements.append(
            ButtonElement(
                text=PlainTextObject(text="Save as hunt"),
                action_id=SavedHuntAction.SAVE_AS,
                value=meta.id,
            )
        )
    if meta.entity_kinds and meta.row_count:
        # From a filtered view, the Rows field starts as the filter.
        take = json.dumps({"result": meta.id, "rows": selection.text}) if selection else meta.id
        elements.append(_button("Take actions", ResultsAction.TAKE_ACTIONS, take, "primary"))
    if menu is not None:
        elements.append(menu)
    return ActionsBlock(block_id=f"{ResultsBlock.ACTIONS}.{fresh}", elements=elements)


# Slack: at most 100 options in a select, 75 characters of text each (slack-platform.md §4).
MAX_MENU_OPTIONS = 100
OPTION_TEXT_MAX = 75
# What names the thing a pivot hunts for better than its id, when the row has it.
_FRIENDLIER = {"DeviceId": "DeviceName"}


def _pivot_menu(
    meta: StoredResult, rows: list[dict[str, Any]], numbers: list[int], pivots: Sequence[Pivot]
) -> StaticSelectElement | None:
    """Go hunt…: each row's follow-ups, e.g. "Row 3 · Device timeline (laptop-7)". An option
    names the result, the row's number and the pivot; the value hunted for is read from the
    stored row when it is chosen, never from the option."""
    options = []
    for number, row in zip(numbers, rows, strict=False):
        for pivot in pivots:
            if not cell_text(row.get(pivot.column)).strip():
                continue  # nothing to hunt for on this row
            shown = cell_text(row.get(_FRIENDLIER.get(pivot.column, ""))) or cell_text(
                row.get(pivot.column)
            )
            options.append(_pivot_option(meta.id, number, pivot, " ".join(shown.split())))
    if not options:
        return None
    return StaticSelectElement(
        action_id=ResultsAction.GO_HUNT,
        placeholder=PlainTextObject(text="Go hunt…"),
        options=options[:MAX_MENU_OPTIONS],
    )


def _pivot_option(result_id: str, number: int, pivot: Pivot, shown: str) -> Option:
    text = f"Row {number:,} · {pivot.label}"
    room = OPTION_TEXT_MAX - len(text) - 3
    if room >= 4:
        text += f" ({clip(shown, room)})"
    # Plain text, no emoji codes: a value such as :x: is shown as typed.
    return Option(
        text=PlainTextObject(text=clip(text, OPTION_TEXT_MAX), emoji=False),
        value=f"{result_id}:{number}:{pivot_key(pivot)}",
    )


def _button(
    label: str, action: ResultsAction, value: str, style: str | None = None
) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=label), action_id=action, value=value, style=style
    )


def render_filter_view(
    meta: StoredResult, private_metadata: str, current: str = ""
) -> dict[str, Any]:
    """The Filter modal: one line in the same words as Take actions' Rows field."""
    names = ", ".join(code(c) for c in meta.display_columns[:12])
    intro = (
        f"Show only the rows of {code(meta.hunt)} ({rows_text(meta.row_count)}) where a column "
        "has a value: `=`, `!=`, `contains`, `starts with`, `ends with`; join with `and`. "
        f"Columns: {names}."
    )
    return View(
        type="modal",
        callback_id=ResultsView.FILTER,
        private_metadata=private_metadata,
        title=PlainTextObject(text="Filter results"),
        submit=PlainTextObject(text="Filter"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(text=mrkdwn(intro)),
            InputBlock(
                block_id=ResultsBlock.FILTER,
                label=PlainTextObject(text="Rows where"),
                element=PlainTextInputElement(
                    action_id=INPUT_ELEMENT,
                    placeholder=PlainTextObject(text="LatestDeliveryLocation = Inbox"),
                    initial_value=current or None,
                    max_length=FILTER_MAX_CHARS,
                ),
            ),
        ],
    ).to_dict()


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
