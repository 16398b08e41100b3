"""Planting a scenario (the console's `plant`): a fresh copy, timed now, that its hunt finds
with a short look-back, and that neither finds older rows nor is found by them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.defender.lab import LabTenant
from bot.defender.lab.plant import SCENARIOS, UnknownScenario, plant
from bot.hunts.catalog import load_catalog

CATALOG = load_catalog(check_builtins=True)


async def _rows(lab: LabTenant, hunt: str) -> list[dict[str, Any]]:
    result = await lab.run_query(CATALOG.get(hunt).render({"lookback": "1h"}).kql)
    return result.rows


def _as_set(rows: list[dict[str, Any]]) -> set[str]:
    return {json.dumps(row, sort_keys=True, default=str) for row in rows}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_each_copy_is_found_by_its_hunt_and_by_nothing_else_new(
    lab: LabTenant, lab_copy: Path, name: str
):
    scenario = SCENARIOS[name]
    before = await _rows(lab, scenario.hunt)

    first = plant(lab_copy, name)
    after_first = await _rows(lab, scenario.hunt)
    second = plant(lab_copy, name)
    after_second = await _rows(lab, scenario.hunt)

    assert first.key != second.key and first.person != second.person
    new = [
        r
        for r in after_first
        if r[scenario.key_column] not in {b[scenario.key_column] for b in before}
    ]
    assert new and {r[scenario.key_column] for r in new} == {first.key}
    # The second copy adds its own rows and changes none of the first's (no cross-talk).
    assert _as_set(after_first) <= _as_set(after_second)
    added = _as_set(after_second) - _as_set(after_first)
    assert len(added) == len(new)
    assert {json.loads(r)[scenario.key_column] for r in added} == {second.key}


async def test_a_zap_miss_is_a_failed_zap_and_the_recipients_sign_in_minutes_later(
    lab: LabTenant, lab_copy: Path
):
    planted = plant(lab_copy, "zap-miss")
    [row] = [r for r in await _rows(lab, "zap-misses") if r["NetworkMessageId"] == planted.key]
    assert row["RecipientEmailAddress"] == row["AccountUpn"] == planted.person
    assert row["DeviceName"] == planted.device
    assert row["ZapTime"] < row["LogonTime"]
    # Not found by a look-back shorter than the copy's age: it is timed minutes ago, not now.
    minute = CATALOG.get("zap-misses").render({"lookback": "1m"}).kql
    assert planted.key not in {r["NetworkMessageId"] for r in (await lab.run_query(minute)).rows}


def test_an_unknown_scenario_is_answered_with_the_ones_there_are(lab_copy: Path):
    with pytest.raises(UnknownScenario) as raised:
        plant(lab_copy, "zap-mis")
    assert "zap-mis" in raised.value.message
    assert raised.value.hint is not None and "zap-miss, spam" in raised.value.hint
