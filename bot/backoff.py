"""Capped exponential backoff with jitter, for riding out something that went away (Redis, the
Entra login host, Slack at start-up) without hammering it or flooding the log."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays that double from `first` up to `cap`, each drawn from its upper half ("equal
    jitter"), so processes that lost the same server do not all come back in the same instant."""

    first: float = 0.25
    cap: float = 4.0
    factor: float = 2.0
    attempt: int = field(default=0, init=False)

    def next(self) -> float:
        ceiling = min(self.cap, self.first * self.factor**self.attempt)
        self.attempt += 1
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0
