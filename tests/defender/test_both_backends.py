"""A hunt runs unchanged on both backends: every built-in hunt, sent through the real Graph client
to a stand-in whose answers come from the lab tenant, returns exactly what the lab returns."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.defender.hunting import GraphHunting
from bot.defender.lab import LabTenant, create_lab
from bot.defender.lab.scenarios import PLANTED
from bot.hunts import load_catalog
from tests.standins.lab_answers import answer_from

CATALOG = load_catalog()


@pytest.fixture(scope="module")
def lab_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_lab(tmp_path_factory.mktemp("lab") / "lab.duckdb").path


@pytest.fixture
async def lab(lab_path: Path):
    tenant = LabTenant.open(lab_path, create_if_missing=False)
    yield tenant
    await tenant.aclose()


# One planted case per hunt: arguments under which the hunt finds something on the lab.
CASES = {case.hunt: case for case in reversed(PLANTED)}


@pytest.mark.parametrize("name", sorted(h.name for h in CATALOG))
async def test_every_builtin_hunt_returns_the_same_on_graph_and_on_the_lab(
    name, lab, lab_path, microsoft, tokens
):
    kql = CATALOG.get(name).render(dict(CASES[name].args)).kql
    on_lab = await lab.run_query(kql)
    assert on_lab.row_count > 0

    con, microsoft.query_handler = answer_from(lab_path)
    graph = GraphHunting(microsoft.settings(), tokens, verify=microsoft.ssl_context())
    try:
        on_graph = await graph.run_query(kql)
    finally:
        await graph.aclose()
        con.close()

    assert microsoft.hunting_requests[-1].json["Query"] == kql
    assert on_graph.columns == on_lab.columns
    assert on_graph.rows == on_lab.rows
