from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.workspace.webapi import WebApiStandIn

from .small_bot import TOKEN, Rig, running_rig


@pytest.fixture
async def slack() -> AsyncIterator[WebApiStandIn]:
    async with WebApiStandIn(token=TOKEN).running() as stand_in:
        yield stand_in


@pytest.fixture
async def client(slack: WebApiStandIn) -> AsyncIterator[AsyncWebClient]:
    web = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    yield web
    if web.session is not None:
        await web.session.close()


@pytest.fixture
async def rig(slack: WebApiStandIn) -> AsyncIterator[Rig]:
    """A small Bolt app answering Slack's requests, and the platform that sends them."""
    async with running_rig(slack) as running:
        yield running
