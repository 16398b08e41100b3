"""The action executors' retry policy on top of the shared Microsoft client (bot/defender/http.py).

429 and 5xx, timeouts and dropped connections are retried, waiting as `Retry-After` says or
backing off exponentially, within a bounded number of attempts and a bounded total wait; past
either bound the call fails with the reason. A remediation POST (`resend=False`) is retried only
after 429, 503 or a connection never made; any other unclear end raises CallUncertain.
401 and 403 fail at once, naming the permission the call needs. Any other answer goes back to the
caller, who knows what a 400 or 404 means for its target.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from bot.defender.http import MicrosoftApi, api_error, retry_after_seconds
from bot.defender.permissions import Capability
from bot.errors import AuthenticationError

log = logging.getLogger(__name__)


class CallFailed(Exception):
    """The call could not be made to succeed; `reason` says why, for the target's outcome."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallUncertain(CallFailed):
    """A call that must not be repeated blindly (a remediation POST) went out and got no clear
    answer (a timeout, a dropped connection, a 500/502/504): Microsoft may have acted on it.
    The caller reconciles (asks Microsoft what it holds) before anything is sent again."""


# Answers that say the request was not taken, so sending it again is safe.
REFUSED_UNTAKEN = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # in all, the first included
    backoff: float = 1.0  # first wait when Microsoft names none; doubles each time
    max_wait: float = 120.0  # seconds one call may spend waiting in all


class ApiClient:
    """One API as the executors call it: a target's failure is a reason, never an exception."""

    def __init__(self, api: MicrosoftApi, retry: RetryPolicy) -> None:
        self._api = api
        self._retry = retry
        self.service = api.service

    async def request(
        self,
        method: str,
        path: str,
        *,
        needs: Capability,
        json: Any = None,
        params: dict[str, str] | None = None,
        resend: bool = True,
    ) -> httpx.Response:
        """The answer once it is not 401/403/429/5xx; CallFailed when it never got there.

        `resend=False` (remediation POSTs) repeats the call only when Microsoft clearly did not
        take it (429, 503, or no connection made); after a timeout, a dropped connection or
        another 5xx it raises CallUncertain instead, for the caller to reconcile."""
        retry = self._retry
        waited = 0.0
        for attempt in range(1, retry.attempts + 1):
            try:
                response = await self._api.send(method, path, json=json, params=params)
            except AuthenticationError as exc:
                raise CallFailed(f"No token for {self.service}: {exc}") from None
            except httpx.TransportError as exc:
                problem, told = f"{self.service} could not be reached ({type(exc).__name__})", None
                if not resend and not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                    raise CallUncertain(f"{problem}; it may have acted.") from None
            else:
                status = response.status_code
                if status in (401, 403):
                    raise CallFailed(self._refused(response, needs))
                if status != 429 and status < 500:
                    return response
                problem = f"{self.service} answered {api_error(response).describe(status)}"
                if not resend and status not in REFUSED_UNTAKEN:
                    raise CallUncertain(f"{problem}; it may have acted.")
                told = retry_after_seconds(response)
            if attempt == retry.attempts:
                raise CallFailed(f"{problem}; gave up after {attempt} attempts.")
            delay = retry.backoff * 2 ** (attempt - 1) if told is None else told
            if waited + delay > retry.max_wait:
                raise CallFailed(
                    f"{problem}; it asked to wait {delay:g} s, more than the "
                    f"{retry.max_wait:g} s this action may wait."
                )
            log.info("%s; retry %d/%d in %.1fs", problem, attempt, retry.attempts - 1, delay)
            await asyncio.sleep(delay)
            waited += delay
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _refused(self, response: httpx.Response, needs: Capability) -> str:
        error = api_error(response).describe(response.status_code)
        if response.status_code == 401:
            return (
                f"{self.service} rejected the bot's token ({error}). Check AZURE_TENANT_ID and "
                f"AZURE_CLOUD, and that {needs.permission} on {needs.resource} has admin consent."
            )
        return (
            f"{self.service} refused: the app registration lacks the {needs.resource} "
            f"application permission {needs.permission} ({error}). Grant {needs.permission} "
            "and admin consent."
        )
