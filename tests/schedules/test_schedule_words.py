"""What a person may type as a schedule's frequency, and what makes a row "the same row"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import BadArgument
from bot.flows.schedules import overlap, parse_every, row_key


@pytest.mark.parametrize(
    ("text", "every"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("3h", timedelta(hours=3)),
        ("12h", timedelta(hours=12)),
        ("24h", timedelta(days=1)),
        ("1d", timedelta(days=1)),
        ("90min", timedelta(minutes=90)),
    ],
)
def test_defenders_frequencies_and_anything_from_fifteen_minutes(text, every):
    assert parse_every(text) == every


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("5m", "every 15 minutes at most often"),
        ("8d", "at least once a week"),
        ("hourly", "not a frequency such as 15m, 1h"),
        ("1w", "not a frequency"),
        ("-1h", "not a frequency"),
    ],
)
def test_a_frequency_out_of_range_says_what_is_allowed(text, said):
    with pytest.raises(BadArgument) as refused:
        parse_every(text)
    assert said in refused.value.message


def test_a_run_looks_back_beyond_its_period_for_late_events():
    assert overlap(timedelta(hours=1)) == timedelta(minutes=15)
    assert overlap(timedelta(hours=24)) == timedelta(hours=6)


def test_the_key_columns_decide_sameness_and_other_columns_may_change():
    first = {"NetworkMessageId": "m1", "RecipientEmailAddress": "a@x", "LogonTime": "09:00"}
    later = {**first, "LogonTime": "10:00"}
    key = ("NetworkMessageId", "RecipientEmailAddress")
    assert row_key(first, key) == row_key(later, key)
    assert row_key(first, ()) != row_key(later, ())
    assert row_key(first, key) != row_key({**first, "RecipientEmailAddress": "b@x"}, key)


def test_a_frequency_is_said_as_a_person_says_it():
    from bot.slack.mrkdwn import frequency

    assert [frequency(parse_every(t)) for t in ("15m", "90m", "1h", "3h", "24h", "2d")] == [
        "15 min",
        "90 min",
        "1 h",
        "3 h",
        "1 day",
        "2 days",
    ]


async def test_a_scheduled_run_waiting_for_the_quota_lets_a_persons_hunt_go_first(redis):
    from bot.flows.hunts import queue_arrival
    from bot.state.hunt_requests import HuntRequest
    from bot.state.quota import HuntingQuota

    quota = HuntingQuota(redis, per_minute=1)
    assert await quota.acquire("someone-before") is None  # the minute's one call is used

    def request(schedule_id: str | None) -> HuntRequest:
        return HuntRequest(
            hunt="zap-misses",
            arguments={},
            user_id="U0ALICE",
            team_id="T1",
            channel_id="C1",
            schedule_id=schedule_id,
        )

    scheduled, person = request("SCH-1"), request(None)
    first = await quota.acquire(scheduled.id, arrived_ms=queue_arrival(scheduled, again=False))
    assert first is not None and first.position == 1
    # Alice's hunt arrives after the scheduled run, and is still next in line.
    waiting = await quota.acquire(person.id, arrived_ms=queue_arrival(person, again=False))
    assert waiting is not None and waiting.position == 1
    again = await quota.acquire(scheduled.id, arrived_ms=queue_arrival(scheduled, again=False))
    assert again is not None and again.position == 2
