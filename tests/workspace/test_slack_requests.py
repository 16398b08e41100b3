"""Requests built and signed as Slack sends them reach a real Bolt app and mean what they should.

A small Bolt AsyncApp (not hunt-bot) is served over HTTP and talks to the Web API stand-in, so
these tests check the payload shapes against Bolt's own parsing and signature checks.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.workspace.platform import ButtonRef, buttons_in
from bot.workspace.slack_requests import app_mention, slash_command
from bot.workspace.webapi import WebApiStandIn

from .small_bot import TOKEN, Rig


def soc(rig: Rig) -> Any:
    return rig.slack.workspace.channels["C0SOC"]


def user(rig: Rig, name: str) -> Any:
    found = rig.slack.workspace.user_by_name(name)
    assert found is not None
    return found


async def test_a_slash_command_arrives_with_slacks_fields_and_its_ack_is_shown(rig: Rig) -> None:
    alice = user(rig, "alice")
    sent = await rig.platform.slash_command(alice, soc(rig), "/hunt", "zap-misses lookback=3d")
    assert sent.answer.status == 200
    [body] = rig.heard.bodies
    assert body["command"] == "/hunt"
    assert body["text"] == "zap-misses lookback=3d"
    assert body["user_id"] == "U0ALICE" and body["user_name"] == "alice"
    assert body["channel_id"] == "C0SOC" and body["channel_name"] == "soc"
    assert body["team_id"] == "T0CONSOLE"
    assert body["response_url"].startswith(rig.slack.base_url + "/response/")
    [ephemeral] = rig.slack.workspace.ephemerals_for("U0ALICE")
    assert ephemeral.text == "Running zap-misses lookback=3d"


@pytest.mark.parametrize(
    "forgery",
    [
        {"signing_secret": "not-the-secret"},
        {"timestamp": int(time.time()) - 600},  # older than Slack's 5 minutes
    ],
)
async def test_forged_or_stale_signatures_are_refused(rig: Rig, forgery: dict[str, Any]) -> None:
    alice = user(rig, "alice")
    request = slash_command(
        user=alice,
        channel=soc(rig),
        command="/hunt",
        text="zap-misses",
        response_url=rig.slack.issue_response_url(channel="C0SOC", user=alice.id),
        trigger_id=rig.slack.issue_trigger(alice.id),
    )
    answer = await rig.sender.send(request, **forgery)
    assert answer.status == 401
    assert rig.heard.bodies == []


def find_button(rig: Rig, label: str) -> ButtonRef:
    for message in reversed(rig.slack.workspace.channel_history("C0SOC")):
        for block_id, element in buttons_in(message.blocks):
            if element["text"]["text"] == label:
                return ButtonRef("message", message.ts, "C0SOC", block_id, element)
    raise AssertionError(f"no button {label}")


async def test_a_button_in_a_message_carries_container_message_and_response_url(
    rig: Rig,
) -> None:
    alice = user(rig, "alice")
    await rig.platform.slash_command(alice, soc(rig), "/hunt", "zap-misses")
    button = find_button(rig, "Next")
    sent = await rig.platform.press(alice, button)
    assert sent.answer.status == 200
    body = rig.heard.bodies[-1]
    assert body["type"] == "block_actions"
    assert body["container"] == {
        "type": "message",
        "message_ts": button.key,
        "channel_id": "C0SOC",
        "is_ephemeral": False,
    }
    assert body["message"]["ts"] == button.key
    assert body["channel"] == {"id": "C0SOC", "name": "soc"}
    [action] = body["actions"]
    assert action["action_id"] == "next_page" and action["value"] == "r1:2"
    assert action["block_id"] == button.block_id
    # respond(replace_original=True) went through the response URL to the same message.
    message = rig.slack.workspace.message("C0SOC", button.key)
    assert message is not None and message.text == "page 2"


async def test_a_button_opens_a_modal_which_is_filled_and_submitted(rig: Rig) -> None:
    alice = user(rig, "alice")
    await rig.platform.slash_command(alice, soc(rig), "/hunt", "zap-misses")
    await rig.platform.press(alice, find_button(rig, "Take actions"))
    view = rig.slack.workspace.top_view("U0ALICE")
    assert view is not None and view.spec["callback_id"] == "remediate"

    await rig.platform.fill(alice, "action", "Move to junk")
    sent = await rig.platform.submit(alice)
    body = rig.heard.bodies[-1]
    assert body["type"] == "view_submission"
    assert body["view"]["private_metadata"] == "result-1"
    values = body["view"]["state"]["values"]
    assert values["action"]["choice"]["selected_option"]["value"] == "junk"
    assert values["name"]["value"] == {"type": "plain_text_input", "value": None}
    # response_action=errors keeps the modal open with the error under the input.
    assert rig.slack.workspace.top_view("U0ALICE") is view
    assert view.errors == {"name": "Give it a name"}
    assert ("view", view.id) in sent.effects

    await rig.platform.fill(alice, "Remediation name", "purge phish")
    await rig.platform.submit(alice)
    assert rig.slack.workspace.top_view("U0ALICE") is None


async def test_filling_an_unknown_option_says_which_there_are(rig: Rig) -> None:
    alice = user(rig, "alice")
    await rig.platform.slash_command(alice, soc(rig), "/hunt", "zap-misses")
    await rig.platform.press(alice, find_button(rig, "Take actions"))
    with pytest.raises(LookupError, match="'Soft delete', 'Move to junk'"):
        await rig.platform.fill(alice, "Action", "Isolate")


async def test_a_mention_in_a_thread_arrives_as_an_app_mention_event(rig: Rig) -> None:
    alice = user(rig, "alice")
    root = await AsyncWebClient(token=TOKEN, base_url=rig.slack.api_url).chat_postMessage(
        channel="C0SOC", text="results"
    )
    sent = await rig.platform.mention(
        alice, soc(rig), "<@U0HUNTBOT> handoff <@U0CAROL> going off shift", root["ts"]
    )
    assert sent.answer.status == 200
    body = rig.heard.bodies[-1]
    assert body["type"] == "event_callback" and body["event_id"].startswith("Ev")
    event = body["event"]
    assert event["type"] == "app_mention"
    assert event["thread_ts"] == root["ts"]
    assert event["user"] == "U0ALICE"
    elements = event["blocks"][0]["elements"][0]["elements"]
    assert {"type": "user", "user_id": "U0CAROL"} in elements
    # The person's message is in the thread, as in Slack.
    assert [m.user for m in rig.slack.workspace.thread("C0SOC", root["ts"])] == [
        "U0HUNTBOT",
        "U0ALICE",
    ]


def test_event_and_interaction_bodies_are_what_slack_sends(slack: WebApiStandIn) -> None:
    alice = slack.workspace.users["U0ALICE"]
    event = app_mention(user=alice, channel=slack.workspace.channels["C0SOC"], text="hi", ts="1.2")
    assert event.content_type == "application/json"
    assert event.payload["authorizations"][0]["user_id"] == "U0HUNTBOT"
    command = slash_command(
        user=alice,
        channel=slack.workspace.channels["C0SOC"],
        command="/hunt",
        text="a b",
        response_url="u",
        trigger_id="t",
    )
    assert command.content_type == "application/x-www-form-urlencoded"
    assert "text=a+b" in command.body
