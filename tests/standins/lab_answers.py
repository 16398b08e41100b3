"""A Graph hunting stand-in whose answers come from the lab tenant's data."""

from __future__ import annotations

from pathlib import Path

import duckdb_kql

from bot.defender.lab.result_types import graph_type, graph_value


def answer_from(lab_path: Path):
    """A Graph stand-in query handler that runs the KQL it receives on the lab's data."""
    con = duckdb_kql.connect(str(lab_path))

    def handle(kql: str):
        relation = duckdb_kql.kql(con, kql)
        kinds = [graph_type(t) for t in relation.types]
        schema = [{"name": n, "type": k} for n, k in zip(relation.columns, kinds, strict=True)]
        rows = [
            {n: graph_value(k, v) for n, k, v in zip(relation.columns, kinds, row, strict=True)}
            for row in relation.fetchall()
        ]
        return schema, rows

    return con, handle
