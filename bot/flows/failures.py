"""What a person is told when something fails, for listeners and jobs alike.

A `HuntBotError` says what went wrong and what to do; Redis or Slack going away is said plainly;
anything else is a bug: it gets an error id the person can quote, logged once with that id.
"""

from __future__ import annotations

import logging
import uuid

from redis import exceptions as redis_errors
from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.errors import HuntBotError
from bot.slack.blocks import Message, render_notice

log = logging.getLogger(__name__)


def failure_message(exc: BaseException, where: str) -> Message:
    """What the person sees when something fails; unexpected failures get an error id."""
    if isinstance(exc, HuntBotError):
        return render_notice(exc.message, exc.hint)
    # Redis too slow: what was sent may still be done once it answers, so say so.
    if isinstance(exc, redis_errors.TimeoutError | TimeoutError):
        metrics.redis_error("answered")
        log.warning("%s: Redis did not answer in time (%s)", where, type(exc).__name__)
        return render_notice(
            "The bot's state store (Redis) did not answer in time, so this may or may not "
            "have been done.",
            "Wait a minute and look for the result before trying again; if it keeps "
            "happening, tell whoever runs the bot.",
        )
    # Redis away (not a bad command, which is a bug like any other).
    away = (redis_errors.ConnectionError, redis_errors.BusyLoadingError)
    if isinstance(exc, away):
        metrics.redis_error("answered")
        log.warning("%s: Redis unreachable (%s)", where, type(exc).__name__)
        return render_notice(
            "The bot cannot reach its state store (Redis) just now, so nothing was done.",
            "Try again in a minute; if it keeps happening, tell whoever runs the bot.",
        )
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error", "unknown_error")
        log.warning("%s: Slack answered %s", where, error)
        return render_notice(f"Slack refused what I tried to do ({error}).", "Try again.")
    error_id = uuid.uuid4().hex[:8]
    log.error(
        "%s failed (error id %s)", where, error_id, exc_info=exc, extra={"error_id": error_id}
    )
    return render_notice(
        f"Something went wrong on our side (error id {error_id}).",
        "Try again; if it keeps happening, give the error id to whoever runs the bot.",
    )
