"""The Microsoft side of one process: one TokenProvider for hunting, remediation and the
capability check, so MSAL's one token cache serves them all.

MSAL caches tokens inside its application object; a provider per client would fetch the same
token once per client. The composition root builds one `MicrosoftClients` and hands `tokens` to
`open_backend`, `open_remediation` and `current_capabilities`.
"""

from __future__ import annotations

import asyncio
import threading

import requests

from bot.config import Settings
from bot.defender.auth import TokenProvider


class MicrosoftClients:
    def __init__(self, settings: Settings, *, http_client: requests.Session | None = None) -> None:
        self._settings = settings
        self._http_client = http_client  # for MSAL; tests trust their local Entra through it
        self._tokens: TokenProvider | None = None
        self._lock = threading.Lock()  # `tokens` may be first asked for from a worker thread

    @property
    def tokens(self) -> TokenProvider | None:
        """The process's provider, built on first use; None on the lab, which needs no tokens.

        On Graph, SettingsError says which app-registration setting is missing.
        """
        if self._settings.hunt_backend != "graph":
            return None
        with self._lock:
            if self._tokens is None:
                self._tokens = TokenProvider(self._settings, http_client=self._http_client)
            return self._tokens

    async def aclose(self) -> None:
        with self._lock:
            tokens, self._tokens = self._tokens, None
        if tokens is not None:
            await asyncio.to_thread(tokens.close)
