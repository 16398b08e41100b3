"""A hunt request as `/hunt`'s ack writes it (bot/state/hunt_requests.py `write_new`, made
without the model) is what the model itself writes, and what the job reads back."""

from __future__ import annotations

import json

import pytest

from bot.state import keys
from bot.state.hunt_requests import REQUEST_TTL, HuntRequest, HuntRequests


@pytest.mark.parametrize(
    "fields",
    [
        {
            "hunt": "zap-misses",
            "arguments": {"lookback": "3d", "window": "24h"},
            "user_id": "U0ALICE",
            "team_id": "T0SOC",
            "channel_id": "C0SOC",
            "response_url": "https://hooks.slack.com/commands/T0SOC/1/abc",
        },
        {
            "hunt": "emails-by-subject",
            "arguments": {"subject": 'an "invoice" \\ due ✓\n\t<b>', "sender": "ä@contoso.com"},
            "user_id": "U0BOB",
            "team_id": "",
            "channel_id": "C0SOC",
            "thread_ts": "1700000000.000100",
        },
        {"hunt": "h", "arguments": {}, "user_id": "U", "team_id": "T", "channel_id": ""},
    ],
)
def test_a_new_request_is_written_as_the_model_writes_it(fields):
    request_id, written = HuntRequests.write_new(**fields)

    read = HuntRequest.model_validate_json(written.value)
    model = HuntRequest(**fields, id=request_id, requested_at=read.requested_at)
    assert read == model
    # Field for field what model_dump_json makes (a field added to the model fails here).
    assert json.loads(written.value) == json.loads(model.model_dump_json())
    assert written == (keys.hunt_request(request_id), written.value, REQUEST_TTL.total_seconds())
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert HuntRequests.write_new(**fields)[0] != request_id
