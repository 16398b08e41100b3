"""Incidents that mean something: a hunt that found nothing opens none, titles tell incidents
apart, and `/hunt incidents` lists what it can link and says what it left out."""

from __future__ import annotations

from tests.slack.bot_under_test import soc_bot


async def test_incidents_are_opened_by_findings_and_listed_even_when_a_root_is_gone(settings):
    async with soc_bot(settings) as bot:
        await bot.run(
            "/hunt emails-from sender=nobody@nowhere.example",
            "/hunt spam-emails",
            "/hunt zap-misses",
        )
        soc = bot.slack.workspace.channel_by_ref("soc")
        assert soc is not None
        open_now = await bot.services.incidents.open_in_channel("T0CONSOLE", soc.id)
        titles = [i.title for i in open_now]
        assert len(open_now) == 2, titles  # the empty hunt opened none
        assert any("Emails with a given threat verdict" in t and "UTC" in t for t in titles)
        spam = next(i for i in open_now if "threat verdict" in i.title)
        found = bot.slack.workspace.message(soc.id, spam.thread_ts)
        assert found is not None
        found.deleted = True  # someone deleted the results message

        before = len(bot.calls)
        await bot.run("/hunt incidents")
        listing = await bot.told("alice", before)
        assert "1 open incident whose first message was deleted is not listed" in listing
        assert "1 open incident." in listing and "message_not_found" not in listing


async def test_an_incident_title_names_the_values_asked_for(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt spam-emails threat=spam lookback=3d")
        (incident,) = await bot.services.incidents.open_in_channel("T0CONSOLE", "C0SOC")
        assert "(threat=spam lookback=3d)" in incident.title
