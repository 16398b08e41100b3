"""Check a hunt against Defender's documented advanced-hunting schema.

The query, rendered with example values, runs through duckdb-kql over empty tables that have the
documented columns and types. That proves it parses, that every name it uses is a declared
parameter, a table or a column, and tells us the columns it returns, so display and entity columns
can be checked too. Where duckdb-kql cannot translate a construct that Defender accepts, the hunt
stays valid and the gap is reported instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql

from bot.errors import HuntFileError
from bot.hunts.model import Hunt

_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist")


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
        try:
            relation = duckdb_kql.kql(self._connection(), kql)
            relation.limit(0).fetchall()
            returned = set(relation.columns)
        except duckdb_kql.KqlSyntaxError as exc:
            raise HuntFileError(str(path), "query", f"is not valid KQL: {exc}") from None
        except duckdb_kql.KqlUnsupportedError as exc:
            return f"the lab's KQL engine does not support: {exc}"
        except duckdb.Error as exc:
            text = str(exc)
            if match := _MISSING_COLUMN.search(text):
                raise HuntFileError(
                    str(path),
                    "query",
                    f"uses `{match[1]}`, which is neither a declared parameter nor a column of "
                    "the tables it reads",
                ) from None
            if match := _MISSING_TABLE.search(text):
                raise HuntFileError(
                    str(path),
                    "query",
                    f"reads {match[1]}, which is not a table of Defender's advanced-hunting schema",
                ) from None
            return f"the lab's KQL engine could not check it: {text.splitlines()[0]}"
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
        return None
