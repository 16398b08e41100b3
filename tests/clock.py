"""A clock tests move by hand, for code that takes an injectable `clock` (epoch seconds)."""

from __future__ import annotations

from datetime import UTC, datetime

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC).timestamp()


class Clock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def datetime(self, offset: float = 0) -> datetime:
        return datetime.fromtimestamp(self.now + offset, tz=UTC)
