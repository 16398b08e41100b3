"""Every built-in hunt, run with its defaults on the default lab, finds its planted rows and
none of the near-misses planted next to them."""

from __future__ import annotations

import pytest

from bot.defender.lab import PLANTED, PlantedCase
from bot.hunts.catalog import load_catalog

CATALOG = load_catalog(check_builtins=True)


def _case_id(case: PlantedCase) -> str:
    return f"{case.hunt}{'-' + '-'.join(case.args.values()) if case.args else ''}"


@pytest.mark.parametrize("case", PLANTED, ids=_case_id)
async def test_the_hunt_finds_what_was_planted_and_not_the_near_misses(lab, case: PlantedCase):
    kql = CATALOG.get(case.hunt).render(case.args).kql
    result = await lab.run_query(kql)
    found = {row[case.key] for row in result.rows}
    assert case.found <= found, f"missing: {case.found - found}"
    assert not case.missed & found, f"near-misses found: {case.missed & found}"


def test_every_builtin_hunt_has_a_planted_scenario():
    assert {hunt.name for hunt in CATALOG} <= {case.hunt for case in PLANTED}


def test_every_builtin_hunt_is_valid_and_runs_on_the_lab():
    assert CATALOG.problems == []
    assert CATALOG.lab_gaps == {}
    assert len(CATALOG) >= 9


@pytest.mark.parametrize("hunt", [h.name for h in CATALOG])
async def test_every_display_and_entity_column_comes_back(lab, hunt: str):
    definition = CATALOG.get(hunt)
    example = {p.name: p.example for p in definition.parameters if p.default is None}
    result = await lab.run_query(definition.render(example).kql)
    returned = set(result.column_names)
    assert set(definition.columns) <= returned
    assert definition.entities.columns <= returned
