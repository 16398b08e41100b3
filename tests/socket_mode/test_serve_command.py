"""`hunt-bot serve --socket-mode` as people start it: its own process, configured only by the
environment, connecting out to the stand-ins and answering a hunt."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.config import Settings
from bot.workspace.calls import method_is
from bot.workspace.platform import SlackPlatform
from bot.workspace.socket_mode import SocketModeStandIn
from bot.workspace.webapi import WebApiStandIn
from tests.slack.conftest import TOKEN
from tests.socket_mode.conftest import APP_TOKEN

HUNT_BOT = Path(sys.executable).parent / "hunt-bot"
OURS = ("SLACK_", "REDIS_", "HUNT", "LAB_", "APPROVAL_", "GRAPH_", "AZURE_")


async def test_the_serve_command_connects_out_and_answers_a_hunt(
    socket_settings: Settings, tmp_path: Path
) -> None:
    async with (
        WebApiStandIn(token=TOKEN).running() as slack,
        SocketModeStandIn(slack, app_token=APP_TOKEN).running() as socket,
    ):
        assert socket_settings.redis_url is not None
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(OURS)}
        env |= {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_API_URL": slack.api_url,
            "REDIS_URL": socket_settings.redis_url.get_secret_value(),
            "HUNT_BACKEND": "lab",
            "LAB_DB": str(socket_settings.lab_db),
        }
        log = (tmp_path / "serve.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            str(HUNT_BOT), "serve", "--socket-mode", cwd=tmp_path, env=env, stdout=log, stderr=log
        )
        try:
            await socket.connected(timeout=60)
            alice, soc = slack.workspace.user_by_name("alice"), slack.workspace.channels["C0SOC"]
            assert alice is not None
            sent = await SlackPlatform(slack, socket).slash_command(
                alice, soc, "/hunt", "zap-misses"
            )
            assert not sent.failed, sent
            posted = await slack.calls.next_call(method_is("chat.postMessage"), after=0, timeout=60)
            assert posted.ok and "ZAP failed to remove" in str(posted.args["blocks"])
            assert [e.ack is not None for e in socket.envelopes] == [True]
        finally:
            process.send_signal(signal.SIGTERM)
            await process.wait()
            log.close()
        said = (tmp_path / "serve.log").read_text()
        assert "Connected to Slack over Socket Mode" in said, said
