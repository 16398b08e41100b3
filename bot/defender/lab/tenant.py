"""The lab tenant: a `HuntingBackend` that runs real KQL over sample Defender data in DuckDB."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from bot.defender.lab.result_types import graph_value
from bot.defender.lab.run import QUERY_SECONDS, run_kql
from bot.defender.lab.store import (
    LAB_WAIT_SECONDS,
    LabSummary,
    create_lab,
    exclusive_lock,
    opened,
    read_anchor,
    rebase,
)
from bot.defender.results import Column, HuntResult
from bot.errors import LabError

__all__ = ["LabSummary", "LabTenant", "create_lab"]

log = logging.getLogger(__name__)

# A lab left open for days (a console session) re-bases before a query once it is this stale.
STALE_AFTER = timedelta(hours=1)

class LabTenant:
    """The lab at `path`, opened for each query or action and closed after it, so any number
    of processes (and threads) share the file: hunts read side by side, an action writes alone
    (see store.py `opened`). Blocking work runs off the event loop."""

    name = "lab"

    def __init__(
        self, path: Path, *, wait: float = LAB_WAIT_SECONDS, query_seconds: float = QUERY_SECONDS
    ) -> None:
        self.path = path
        self.wait = wait
        self.query_seconds = query_seconds
        self._closed = False
        # The read-write connection this thread holds, if any: asking again (an action that
        # hunts, an executor step inside another) reuses it instead of waiting on itself.
        self._held = threading.local()

    @classmethod
    def open(
        cls, path: Path, *, create_if_missing: bool = True, wait: float = LAB_WAIT_SECONDS
    ) -> LabTenant:
        """The lab at `path` (creating the default lab if there is none), checked and made live.
        Blocking: call from a worker thread."""
        path = Path(path)
        if not path.exists():
            if not create_if_missing:
                log.warning("lab tenant: no database at %s", path)
                raise LabError(
                    "There is no lab tenant yet: LAB_DB names a file that does not exist.",
                    hint="Create one with `hunt-bot lab init`, or set LAB_DB to an existing lab.",
                )
            with _creating(path, wait):
                if not path.exists():  # another process may have made it meanwhile
                    create_lab(path)
        tenant = cls(path, wait=wait)
        with tenant.connection() as con:
            read_anchor(con)  # refuses a DuckDB file that is not a lab
            rebase(con)
        return tenant

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection to the lab, no other process or thread having it open, for
        code that changes the lab (its remediation executor). Blocking: call from a worker
        thread."""
        if self._closed:
            raise LabError("The lab tenant is closed.")
        held: duckdb.DuckDBPyConnection | None = getattr(self._held, "con", None)
        if held is not None:
            yield held
            return
        with opened(self.path, write=True, wait=self.wait) as con:
            self._held.con = con
            try:
                yield con
            finally:
                self._held.con = None

    async def run_query(self, kql: str) -> HuntResult:
        return await asyncio.to_thread(self._run_query, kql)

    async def aclose(self) -> None:
        self._closed = True  # nothing is held open between queries

    def _run_query(self, kql: str) -> HuntResult:
        if self._closed:
            raise LabError("The lab tenant is closed.")
        fresh, writing = False, getattr(self._held, "con", None) is not None
        if not writing:
            with opened(self.path, write=False, wait=self.wait) as con:
                fresh = datetime.now(UTC) - read_anchor(con) <= STALE_AFTER
                if fresh:
                    names, kinds, fetched = self._query(con, kql)
        if not fresh:
            # Left for days: bring the data up to now first (a writer's turn), then read. Or
            # this thread already writes: read on its connection.
            with self.connection() as con:
                if not writing:  # a writer may be inside its own transaction: leave it be
                    rebase(con)
                names, kinds, fetched = self._query(con, kql)
        columns = [Column(name=n, type=k) for n, k in zip(names, kinds, strict=True)]
        rows = [
            {n: graph_value(k, v) for n, k, v in zip(names, kinds, row, strict=True)}
            for row in fetched
        ]
        return HuntResult.build(columns, rows)

    def _query(
        self, con: duckdb.DuckDBPyConnection, kql: str
    ) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
        return run_kql(con, kql, seconds=self.query_seconds, path=self.path)


@contextmanager
def _creating(path: Path, wait: float) -> Iterator[None]:
    """Held while one process creates a missing lab, so workers starting together make it once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(path, ".lock-create", wait):
        yield
