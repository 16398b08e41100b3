"""The lab tenant: a `HuntingBackend` that runs real KQL over sample Defender data in DuckDB."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import duckdb_kql

from bot.defender.lab.result_types import graph_type, graph_value
from bot.defender.lab.store import LabSummary, create_lab, read_anchor, rebase
from bot.defender.results import ROW_CAP, Column, HuntResult
from bot.errors import LabError, QueryError

__all__ = ["LabSummary", "LabTenant", "create_lab"]

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
    """One DuckDB connection, used by one query at a time, off the event loop."""

    name = "lab"

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.path = path
        self._con: duckdb.DuckDBPyConnection | None = con
        self._lock = threading.Lock()
        self._anchor = read_anchor(con)

    @classmethod
    def open(cls, path: Path, *, create_if_missing: bool = True) -> LabTenant:
        """Open the lab at `path` (creating the default lab if there is none) and make it live."""
        path = Path(path)
        if not path.exists():
            if not create_if_missing:
                raise LabError(
                    f"There is no lab tenant at {path}.",
                    hint="Create one with `hunt-bot lab init`, or set LAB_DB to an existing lab.",
                )
            create_lab(path)
        try:
            con = duckdb_kql.connect(str(path))
        except duckdb.IOException as exc:
            raise LabError(
                f"Cannot open the lab tenant at {path}: {_first_line(exc)}",
                hint="DuckDB lets one process at a time open a lab file; stop the other one "
                "or point LAB_DB at another file.",
            ) from None
        try:
            rebase(con)
            return cls(con, path)
        except BaseException:
            con.close()
            raise

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The open connection, held under this tenant's lock, for code sharing the lab file
        (the lab's remediation executor): DuckDB lets one process open it. Blocking: call from
        a worker thread."""
        with self._lock:
            if self._con is None:
                raise LabError("The lab tenant is closed.")
            yield self._con

    async def run_query(self, kql: str) -> HuntResult:
        return await asyncio.to_thread(self._run_query, kql)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def _run_query(self, kql: str) -> HuntResult:
        with self._lock:
            if self._con is None:
                raise LabError("The lab tenant is closed.")
            now = datetime.now(UTC)
            if now - self._anchor > STALE_AFTER:
                rebase(self._con, now)
                self._anchor = now
            try:
                relation = duckdb_kql.kql(self._con, kql)
                kinds = [graph_type(t) for t in relation.types]
                names = list(relation.columns)
                # Graph stops at ROW_CAP rows without an error; so does the lab.
                fetched = relation.limit(ROW_CAP).fetchall()
            except duckdb_kql.KqlUnsupportedError as exc:
                raise LabError(
                    f"The lab tenant cannot run this query: {exc}.",
                    hint="The lab's KQL engine (duckdb-kql) does not cover that construct yet. "
                    "The hunt is still valid for Microsoft Defender: run it with the graph "
                    "backend.",
                ) from None
            except duckdb_kql.KqlError as exc:
                # Syntax errors and unknown names found while translating.
                raise QueryError(f"The query was rejected: {exc}") from None
            except _QUERY_ERRORS as exc:
                raise QueryError(f"The query was rejected: {_readable(exc)}") from None
        columns = [Column(name=n, type=k) for n, k in zip(names, kinds, strict=True)]
        rows = [
            {n: graph_value(k, v) for n, k, v in zip(names, kinds, row, strict=True)}
            for row in fetched
        ]
        return HuntResult.build(columns, rows)

    def _close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# DuckDB speaks SQL; say what it found in the query's terms instead.
_REWRITES = (
    (re.compile(r'Referenced column "?([^"\s]+)"? not found'), 'unknown column "{0}"'),
    (re.compile(r'Table with name "?([^"\s!]+)"? does not exist'), 'unknown table "{0}"'),
)


def _readable(exc: duckdb.Error) -> str:
    line = re.sub(r"^\w+ Error: ", "", _first_line(exc))
    for pattern, message in _REWRITES:
        match = pattern.search(line)
        if match:
            return message.format(match.group(1))
    return line
