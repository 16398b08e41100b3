"""The ops tests drive the bot as the Slack scenarios do (their `settings`) and reach Graph
through the bot's own hunting client as the Defender tests do (their `tokens`, `hunting`)."""

from __future__ import annotations

from tests.defender.conftest import hunting, tokens
from tests.slack.conftest import settings

__all__ = ["hunting", "settings", "tokens"]
