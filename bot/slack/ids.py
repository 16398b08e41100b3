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
