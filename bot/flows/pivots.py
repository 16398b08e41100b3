"""Go hunt: a row's follow-up hunt (a pivot), run in the results' incident thread.

The menu option names the result, the row's number and the pivot; the value hunted for is read
from the stored row, parsed by the follow-up's typed parameter, and the follow-up is started like
any hunt (access checked again, queued behind the tenant's quota) with its results in the thread.
"""

from __future__ import annotations

import shlex

from bot.errors import BadArgument, HuntBotError
from bot.flows.hunts import start_hunt
from bot.formats import cell_text
from bot.hunts import split_arguments
from bot.hunts.model import Hunt, Pivot
from bot.hunts.params import ParamType
from bot.hunts.pivots import offered_pivots, pivot_key
from bot.services import Services
from bot.slack.blocks import Message
from bot.state.results import StoredResult

NOT_OFFERED = HuntBotError(
    "That follow-up is no longer offered on these results, so nothing was run.",
    hint="Page the results (or press Re-run) to see the follow-ups there are now.",
)


def parse_choice(value: str) -> tuple[str, int, str]:
    """A Go hunt option's value: `result:row:pivot`."""
    result_id, row, key = [*value.split(":"), "", "", ""][:3]
    if not result_id or not row.isdigit() or not key:
        raise NOT_OFFERED
    return result_id, int(row), key


async def go_hunt(
    services: Services,
    value: str,
    user_id: str,
    channel_id: str | None,
    response_url: str | None,
    message_ts: str | None,
) -> Message:
    """Start the chosen row's follow-up; the private answer says it is running (or what is
    wrong with the row's value, and nothing is run)."""
    result_id, number, key = parse_choice(value)
    meta = await services.results.meta(result_id)
    if channel_id and channel_id != meta.channel:
        raise NOT_OFFERED  # an option from another channel's results
    offered = offered_pivots(services.catalog, meta.hunt)
    pivot = next((p for p in offered if pivot_key(p) == key), None)
    if pivot is None:
        raise NOT_OFFERED
    target = services.catalog.get(pivot.hunt)
    if not 1 <= number <= meta.row_count:
        raise NOT_OFFERED
    rows = await services.results.rows_at(meta.id, [number - 1])
    if not rows:
        raise NOT_OFFERED
    arguments = pivot_arguments(target, pivot, number, rows[0])
    return await start_hunt(
        services,
        user_id,
        meta.team,
        meta.channel,
        target.name,
        arguments,
        response_url=response_url,
        thread_ts=_thread(meta, message_ts),
    )


def pivot_arguments(target: Hunt, pivot: Pivot, number: int, row: dict[str, object]) -> str:
    """The follow-up's arguments as /hunt takes them: the row's value for the pivot's parameter,
    quoted so it arrives exactly as it is. A value the parameter's type refuses is said here."""
    param = target.param(pivot.parameter)
    if param is None:  # the catalog dropped such pivots on load
        raise NOT_OFFERED
    text = cell_text(row.get(pivot.column))
    if param.type is not ParamType.STRING:
        text = text.strip()
    if not text.strip():
        raise BadArgument(
            f"Row {number} has no {pivot.column}, so there is nothing to hunt for with "
            f"{target.name}.",
            hint="Choose another row.",
        )
    try:
        param.parse(text)
    except ValueError as exc:
        raise BadArgument(
            f"Row {number}'s {pivot.column} cannot be used for {target.name}: {exc}. "
            "Nothing was run.",
            hint=f"For example: /hunt {target.name} {param.name}={param.example}",
        ) from None
    arguments = f"{param.name}={shlex.quote(text)}"
    if split_arguments(arguments) != {param.name: text}:
        # Typographic quotes are read as straight ones in /hunt's arguments: this value would
        # not arrive as it is, so it is not hunted for with another.
        raise BadArgument(
            f"Row {number}'s {pivot.column} holds typographic quotes, which a follow-up cannot "
            "pass on exactly, so nothing was run.",
            hint=f"Run /hunt {target.name} with the text typed out.",
        )
    return arguments


def _thread(meta: StoredResult, message_ts: str | None) -> str | None:
    """The incident thread the results belong to (the results message opens it)."""
    return meta.thread_ts or meta.message_ts or message_ts
