"""Slack listeners, one module per user-facing verb: parse the payload, call one flow, answer.

Every listener is registered through `commands.context.Listeners`, which checks who may press
what and answers every failure. Listeners on the ack path touch nothing but Redis; anything that
calls Slack or Microsoft runs after the ack or as a job.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from commands.context import Listeners


def register_all(app: AsyncApp, services: Services) -> Listeners:
    from commands import (
        actions,
        approvals,
        hunt,
        incidents,
        mentions,
        pivots,
        results,
        saved_hunts,
        schedules,
    )

    listeners = Listeners(app, services)
    modules = (hunt, results, actions, approvals, mentions, incidents, schedules, saved_hunts)
    for module in (*modules, pivots):
        module.register(listeners)
    return listeners
