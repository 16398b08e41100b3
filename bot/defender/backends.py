"""Choosing where hunts run: Microsoft Defender through Graph, or the local lab tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from bot.config import Settings
from bot.defender.results import HuntingBackend

if TYPE_CHECKING:
    from bot.defender.auth import TokenProvider
    from bot.defender.http import Verify
    from bot.defender.hunting import SharedQuota

BackendName = Literal["graph", "lab"]


def open_backend(
    settings: Settings,
    name: BackendName | None = None,
    *,
    tokens: TokenProvider | None = None,
    verify: Verify = True,
    quota: SharedQuota | None = None,
) -> HuntingBackend:
    """The backend `name` (default: HUNT_BACKEND), ready to run queries.

    Graph needs the app registration's settings and says which are missing; the lab creates its
    database on first use. `tokens` is the process's one TokenProvider (bot/defender/clients.py);
    without it, one is built for this backend. `quota` is the tenant's hunting quota shared by
    every process (bot/state/quota.py); without it Graph's 429s are waited out in the call.
    """
    chosen = name or settings.hunt_backend
    if chosen == "graph":
        from bot.defender.auth import TokenProvider
        from bot.defender.hunting import GraphHunting

        settings.require_graph()
        return GraphHunting(
            settings, tokens or TokenProvider(settings), verify=verify, quota=quota
        )
    from bot.defender.lab import LabTenant

    return LabTenant.open(settings.lab_db)
