"""@hunt-bot in a thread: answered in that thread, once per event whatever Slack redelivers."""

from __future__ import annotations

import asyncio
import logging

from bot.app import serve_in_process
from bot.workspace import slack_requests as requests
from bot.workspace.calls import method_is
from bot.workspace.slack_requests import SignedSender
from bot.workspace.webapi import WebApiStandIn
from tests.slack.conftest import SIGNING_SECRET, TOKEN, Harness


async def test_a_mention_is_answered_in_its_thread_once_despite_redelivery(harness):
    await harness.slash("zap-misses")
    root = harness.message(await harness.next("chat.postMessage"))
    alice = harness.slack.workspace.user_by_name("alice")
    soc = harness.slack.workspace.channel_by_ref("soc")
    mention = requests.app_mention(
        user=alice,
        channel=soc,
        text="<@U0HUNTBOT> help",
        ts="1763800001.000200",
        thread_ts=root.ts,
    )
    before = len(harness.calls)
    first = await harness.sender.send(mention)
    again = await harness.sender.send(
        mention, extra_headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert first.status == 200 and again.status == 200
    reply = await harness.wait("chat.postMessage", after=before)
    assert reply.args["thread_ts"] == root.ts
    assert "handoff @someone" in str(reply.args["blocks"])
    await harness.slack.calls.quiet(period=1.0)
    replies = [c for c in harness.calls[before:] if c.method == "chat.postMessage"]
    assert len(replies) == 1


async def test_a_failed_answer_lets_slacks_redelivery_through_and_it_is_answered_once(harness):
    """The first attempt fails mid-handling (Slack refuses the post); Slack's redelivery is
    answered, and a later redelivery of the answered event is not answered again."""
    await harness.slash("zap-misses")
    root = harness.message(await harness.next("chat.postMessage"))
    alice = harness.slack.workspace.user_by_name("alice")
    soc = harness.slack.workspace.channel_by_ref("soc")
    mention = requests.app_mention(
        user=alice, channel=soc, text="<@U0HUNTBOT> help", ts="1763800002.000300", thread_ts=root.ts
    )
    for _ in range(4):  # the first try and the Slack client's three retries all refused
        harness.slack.rate_limit_next("chat.postMessage", retry_after=0)
    before = len(harness.calls)
    first = await harness.sender.send(mention)
    assert first.status == 200
    for _ in range(100):  # answered after the ack: wait for the four refusals
        refused = [c for c in harness.calls[before:] if c.method == "chat.postMessage"]
        if len(refused) == 4:
            break
        await asyncio.sleep(0.1)
    await harness.slack.calls.quiet(period=0.5)
    assert len(refused) == 4 and not any(c.ok for c in refused)

    for retry in ("1", "2"):
        again = await harness.sender.send(
            mention,
            extra_headers={"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_error"},
        )
        assert again.status == 200
    await harness.slack.calls.quiet(period=1.0)
    answered = [
        c
        for c in harness.calls[before:]
        if c.method == "chat.postMessage" and c.ok and c.args.get("thread_ts") == root.ts
    ]
    assert len(answered) == 1
    assert "handoff @someone" in str(answered[0].args["blocks"])


async def test_mentions_work_while_auth_test_fails_and_the_bot_learns_who_it_is_later(
    settings, caplog
):
    """auth.test fails when serve starts: verbs are still understood (the event says whom
    Slack delivered it to), and the bot keeps asking until Slack answers."""
    caplog.set_level(logging.INFO, logger="bot.app")
    async with WebApiStandIn(token=TOKEN).running() as slack:
        for _ in range(8):  # start-up's try and the background's first, with their retries
            slack.rate_limit_next("auth.test", retry_after=0)
        current = settings.model_copy(update={"slack_api_url": slack.api_url})
        async with serve_in_process(current) as url:
            sender = SignedSender(url, SIGNING_SECRET)
            try:
                harness = Harness(slack, sender, current)
                await harness.slash("zap-misses")
                root = harness.message(await harness.next("chat.postMessage"))
                alice = slack.workspace.user_by_name("alice")
                soc = slack.workspace.channel_by_ref("soc")
                assert alice and soc
                before = len(slack.calls.calls)
                await sender.send(
                    requests.app_mention(
                        user=alice,
                        channel=soc,
                        text="<@U0HUNTBOT> help",
                        ts="1763800003.000100",
                        thread_ts=root.ts,
                    )
                )
                reply = await slack.calls.next_call(method_is("chat.postMessage"), after=before)
                assert reply.ok and reply.args["thread_ts"] == root.ts
                assert "handoff @someone" in str(reply.args["blocks"])
                assert "know" not in reply.args["text"]
                for _ in range(100):
                    if "auth.test answered" in caplog.text:
                        break
                    await asyncio.sleep(0.1)
                assert "auth.test answered on attempt" in caplog.text
                assert "auth.test failed (attempt 1" in caplog.text
            finally:
                await sender.aclose()
