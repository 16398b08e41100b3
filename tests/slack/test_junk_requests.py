"""What Slack never sends, sent to the real app over HTTP: every answer is a 4xx, never a 5xx,
nothing reaches Slack, and a refused body never reaches the log.

Unsigned junk is refused by the signature check (401). Correctly signed junk gets past it, so only
the parser can refuse it (400). A body over the cap is refused before either (413). A correctly
signed real command still gets through.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from bot.web import MAX_BODY_BYTES
from bot.workspace.slack_requests import signed_headers
from tests.slack.conftest import SIGNING_SECRET, Harness

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
NOT_UTF8 = b"payload=\xff\xfe\xc3\x28 not text"
DEEP = "[" * 5000

# How long a stray listener would have to reach the Slack stand-in after the answer.
SETTLE_SECONDS = 0.1

Headers = Callable[[bytes], dict[str, str]]


def unsigned(_: bytes) -> dict[str, str]:
    return {}


def signed(body: bytes) -> dict[str, str]:
    """Signed as Slack signs: HMAC-SHA256 over `v0:{timestamp}:{the raw bytes}`."""
    try:
        return signed_headers(body.decode("utf-8"), SIGNING_SECRET)
    except UnicodeDecodeError:  # signed_headers takes text; sign the bytes themselves
        stamp = str(int(time.time()))
        digest = hmac.new(
            SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256
        ).hexdigest()
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def stale(body: bytes) -> dict[str, str]:
    """A correct signature, an hour old: a replay."""
    return signed_headers(body.decode("utf-8"), SIGNING_SECRET, int(time.time()) - 3600)


def timestamp_not_a_number(body: bytes) -> dict[str, str]:
    headers = signed(body)
    return {**headers, "X-Slack-Request-Timestamp": "abc"}


def wrong_secret(body: bytes) -> dict[str, str]:
    return signed_headers(body.decode("utf-8"), "not-the-signing-secret")


@dataclass(frozen=True)
class Junk:
    body: bytes
    content_type: str
    headers: Headers
    status: int
    why: str


JUNK: dict[str, Junk] = {
    # -- unsigned, or signed wrongly: the signature check refuses before anything parses
    "unsigned-form-payload-not-json": Junk(
        b"payload=notjson{", FORM, unsigned, 401, "no signature"
    ),
    "unsigned-json-array": Junk(b"[1,2]", JSON, unsigned, 401, "no signature"),
    "unsigned-not-utf8": Junk(NOT_UTF8, FORM, unsigned, 401, "no signature"),
    "unsigned-5000-brackets": Junk(DEEP.encode(), JSON, unsigned, 401, "no signature"),
    "timestamp-not-a-number": Junk(
        b"payload=notjson{", FORM, timestamp_not_a_number, 401, "a timestamp that is not a number"
    ),
    "stale-timestamp-correctly-signed": Junk(
        b"command=%2Fhunt&text=help", FORM, stale, 401, "a timestamp an hour old"
    ),
    "signed-with-the-wrong-secret": Junk(
        b"command=%2Fhunt&text=help", FORM, wrong_secret, 401, "a signature by another secret"
    ),
    # -- correctly signed: only the parser can refuse
    "signed-form-payload-not-json": Junk(
        b"payload=notjson{", FORM, signed, 400, "payload is not JSON"
    ),
    "signed-json-array": Junk(b"[1,2]", JSON, signed, 400, "a JSON body that is not an object"),
    "signed-5000-nested-brackets-json": Junk(
        (DEEP + "]" * 5000).encode(), JSON, signed, 400, "JSON nested 5,000 deep"
    ),
    "signed-5000-brackets-unclosed-json": Junk(
        DEEP.encode(), JSON, signed, 400, "5,000 unclosed brackets"
    ),
    "signed-form-payload-5000-brackets": Junk(
        b"payload=" + DEEP.encode(), FORM, signed, 400, "payload of 5,000 unclosed brackets"
    ),
    "signed-form-payload-json-not-object": Junk(
        b"payload=[1]", FORM, signed, 400, "payload is JSON but not an object"
    ),
    # slack_sdk's SignatureVerifier decodes the body as UTF-8 before computing the HMAC, so
    # bytes that are not UTF-8 can never verify: the signature check refuses them, not the parser.
    "signed-not-utf8": Junk(NOT_UTF8, FORM, signed, 401, "a body that is not UTF-8"),
    # -- over the cap, signed or not: refused before the signature is even computed
    "oversized-unsigned": Junk(
        b"x" * (MAX_BODY_BYTES + 1), FORM, unsigned, 413, "a body over 1 MiB"
    ),
    "oversized-signed": Junk(
        b"text=" + b"x" * MAX_BODY_BYTES, FORM, signed, 413, "a signed body over 1 MiB"
    ),
}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


async def post(
    http: httpx.AsyncClient, harness: Harness, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await http.post(harness.sender.url, content=body, headers=headers)


async def assert_nothing_reached_slack(harness: Harness, before: int, what: str) -> None:
    await asyncio.sleep(SETTLE_SECONDS)
    reached = [call.method for call in harness.calls[before:]]
    assert not reached, f"{what}: refused, yet the bot called Slack: {reached}"


@pytest.mark.parametrize("name", list(JUNK))
async def test_junk_is_refused_with_a_4xx_and_reaches_nothing(
    harness: Harness, http: httpx.AsyncClient, name: str
):
    junk = JUNK[name]
    before = len(harness.calls)
    headers = {"Content-Type": junk.content_type, **junk.headers(junk.body)}
    response = await post(http, harness, junk.body, headers)
    assert response.status_code < 500, (
        f"{name} ({junk.why}): answered {response.status_code}, a server error: {response.text}"
    )
    assert response.status_code == junk.status, (
        f"{name} ({junk.why}): expected {junk.status}, got {response.status_code}: "
        f"{response.text[:200]}"
    )
    await assert_nothing_reached_slack(harness, before, name)


async def test_a_body_over_the_cap_without_a_declared_length_is_refused(
    harness: Harness, http: httpx.AsyncClient
):
    """Chunked, so only counting the bytes as they arrive can catch it."""
    chunk = b"x" * 65536

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // len(chunk) + 1):
            yield chunk

    before = len(harness.calls)
    response = await http.post(harness.sender.url, content=chunks(), headers={"Content-Type": FORM})
    assert "content-length" not in response.request.headers, "the body should be sent chunked"
    assert response.status_code == 413, (
        f"a chunked body over 1 MiB: expected 413, got {response.status_code}: {response.text}"
    )
    await assert_nothing_reached_slack(harness, before, "chunked body over 1 MiB")


@pytest.mark.parametrize(
    "forge", [unsigned, wrong_secret, stale, timestamp_not_a_number], ids=lambda f: f.__name__
)
async def test_a_refused_body_never_reaches_the_log(
    harness: Harness,
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    forge: Headers,
):
    caplog.set_level(logging.DEBUG)  # the root logger: every logger of the app propagates here
    for name in ("bot", "commands", "slack_bolt", "slack_sdk", "uvicorn", "uvicorn.error"):
        caplog.set_level(logging.DEBUG, logger=name)
    marker = "SECRET-MARKER-123"
    body = f"command=%2Fhunt&text={marker}&payload=%7B%22x%22%3A%22{marker}%22%7D".encode()
    response = await post(http, harness, body, {"Content-Type": FORM, **forge(body)})
    assert response.status_code == 401, (
        f"{forge.__name__}: expected 401, got {response.status_code}: {response.text}"
    )
    assert "refused a request" in caplog.text, (
        "the refusal itself was not logged, so the log was not captured and this test proves "
        f"nothing; captured:\n{caplog.text}"
    )
    assert marker not in caplog.text, (
        f"{forge.__name__}: the refused body reached the log:\n{caplog.text}"
    )
    assert marker not in response.text, f"{forge.__name__}: the answer echoes the refused body"


async def test_a_correctly_signed_real_command_still_gets_through(harness: Harness):
    answer = await harness.slash("help")
    assert answer.status == 200, (
        f"a correctly signed `/hunt help` was refused with {answer.status}: {answer.text}"
    )


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_another_method_than_post_is_refused_and_reaches_nothing(
    harness: Harness, http: httpx.AsyncClient, method: str
):
    before = len(harness.calls)
    body = b"command=%2Fhunt&text=help"
    response = await http.request(
        method, harness.sender.url, content=body, headers={"Content-Type": FORM, **signed(body)}
    )
    assert response.status_code == 405, f"{method}: {response.status_code} {response.text}"
    await assert_nothing_reached_slack(harness, before, method)
