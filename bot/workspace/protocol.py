"""Shared pieces of the Web API stand-in: its state, errors as Slack gives them, argument parsing.

Slack takes arguments from the query string, a form body or a JSON body; in forms, structured
arguments (`blocks`, `view`, `files`) arrive as JSON strings. Errors are HTTP 200 with
`{"ok": false, "error": code}`, plus `response_metadata.messages` for Block Kit problems.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .calls import Effect
from .interactions import ResponseUrlBook, TriggerBook
from .limits import BlockProblem
from .model import Workspace


class SlackError(Exception):
    def __init__(self, code: str, problems: list[BlockProblem] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.problems = problems or []

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.code}
        if self.problems:
            body["errors"] = [str(p) for p in self.problems]
            body["response_metadata"] = {"messages": [f"[ERROR] {p}" for p in self.problems]}
        return body


@dataclass
class Reply:
    body: dict[str, Any]
    effects: list[Effect] = field(default_factory=list)


@dataclass
class SlackState:
    """Everything Slack's servers know: the workspace plus what interactions handed out."""

    workspace: Workspace
    base_url: str = ""  # set once the server has a port
    triggers: TriggerBook = field(default_factory=TriggerBook)
    response_urls: ResponseUrlBook = field(default_factory=ResponseUrlBook)


Handler = Callable[[SlackState, dict[str, Any]], Reply]


def required(args: dict[str, Any], name: str, error: str = "invalid_arguments") -> str:
    value = args.get(name)
    if value is None or value == "":
        raise SlackError(error)
    return str(value)


def optional_str(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    return None if value is None or value == "" else str(value)


def json_arg(args: dict[str, Any], name: str, error: str) -> Any:
    """A structured argument: as sent in a JSON body, or decoded from a form field."""
    value = args.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise SlackError(error) from None
    return value


def bool_arg(args: dict[str, Any], name: str, default: bool = False) -> bool:
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")
