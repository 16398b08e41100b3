"""Who may hunt: allow-lists of channels and of user groups, checked on every request and click."""

from __future__ import annotations

import pytest

from bot.app import serve_in_process
from bot.workspace.slack_requests import SignedSender
from bot.workspace.webapi import WebApiStandIn
from tests.slack.conftest import SIGNING_SECRET, TOKEN, Harness


@pytest.fixture
async def strict(settings):
    """A bot where only #ir may hunt, and only the approvers group."""
    async with WebApiStandIn(token=TOKEN).running() as slack:
        current = settings.model_copy(
            update={
                "slack_api_url": slack.api_url,
                "hunt_allowed_usergroups": ("S0APPROVERS",),
            }
        )
        async with serve_in_process(current) as url:
            sender = SignedSender(url, SIGNING_SECRET)
            yield Harness(slack, sender, current)
            await sender.aclose()


async def test_a_member_of_the_allowed_group_hunts(strict):
    await strict.slash("zap-misses", user="bob")
    posted = await strict.next("chat.postMessage")
    assert posted.ok and "<@U0BOB>" in str(posted.args["blocks"])


async def test_someone_outside_the_group_is_refused_privately_and_nothing_runs(strict):
    await strict.slash("zap-misses", user="alice")
    told = await strict.next("response_url")
    assert "not on the list of people who may hunt" in str(told.args)
    await strict.slack.calls.quiet(period=0.5)
    assert not [c for c in strict.calls if c.method == "chat.postMessage"]
    # The group was looked up once and is now answered from the cache, on the ack path.
    assert [c.method for c in strict.calls].count("usergroups.users.list") == 1
    refused = await strict.slash("zap-misses", user="alice")
    assert "not on the list" in str(refused.json())


async def test_clicks_are_checked_too(strict):
    await strict.slash("spam-emails", user="bob")
    results = strict.message(await strict.next("chat.postMessage"))
    before = len(strict.calls)
    await strict.click(results, "Export CSV", user="alice")
    told = await strict.wait("response_url", after=before)
    assert "not on the list" in str(told.args)
    assert not [c for c in strict.calls[before:] if c.method.startswith("files.")]


async def test_a_channel_not_on_the_list_is_refused_on_the_ack(settings):
    async with WebApiStandIn(token=TOKEN).running() as slack:
        current = settings.model_copy(
            update={"slack_api_url": slack.api_url, "hunt_allowed_channels": ("C0IR",)}
        )
        async with serve_in_process(current) as url:
            sender = SignedSender(url, SIGNING_SECRET)
            harness = Harness(slack, sender, current)
            answer = await harness.slash("zap-misses", user="bob")
            await sender.aclose()
    assert "not enabled in this channel" in str(answer.json())
    assert not [c for c in harness.calls if c.method == "chat.postMessage"]
