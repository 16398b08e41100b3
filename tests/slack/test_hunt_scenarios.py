"""/hunt end to end, as a person in #soc uses it: over signed HTTP, to what the bot posts."""

from __future__ import annotations

import csv
import io
import time

from tests.slack.safety import assert_safe_message


def ephemeral_text(answer) -> str:
    body = answer.json()
    assert body["response_type"] == "ephemeral"
    return str(body)


async def test_help_and_list_answer_privately(harness):
    help_answer = await harness.slash("")
    assert help_answer.status == 200
    shown = ephemeral_text(help_answer)
    for verb in ("/hunt list", "/hunt incidents", "/hunt audit", "@hunt-bot status", "handoff"):
        assert verb in shown, verb  # every verb there is
    listing = await harness.slash("list")
    text = ephemeral_text(listing)
    assert "zap-misses" in text and "`lookback` (timespan, default `7d`)" in text
    assert_safe_message(listing.json()["blocks"])
    assert not [c for c in harness.calls if c.method == "chat.postMessage"]


async def test_mistakes_are_answered_at_once_and_run_nothing(harness):
    unknown = ephemeral_text(await harness.slash("zap-miss"))
    assert "no hunt called `zap-miss`" in unknown and "zap-misses" in unknown
    typo = ephemeral_text(await harness.slash("zap-misses lookbak=3d"))
    assert "Did you mean lookback?" in typo
    bad_value = ephemeral_text(await harness.slash("zap-misses lookback=soon"))
    assert "expected a number and a unit" in bad_value and "/hunt zap-misses lookback=" in bad_value
    unclosed = ephemeral_text(await harness.slash('emails-by-subject subject="invoice'))
    assert "not closed" in unclosed
    await harness.slack.calls.quiet(period=0.5)
    assert not [c for c in harness.calls if c.method == "chat.postMessage"]


async def test_a_hunt_is_acked_fast_and_its_results_start_the_incident_thread(harness):
    started = time.perf_counter()
    answer = await harness.slash("zap-misses lookback=7d")
    assert time.perf_counter() - started < 3.0
    assert "Running `zap-misses`" in ephemeral_text(answer)
    posted = await harness.next("chat.postMessage")
    assert posted.ok
    assert posted.args["channel"] == "C0SOC" and not posted.args.get("thread_ts")
    assert posted.args["unfurl_links"] is False
    blocks = posted.args["blocks"]
    assert_safe_message(blocks, posted.args["text"])
    flat = str(blocks)
    assert "Sign-ins by recipients of malicious mail that ZAP failed to remove" in flat
    assert "<@U0ALICE>" in flat and "lookback=7d" in flat and "rows" in flat
    table = next(b for b in blocks if b["type"] == "table")
    assert [c["text"] for c in table["rows"][0]][:4] == [
        "#",
        "ZapTime",
        "ActionType",
        "NetworkMessageId",
    ]
    assert len(table["rows"]) > 1


async def test_paging_updates_the_message_in_place(harness):
    await harness.slash("spam-emails lookback=14d")
    results = harness.message(await harness.next("chat.postMessage"))
    assert "Page 1 of" in str(results.blocks)
    before = len(harness.calls)
    assert (await harness.click(results, "Next ▶")).status == 200
    update = await harness.wait("chat.update", after=before)
    assert update.ok and update.args["ts"] == results.ts
    assert "Page 2 of" in str(update.args["blocks"])
    assert_safe_message(update.args["blocks"], update.args["text"])
    page_two = harness.slack.workspace.message(results.channel, results.ts)
    before = len(harness.calls)
    await harness.click(page_two, "◀ Previous")
    back = await harness.wait("chat.update", after=before)
    assert "Page 1 of" in str(back.args["blocks"])


