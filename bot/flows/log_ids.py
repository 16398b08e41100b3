"""The ids a Slack request's log lines carry (bot/logs.py), named at the listener boundary:
a request id always, and the approval or hunt its control is about where the rule says so."""

from __future__ import annotations

from bot.flows.permissions import APPROVAL_RULES, Press, Who
from bot.logs import bind_ids, current_ids, new_request_id


def bind_press(press: Press, who: Who | None) -> None:
    """For the current task and what it starts; a request id is made if the edge set none
    (Socket Mode has no HTTP edge)."""
    approval = press.subject if who in APPROVAL_RULES else None
    hunt = press.subject if who is Who.HUNTER else None
    request = None if "request_id" in current_ids() else new_request_id()
    bind_ids(request=request, approval=approval or None, hunt=hunt or None)
