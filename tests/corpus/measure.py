"""How many of Microsoft's published hunting queries the validator accepts and the lab runs.

    python -m tests.corpus.measure [--lab PATH] [--seconds N] [--verbose]

Reads queries.yaml (see README.md), checks each kept query as a hunt file would be checked,
runs it on a lab tenant (a fresh default lab unless --lab names one), and prints the figures
with every failure grouped by why it failed.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.defender.lab import create_lab
from bot.defender.lab.run import run_kql
from bot.defender.lab.store import opened
from bot.errors import HuntBotError, HuntFileError
from bot.hunts.schema_check import SchemaChecker

CORPUS = Path(__file__).parent / "queries.yaml"
# Per query; the whole corpus stays within a minute on one core.
SECONDS = 5.0


def load_corpus() -> list[dict[str, Any]]:
    document = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    return [q for q in document["queries"] if "excluded" not in q]


@dataclass
class Figures:
    total: int = 0
    accepted: int = 0
    ran: int = 0
    notes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    refused: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def group(message: str) -> str:
    """A failure's reason without the parts that differ from query to query."""
    text = re.sub(r"\s+at \d+:\d+", "", message)
    text = re.sub(r"near .*?\)", "near …)", text)
    text = re.sub(r'"[^"]*"|\'[^\']*\'', "…", text)
    return text[:140]


def measure(lab: Path, seconds: float = SECONDS) -> Figures:
    figures = Figures()
    checker = SchemaChecker()
    try:
        with opened(lab, write=False) as con:
            for entry in load_corpus():
                figures.total += 1
                query, name = entry["query"], entry["id"]
                try:
                    found = checker.check_query(query, name)
                    figures.accepted += 1
                    if found.note:
                        figures.notes[group(found.note)].append(name)
                except HuntFileError as exc:
                    figures.refused[group(exc.detail)].append(name)
                try:
                    run_kql(con, query, seconds=seconds, limit=50)
                    figures.ran += 1
                except HuntBotError as exc:
                    figures.failed[group(str(exc))].append(name)
    finally:
        checker.close()
    return figures


def report(figures: Figures, verbose: bool) -> str:
    lines = [
        f"validator accepted {figures.accepted} of {figures.total}",
        f"lab ran {figures.ran} of {figures.total} "
        f"({100 * figures.ran / max(figures.total, 1):.1f}%)",
    ]
    for title, groups in (
        ("refused by the validator", figures.refused),
        ("failed on the lab", figures.failed),
        ("accepted with a note", figures.notes),
    ):
        if not groups:
            continue
        lines.append(f"\n{title}:")
        for reason, names in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"  {len(names):3d}  {reason}")
            if verbose:
                lines.extend(f"         {n}" for n in names)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", type=Path, help="an existing lab file (default: a fresh one)")
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--verbose", action="store_true", help="list the queries in each group")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="corpus-lab-") as scratch:
        lab = args.lab or create_lab(Path(scratch) / "lab.duckdb").path
        figures = measure(lab, args.seconds)
    print(report(figures, args.verbose))
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
