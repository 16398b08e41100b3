"""Capabilities of this install: all on the lab; on Defender, what the token roles grant."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.defender.permissions import CAPABILITIES, check_capabilities
from bot.errors import HuntBotError

if TYPE_CHECKING:
    from bot.defender.auth import TokenProvider

log = logging.getLogger(__name__)


async def current_capabilities(
    settings: Settings, *, tokens: TokenProvider | None = None
) -> set[str] | None:
    """None when they cannot be read (no token): the caller treats that as unknown.

    `tokens` is the process's one TokenProvider, whose cached tokens hunting and remediation
    then reuse; without it, one is built for this check.
    """
    if settings.hunt_backend == "lab":
        return {c.key for c in CAPABILITIES}
    from bot.defender.auth import TokenProvider, token_roles

    tokens = tokens or TokenProvider(settings)
    roles: list[list[str] | None] = []
    for scope in (settings.hosts.graph_scope, settings.hosts.mde_scope):
        try:
            roles.append(token_roles(await tokens.access_token(scope)))
        except (HuntBotError, ValueError) as exc:
            log.warning("cannot read the app's roles for %s: %s", scope, exc)
            roles.append(None)
    if roles == [None, None]:  # no token at all: unknown, not "nothing granted"
        return None
    statuses = check_capabilities(roles[0], roles[1])
    return {s.capability.key for s in statuses if s.available}
