"""The record of every Web API call the bot made, and ways to wait for the bot's work.

The bot answers Slack in the background (jobs, lazy listeners), so tests and the console wait
for "the next call matching X" or for "no calls for a while" instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# What a call changed, for the console to render: ("message", channel, ts),
# ("ephemeral", ts), ("view", view_id), ("view_closed", user), ("deleted", channel, ts).
Effect = tuple[str, ...]


@dataclass
class Call:
    method: str  # "chat.postMessage", or "response_url" for posts to a response URL
    args: dict[str, Any]  # as sent: JSON bodies as objects, form fields as strings
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))

    def transcript_line(self) -> dict[str, Any]:
        return {"method": self.method, "args": self.args}


CallMatch = Callable[[Call], bool]


def method_is(*methods: str) -> CallMatch:
    return lambda call: call.method in methods


class CallLog:
    """Calls in the order they arrived; `len(log)` is a cursor for "calls after this point"."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._changed = asyncio.Condition()
        self._listeners: list[Callable[[Call], None]] = []

    def __len__(self) -> int:
        return len(self.calls)

    def since(self, cursor: int) -> list[Call]:
        return self.calls[cursor:]

    def add_listener(self, listener: Callable[[Call], None]) -> None:
        """Called with each call as it is recorded (the console's transcript)."""
        self._listeners.append(listener)

    async def record(self, call: Call) -> None:
        self.calls.append(call)
        for listener in self._listeners:
            listener(call)
        async with self._changed:
            self._changed.notify_all()

    async def next_call(
        self, match: CallMatch | None = None, *, after: int | None = None, timeout: float = 10.0
    ) -> Call:
        """The first call after `after` (default: now) that matches; TimeoutError if none comes."""
        cursor = len(self.calls) if after is None else after
        async with asyncio.timeout(timeout):
            async with self._changed:
                while True:
                    for call in self.calls[cursor:]:
                        if match is None or match(call):
                            return call
                    cursor = len(self.calls)
                    await self._changed.wait()

    async def quiet(
        self, *, period: float = 0.5, timeout: float = 30.0, since: float | None = None
    ) -> bool:
        """Wait until no call has arrived for `period` seconds (counting from `since`, a
        `time.monotonic()` value, if later); False if `timeout` came first."""
        deadline = time.monotonic() + timeout
        while True:
            last = max(self.calls[-1].at if self.calls else 0.0, since or 0.0)
            remaining = period - (time.monotonic() - last)
            if remaining <= 0:
                return True
            if time.monotonic() + remaining > deadline:
                return False
            await asyncio.sleep(remaining)
