"""Running one hunter's query on a lab connection: rewritten for the engine, and timed.

Used by the lab tenant for every hunt, and by the corpus measurement. A query that is still
running after `QUERY_SECONDS` is interrupted (DuckDB stops a connection's query when another
thread calls `interrupt()`), and the person is told so in one sentence.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql

from bot.defender.lab.kql_rewrite import CannotRunHere, Prepared, prepare
from bot.defender.lab.result_types import graph_type
from bot.defender.lab.store import scrub
from bot.defender.results import ROW_CAP
from bot.errors import LabError, QueryError

log = logging.getLogger(__name__)

# Long enough for any hunt over the default lab (they take well under a second); short
# enough that a runaway join does not hold a worker.
QUERY_SECONDS = 10.0

# DuckDB errors that mean the query is wrong, not the lab.
QUERY_ERRORS = (
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ParserException,
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
)


def prepare_on(con: duckdb.DuckDBPyConnection, kql: str) -> Prepared:
    """`kql` rewritten for the engine, asking `con` for the columns a rewrite needs."""

    def columns(text: str) -> list[str] | None:
        try:
            return list(duckdb_kql.kql(con, prepare(text, columns).text).columns)
        except (CannotRunHere, duckdb_kql.KqlError, duckdb.Error):
            return None

    return prepare(kql, columns)


def run_kql(
    con: duckdb.DuckDBPyConnection,
    kql: str,
    *,
    seconds: float = QUERY_SECONDS,
    path: Path | None = None,
    limit: int = ROW_CAP,
) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """(column names, Graph type names, rows) of `kql` on `con`, at most `limit` rows.

    Raises LabError for what the lab cannot run (Defender still would) or did not finish, and
    QueryError for a query that is wrong.
    """
    timer = threading.Timer(seconds, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        prepared = prepare_on(con, kql)
        relation = duckdb_kql.kql(con, prepared.text)
        kinds = [graph_type(t) for t in relation.types]
        names = list(relation.columns)
        # Graph stops at ROW_CAP rows without an error; so does the lab.
        return names, kinds, relation.limit(limit).fetchall()
    except CannotRunHere as exc:
        raise LabError(str(exc)) from None
    except duckdb.InterruptException:
        raise LabError(
            f"The lab tenant stopped this query after {seconds:g} seconds: it had not finished.",
            hint="Narrow it (a shorter time range, fewer rows before a join) and run it again; "
            "Microsoft Defender may still run it as it is.",
        ) from None
    except duckdb_kql.KqlUnsupportedError as exc:
        raise LabError(
            f"The lab tenant cannot run this query: {scrub(str(exc), path)}.",
            hint="The lab's KQL engine (duckdb-kql) does not cover that construct yet. "
            "The hunt is still valid for Microsoft Defender: run it with the graph "
            "backend.",
        ) from None
    except duckdb_kql.KqlError as exc:
        # Syntax errors and unknown names found while translating.
        raise QueryError(f"The query was rejected: {scrub(str(exc), path)}") from None
    except QUERY_ERRORS as exc:
        raise QueryError(f"The query was rejected: {readable(exc, path)}") from None
    finally:
        timer.cancel()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# DuckDB speaks SQL; say what it found in the query's terms instead.
_REWRITES = (
    (r'Referenced column "?([^"\s]+)"? not found', 'unknown column "{0}"'),
    (r'Table with name "?([^"\s!]+)"? does not exist', 'unknown table "{0}"'),
)


def readable(exc: duckdb.Error, path: Path | None) -> str:
    line = re.sub(r"^\w+ Error: ", "", _first_line(exc))
    for pattern, message in _REWRITES:
        match = re.search(pattern, line)
        if match:
            return scrub(message.format(match.group(1)), path)
    return scrub(line, path)
