"""Choosing where hunts run: Microsoft Defender through Graph, or the local lab tenant."""

from __future__ import annotations

from typing import Literal

from bot.config import Settings
from bot.defender.results import HuntingBackend

BackendName = Literal["graph", "lab"]


def open_backend(settings: Settings, name: BackendName | None = None) -> HuntingBackend:
    """The backend `name` (default: HUNT_BACKEND), ready to run queries.

    Graph needs the app registration's settings and says which are missing; the lab creates its
    database on first use.
    """
    chosen = name or settings.hunt_backend
    if chosen == "graph":
        from bot.defender.auth import TokenProvider
        from bot.defender.hunting import GraphHunting

        settings.require_graph()
        return GraphHunting(settings, TokenProvider(settings))
    from bot.defender.lab import LabTenant

    return LabTenant.open(settings.lab_db)
