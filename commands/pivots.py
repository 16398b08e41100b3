"""Go hunt… on a results message: run a row's follow-up hunt (a pivot) in its thread."""

from __future__ import annotations

from bot.flows import pivots
from bot.flows.permissions import Who
from bot.slack.ids import ResultsAction
from commands.context import Context, Listeners


async def go_hunt(ctx: Context) -> None:
    f = ctx.facts
    await ctx.tell(
        await pivots.go_hunt(ctx.services, f.value, f.user, f.channel, f.response_url, f.message_ts)
    )


def register(listeners: Listeners) -> None:
    # The follow-up is a hunt like any other: the flow checks the allow-lists again, and the
    # job waits for the tenant's quota.
    listeners.action(ResultsAction.GO_HUNT, Who.IN_CHANNEL, go_hunt)
