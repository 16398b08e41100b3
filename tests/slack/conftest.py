"""A whole bot per test: the real app over HTTP, real Redis, the lab tenant, and the local Slack
Web API stand-in recording what the bot does. Requests arrive signed, as Slack sends them."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.app import serve_in_process
from bot.config import Settings
from bot.workspace import slack_requests as requests
from bot.workspace.calls import Call, method_is
from bot.workspace.model import Message
from bot.workspace.slack_requests import BotAnswer, SignedSender
from bot.workspace.webapi import WebApiStandIn

TOKEN = "xoxb-scenario"
SIGNING_SECRET = "scenario-signing-secret"


# Valid for Defender, beyond what the lab's KQL engine runs: a run-time failure to report.
UNPACKED_EVENTS = """
name: unpacked-events
title: Device events with their additional fields unpacked
description: Every field of AdditionalFields as a column.
query: |
  DeviceEvents
  | where Timestamp > ago(1d)
  | evaluate bag_unpack(AdditionalFields)
  | project Timestamp, DeviceId
columns: [Timestamp, DeviceId]
"""


@pytest.fixture
def settings(redis_url: str, lab_file: Path, tmp_path: Path) -> Settings:
    redis.Redis.from_url(redis_url).flushdb()
    lab = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, lab)
    hunts = tmp_path / "hunts"
    hunts.mkdir()
    (hunts / "unpacked-events.yaml").write_text(UNPACKED_EVENTS)
    return Settings(
        _env_file=None,
        slack_bot_token=TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        redis_url=redis_url,
        hunt_backend="lab",
        lab_db=lab,
        hunts_dir=hunts,
    )


@dataclass
class Harness:
    slack: WebApiStandIn
    sender: SignedSender
    settings: Settings

    @property
    def calls(self) -> list[Call]:
        return self.slack.calls.calls

    async def slash(self, text: str, *, user: str = "alice", channel: str = "soc") -> BotAnswer:
        who = self.slack.workspace.user_by_name(user)
        where = self.slack.workspace.channel_by_ref(channel)
        assert who and where
        request = requests.slash_command(
            user=who,
            channel=where,
            command="/hunt",
            text=text,
            response_url=self.slack.issue_response_url(channel=where.id, user=who.id),
            trigger_id=self.slack.issue_trigger(who.id),
        )
        return await self.sender.send(request)

    async def click(self, message: Message, label: str, *, user: str = "alice") -> BotAnswer:
        who = self.slack.workspace.user_by_name(user)
        where = self.slack.workspace.channel_by_ref(message.channel)
        assert who and where
        for block in message.blocks:
            for element in block.get("elements", []):
                if element.get("type") == "button" and element["text"]["text"] == label:
                    request = requests.block_actions_in_message(
                        user=who,
                        channel=where,
                        message=message.to_slack(),
                        action=requests.action_payload(element, block["block_id"]),
                        trigger_id=self.slack.issue_trigger(who.id),
                        response_url=self.slack.issue_response_url(
                            channel=where.id, user=who.id, source=("message", message.ts)
                        ),
                    )
                    return await self.sender.send(request)
        raise AssertionError(f"no button {label!r} in {message.ts}")

    async def next(self, *methods: str, timeout: float = 30.0) -> Call:
        return await self.slack.calls.next_call(method_is(*methods), after=0, timeout=timeout)

    async def wait(self, *methods: str, after: int, timeout: float = 30.0) -> Call:
        return await self.slack.calls.next_call(method_is(*methods), after=after, timeout=timeout)

    def message(self, call: Call) -> Message:
        answer: dict[str, Any] = call.response
        found = self.slack.workspace.message(answer["channel"], answer["ts"])
        assert found is not None
        return found


@pytest.fixture
async def harness(settings: Settings) -> AsyncIterator[Harness]:
    async with WebApiStandIn(token=TOKEN).running() as slack:
        settings = settings.model_copy(update={"slack_api_url": slack.api_url})
        async with serve_in_process(settings) as url:
            sender = SignedSender(url, SIGNING_SECRET)
            try:
                yield Harness(slack, sender, settings)
            finally:
                await sender.aclose()
