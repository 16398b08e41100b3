"""How long `hunt-bot lab init --rows 100000` takes, and its peak memory.

Runs the real command (`.venv/bin/hunt-bot`, a process of its own) into a temp directory, once
per `--runs`, and reads its wall time and peak RSS (the kernel's high-water mark for that
process; the command starts no other process). Then it checks the lab it made: every documented
table exists and the three big tables hold about `--rows` rows each. See benchmarks/README.md.

    .venv/bin/python benchmarks/lab_init.py [--rows 100000] [--runs 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average

ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 10.0
BUDGET_MB = 500.0
BIG_TABLES = ("EmailEvents", "IdentityLogonEvents", "DeviceProcessEvents")


def run_once(rows: int, path: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one `hunt-bot lab init`."""
    command = [
        str(ROOT / ".venv/bin/hunt-bot"),
        "lab",
        "init",
        "--rows",
        str(rows),
        "--force",
        "--path",
        str(path),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        assert process.stderr is not None
        sys.exit(f"lab init failed ({process.returncode}):\n{process.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def check_lab(path: Path, rows: int) -> dict[str, int]:
    import duckdb

    from bot.defender.lab import load_schema

    con = duckdb.connect(str(path), read_only=True)
    try:
        counts = {
            name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # type: ignore[index]
            for name in load_schema()
        }
    finally:
        con.close()
    for name in BIG_TABLES:
        if not rows <= counts[name] < rows * 1.05:
            sys.exit(f"{name} holds {counts[name]} rows, not about {rows}")
    if not all(counts.values()):
        sys.exit(f"empty tables: {[name for name, n in counts.items() if not n]}")
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    load = load_average()
    times, peaks = [], []
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as scratch:
        path = Path(scratch) / "lab.duckdb"
        for _ in range(args.runs):
            seconds, peak = run_once(args.rows, path)
            times.append(seconds)
            peaks.append(peak)
        counts = check_lab(path, args.rows)
    figures = {
        "rows_option": args.rows,
        "rows_in_lab": sum(counts.values()),
        "seconds": times,
        "peak_rss_mb": peaks,
        "seconds_median": statistics.median(times),
        "peak_rss_mb_max": max(peaks),
        "load_average_at_start": load,
    }
    print(
        f"hunt-bot lab init --rows {args.rows}: {figures['rows_in_lab']:,} rows in "
        f"{len(counts)} tables; {args.runs} runs; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        "  seconds:",
        ", ".join(f"{t:.2f}" for t in times),
        "  peak MB:",
        ", ".join(f"{p:.0f}" for p in peaks),
    )
    lines = [
        (
            "lab init, median seconds",
            f"{figures['seconds_median']:.2f} s",
            f"<= {BUDGET_SECONDS:g} s",
            figures["seconds_median"] <= BUDGET_SECONDS,
        ),
        (
            "lab init, peak memory (worst run)",
            f"{figures['peak_rss_mb_max']:.0f} MB",
            f"<= {BUDGET_MB:g} MB",
            figures["peak_rss_mb_max"] <= BUDGET_MB,
        ),
    ]
    print(f"{'figure':<36}{'measured':>12}{'budget':>12}  ok")
    for label, measured, budget, ok in lines:
        print(f"{label:<36}{measured:>12}{budget:>12}  {'ok' if ok else 'MISSED'}")
    figures["budgets"] = [list(line) for line in lines]
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
