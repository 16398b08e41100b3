"""@hunt-bot in a thread: answered in that thread, once per event whatever Slack redelivers."""

from __future__ import annotations

from bot.workspace import slack_requests as requests


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
