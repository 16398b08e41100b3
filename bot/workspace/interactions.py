"""What Slack hands out with each interaction: trigger ids and response URLs.

A trigger id opens one modal within about 3 seconds (../shared/reference/slack-platform.md §2;
Slack's views.open documents `expired_trigger_id` and `exchanged_trigger_id`). A response URL
takes at most 5 posts within 30 minutes (§1.3) and belongs to the message or command it came
with.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

TRIGGER_LIFETIME = 3.0
RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60.0


@dataclass
class Trigger:
    user: str
    issued: float
    used: bool = False


class TriggerBook:
    def __init__(self, lifetime: float = TRIGGER_LIFETIME) -> None:
        self.lifetime = lifetime
        self._triggers: dict[str, Trigger] = {}

    def issue(self, user: str) -> str:
        """A trigger id in Slack's shape, `<digits>.<digits>.<hex>`."""
        trigger_id = (
            f"{int(time.time() * 1000)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        )
        self._triggers[trigger_id] = Trigger(user, time.monotonic())
        return trigger_id

    def exchange(self, trigger_id: str) -> tuple[str | None, str | None]:
        """(the user it was issued for, None), or (None, Slack's error code)."""
        parts = trigger_id.split(".")
        if len(parts) != 3 or not all(parts):
            return None, "invalid_trigger_id"
        trigger = self._triggers.get(trigger_id)
        if trigger is None or time.monotonic() - trigger.issued > self.lifetime:
            return None, "expired_trigger_id"
        if trigger.used:
            return None, "exchanged_trigger_id"
        trigger.used = True
        return trigger.user, None


@dataclass
class ResponseUrl:
    token: str
    channel: str
    user: str
    # The message the interaction came from: ("message", ts) in the channel, ("ephemeral", ts),
    # or None for a slash command, which has no original message to replace.
    source: tuple[str, str] | None
    thread_ts: str | None = None
    issued: float = field(default_factory=time.monotonic)
    uses: int = 0


class ResponseUrlBook:
    def __init__(
        self, uses: int = RESPONSE_URL_USES, lifetime: float = RESPONSE_URL_LIFETIME
    ) -> None:
        self.max_uses = uses
        self.lifetime = lifetime
        self._urls: dict[str, ResponseUrl] = {}

    def issue(
        self,
        *,
        channel: str,
        user: str,
        source: tuple[str, str] | None,
        thread_ts: str | None = None,
    ) -> ResponseUrl:
        url = ResponseUrl(secrets.token_urlsafe(18), channel, user, source, thread_ts)
        self._urls[url.token] = url
        return url

    def use(self, token: str) -> tuple[ResponseUrl | None, str | None]:
        """Count one use: (the URL, None), or (None, why it is refused)."""
        url = self._urls.get(token)
        if url is None:
            return None, "invalid_token"
        if time.monotonic() - url.issued > self.lifetime:
            return None, "expired_url"
        if url.uses >= self.max_uses:
            return None, "used_url"
        url.uses += 1
        return url, None
