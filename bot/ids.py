"""Random ids made on the ack path: hex digits from os.urandom, as uuid4().hex gives them, at a
fifth of its cost (benchmarks/README.md)."""

from __future__ import annotations

import os


def random_hex(digits: int = 32) -> str:
    """`digits` (even) random hex digits: 32 for a hunt request or a job, 12 for a log id."""
    return os.urandom(digits // 2).hex()
