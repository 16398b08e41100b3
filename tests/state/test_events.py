"""Event de-duplication on a real Redis: in progress while handled, handled only on success."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.state import keys
from bot.state.events import HANDLED, handling_once


async def test_a_handled_event_is_never_handled_again(redis):
    async with handling_once(redis, "Ev1") as first:
        assert first
    assert await redis.get(keys.seen_event("Ev1")) == HANDLED
    async with handling_once(redis, "Ev1") as again:
        assert not again


async def test_a_redelivery_while_the_first_attempt_runs_is_dropped(redis):
    async with handling_once(redis, "Ev2") as first:
        assert first
        async with handling_once(redis, "Ev2") as meanwhile:
            assert not meanwhile


async def test_a_failed_attempt_lets_the_redelivery_through(redis):
    with pytest.raises(RuntimeError):
        async with handling_once(redis, "Ev3") as first:
            assert first
            raise RuntimeError("Slack refused the post")
    assert await redis.get(keys.seen_event("Ev3")) is None
    async with handling_once(redis, "Ev3") as again:
        assert again


async def test_an_attempt_that_died_lapses_and_lets_a_later_redelivery_through(redis):
    started = handling_once(redis, "Ev4", in_progress_for=timedelta(seconds=1))
    assert await started.__aenter__()  # the process is killed here: no exit, no release
    async with handling_once(redis, "Ev4") as meanwhile:
        assert not meanwhile
    await asyncio.sleep(1.2)
    async with handling_once(redis, "Ev4") as later:
        assert later


async def test_an_event_without_an_id_is_always_handled(redis):
    for _ in range(2):
        async with handling_once(redis, "") as first:
            assert first
