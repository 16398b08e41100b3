"""Check a hunt against Defender's documented advanced-hunting schema.

The query, rendered with example values, is prepared the way the lab runs it (deprecated
spellings and Defender's own functions rewritten, bot/defender/lab/kql_rewrite.py) and bound
through duckdb-kql over empty tables that have the documented columns and types. That proves it
parses and tells us the columns it returns, so display and entity columns can be checked too.

A hunt is refused only for what is surely wrong, because Defender would refuse it too: KQL that
does not parse, a table Defender does not document, a name that is neither a declared parameter
nor a column of any documented table. Everything else the lab cannot check (a construct its
engine does not translate, `externaldata`, an error of its own) leaves the hunt valid and
returns a note saying what could not be checked.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql

from bot.errors import HuntFileError
from bot.hunts.model import Hunt

log = logging.getLogger(__name__)

_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist")
_UNKNOWN_NAME = re.compile(r"unknown (?:name|column|identifier)\W+([\w$]+)", re.IGNORECASE)

# Valid KQL the lab's parser does not read yet: a syntax error next to one of these is the
# parser's gap, not the hunter's mistake.
_GRAMMAR_GAPS = (
    "serialize",
    "as",
    "mv-apply",
    "evaluate",
    "scan",
    "fork",
    "facet",
    "materialize",
    "range",
    "sample",
    "sample-distinct",
    "make-graph",
    "graph-match",
    "invoke",
    "render",
    "find",
    "search",
    "consume",
    "project-keep",
    "lookup",
    "getschema",
    "top-hitters",
)


@dataclass(frozen=True)
class QueryCheck:
    """A query Defender would accept: the columns it returns, if the lab could bind it, and
    what the lab could not check."""

    columns: list[str] | None
    note: str | None = None


class SchemaChecker:
    def __init__(self) -> None:
        self._con: Any = None

    def _connection(self) -> Any:
        if self._con is None:
            from bot.defender.lab.schema import empty_schema_connection

            self._con = empty_schema_connection()
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def check(self, hunt: Hunt, path: Path) -> str | None:
        """Raise HuntFileError if the hunt is invalid; return a note if the lab cannot check it."""
        examples = {p.name: p.example for p in hunt.parameters}
        kql = hunt.render(examples).kql
        found = self.check_query(kql, str(path))
        if found.columns is None:
            return found.note
        returned = set(found.columns)
        for column in hunt.columns:
            if column not in returned:
                raise HuntFileError(
                    str(path), "columns", f"`{column}` is not returned by the query"
                )
        for column in sorted(hunt.entities.columns):
            if column not in returned:
                raise HuntFileError(
                    str(path), "entities", f"`{column}` is not returned by the query"
                )
        return found.note

    def check_query(self, kql: str, where: str, field: str = "query") -> QueryCheck:
        """Check one query; `where` and `field` name it in a HuntFileError. Never raises
        anything else: what goes wrong inside the check becomes a note."""
        try:
            return self._check(kql, where, field)
        except HuntFileError:
            raise
        except Exception as exc:  # the check must never take the catalog down
            log.warning("hunt check of %s failed inside the lab: %r", where, exc)
            return QueryCheck(None, f"accepted; the lab could not check it ({type(exc).__name__})")

    def _check(self, kql: str, where: str, field: str) -> QueryCheck:
        from bot.defender.lab.kql_rewrite import CannotRunHere
        from bot.defender.lab.kql_text import mask
        from bot.defender.lab.run import prepare_on
        from bot.defender.lab.schema import HELPER_PREFIX

        helper = re.search(rf"(?<![\w$]){HELPER_PREFIX}\w*", mask(kql))
        if helper:
            raise HuntFileError(where, field, _not_a_table(helper[0]))
        con = self._connection()
        try:
            text = prepare_on(con, kql).text
        except CannotRunHere as exc:
            return QueryCheck(None, f"accepted; the lab cannot check it: {exc}")
        try:
            relation = duckdb_kql.kql(con, text)
            relation.limit(0).fetchall()
            return QueryCheck(list(relation.columns))
        except duckdb_kql.KqlSyntaxError as exc:
            if _parser_gap(kql, str(exc)):
                return QueryCheck(None, f"accepted; the lab's KQL parser cannot read it: {exc}")
            raise HuntFileError(where, field, f"is not valid KQL: {exc}") from None
        except duckdb_kql.KqlUnsupportedError as exc:
            return QueryCheck(None, f"the lab's KQL engine does not support: {exc}")
        except duckdb_kql.KqlError as exc:
            name = _UNKNOWN_NAME.search(str(exc))
            if name and _undocumented(name[1], kql):
                raise HuntFileError(where, field, _not_a_column(name[1])) from None
            return QueryCheck(None, f"the lab's KQL engine could not check it: {_line(exc)}")
        except duckdb.Error as exc:
            message = str(exc)
            if (match := _MISSING_COLUMN.search(message)) and _undocumented(match[1], kql):
                raise HuntFileError(where, field, _not_a_column(match[1])) from None
            if (match := _MISSING_TABLE.search(message)) and _not_a_defender_table(match[1]):
                raise HuntFileError(where, field, _not_a_table(match[1].strip('"'))) from None
            return QueryCheck(None, f"the lab's KQL engine could not check it: {_line(exc)}")


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _not_a_column(name: str) -> str:
    return (
        f"uses `{name}`, which is neither a declared parameter nor a column of the tables it reads"
    )


def _not_a_table(name: str) -> str:
    return f"reads {name}, which is not a table of Defender's advanced-hunting schema"


@cache
def _documented_names() -> frozenset[str]:
    from bot.defender.lab.schema import load_functions, load_schema

    names = {column for table in load_schema().values() for column in table.column_names}
    for spec in load_functions().values():
        names.update(column for column, _ in spec.get("returns", []))
    return frozenset(names)


def _undocumented(name: str, kql: str) -> bool:
    """True if `name` is surely a mistake: no documented table has such a column, and the
    query does not make it (an `extend`, a `let`, an alias, a `parse` or `mv-expand` name)."""
    from bot.defender.lab.kql_text import mask

    if name in _documented_names():
        return False
    code = mask(kql)
    made = rf"(?<![\w$]){re.escape(name)}\s*(=[^=~]|:)|\bas\s+{re.escape(name)}\b"
    return (
        re.search(made, code) is None
        and re.search(rf"\b(parse|parse-where|parse-kv)\b[^|]*\b{re.escape(name)}\b", code) is None
    )


def _not_a_defender_table(name: str) -> bool:
    from bot.defender.lab.schema import load_schema

    return name.strip('"') not in load_schema()


def _parser_gap(kql: str, message: str) -> bool:
    from bot.defender.lab.kql_text import mask

    code = mask(kql)
    at = re.search(r"at (\d+):(\d+)", message)
    if at is None:
        return False
    line, column = int(at[1]), int(at[2])
    lines = code.splitlines()
    if not 0 < line <= len(lines):
        return False
    # The words just before and at the reported position.
    before = "\n".join([*lines[: line - 1], lines[line - 1][: column + 40]])[-120:]
    words = re.findall(r"[a-z][\w-]*", before)
    return any(word in _GRAMMAR_GAPS for word in words[-6:])
