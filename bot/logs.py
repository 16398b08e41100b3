"""Log lines: plain text or JSON (`LOG_FORMAT=json`), each carrying the ids that let one request,
hunt or approval be followed across the web and worker processes, and never a secret.

The ids live in context variables: the HTTP edge and the listener boundary set the request id
(and the hunt or approval a control names), jobs set the hunt or approval they run, and a
failure's error id rides on its own line (`extra={"error_id": ...}`). asyncio copies context
variables into the tasks a request starts, so its after-ack steps carry the same ids.

Secrets: every formatted line (message, arguments and traceback alike) passes through `redact`,
which removes Slack tokens, bearer tokens, JWTs, passwords in URLs, and the exact values of the
secret settings the process was started with.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from bot.ids import random_hex

IDS = ("request_id", "hunt_id", "approval_id", "error_id")
_vars: dict[str, ContextVar[str | None]] = {name: ContextVar(name, default=None) for name in IDS}


def new_request_id() -> str:
    """The id of one Slack request, in its log lines."""
    return random_hex(12)


def bind_ids(
    *, request: str | None = None, hunt: str | None = None, approval: str | None = None
) -> None:
    """Name the request, hunt or approval the current task is about (None leaves one as it is)."""
    for name, value in (("request_id", request), ("hunt_id", hunt), ("approval_id", approval)):
        if value:
            _vars[name].set(value)


@contextmanager
def ids_bound(
    *, request: str | None = None, hunt: str | None = None, approval: str | None = None
) -> Iterator[None]:
    """`bind_ids` for a block, put back as it was when the block ends (jobs)."""
    tokens = [
        (_vars[name], _vars[name].set(value))
        for name, value in (("request_id", request), ("hunt_id", hunt), ("approval_id", approval))
        if value
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_ids() -> dict[str, str]:
    return {name: value for name, var in _vars.items() if (value := var.get())}


# -- secrets -----------------------------------------------------------------------------------

REDACTED = "[redacted]"
_PATTERNS = (
    re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]{6,}"),  # Slack bot, user, app tokens
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*"),  # a JWT
    re.compile(
        r"(?i)((?:client_secret|password|signing_secret|secret)[\"']?\s*[=:]\s*[\"']?)"
        r"[^\s\"'&,;]{4,}"
    ),
)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+(@)")
_known_secrets: set[str] = set()


def remember_secrets(values: Iterable[str | None]) -> None:
    """The exact values of this process's secret settings: never written, whatever their shape."""
    _known_secrets.update(v for v in values if v and len(v) >= 6)


def redact(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", text)


# -- formatters ----------------------------------------------------------------------------------


class IdsFilter(logging.Filter):
    """Puts the current ids on each record (an id passed in `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _vars.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(
            f"{name.removesuffix('_id')}={value}"
            for name in IDS
            if (value := getattr(record, name, None))
        )
        return redact(f"{line} [{ids}]" if ids else line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the ids known, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in IDS:
            value = getattr(record, name, None)
            if value:
                line[name] = redact(str(value))
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


LogFormat = Literal["text", "json"]


def log_handler(fmt: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(IdsFilter())
    return handler


def configure_logging(
    fmt: LogFormat, secrets: Iterable[str | None] = (), level: int = logging.INFO
) -> None:
    """The process's logging: one handler on the root logger, in `fmt`, redacting `secrets`."""
    remember_secrets(secrets)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(log_handler(fmt))
    root.setLevel(level)
