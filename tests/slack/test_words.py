"""Counts read as a person says them: 1 incident, 2 incidents, never "1 rows" or "(s)"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.slack.incident import idle_words, render_incidents, render_stale_summary
from bot.slack.mrkdwn import plural
from bot.state.incident_records import Incident, IncidentState


def _incident(ts: str) -> Incident:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    return Incident(
        team="T0SOC",
        channel="C0SOC",
        thread_ts=ts,
        title=f"Spam emails {ts}",
        owner="U0ALICE",
        state=IncidentState.OPEN,
        opened_by="U0ALICE",
        opened_at=at,
        updated_at=at,
    )


def test_plural_says_one_or_many() -> None:
    assert plural(1, "row") == "1 row"
    assert plural(0, "row") == "0 rows"
    assert plural(1204, "row") == "1,204 rows"
    assert plural(2, "incident was", "incidents were") == "2 incidents were"
    assert plural(1, "incident was", "incidents were") == "1 incident was"


def test_idle_ages_are_said_in_the_unit_they_were_asked_in() -> None:
    assert idle_words(timedelta(days=7)) == "7 days"
    assert idle_words(timedelta(days=1)) == "1 day"
    assert idle_words(timedelta(hours=1)) == "1 hour"
    assert idle_words(timedelta(hours=36)) == "36 hours"


def test_the_incident_list_and_the_stale_summary_count_in_words() -> None:
    one = render_incidents([_incident("1.1")], {}, {"1.1": 1}, unlinked=1)
    text = str(one.blocks)
    assert "· 1 pending approval" in text
    assert "1 open incident." in text
    assert "1 open incident whose first message was deleted is not listed" in text
    assert "(s)" not in text
    summary = render_stale_summary(
        [_incident("1.1")], [], timedelta(days=7), active=1, gone=2, untold=1
    )
    said = str(summary.blocks)
    assert "Closed 1 incident idle for more than 7 days." in said
    assert "Left open 1 incident with activity since you looked." in said
    assert "2 incidents were already closed." in said
    assert "Could not say so in 1 thread: perhaps its first message was deleted." in said
    none = render_stale_summary([], [], timedelta(hours=12))
    assert "Closed none" in str(none.blocks) and "0 incidents" not in str(none.blocks)
