"""Microsoft's published hunting queries (queries.yaml): the validator accepts every one, and
the lab runs at least nine in ten."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.defender.lab import create_lab
from bot.defender.lab.run import run_kql
from bot.defender.lab.store import opened
from bot.errors import HuntBotError, HuntFileError
from bot.hunts.schema_check import SchemaChecker
from tests.corpus.measure import group, load_corpus

CORPUS = load_corpus()


@pytest.fixture(scope="module")
def corpus_lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_lab(tmp_path_factory.mktemp("corpus") / "lab.duckdb").path


def test_the_corpus_is_at_least_a_hundred_published_queries():
    assert len(CORPUS) >= 100
    assert all(entry["path"] and entry["query"].strip() for entry in CORPUS)


def test_the_validator_accepts_every_published_query():
    checker = SchemaChecker()
    refused = {}
    try:
        for entry in CORPUS:
            try:
                checker.check_query(entry["query"], entry["id"])
            except HuntFileError as exc:
                refused[entry["id"]] = exc.detail
    finally:
        checker.close()
    assert refused == {}


def test_the_lab_runs_at_least_nine_in_ten(corpus_lab: Path):
    failed: dict[str, str] = {}
    with opened(corpus_lab, write=False) as con:
        for entry in CORPUS:
            try:
                run_kql(con, entry["query"], seconds=3.0, limit=50)
            except HuntBotError as exc:
                failed[entry["id"]] = group(str(exc))
    ran = len(CORPUS) - len(failed)
    assert ran >= 0.9 * len(CORPUS), f"ran {ran} of {len(CORPUS)}: {failed}"