async def test_export_uploads_the_whole_result_as_csv_into_the_thread(harness):
    await harness.slash("spam-emails lookback=14d")
    results = harness.message(await harness.next("chat.postMessage"))
    before = len(harness.calls)
    await harness.click(results, "Export CSV", user="bob")
    shared = await harness.wait("files.completeUploadExternal", after=before)
    assert shared.ok and shared.args["thread_ts"] == results.ts
    upload = next(c for c in harness.calls[before:] if c.method == "files.getUploadURLExternal")
    file_id = upload.response["file_id"]
    content = harness.slack.workspace.files[file_id].content.decode()
    rows = list(csv.DictReader(io.StringIO(content)))
    shown_count = int(str(results.blocks).split("of ")[-1].split("'")[0].replace(",", ""))
    assert len(rows) == shown_count
    assert {"NetworkMessageId", "RecipientEmailAddress", "LatestDeliveryLocation"} <= set(rows[0])


async def test_rerun_posts_fresh_results_in_the_thread(harness):
    await harness.slash("zap-misses")
    results = harness.message(await harness.next("chat.postMessage"))
    before = len(harness.calls)
    await harness.click(results, "Re-run", user="carol")
    rerun = await harness.wait("chat.postMessage", after=before)
    assert rerun.args["thread_ts"] == results.ts
    assert "<@U0CAROL>" in str(rerun.args["blocks"])


async def test_no_rows_is_said_plainly(harness):
    await harness.slash('emails-by-subject subject="no email has this subject 7f3a"')
    posted = await harness.next("chat.postMessage")
    assert "No rows: nothing matched" in str(posted.args["blocks"])
    assert "table" not in [b["type"] for b in posted.args["blocks"]]


async def test_a_failing_hunt_is_explained_to_the_person_who_ran_it(harness):
    # A valid Defender hunt the lab's KQL engine cannot run: the failure and what to do reach
    # the person privately, and nothing is posted to the channel.
    answer = await harness.slash("unpacked-events")
    assert "Running `unpacked-events`" in ephemeral_text(answer)
    told = await harness.next("response_url")
    said = str(told.args)
    assert "The hunt unpacked-events failed" in said and "graph backend" in said
    assert not [c for c in harness.calls if c.method == "chat.postMessage"]


async def test_slack_rate_limits_are_waited_out_not_lost(harness):
    harness.slack.rate_limit_next("chat.postMessage", retry_after=1)
    await harness.slash("zap-misses")
    posted = await harness.slack.calls.next_call(
        lambda c: c.method == "chat.postMessage" and c.ok, after=0, timeout=30
    )
    throttled = [c for c in harness.calls if c.method == "chat.postMessage" and c.status == 429]
    assert len(throttled) == 1 and posted.at - throttled[0].at >= 0.9


async def test_forged_and_stale_signatures_get_401_and_run_nothing(harness):
    who = harness.slack.workspace.user_by_name("alice")
    where = harness.slack.workspace.channel_by_ref("soc")
    from bot.workspace import slack_requests as requests

    request = requests.slash_command(
        user=who,
        channel=where,
        command="/hunt",
        text="zap-misses",
        response_url=harness.slack.issue_response_url(channel=where.id, user=who.id),
        trigger_id=harness.slack.issue_trigger(who.id),
    )
    forged = await harness.sender.send(request, signing_secret="not-the-secret")
    stale = await harness.sender.send(request, timestamp=int(time.time()) - 600)
    assert forged.status == 401 and stale.status == 401
    await harness.slack.calls.quiet(period=1.0)
    assert not [c for c in harness.calls if c.method == "chat.postMessage"]


async def test_a_lookback_past_defenders_retention_is_run_with_a_warning(harness):
    answer = ephemeral_text(await harness.slash("zap-misses lookback=60d"))
    assert "Running `zap-misses`" in answer
    assert "Defender keeps 30 days of hunting data" in answer
    listing = ephemeral_text(await harness.slash("list"))
    assert "`threat` (one of spam, phish, malware" in listing
    bare = ephemeral_text(await harness.slash("emails-from alex@contoso.com"))
    assert "Running `emails-from`" in bare and "sender=alex@contoso.com" in bare
