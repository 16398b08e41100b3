"""The lab tenant: a `HuntingBackend` that runs real KQL over sample Defender data in DuckDB."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql

from bot.defender.lab.result_types import graph_type, graph_value
from bot.defender.lab.store import (
    LAB_WAIT_SECONDS,
    LabSummary,
    create_lab,
    exclusive_lock,
    opened,
    read_anchor,
    rebase,
    scrub,
)
from bot.defender.results import ROW_CAP, Column, HuntResult
from bot.errors import LabError, QueryError

__all__ = ["LabSummary", "LabTenant", "create_lab"]

log = logging.getLogger(__name__)

# A lab left open for days (a console session) re-bases before a query once it is this stale.
STALE_AFTER = timedelta(hours=1)

# DuckDB errors that mean the query is wrong, not the lab.
_QUERY_ERRORS = (
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ParserException,
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
)


class LabTenant:
    """The lab at `path`, opened for each query or action and closed after it, so any number
    of processes (and threads) share the file: hunts read side by side, an action writes alone
    (see store.py `opened`). Blocking work runs off the event loop."""

    name = "lab"

    def __init__(self, path: Path, *, wait: float = LAB_WAIT_SECONDS) -> None:
        self.path = path
        self.wait = wait
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
        try:
            relation = duckdb_kql.kql(con, kql)
            kinds = [graph_type(t) for t in relation.types]
            names = list(relation.columns)
            # Graph stops at ROW_CAP rows without an error; so does the lab.
            return names, kinds, relation.limit(ROW_CAP).fetchall()
        except duckdb_kql.KqlUnsupportedError as exc:
            raise LabError(
                f"The lab tenant cannot run this query: {scrub(str(exc), self.path)}.",
                hint="The lab's KQL engine (duckdb-kql) does not cover that construct yet. "
                "The hunt is still valid for Microsoft Defender: run it with the graph "
                "backend.",
            ) from None
        except duckdb_kql.KqlError as exc:
            # Syntax errors and unknown names found while translating.
            raise QueryError(f"The query was rejected: {scrub(str(exc), self.path)}") from None
        except _QUERY_ERRORS as exc:
            raise QueryError(f"The query was rejected: {_readable(exc, self.path)}") from None


@contextmanager
def _creating(path: Path, wait: float) -> Iterator[None]:
    """Held while one process creates a missing lab, so workers starting together make it once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(path, ".lock-create", wait):
        yield


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# DuckDB speaks SQL; say what it found in the query's terms instead.
_REWRITES = (
    (re.compile(r'Referenced column "?([^"\s]+)"? not found'), 'unknown column "{0}"'),
    (re.compile(r'Table with name "?([^"\s!]+)"? does not exist'), 'unknown table "{0}"'),
)


def _readable(exc: duckdb.Error, path: Path) -> str:
    line = re.sub(r"^\w+ Error: ", "", _first_line(exc))
    for pattern, message in _REWRITES:
        match = pattern.search(line)
        if match:
            return scrub(message.format(match.group(1)), path)
    return scrub(line, path)
