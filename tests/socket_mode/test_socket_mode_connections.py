"""The Socket Mode connection itself: the app-level token, refreshes and disconnects mid-session,
and the app's reconnecting through a new apps.connections.open."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.workspace import slack_requests as requests
from bot.workspace.socket_mode import SocketModeStandIn
from bot.workspace.webapi import WebApiStandIn
from tests.slack.conftest import TOKEN
from tests.socket_mode.conftest import APP_TOKEN, SocketBot


async def test_apps_connections_open_takes_the_app_token_only() -> None:
    async with (
        WebApiStandIn(token=TOKEN).running() as slack,
        SocketModeStandIn(slack, app_token=APP_TOKEN).running() as socket,
    ):
        client = AsyncWebClient(base_url=slack.api_url)
        opened = await client.apps_connections_open(app_token=APP_TOKEN)
        assert opened["url"].startswith("ws://127.0.0.1:")
        assert "/link/?ticket=" in opened["url"] and "app_id=A0HUNTBOT" in opened["url"]
        for token, error in [
            (TOKEN, "not_allowed_token_type"),  # a bot token
            ("xapp-1-someone-else", "invalid_auth"),
        ]:
            with pytest.raises(SlackApiError) as refused:
                await client.apps_connections_open(app_token=token)
            assert refused.value.response["error"] == error
        with pytest.raises(SlackApiError) as wrong_type:
            await AsyncWebClient(token=APP_TOKEN, base_url=slack.api_url).auth_test()
        assert wrong_type.value.response["error"] == "not_allowed_token_type"
        assert socket.tickets_issued == 1


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
async def test_after_a_disconnect_the_app_reconnects_and_the_next_envelope_is_handled(
    socket_bot: SocketBot, reason: str
) -> None:
    await socket_bot.run("/hunt zap-misses")
    first = socket_bot.socket.connections[0]

    told = await socket_bot.socket.disconnect(reason, close_after=10.0)
    assert told == [first]
    # At once, while the app reconnects: Slack holds it for the next open connection.
    await socket_bot.run("@hunt-bot status")
    second = socket_bot.socket.connections[-1]
    assert second.number == 2 and socket_bot.connections_opened() == 2
    await socket_bot.socket.closed(first, timeout=5.0)  # the app left it; Slack did not wait
    assert socket_bot.socket.live_connections() == [second]

    await socket_bot.run("/hunt zap-misses lookback=3d")
    mention = socket_bot.envelopes("events_api")[-1]
    command = socket_bot.envelopes("slash_commands")[-1]
    for envelope in (mention, command):
        assert envelope.connection == second.number and envelope.acked_on == second.number
    assert "Owner @alice" in socket_bot.out.export_text()
    posts = [c for c in socket_bot.calls if c.method == "chat.postMessage" and c.ok]
    assert "lookback=3d" in str(posts[-1].args["blocks"])


async def test_a_connection_dropped_without_warning_is_reopened(socket_bot: SocketBot) -> None:
    first = socket_bot.socket.connections[0]
    await first.ws.close()
    second = await socket_bot.socket.connected(after=first.number)
    assert socket_bot.connections_opened() == 2
    await socket_bot.run("/hunt zap-misses")
    assert socket_bot.envelopes("slash_commands")[-1].acked_on == second.number


async def test_an_envelope_not_acked_in_time_is_slacks_operation_timeout(
    socket_bot: SocketBot,
) -> None:
    """Bolt acknowledges only what a listener handled; Slack gives up after 3 s (shortened here)."""
    socket_bot.socket.ack_timeout = 0.5
    slack = socket_bot.slack
    alice, soc = slack.workspace.user_by_name("alice"), slack.workspace.channels["C0SOC"]
    assert alice is not None
    element = {"type": "button", "action_id": "no-such-control", "value": "x", "text": {}}
    answer = await socket_bot.socket.send(
        requests.block_actions_in_message(
            user=alice,
            channel=soc,
            message={"type": "message", "ts": "1700000000.000100", "text": "an old message"},
            action=requests.action_payload(element, "b1"),
            trigger_id=slack.issue_trigger(alice.id),
            response_url=slack.issue_response_url(channel=soc.id, user=alice.id),
        )
    )
    assert answer.status == 504 and answer.json()["error"] == "operation_timeout"
    [envelope] = socket_bot.socket.envelopes
    assert envelope.ack is None
    await socket_bot.run("/hunt help")  # and the connection still serves
