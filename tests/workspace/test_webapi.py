"""The Web API stand-in answers slack_sdk's real client as Slack does, and records every call."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.workspace.calls import method_is
from bot.workspace.model import BOT_ID, BOT_USER_ID, User
from bot.workspace.webapi import WebApiStandIn

from .conftest import TOKEN

SECTION = {"type": "section", "block_id": "greeting", "text": {"type": "mrkdwn", "text": "*hi*"}}


async def test_auth_test_names_the_bot(client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["user_id"] == BOT_USER_ID
    assert response["bot_id"] == BOT_ID
    assert response["team_id"] == "T0CONSOLE"


@pytest.mark.parametrize(("token", "error"), [("xoxb-wrong", "invalid_auth"), (None, "not_authed")])
async def test_a_wrong_or_missing_token_is_refused(
    slack: WebApiStandIn, token: str | None, error: str
) -> None:
    stranger = AsyncWebClient(token=token, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as raised:
        await stranger.chat_postMessage(channel="C0SOC", text="hi")
    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == error
    assert slack.workspace.channel_history("C0SOC") == []


async def test_post_message_answers_with_channel_ts_and_message(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="C0SOC", text="one", blocks=[SECTION])
    second = await client.chat_postMessage(channel="#soc", text="two")
    assert first["channel"] == second["channel"] == "C0SOC"
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["bot_id"] == BOT_ID
    assert first["message"]["user"] == BOT_USER_ID
    assert first["message"]["blocks"] == [SECTION]
    [call] = [c for c in slack.calls.calls if c.args.get("text") == "one"]
    assert call.method == "chat.postMessage"
    assert call.args == {"channel": "C0SOC", "text": "one", "blocks": [SECTION]}
    assert call.transcript_line() == {"method": "chat.postMessage", "args": call.args}


async def test_blocks_and_elements_get_ids_where_the_app_gave_none(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    button = {"type": "button", "text": {"type": "plain_text", "text": "Go"}}
    posted = await client.chat_postMessage(
        channel="C0SOC", text="t", blocks=[{"type": "actions", "elements": [button]}]
    )
    [block] = posted["message"]["blocks"]
    assert block["block_id"] and block["elements"][0]["action_id"]
    assert slack.calls.calls[-1].args["blocks"] == [{"type": "actions", "elements": [button]}]


async def test_form_encoded_arguments_are_read_like_json_ones(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    response = await client.api_call(
        "chat.postMessage",
        data={"channel": "C0SOC", "text": "form", "blocks": json.dumps([SECTION])},
    )
    assert slack.workspace.message("C0SOC", response["ts"]).blocks == [SECTION]  # type: ignore[union-attr]


async def test_replies_join_the_thread_of_their_root(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    root = await client.chat_postMessage(channel="C0SOC", text="root")
    reply = await client.chat_postMessage(channel="C0SOC", text="reply", thread_ts=root["ts"])
    # A reply's ts names the same thread.
    again = await client.chat_postMessage(channel="C0SOC", text="again", thread_ts=reply["ts"])
    assert reply["message"]["thread_ts"] == again["message"]["thread_ts"] == root["ts"]
    thread = slack.workspace.thread("C0SOC", root["ts"])
    assert [m.text for m in thread] == ["root", "reply", "again"]
    assert thread[0].reply_count == 2


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        ({"channel": "C0SOC"}, "no_text"),
        ({"channel": "C0SOC", "text": "x", "thread_ts": "1.000001"}, "thread_not_found"),
    ],
)
async def test_post_message_errors(
    client: AsyncWebClient, args: dict[str, str], error: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.api_call("chat.postMessage", json=args)
    assert raised.value.response["error"] == error


async def test_long_top_level_text_is_truncated_not_refused(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    response = await client.chat_postMessage(channel="C0SOC", text="x" * 40_050)
    assert len(slack.workspace.message("C0SOC", response["ts"]).text) == 40_000  # type: ignore[union-attr]


async def test_update_replaces_what_is_given_and_keeps_the_rest(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C0SOC", text="v1", blocks=[SECTION])
    updated = await client.chat_update(channel="C0SOC", ts=posted["ts"], text="v2")
    assert updated["ts"] == posted["ts"]
    assert updated["text"] == "v2"
    message = slack.workspace.message("C0SOC", posted["ts"])
    assert message is not None and message.blocks == [SECTION]
    await client.chat_update(channel="C0SOC", ts=posted["ts"], text="v3", blocks=[])
    assert message.blocks == [] and message.text == "v3"


async def test_update_refuses_unknown_ephemeral_and_foreign_messages(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel="C0SOC", ts="1.000001", text="x")
    assert raised.value.response["error"] == "message_not_found"

    ephemeral = await client.chat_postEphemeral(channel="C0SOC", user="U0ALICE", text="psst")
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel="C0SOC", ts=ephemeral["message_ts"], text="x")
    assert raised.value.response["error"] == "message_not_found"

    from bot.workspace.model import Message

    human = slack.workspace.add_message(
        Message("C0SOC", slack.workspace.next_ts(), "mine", [], "U0ALICE")
    )
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel="C0SOC", ts=human.ts, text="x")
    assert raised.value.response["error"] == "cant_update_message"


async def test_ephemeral_messages_are_kept_per_user(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    response = await client.chat_postEphemeral(
        channel="C0SOC", user="U0BOB", text="only bob", blocks=[SECTION]
    )
    [ephemeral] = slack.workspace.ephemerals_for("U0BOB")
    assert ephemeral.ts == response["message_ts"]
    assert slack.workspace.ephemerals_for("U0ALICE") == []
    assert slack.workspace.channel_history("C0SOC") == []

    slack.workspace.users["U0DAVE"] = User("U0DAVE", "dave", "Dave Elsewhere")
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postEphemeral(channel="C0SOC", user="U0DAVE", text="x")
    assert raised.value.response["error"] == "user_not_in_channel"


async def test_permalinks_point_at_the_message_and_its_thread(client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel="C0SOC", text="root")
    reply = await client.chat_postMessage(channel="C0SOC", text="r", thread_ts=root["ts"])
    link = await client.chat_getPermalink(channel="C0SOC", message_ts=root["ts"])
    assert link["permalink"].endswith(f"/archives/C0SOC/p{root['ts'].replace('.', '')}")
    reply_link = await client.chat_getPermalink(channel="C0SOC", message_ts=reply["ts"])
    assert f"thread_ts={root['ts']}" in reply_link["permalink"]


async def test_people_groups_and_channels(client: AsyncWebClient) -> None:
    alice = await client.users_info(user="U0ALICE")
    assert alice["user"]["name"] == "alice"
    assert alice["user"]["profile"]["real_name"] == "Alice Analyst"
    approvers = await client.usergroups_users_list(usergroup="S0APPROVERS")
    assert approvers["users"] == ["U0BOB", "U0CAROL"]
    members = await client.conversations_members(channel="C0SOC")
    assert set(members["members"]) == {"U0ALICE", "U0BOB", "U0CAROL", BOT_USER_ID}
    assert members["response_metadata"]["next_cursor"] == ""
    info = await client.conversations_info(channel="C0SOC")
    assert info["channel"]["name"] == "soc" and info["channel"]["is_member"] is True
    for call, error in (
        (client.users_info(user="U0NOBODY"), "user_not_found"),
        (client.usergroups_users_list(usergroup="S0NONE"), "no_such_subteam"),
        (client.conversations_info(channel="C0NONE"), "channel_not_found"),
    ):
        with pytest.raises(SlackApiError) as raised:
            await call
        assert raised.value.response["error"] == error


async def test_a_scripted_429_carries_retry_after_and_is_retried_by_slack_sdk(
    slack: WebApiStandIn,
) -> None:
    slack.rate_limit_next("chat.postMessage", retry_after=1)
    patient = AsyncWebClient(
        token=TOKEN,
        base_url=slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    started = time.monotonic()
    response = await patient.chat_postMessage(channel="C0SOC", text="eventually")
    assert response["ok"]
    assert time.monotonic() - started >= 1.0
    statuses = [c.status for c in slack.calls.calls if c.method == "chat.postMessage"]
    assert statuses == [429, 200]
    assert len(slack.workspace.channel_history("C0SOC")) == 1


async def test_without_a_retry_handler_the_429_reaches_the_caller(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    slack.rate_limit_next("users.info", retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        await client.users_info(user="U0ALICE")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"
    assert (await client.users_info(user="U0ALICE"))["ok"]


async def test_file_upload_v2_shares_the_file_into_the_thread(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    root = await client.chat_postMessage(channel="C0SOC", text="results")
    csv = "Timestamp,Sender\n2026-01-01,a@example.com\n"
    response = await client.files_upload_v2(
        channel="C0SOC",
        thread_ts=root["ts"],
        filename="zap-misses.csv",
        content=csv,
        title="zap-misses",
        initial_comment="All rows",
    )
    assert response["file"]["name"] == "zap-misses.csv"
    assert response["file"]["title"] == "zap-misses"
    [stored] = slack.workspace.files.values()
    assert stored.content == csv.encode()
    thread = slack.workspace.thread("C0SOC", root["ts"])
    assert thread[-1].text == "All rows"
    assert thread[-1].files[0]["id"] == stored.id
    methods = [c.method for c in slack.calls.calls]
    assert methods[-3:] == [
        "files.getUploadURLExternal",
        "file_upload",
        "files.completeUploadExternal",
    ]


async def test_completing_an_upload_that_never_arrived_fails(client: AsyncWebClient) -> None:
    ticket = await client.files_getUploadURLExternal(filename="x.csv", length=3)
    with pytest.raises(SlackApiError) as raised:
        await client.files_completeUploadExternal(
            files=[{"id": ticket["file_id"], "title": "x"}], channel_id="C0SOC"
        )
    assert raised.value.response["error"] == "file_not_found"


async def test_waiting_for_the_next_matching_call(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    cursor = len(slack.calls)

    async def later() -> None:
        await asyncio.sleep(0.05)
        await client.users_info(user="U0ALICE")
        await client.chat_postMessage(channel="C0SOC", text="done")

    task = asyncio.create_task(later())
    call = await slack.calls.next_call(method_is("chat.postMessage"), after=cursor, timeout=5)
    assert call.args["text"] == "done"
    await task
    assert await slack.calls.quiet(period=0.05, timeout=2)
    with pytest.raises(TimeoutError):
        await slack.calls.next_call(timeout=0.1)
