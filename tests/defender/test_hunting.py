"""Graph runHuntingQuery through the real httpx client against the local Graph."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest

from bot.defender.auth import TokenProvider
from bot.defender.hunting import GraphHunting
from bot.defender.results import ROW_CAP
from bot.errors import (
    DefenderUnavailable,
    PermissionMissing,
    QueryError,
    QuotaExhausted,
)

KQL = 'EmailEvents | where Subject has "Rechnung überfällig" | take 2'


async def test_results_come_back_typed_with_utc_datetimes(microsoft, hunting):
    result = await hunting.run_query(KQL)

    assert [(c.name, c.type) for c in result.columns][:2] == [
        ("Timestamp", "DateTime"),
        ("NetworkMessageId", "String"),
    ]
    first = result.rows[0]
    assert first["Timestamp"] == datetime(2026, 5, 4, 10, 15, 0, 123456, tzinfo=UTC)
    assert first["AttachmentCount"] == 1
    assert first["ConfidenceLevel"] == {"Phish": "High"}
    assert result.row_count == 2
    assert not result.truncated


async def test_request_is_the_documented_post(microsoft, hunting):
    await hunting.run_query(KQL)

    [request] = microsoft.hunting_requests
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.json == {"Query": KQL}  # non-ASCII KQL arrives intact
    assert request.bearer_token


async def test_query_handler_answers_and_schema_keys_match_any_case(microsoft, hunting):
    seen = []

    def handler(kql):
        seen.append(kql)
        schema = [{"Name": "DeviceId", "Type": "String"}, {"Name": "Seen", "Type": "DateTime"}]
        return schema, [{"DeviceId": "4f2c", "Seen": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}]

    microsoft.query_handler = handler

    result = await hunting.run_query("DeviceInfo | take 1")

    assert seen == ["DeviceInfo | take 1"]
    assert result.column_names == ["DeviceId", "Seen"]
    assert result.rows == [{"DeviceId": "4f2c", "Seen": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}]


async def test_kql_error_carries_microsofts_message_verbatim(microsoft, hunting):
    message = "'project' operator: Failed to resolve scalar expression named 'Sender'"
    microsoft.reject_next_query(message)

    with pytest.raises(QueryError) as caught:
        await hunting.run_query(KQL)

    assert caught.value.message == message
    assert len(microsoft.hunting_requests) == 1


async def test_rejected_token_is_a_permission_problem(microsoft, tokens, hunting):
    await tokens.access_token("https://graph.microsoft.com/.default")  # cached by MSAL
    microsoft.entra.rotate_signing_key()  # so Graph no longer accepts it

    with pytest.raises(PermissionMissing, match="401") as caught:
        await hunting.run_query(KQL)

    assert "consent" in caught.value.hint
    assert len(microsoft.hunting_requests) == 1


async def test_missing_hunting_permission_names_it(microsoft, hunting):
    microsoft.grant_roles("https://graph.microsoft.com", ["SecurityAnalyzedMessage.ReadWrite.All"])

    with pytest.raises(PermissionMissing, match="403") as caught:
        await hunting.run_query(KQL)

    assert "ThreatHunting.Read.All" in caught.value.hint
    assert "admin consent" in caught.value.hint


async def test_throttled_query_waits_as_told_then_succeeds(microsoft, hunting):
    microsoft.throttle_next_query(retry_after=1)

    started = time.monotonic()
    result = await hunting.run_query(KQL)

    assert result.row_count == 2
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in microsoft.hunting_requests] == [429, 200]


async def test_cpu_quota_beyond_the_wait_says_when_to_retry(microsoft, hunting):
    microsoft.throttle_next_query(retry_after=840, quota="cpu")

    with pytest.raises(QuotaExhausted) as caught:
        await hunting.run_query(KQL)

    error = caught.value
    assert error.retry_after == 840
    assert "CPU" in error.message
    assert "14 minutes" in error.hint
    assert len(microsoft.hunting_requests) == 1  # did not sit out 14 minutes


async def test_call_rate_quota_is_named_as_such(microsoft, hunting):
    microsoft.throttle_next_query(retry_after=60, quota="calls")

    with pytest.raises(QuotaExhausted, match="call rate") as caught:
        await hunting.run_query(KQL)
    assert caught.value.retry_after == 60


async def test_quota_wait_is_a_total_across_throttles(microsoft, hunting):
    # max_quota_wait is 5 s in the fixture: 1 s is waited, then 5 more would exceed it.
    microsoft.throttle_next_query(retry_after=1)
    microsoft.throttle_next_query(retry_after=5)

    with pytest.raises(QuotaExhausted) as caught:
        await hunting.run_query(KQL)
    assert caught.value.retry_after == 5
    assert len(microsoft.hunting_requests) == 2


async def test_server_errors_are_retried_then_succeed(microsoft, hunting):
    microsoft.fail_next_query(503)
    microsoft.fail_next_query(500)

    result = await hunting.run_query(KQL)

    assert result.row_count == 2
    assert [r.status for r in microsoft.hunting_requests] == [503, 500, 200]


async def test_server_errors_beyond_retries_mean_defender_is_unavailable(microsoft, hunting):
    for _ in range(3):  # the fixture allows 2 retries
        microsoft.fail_next_query(500)

    with pytest.raises(DefenderUnavailable, match="3 attempts"):
        await hunting.run_query(KQL)
    assert len(microsoft.hunting_requests) == 3


async def _impatient(microsoft, tokens, **options) -> GraphHunting:
    return GraphHunting(
        microsoft.settings(**options),
        tokens,
        verify=microsoft.ssl_context(),
        retries=1,
        backoff=0.01,
        timeout=0.2,
    )


async def test_timeouts_are_retried_then_reported(microsoft, tokens):
    hunting = await _impatient(microsoft, tokens)
    microsoft.stall_next_query(1.0)
    microsoft.stall_next_query(1.0)
    try:
        with pytest.raises(DefenderUnavailable, match=r"did not answer within 0\.2 s"):
            await hunting.run_query(KQL)
    finally:
        await hunting.aclose()
    assert len(microsoft.hunting_requests) == 2


async def test_a_query_that_keeps_timing_out_gets_one_retry_not_the_whole_budget(
    microsoft, tokens
):
    hunting = GraphHunting(
        microsoft.settings(),
        tokens,
        verify=microsoft.ssl_context(),
        retries=5,
        backoff=0.01,
        timeout=0.2,
    )
    for _ in range(3):
        microsoft.stall_next_query(1.0)
    try:
        with pytest.raises(DefenderUnavailable, match="did not answer"):
            await hunting.run_query(KQL)
    finally:
        await hunting.aclose()
    assert len(microsoft.hunting_requests) == 2


async def test_a_timeout_then_an_answer(microsoft, tokens):
    hunting = await _impatient(microsoft, tokens)
    microsoft.stall_next_query(1.0)
    try:
        result = await hunting.run_query(KQL)
    finally:
        await hunting.aclose()
    assert result.row_count == 2


async def test_unreachable_graph(microsoft, tokens):
    hunting = await _impatient(microsoft, tokens, graph_url="https://127.0.0.1:9")
    try:
        with pytest.raises(DefenderUnavailable, match="cannot be reached"):
            await hunting.run_query(KQL)
    finally:
        await hunting.aclose()


async def test_hitting_the_row_cap_marks_the_result_truncated(microsoft, hunting):
    microsoft.flood_next_query(rows=250_000)

    result = await hunting.run_query("DeviceProcessEvents")

    assert result.row_count == ROW_CAP
    assert result.truncated
    assert isinstance(result.rows[-1]["Timestamp"], datetime)


async def test_logs_never_carry_the_token(microsoft, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = TokenProvider(microsoft.settings(), http_client=microsoft.requests_session())
    hunting = GraphHunting(microsoft.settings(), tokens, verify=microsoft.ssl_context())
    microsoft.reject_next_query()
    try:
        with pytest.raises(QueryError):
            await hunting.run_query(KQL)
        await hunting.run_query(KQL)
    finally:
        await hunting.aclose()

    token = microsoft.hunting_requests[0].bearer_token
    assert token
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "runHuntingQuery" in logged
    assert token not in logged
    assert microsoft.client_secret not in logged
