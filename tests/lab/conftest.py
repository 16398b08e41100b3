"""One default lab per test session (creating it takes about a second); tests that change a lab
get their own copy of the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.defender.lab import LabSummary, LabTenant, create_lab


@pytest.fixture(scope="session")
def default_lab(tmp_path_factory: pytest.TempPathFactory) -> LabSummary:
    return create_lab(tmp_path_factory.mktemp("lab") / "lab.duckdb")


@pytest.fixture
def lab_copy(default_lab: LabSummary, tmp_path: Path) -> Path:
    """A private copy of the default lab, free to age, corrupt or hold open."""
    target = tmp_path / "lab.duckdb"
    shutil.copyfile(default_lab.path, target)
    return target


@pytest.fixture
async def lab(lab_copy: Path):
    tenant = LabTenant.open(lab_copy, create_if_missing=False)
    yield tenant
    await tenant.aclose()
