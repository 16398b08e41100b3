"""A hunt that takes a while says so where its results will go: the time so far, or its place in
the quota queue, edited as it goes, with Cancel. Cancelled while queued, it never runs; cancelled
while Defender works on it, nothing is posted. The hunt runs on Graph (the Microsoft stand-in,
holding the query for a few seconds) so the wait is real."""

from __future__ import annotations

import asyncio
import re
import time

from bot.slack.ids import ResultsAction
from bot.state.hunt_requests import CANCELLED
from bot.workspace.model import Message
from tests.slack.bot_under_test import SocBot, soc_bot
from tests.slack.safety import assert_safe_message
from tests.standins.microsoft import MicrosoftStandIn

HELD = 5.0  # seconds the stand-in holds the first query


def graph(microsoft: MicrosoftStandIn) -> dict[str, object]:
    settings = microsoft.settings()
    return {
        name: getattr(settings, name)
        for name in (
            "azure_tenant_id",
            "azure_client_id",
            "azure_client_secret",
            "graph_url",
            "mde_url",
            "azure_authority_host",
            "hunt_backend",
        )
    }


async def progress_of(bot: SocBot, *, count: int, timeout: float = 10.0) -> list[Message]:
    """The progress messages once there are `count` of them, oldest first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in bot.messages_with(ResultsAction.CANCEL_HUNT) if not m.deleted]
        if len(found) >= count:
            return sorted(found, key=lambda m: float(m.ts))
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"fewer than {count} progress messages: {[c.method for c in bot.calls]}"
        + bot.out.export_text()
    )


async def hunt(bot: SocBot, text: str, user: str = "alice") -> None:
    """/hunt as `user` would type it, without waiting for the hunt to end (as `run` does)."""
    soc = bot.slack.workspace.channel_by_ref("soc")
    assert soc is not None
    sent = await bot.platform.slash_command(bot.user(user), soc, "/hunt", text)
    assert not sent.failed


def elapsed(message: Message) -> int:
    found = re.search(r"(\d+) s so far", str(message.blocks))
    assert found, message.blocks
    return int(found[1])


async def test_a_long_hunt_shows_its_time_and_queue_place_and_cancel_stops_it(
    settings, microsoft, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(microsoft.ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(microsoft.ca_file))
    microsoft.stall_next_query(HELD)
    async with soc_bot(
        settings,
        **graph(microsoft),
        graph_hunts_per_minute=1,  # the second hunt waits for the quota behind the first
        hunt_progress_after_seconds=0.3,
        hunt_progress_every_seconds=0.5,
    ) as bot:
        await hunt(bot, "spam-emails")
        # The private answer offers Cancel straight away.
        answer = bot.slack.workspace.ephemerals_for(bot.user("alice").id)[-1]
        assert "Cancel" in str(answer.blocks)

        (running,) = await progress_of(bot, count=1)
        assert_safe_message(running.blocks, running.text)
        assert "running on Defender" in str(running.blocks)
        first = elapsed(running)
        await asyncio.sleep(1.6)
        assert running.edits >= 2 and elapsed(running) > first  # the time moves on

        await hunt(bot, "spam-emails threat=phish")
        _, queued = await progress_of(bot, count=2)
        assert "number 1 in the queue" in str(queued.blocks)

        # Bob (an approver) cancels the queued one; Alice cancels her running one.
        waiting_id = bot.button_value(queued, ResultsAction.CANCEL_HUNT)
        _, before = await bot.press("bob", queued, ResultsAction.CANCEL_HUNT, waiting_id)
        assert "Cancelled" in await bot.told("bob", before)
        running_id = bot.button_value(running, ResultsAction.CANCEL_HUNT)
        _, before = await bot.press("alice", running, ResultsAction.CANCEL_HUNT, running_id)
        assert "Cancelled" in await bot.told("alice", before)

        await asyncio.sleep(HELD + 1.5)  # past the held query's answer
        await bot.slack.calls.quiet(period=0.5)
        for message, by in ((running, "U0ALICE"), (queued, "U0BOB")):
            said = str(message.blocks)
            assert f"cancelled by <@{by}>" in said and "nothing will be posted" in said
            assert "Cancel" not in str([b for b in message.blocks if b["type"] == "actions"])
        # Nothing posted: no results message, no stored result; the queued hunt never ran.
        assert not bot.messages_with("Take actions")
        assert not bot.messages_with("Export CSV")
        for request_id in (running_id, waiting_id):
            assert not await bot.services.results.exists(request_id)
            outcome = await bot.services.hunt_requests.outcome(request_id)
            assert outcome is not None and outcome.startswith(CANCELLED)
        assert len(microsoft.hunting_calls) == 1


async def test_a_hunt_that_finishes_removes_its_progress_and_a_late_cancel_says_so(
    settings, microsoft, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(microsoft.ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(microsoft.ca_file))
    microsoft.stall_next_query(1.5)
    async with soc_bot(
        settings,
        **graph(microsoft),
        hunt_progress_after_seconds=0.3,
        hunt_progress_every_seconds=0.5,
    ) as bot:
        await hunt(bot, "spam-emails")
        (running,) = await progress_of(bot, count=1)
        request_id = bot.button_value(running, ResultsAction.CANCEL_HUNT)
        deadline = time.monotonic() + 10
        while not bot.messages_with("Take actions") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        (results,) = bot.messages_with("Take actions")
        await bot.slack.calls.quiet(period=0.3)
        assert running.deleted  # the results replace the progress
        _, before = await bot.press("alice", results, ResultsAction.CANCEL_HUNT, request_id)
        assert "already finished" in await bot.told("alice", before)
        assert await bot.services.results.exists(request_id)


async def test_a_quick_hunt_posts_no_progress(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt spam-emails")
        assert bot.messages_with("Take actions")
        assert not [c for c in bot.calls if "so far" in str(c.args)]


async def test_a_large_export_says_how_far_it_has_got_then_removes_that(
    settings, microsoft, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(microsoft.ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(microsoft.ca_file))
    microsoft.flood_next_query(12_000)
    async with soc_bot(settings, **graph(microsoft)) as bot:
        await bot.run("/hunt spam-emails", "click Export CSV")
        await bot.slack.calls.quiet(period=0.5)
        posted = [
            c
            for c in bot.calls
            if c.method == "chat.postMessage" and "Exporting" in str(c.args.get("blocks"))
        ]
        assert len(posted) == 1, [c.method for c in bot.calls]
        said = str(posted[0].args["blocks"])
        assert "0 of 12,000 rows read so far" in said
        ts = posted[0].response["ts"]
        assert any(c.method == "chat.delete" and c.args.get("ts") == ts for c in bot.calls)
        assert any(c.method == "files.completeUploadExternal" for c in bot.calls)
