"""Work a Slack request started once it was acknowledged, and waiting for it at shutdown.

Slack never sends an acknowledged request again, so a press or a mention whose work is cut off
by a deploy is lost without a word to the person. A stopping process therefore waits for that
work, within a bound (SHUTDOWN_GRACE_SECONDS) that keeps it inside the platform's own grace
before SIGKILL (30 s on Heroku and Kubernetes by default).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class InFlight:
    """The tasks running after an ack, each with what it is for (for the shutdown log)."""

    def __init__(self) -> None:
        # Held until done: the event loop keeps only a weak reference to a task.
        self._tasks: dict[asyncio.Task[None], str] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, step: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.get_running_loop().create_task(step)
        self._tasks[task] = what
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def drain(self, within: float) -> list[str]:
        """Wait up to `within` seconds for every task, including any started meanwhile; cancel
        what is left and return what those were for."""
        if not self._tasks:
            return []
        log.info("waiting up to %g s for %d acknowledged request(s)", within, len(self._tasks))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._tasks and (left := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._tasks), timeout=left)
        unfinished = dict(self._tasks)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        return list(unfinished.values())
