"""The results message as people read it: pages, and a filter that narrows it to the rows whose
columns say something (the same words as Take actions' Rows field).

A filter is checked against the result's columns on the modal's ack (Redis only), then scans the
stored rows once, a few chunks per Redis call, and keeps the matching positions beside them
(`ResultStore.save_selection`). Paging a filtered view reads only the chunks it shows. A result
holds at most 100,000 rows (Defender's cap), so a scan is bounded by that.
"""

from __future__ import annotations

import json

from bot.actions.row_filter import looks_like_filter, parse_row_filter
from bot.errors import BadArgument, FieldErrors, HuntBotError
from bot.flows.hunts import portal_tenant
from bot.hunts.pivots import offered_pivots
from bot.services import Services
from bot.slack.blocks import PAGE_ROWS, Message, page_count, render_filter_view, render_results
from bot.slack.ids import ResultsBlock
from bot.state.results import Selection, StoredResult

FILTER_GONE = HuntBotError(
    "That filter is no longer kept.", hint="Press Filter and enter it again, or Clear filter."
)


def parse_value(value: str) -> tuple[str, int, str | None]:
    """A pager or Filter button's value: `result[:page][:selection]`."""
    result_id, _, rest = value.partition(":")
    first, _, second = rest.partition(":")
    if first.isdigit():
        return result_id, int(first), second or None
    return result_id, 1, first or None


async def render_view(
    services: Services, meta: StoredResult, page: int, selection: Selection | None = None
) -> Message:
    """`page` of the results, or of the rows `selection` matched (numbered as in the whole)."""
    count = len(selection.positions) if selection else meta.row_count
    page = min(max(page, 1), page_count(count))
    start = (page - 1) * PAGE_ROWS
    if selection is None:
        rows = await services.results.rows(meta.id, start, start + PAGE_ROWS)
        numbers = None
    else:
        positions = selection.positions[start : start + PAGE_ROWS]
        rows = await services.results.rows_at(meta.id, positions)
        numbers = [p + 1 for p in positions]
    return render_results(
        meta,
        rows,
        page,
        numbers=numbers,
        selection=selection,
        tenant=portal_tenant(services),
        pivots=offered_pivots(services.catalog, meta.hunt),
    )


async def turn_page(
    services: Services,
    result_id: str,
    page: int,
    channel: str,
    message_ts: str,
    selection_id: str | None = None,
) -> None:
    """Show another page of the results (or of the filtered rows) in the same message."""
    meta = await services.results.meta(result_id)
    selection = None
    if selection_id:
        selection = await services.results.selection(result_id, selection_id)
        if selection is None:
            raise FILTER_GONE
    message = await render_view(services, meta, page, selection)
    await services.slack.chat_update(
        channel=channel, ts=message_ts, text=message.text, blocks=message.blocks
    )


async def open_filter(
    services: Services,
    value: str,
    user_id: str,
    channel: str | None,
    message_ts: str | None,
    trigger_id: str,
) -> None:
    """The Filter modal, holding the current filter when the view is filtered already."""
    result_id, _, selection_id = parse_value(value)
    meta = await services.results.meta(result_id)
    current = ""
    if selection_id:
        selection = await services.results.selection(result_id, selection_id)
        current = selection.text if selection else ""
    metadata = json.dumps(
        {"result": meta.id, "channel": channel, "message": message_ts, "shown_to": user_id}
    )
    await services.slack.views_open(
        trigger_id=trigger_id, view=render_filter_view(meta, metadata, current)
    )


async def check_filter(services: Services, result_id: str, text: str) -> str:
    """On the modal's ack: the filter as it will be applied, or FieldErrors beside the field."""
    meta = await services.results.meta(result_id)
    if not text.strip():
        raise FieldErrors(
            {ResultsBlock.FILTER: "Say which rows to show, e.g. Subject contains invoice."}
        )
    if not looks_like_filter(text):
        raise FieldErrors(
            {
                ResultsBlock.FILTER: "A filter names a column and a value, e.g. "
                "LatestDeliveryLocation = Inbox. To act on rows by number, use Take actions."
            }
        )
    try:
        return parse_row_filter(text, [c.name for c in meta.columns]).describe()
    except BadArgument as exc:
        raise FieldErrors({ResultsBlock.FILTER: exc.message}) from exc


async def apply_filter(
    services: Services, result_id: str, text: str, channel: str, message_ts: str
) -> None:
    """Scan the stored rows once, keep the matches, and show their first page in the message."""
    meta = await services.results.meta(result_id)
    row_filter = parse_row_filter(text, [c.name for c in meta.columns])
    positions = [
        position
        async for position, row in services.results.scan(meta.id, meta.row_count)
        if row_filter.matches(row)
    ]
    selection = await services.results.save_selection(meta.id, row_filter.describe(), positions)
    message = await render_view(services, meta, 1, selection)
    await services.slack.chat_update(
        channel=channel, ts=message_ts, text=message.text, blocks=message.blocks
    )
