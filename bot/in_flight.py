"""Work a stopping process waits for: what a Slack request started once it was acknowledged,
and the jobs a worker is running.

Slack never sends an acknowledged request again, so a press or a mention whose work is cut off
by a deploy is lost without a word to the person; a job cut off waits minutes to be taken over.
A stopping process therefore waits for that work, within a bound (SHUTDOWN_GRACE_SECONDS) that
keeps it inside the platform's own grace before SIGKILL (30 s on Heroku and Kubernetes). What is
still running then is cancelled, and its `on_cut_off` runs: a request tells its person, a job
queues itself again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


# How long each `on_cut_off` may take: the platform's SIGKILL is coming.
CUT_OFF_SECONDS = 3.0

CutOff = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class _Held:
    what: str  # for the log
    on_cut_off: CutOff | None  # run once the task is cancelled


class InFlight:
    """Running tasks, each with what it is for (for the shutdown log)."""

    def __init__(self, name: str) -> None:
        self.name = name  # what the tasks are, for the log: "acknowledged request(s)"
        # Held until done: the event loop keeps only a weak reference to a task.
        self._tasks: dict[asyncio.Task[Any], _Held] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def start(
        self, step: Coroutine[Any, Any, None], what: str, on_cut_off: CutOff | None = None
    ) -> None:
        self._hold(asyncio.get_running_loop().create_task(step), _Held(what, on_cut_off))

    def adopt(self, what: str, on_cut_off: CutOff | None = None) -> None:
        """Hold the task this runs in (a job, whose task taskiq made). For a job `on_cut_off`
        queues it again: taskiq acknowledges a cancelled job as done, so its own message will
        not come back."""
        task = asyncio.current_task()
        assert task is not None, "adopt() runs inside a task"
        self._hold(task, _Held(what, on_cut_off))

    def _hold(self, task: asyncio.Task[Any], held: _Held) -> None:
        self._tasks[task] = held
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(task, None)

    async def drain(self, within: float) -> list[str]:
        """Wait up to `within` seconds for every task, including any started meanwhile; cancel
        what is left, run each one's `on_cut_off`, and return what those were for."""
        if not self._tasks:
            return []
        if within > 0:
            log.info("waiting up to %g s for %d %s", within, len(self._tasks), self.name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._tasks and (left := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._tasks), timeout=left)
        unfinished = dict(self._tasks)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        for held in unfinished.values():
            if held.on_cut_off is not None:
                try:
                    async with asyncio.timeout(CUT_OFF_SECONDS):
                        await held.on_cut_off()
                except Exception:
                    log.exception("%s: cut off, and what follows that failed", held.what)
        return [held.what for held in unfinished.values()]
