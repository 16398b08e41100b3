"""Action, block and callback ids: one enum per feature, so a builder and its handler agree."""

from __future__ import annotations

from enum import StrEnum


class ResultsAction(StrEnum):
    PREVIOUS = "results.previous"
    NEXT = "results.next"
    EXPORT = "results.export_csv"
    RERUN = "results.rerun"
    TAKE_ACTIONS = "results.take_actions"


class ResultsBlock(StrEnum):
    HEADER = "results.header"
    SUMMARY = "results.summary"
    TABLE = "results.table"
    PAGER = "results.pager"
    ACTIONS = "results.actions"


class TakeActionsView(StrEnum):
    CHOOSE = "take_actions.choose"
    CONFIRM = "take_actions.confirm"


class TakeActionsAction(StrEnum):
    BACK = "take_actions.back"  # from the review back to the first step, as filled in


class TakeActionsBlock(StrEnum):
    ACTION = "take_actions.action"
    ROWS = "take_actions.rows"
    NAME = "take_actions.name"
    DESCRIPTION = "take_actions.description"


# Every input block holds one element with this action id.
INPUT_ELEMENT = "value"


class ApprovalAction(StrEnum):
    APPROVE = "approval.approve"
    REJECT = "approval.reject"
    RETRY_UNKNOWN = "approval.retry_unknown"  # Retry these: the targets whose outcome is unknown


class IncidentAction(StrEnum):
    TAKE_OVER = "incident.take_over"
    HAND_OFF = "incident.hand_off"
    CLOSE_AND_CANCEL = "incident.close_cancelling"
    KEEP_OPEN = "incident.keep_open"


class HandoffView(StrEnum):
    CALLBACK = "incident.handoff"
    TO_BLOCK = "handoff.to"
    NOTE_BLOCK = "handoff.note"
