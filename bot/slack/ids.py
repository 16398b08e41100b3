"""Action, block and callback ids: one enum per feature, so a builder and its handler agree."""

from __future__ import annotations

from enum import StrEnum


class ResultsAction(StrEnum):
    PREVIOUS = "results.previous"
    NEXT = "results.next"
    EXPORT = "results.export_csv"
    RERUN = "results.rerun"
    TAKE_ACTIONS = "results.take_actions"
    FILTER = "results.filter"  # opens the Filter modal
    CLEAR_FILTER = "results.clear_filter"
    CANCEL_HUNT = "results.cancel_hunt"  # on a hunt's Running answer and progress message
    GO_HUNT = "results.go_hunt"  # the Go hunt… menu: a row's follow-up hunt (a pivot)


class ResultsView(StrEnum):
    FILTER = "results.filter_view"  # the Filter modal's callback


class ResultsBlock(StrEnum):
    HEADER = "results.header"
    SUMMARY = "results.summary"
    TABLE = "results.table"
    PAGER = "results.pager"
    ACTIONS = "results.actions"
    FILTER = "results.filter_rows"  # the Filter modal's input
    PROGRESS = "results.progress"


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
    WITHDRAW = "approval.withdraw"  # Cancel request: the requester or an approver, while pending
    UNDO = "approval.undo"  # on a done card: ask for the reverse action on what succeeded


class ApprovalView(StrEnum):
    REJECT = "approval.reject_reason"  # the Reject modal: a reason, required
    REASON_BLOCK = "approval.reason"


class IncidentAction(StrEnum):
    TAKE_OVER = "incident.take_over"
    HAND_OFF = "incident.hand_off"
    CLOSE_AND_CANCEL = "incident.close_cancelling"
    KEEP_OPEN = "incident.keep_open"
    STALE_PREVIEW = "incident.stale_preview"  # on /hunt incidents: which would close as stale
    CLOSE_STALE = "incident.close_stale"  # on that preview: close them


class HandoffView(StrEnum):
    CALLBACK = "incident.handoff"
    TO_BLOCK = "handoff.to"
    NOTE_BLOCK = "handoff.note"


class ScheduleAction(StrEnum):
    """The buttons of /hunt schedules; each button's value is the schedule's id."""

    PAUSE = "schedule.pause"
    RESUME = "schedule.resume"
    DELETE = "schedule.delete"


class SavedHuntAction(StrEnum):
    SAVE_AS = "saved_hunt.save_as"  # Save as hunt, on an ad-hoc query's results: value = result id
    DELETE = "saved_hunt.delete"  # /hunt delete NAME's question: value JSON (subject = the name)
    KEEP = "saved_hunt.keep"  # the same question's No, keep it


class SavedHuntView(StrEnum):
    KQL = "saved_hunt.kql"  # /hunt kql: the query form
    SAVE = "saved_hunt.save"  # Save as hunt and /hunt save [NAME]: the hunt's form


class SavedHuntBlock(StrEnum):
    QUERY = "saved_hunt.query"
    NAME = "saved_hunt.name"
    TITLE = "saved_hunt.title"
    DESCRIPTION = "saved_hunt.description"
    TACTICS = "saved_hunt.tactics"
