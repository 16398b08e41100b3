"""/hunt schedules: a channel's scheduled hunts, what each last found, and their buttons."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    PlainTextObject,
    SectionBlock,
)

from bot.slack.blocks import Message, as_dicts, mrkdwn
from bot.slack.ids import ScheduleAction
from bot.slack.mrkdwn import code, frequency, user, when
from bot.state.schedules import LastRun, Schedule

MAX_LISTED = 20  # each takes two or three blocks; a message holds 50


def render_schedules(schedules: list[Schedule], *, shown_to: str) -> Message:
    if not schedules:
        return Message(
            text="No hunts are scheduled in this channel.",
            blocks=as_dicts(
                [
                    SectionBlock(
                        text=mrkdwn(
                            "No hunts are scheduled in this channel. Schedule one with "
                            "`/hunt schedule zap-misses every 1h`."
                        )
                    )
                ]
            ),
        )
    blocks: list[Block] = [
        SectionBlock(
            text=mrkdwn(
                f"*Scheduled hunts in this channel ({len(schedules)})*: each run posts only the "
                "rows no earlier run of it posted."
            )
        )
    ]
    for schedule in schedules[:MAX_LISTED]:
        called = " ".join(
            [code(schedule.hunt), *(code(f"{k}={v}") for k, v in schedule.arguments.items())]
        )
        state = (
            ":double_vertical_bar: paused"
            if schedule.paused
            else f"next run {when(schedule.next_run_at)}"
        )
        blocks.append(
            SectionBlock(
                text=mrkdwn(
                    f"*{schedule.id}* {called} every {frequency(schedule.every)}, by "
                    f"{user(schedule.owner)}\n"
                    f"{_last_run(schedule.last_run)} · {state}"
                )
            )
        )
        blocks.append(_buttons(schedule, shown_to))
    if len(schedules) > MAX_LISTED:
        blocks.append(
            ContextBlock(
                elements=[mrkdwn(f"…and {len(schedules) - MAX_LISTED} more, not shown here.")]
            )
        )
    return Message(
        text=f"{len(schedules)} scheduled hunts in this channel", blocks=as_dicts(blocks)
    )


def _last_run(run: LastRun | None) -> str:
    if run is None:
        return "Not run yet"
    if run.error:
        return f"Last run {when(run.at)} did not run: {run.error}"
    found = f"{run.found:,} row{'s' * (run.found != 1)}"
    if run.new:
        return f"Last run {when(run.at)}: {found}, {run.new:,} new (posted)"
    return f"Last run {when(run.at)}: {found}, nothing new (nothing posted)"


def _buttons(schedule: Schedule, shown_to: str) -> ActionsBlock:
    def value() -> str:
        return json.dumps({"subject": schedule.id, "shown_to": shown_to})

    toggle = (
        ButtonElement(
            text=PlainTextObject(text="Resume"), action_id=ScheduleAction.RESUME, value=value()
        )
        if schedule.paused
        else ButtonElement(
            text=PlainTextObject(text="Pause"), action_id=ScheduleAction.PAUSE, value=value()
        )
    )
    delete = ButtonElement(
        text=PlainTextObject(text="Delete"),
        action_id=ScheduleAction.DELETE,
        value=value(),
        style="danger",
        confirm=ConfirmObject(
            title=PlainTextObject(text="Delete this schedule?"),
            text=PlainTextObject(
                text=f"{schedule.id} ({schedule.hunt}) stops running; what it posted stays."
            ),
            confirm=PlainTextObject(text="Delete"),
            deny=PlainTextObject(text="Keep it"),
        ),
    )
    return ActionsBlock(block_id=f"schedule.{schedule.id}", elements=[toggle, delete])
