"""The typed result of an advanced-hunting query, whichever backend ran it.

Column types use the names Microsoft Graph's `runHuntingQuery` reports in `schema[].type`
(DateTime, String, Int64, Int32, Boolean, Double, Object, Guid, TimeSpan), so a result from the lab
tenant looks exactly like one from Defender.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

# Graph's documented cap: a query returns at most this many rows, silently.
ROW_CAP = 100_000


class Column(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: str


class HuntResult(BaseModel):
    """Rows keyed by column name; DateTime values are timezone-aware `datetime`s in UTC."""

    columns: list[Column]
    rows: list[dict[str, Any]]
    truncated: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @classmethod
    def build(cls, columns: list[Column], rows: list[dict[str, Any]]) -> HuntResult:
        """A result whose truncation flag says whether it hit the row cap."""
        return cls(columns=columns, rows=rows, truncated=len(rows) >= ROW_CAP)


class HuntingBackend(Protocol):
    """Runs KQL and returns a typed result: Graph's runHuntingQuery or the lab tenant."""

    name: str

    async def run_query(self, kql: str) -> HuntResult: ...

    async def aclose(self) -> None: ...
