"""Log lines as an operator reads them with LOG_FORMAT=json: one JSON object a line, carrying the
request, hunt, approval and error ids that follow one piece of work across processes, and never
a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.flows.failures import failure_message
from bot.logs import REDACTED, ids_bound, log_handler, remember_secrets
from bot.slack.ids import ResultsAction
from bot.workspace import slack_requests as requests
from bot.workspace.slack_requests import SignedSender
from tests.slack.bot_under_test import soc_bot
from tests.slack.conftest import SIGNING_SECRET, TOKEN
from tests.slack.test_every_failure_answered import ASK_FOR_DELETE


@contextmanager
def json_lines() -> Iterator[list[dict[str, Any]]]:
    """What the process logs meanwhile, as `hunt-bot serve` and `worker` write it."""
    stream = io.StringIO()
    handler = log_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


async def test_lines_carry_the_request_hunt_and_approval_they_are_about(settings):
    with json_lines() as lines:
        async with soc_bot(settings) as bot:
            await bot.run("/hunt spam-emails")
            results = bot.messages_with(ResultsAction.EXPORT)[-1]
            hunt_id = bot.button_value(results, ResultsAction.EXPORT)  # a result is its hunt's
            await bot.run(*ASK_FOR_DELETE, "submit", "submit", "as @bob", "click Approve")
            forger = SignedSender(bot.sender.url.removesuffix("/slack/events"), "not-the-secret")
            alice, soc = bot.user("alice"), bot.slack.workspace.channel_by_ref("soc")
            assert soc is not None
            forged = requests.slash_command(
                user=alice,
                channel=soc,
                command="/hunt",
                text="spam-emails",
                response_url="https://hooks.slack.com/forged",
                trigger_id="1.2.forged",
            )
            assert (await forger.send(forged)).status == 401
            await forger.aclose()

    hunt_line = next(line for line in lines if line["message"].startswith(f"hunt {hunt_id} ended"))
    assert hunt_line["hunt_id"] == hunt_id
    assert "(completed)" in hunt_line["message"]
    assert {"time", "level", "logger"} <= hunt_line.keys()
    approval_line = next(line for line in lines if "run job ended" in line["message"])
    assert approval_line["approval_id"] == "HB-1"
    assert "hunt_id" not in approval_line  # each job carries its own ids only
    refused = next(line for line in lines if "refused a request" in line["message"])
    assert len(refused["request_id"]) == 12


def test_an_unexpected_failure_line_carries_its_error_id_and_the_ids_around_it():
    with json_lines() as lines, ids_bound(request="r1", hunt="h1"):
        told = failure_message(RuntimeError("boom"), "run_hunt")

    [line] = [line for line in lines if line["level"] == "ERROR"]
    error_id = line["error_id"]
    assert error_id in told.text  # the id the person quotes finds this line
    assert (line["request_id"], line["hunt_id"]) == ("r1", "h1")
    assert "RuntimeError: boom" in line["exception"]


def test_secrets_never_reach_a_log_line():
    remember_secrets([TOKEN, SIGNING_SECRET])
    log = logging.getLogger("tests.ops.secrets")
    app_token = "xapp-1-A0BENCH-2-abcdef0123456789"
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodW50LWJvdCJ9.c2lnbmF0dXJlLWJ5dGVz"
    with json_lines() as lines:
        log.info("token %s and secret %s", TOKEN, SIGNING_SECRET)
        log.warning("headers {'Authorization': 'Bearer %s'} from %s", jwt, app_token)
        log.info("connecting to redis://:hunter22@redis.internal:6379/0")
        log.info("form client_secret=s3cr3t-value&grant_type=client_credentials")
        try:
            raise ValueError(f"Slack refused xoxb-1234-5678-abcdefABCDEF ({SIGNING_SECRET})")
        except ValueError:
            log.exception("posting failed")

    text = json.dumps(lines)
    for secret in (
        TOKEN,
        SIGNING_SECRET,
        app_token,
        jwt,
        "hunter22",
        "s3cr3t-value",
        "xoxb-1234-5678-abcdefABCDEF",
    ):
        assert secret not in text, secret
    assert text.count(REDACTED) >= 8
    assert "redis://:[redacted]@redis.internal:6379/0" in lines[2]["message"]
    assert "grant_type=client_credentials" in lines[3]["message"]  # only the secret goes
