"""The buttons of /hunt schedules: Pause, Resume and Delete (/hunt schedule: commands/hunt.py).

Anyone who may hunt in the channel gets as far as the flow, which also asks the schedule
allow-list; the list is replaced in place with the channel's schedules as they now are.
"""

from __future__ import annotations

from bot.flows import schedules
from bot.flows.permissions import Who
from bot.slack.ids import ScheduleAction
from commands.context import Context, Listeners

HOW = {
    ScheduleAction.PAUSE: "pause",
    ScheduleAction.RESUME: "resume",
    ScheduleAction.DELETE: "delete",
}


async def change(ctx: Context) -> None:
    f = ctx.facts
    schedule_id = str(f.metadata.get("subject") or f.value)
    listed = await schedules.change_schedule(
        ctx.services, schedule_id, f.user, HOW[ScheduleAction(f.control)], f.team, f.channel or ""
    )
    await ctx.replace(listed)


def register(listeners: Listeners) -> None:
    for action in HOW:
        listeners.action(action, Who.IN_CHANNEL, change)
