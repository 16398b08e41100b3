"""Modals open on a fresh trigger id only; response URLs act on the message they came with."""

from __future__ import annotations

import asyncio

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.workspace.webapi import WebApiStandIn

from .test_limits import modal, section, text


async def test_views_open_takes_a_fresh_trigger_once(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    trigger = slack.issue_trigger("U0ALICE")
    opened = await client.views_open(trigger_id=trigger, view=modal(private_metadata="r1"))
    view = opened["view"]
    assert view["id"].startswith("V")
    assert view["callback_id"] == "take_actions"
    assert view["private_metadata"] == "r1"
    assert view["state"] == {"values": {}}
    assert view["root_view_id"] == view["id"]
    top = slack.workspace.top_view("U0ALICE")
    assert top is not None and top.id == view["id"]

    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id=trigger, view=modal())
    assert raised.value.response["error"] == "exchanged_trigger_id"


@pytest.mark.parametrize(
    ("trigger", "error"),
    [("12345.98765.abcd2358fdea", "expired_trigger_id"), ("garbage", "invalid_trigger_id")],
)
async def test_unknown_trigger_ids_are_refused(
    client: AsyncWebClient, trigger: str, error: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id=trigger, view=modal())
    assert raised.value.response["error"] == error


async def test_a_trigger_expires(slack: WebApiStandIn, client: AsyncWebClient) -> None:
    slack.state.triggers.lifetime = 0.05
    trigger = slack.issue_trigger("U0ALICE")
    await asyncio.sleep(0.1)
    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id=trigger, view=modal())
    assert raised.value.response["error"] == "expired_trigger_id"


async def test_an_invalid_view_is_refused_with_its_problems(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.views_open(
            trigger_id=slack.issue_trigger("U0ALICE"),
            view=modal(title=text("a title that is far too long", "plain_text")),
        )
    assert raised.value.response["error"] == "invalid_arguments"
    assert any(
        "/view/title/text" in m for m in raised.value.response["response_metadata"]["messages"]
    )


async def test_update_keeps_typed_values_and_checks_the_hash(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    opened = await client.views_open(trigger_id=slack.issue_trigger("U0ALICE"), view=modal())
    view = slack.workspace.top_view("U0ALICE")
    assert view is not None
    view.values = {"name": {"value": {"type": "plain_text_input", "value": "purge"}}}
    updated = await client.views_update(
        view_id=opened["view"]["id"], hash=opened["view"]["hash"], view=modal(private_metadata="2")
    )
    assert updated["view"]["state"]["values"]["name"]["value"]["value"] == "purge"
    assert updated["view"]["hash"] != opened["view"]["hash"]
    with pytest.raises(SlackApiError) as raised:
        await client.views_update(view_id=opened["view"]["id"], hash="stale", view=modal())
    assert raised.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as raised:
        await client.views_update(view_id="V0NOPE", view=modal())
    assert raised.value.response["error"] == "not_found"


async def test_push_stacks_at_most_three_views(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    root = await client.views_open(trigger_id=slack.issue_trigger("U0ALICE"), view=modal())
    for _ in range(2):
        pushed = await client.views_push(trigger_id=slack.issue_trigger("U0ALICE"), view=modal())
        assert pushed["view"]["root_view_id"] == root["view"]["id"]
    with pytest.raises(SlackApiError) as raised:
        await client.views_push(trigger_id=slack.issue_trigger("U0ALICE"), view=modal())
    assert raised.value.response["error"] == "push_limit_reached"
    assert len(slack.workspace.views["U0ALICE"]) == 3


# -- response URLs ----------------------------------------------------------------------------


async def test_a_response_url_posts_ephemeral_by_default_and_in_channel_on_request(
    slack: WebApiStandIn,
) -> None:
    url = slack.issue_response_url(channel="C0SOC", user="U0ALICE")
    webhook = AsyncWebhookClient(url)
    response = await webhook.send(text="only you")
    assert response.status_code == 200
    [ephemeral] = slack.workspace.ephemerals_for("U0ALICE")
    assert ephemeral.text == "only you"
    greeting = section("hi") | {"block_id": "greeting"}
    await webhook.send(text="everyone", response_type="in_channel", blocks=[greeting])
    [message] = slack.workspace.channel_history("C0SOC")
    assert message.text == "everyone" and message.blocks == [greeting]
    call = slack.calls.calls[-1]
    assert call.method == "response_url"
    assert call.args["response_type"] == "in_channel"


async def test_replace_and_delete_act_on_the_original_message(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C0SOC", text="page 1")
    url = slack.issue_response_url(
        channel="C0SOC", user="U0ALICE", source=("message", posted["ts"])
    )
    webhook = AsyncWebhookClient(url)
    await webhook.send(text="page 2", replace_original=True)
    message = slack.workspace.message("C0SOC", posted["ts"])
    assert message is not None and message.text == "page 2"
    await webhook.send(delete_original=True)
    assert slack.workspace.message("C0SOC", posted["ts"]) is None


async def test_replace_on_an_ephemeral_original(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    posted = await client.chat_postEphemeral(channel="C0SOC", user="U0ALICE", text="running")
    url = slack.issue_response_url(
        channel="C0SOC", user="U0ALICE", source=("ephemeral", posted["message_ts"])
    )
    await AsyncWebhookClient(url).send(text="done", replace_original=True)
    [ephemeral] = slack.workspace.ephemerals_for("U0ALICE")
    assert ephemeral.text == "done"


async def test_a_slash_command_url_has_no_original_so_replace_posts_anew(
    slack: WebApiStandIn,
) -> None:
    url = slack.issue_response_url(channel="C0SOC", user="U0ALICE")
    await AsyncWebhookClient(url).send(text="first")
    await AsyncWebhookClient(url).send(text="second", replace_original=True)
    assert [e.text for e in slack.workspace.ephemerals_for("U0ALICE")] == ["first", "second"]


async def test_a_response_url_posts_into_a_thread(
    slack: WebApiStandIn, client: AsyncWebClient
) -> None:
    root = await client.chat_postMessage(channel="C0SOC", text="root")
    url = slack.issue_response_url(channel="C0SOC", user="U0ALICE")
    # Bolt's respond() sends thread_ts; the webhook client's send() has no such argument.
    await AsyncWebhookClient(url).send_dict(
        {"text": "in thread", "response_type": "in_channel", "thread_ts": root["ts"]}
    )
    assert [m.text for m in slack.workspace.thread("C0SOC", root["ts"])] == ["root", "in thread"]


async def test_a_response_url_takes_five_posts(slack: WebApiStandIn) -> None:
    webhook = AsyncWebhookClient(slack.issue_response_url(channel="C0SOC", user="U0ALICE"))
    for n in range(5):
        assert (await webhook.send(text=f"post {n}")).status_code == 200
    refused = await webhook.send(text="sixth")
    assert refused.status_code == 404
    assert "used_url" in refused.body
    assert len(slack.workspace.ephemerals_for("U0ALICE")) == 5


async def test_a_response_url_checks_blocks(slack: WebApiStandIn) -> None:
    webhook = AsyncWebhookClient(slack.issue_response_url(channel="C0SOC", user="U0ALICE"))
    refused = await webhook.send(text="t", blocks=[section() for _ in range(51)])
    assert refused.status_code == 400
    assert "invalid_blocks" in refused.body
