"""Every figure issue 13 budgets, beside its budget, from one run of all four benchmarks.

Runs, one after another (they would measure each other on a shared machine):
`lab_init.py`, `ack_latency.py`, `big_results.py` and `scale_out.py`, each as its own process
with its own output shown as it comes, then prints one table of every budget. See
benchmarks/README.md; each script's own figures and caveats are there.

    .venv/bin/python benchmarks/all.py            # about 8 minutes
    .venv/bin/python benchmarks/all.py --quick    # smaller runs, about 3 minutes: a smoke test
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ack_latency import budget_rows
from common import load_average

HERE = Path(__file__).resolve().parent
# (name, script, arguments, quick arguments)
BENCHMARKS = (
    ("lab init", "lab_init.py", ["--runs", "3"], ["--runs", "1"]),
    ("ack", "ack_latency.py", ["--runs", "2"], ["--quick"]),
    ("big results", "big_results.py", [], ["--rows", "20000"]),
    ("scale-out", "scale_out.py", [], ["--hunts", "40", "--serve", "2", "--workers", "2"]),
)


def budgets_of(name: str, figures: object) -> list[list[object]]:
    if name == "ack":  # its JSON is the raw rows; the budgets are read from them as it does
        assert isinstance(figures, list)
        closed = {r["load"] for r in figures if str(r["load"]).startswith("closed ")}
        connections = int(closed.pop().split()[1]) if closed else 0
        return [list(line) for line in budget_rows(figures, connections)]
    assert isinstance(figures, dict)
    return list(figures["budgets"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs: a smoke test")
    parser.add_argument("--json", help="also write every budget line to this file")
    args = parser.parse_args()
    load = load_average()
    table: list[tuple[str, list[object]]] = []
    failed = []
    with tempfile.TemporaryDirectory(prefix="bench-all-") as scratch:
        for name, script, full, quick in BENCHMARKS:
            out = Path(scratch) / f"{script}.json"
            command = [
                sys.executable,
                str(HERE / script),
                *(quick if args.quick else full),
                "--json",
                str(out),
            ]
            print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
            if subprocess.run(command, check=False).returncode != 0 or not out.exists():
                failed.append(name)
                continue
            for line in budgets_of(name, json.loads(out.read_text())):
                table.append((name, line))
    print(
        f"\n=== issue 13's budgets{' (quick runs: not the figures)' if args.quick else ''}; "
        f"load average at the start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    rows = [("", "figure", "measured", "budget", "")]
    rows += [
        (name, str(f), str(m), str(b), "ok" if ok else "MISSED") for name, (f, m, b, ok) in table
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    for name in failed:
        print(f"{name}: the benchmark failed; see its output above")
    if args.json:
        Path(args.json).write_text(json.dumps([[name, *line] for name, line in table], indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
