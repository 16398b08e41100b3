"""Slack listeners, one module per user-facing verb. They parse, call bot.*, and render.

Listeners on the ack path touch nothing but Redis; anything that calls Slack or Microsoft runs
after the ack (a lazy listener) or as a job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.app import Services


def register_all(app: AsyncApp, services: Services) -> None:
    from commands import actions, approvals, hunt, incidents, mentions, results

    hunt.register(app, services)
    results.register(app, services)
    actions.register(app, services)
    approvals.register(app, services)
    mentions.register(app, services)
    incidents.register(app, services)
