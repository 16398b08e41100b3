"""The bot's Bolt app (bot/app.py) against Bolt's own: what it does per request that a stock
AsyncApp would, done once (the ack path, benchmarks/README.md), and nothing Bolt gives a
request missing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import BotApp, OneWorkspace
from commands.context import Facts, Kind
from commands.hunt import has_after_ack

SLASH_HUNT = (
    "token=t&team_id=T0SOC&channel_id=C0SOC&user_id=U0ALICE&user_name=alice&command=%2Fhunt"
    "&text=zap-misses+lookback%3D3d&response_url=https%3A%2F%2Fhooks.example%2Fr&trigger_id=1.2"
)


def request() -> AsyncBoltRequest:
    return AsyncBoltRequest(
        body=SLASH_HUNT, headers={"content-type": "application/x-www-form-urlencoded"}
    )


async def test_each_request_gets_what_bolts_own_app_gives_it_with_the_apps_one_client():
    async def authorize(**_: object) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token="xoxb-t")

    client = AsyncWebClient(base_url="http://slack.example/api/")
    options = {"client": client, "authorize": authorize, "request_verification_enabled": False}
    stock, ours = AsyncApp(**options), BotApp(**options)
    theirs, mine = request(), request()
    stock._init_context(theirs)
    ours._init_context(mine)
    ours._init_context(again := request())

    # If a Bolt upgrade gives each request something more, BotApp must give it too.
    assert set(mine.context) == set(theirs.context)
    assert mine.context["token"] == theirs.context["token"]
    assert mine.context["logger"] is theirs.context["logger"]
    assert theirs.context["listener_runner"] is stock.listener_runner
    assert mine.context["listener_runner"] is ours.listener_runner
    # Bolt's is a new client like the app's; ours is the app's own, for every request.
    assert isinstance(theirs.context["client"], AsyncWebClient)
    assert theirs.context["client"].base_url == client.base_url
    assert mine.context["client"] is client is again.context["client"]


async def test_the_authorize_answer_is_made_once_and_again_when_the_bot_learns_who_it_is():
    services = SimpleNamespace(slack=SimpleNamespace(token="xoxb-t"), bot_user_id="")
    authorize = OneWorkspace(services)  # type: ignore[arg-type]
    context = request().context

    first = await authorize(context=context, enterprise_id=None, team_id="T0SOC", user_id="U1")
    assert await authorize(context=context, enterprise_id=None, team_id=None, user_id=None) is first
    assert (first.bot_token, first.bot_user_id) == ("xoxb-t", None)
    services.bot_user_id = "U0HUNTBOT"  # auth.test answered late (bot/app.py learn_bot_user)
    later = await authorize(context=context, enterprise_id=None, team_id="T0SOC", user_id="U1")
    assert (later.bot_token, later.bot_user_id) == ("xoxb-t", "U0HUNTBOT")


@pytest.mark.parametrize(
    ("text", "after"),
    [
        ("zap-misses lookback=3d", False),
        ("spam-emails", False),
        ("", False),
        ("help", False),
        ("list phish", False),
        ("incidents", True),
        ("incidents close-stale older-than=7d", True),
        ("audit 5", True),
        ("AUDIT", True),
        ("schedule zap-misses every=1h", True),
        ("schedules", True),
        ("kql", True),
        ("save my-hunt", True),
        ("delete my-hunt", True),
    ],
)
def test_only_the_verbs_answered_after_the_ack_start_an_after_ack_step(text, after):
    facts = Facts(kind=Kind.COMMAND, control="/hunt", user="U0ALICE", text=text)
    assert has_after_ack(facts) is after
