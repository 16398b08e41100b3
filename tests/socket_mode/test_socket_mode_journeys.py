"""`serve --socket-mode` end to end: a hunt, an approval and a handoff arrive as envelopes on the
Socket Mode stand-in, each is acknowledged by its envelope_id within Slack's 3 s, and the bot's
answers go through the Web API stand-in; a refresh mid-session is ridden out."""

from __future__ import annotations

from bot.workspace.socket_mode import ACK_SECONDS
from tests.socket_mode.conftest import SocketBot


def assert_all_acked(bot: SocketBot) -> None:
    for envelope in bot.socket.envelopes:
        assert envelope.ack is not None, envelope
        assert envelope.ack["envelope_id"] == envelope.id
        assert envelope.ack_seconds is not None and envelope.ack_seconds < ACK_SECONDS


async def test_a_slash_command_envelope_is_acked_and_the_results_posted(
    socket_bot: SocketBot,
) -> None:
    await socket_bot.run("/hunt zap-misses")

    [command] = socket_bot.envelopes("slash_commands")
    assert command.accepts_response_payload
    assert command.payload["command"] == "/hunt" and command.payload["text"] == "zap-misses"
    assert_all_acked(socket_bot)
    assert "Running `zap-misses`" in str(command.ack)  # the ack's payload: Slack shows it
    posted = [c for c in socket_bot.calls if c.method == "chat.postMessage" and c.ok]
    results = str(posted[0].args["blocks"])
    assert "Sign-ins by recipients of malicious mail that ZAP failed to remove" in results
    assert posted[0].args["channel"] == "C0SOC"
    assert socket_bot.connections_opened() == 1


async def test_take_actions_and_an_approval_end_done_on_the_lab(socket_bot: SocketBot) -> None:
    await socket_bot.run(
        "/hunt spam-emails",
        "click Take actions",
        "fill Action=Soft delete",
        "fill Rows=1-3",
        "fill Description=Spam campaign: take it out of the mailboxes",
        "submit",
        "submit",
        "as @bob",
        "click Approve",
    )

    assert_all_acked(socket_bot)
    presses = socket_bot.envelopes("interactive", "block_actions")
    assert presses and not any(e.accepts_response_payload for e in presses)
    submissions = socket_bot.envelopes("interactive", "view_submission")
    assert len(submissions) == 2 and all(e.accepts_response_payload for e in submissions)
    # The review is decided in the ack: its payload carries the response_action Slack applies.
    assert submissions[0].ack is not None
    assert submissions[0].ack["payload"]["response_action"] in ("update", "push", "errors")
    cards = [
        c.args
        for c in socket_bot.calls
        if c.method in ("chat.postMessage", "chat.update") and "Approval HB-" in str(c.args)
    ]
    final = str(cards[-1]["blocks"])
    assert "Done" in final and final.count("— succeeded") == 3, final
    assert "approvals 1 of 1: <@U0BOB>" in final


async def test_a_handoff_mention_arrives_as_an_events_api_envelope(socket_bot: SocketBot) -> None:
    await socket_bot.run("/hunt zap-misses", "@hunt-bot handoff @carol going off shift")

    [mention] = socket_bot.envelopes("events_api")
    assert mention.payload["event"]["type"] == "app_mention"
    assert mention.payload["event"]["thread_ts"]  # in the incident thread
    assert not mention.accepts_response_payload
    assert_all_acked(socket_bot)
    said = socket_bot.out.export_text()
    assert "@alice handed this incident to @carol" in said and "going off shift" in said
