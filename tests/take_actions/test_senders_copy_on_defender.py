"""The sender's copy exactly as Microsoft documents it, from the modal to Graph: Soft delete on
internal and outbound mail from EmailEvents also asks for the sender's Sent Items copy
(`remediateSendersCopy`), the review shows the sender's mailbox as a target and never an outside
recipient's; a later Hard delete of the same messages flags what HB-1 already submitted and
leaves the outbound row out. Graph and the hunt are the local Microsoft stand-in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
from rich.console import Console

from tests.standins.lab_answers import answer_from
from tests.standins.microsoft import GRAPH_RESOURCE, HUNTING_ROLE, MicrosoftStandIn
from tests.take_actions.microsoft_console import console_on_microsoft

SECRET = "senders-copy-secret"
OUTSIDE = "ap@fourthcoffee.example"  # the lab's outbound malware went there
SENDER = "lidia.holloway@contoso.com"


def flat(text: str) -> str:
    return " ".join(text.replace("║", " ").replace("│", " ").split())


async def test_soft_delete_takes_the_senders_copy_and_no_outside_recipient_is_a_target(
    microsoft: MicrosoftStandIn,
    lab_file: Path,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(microsoft.ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(microsoft.ca_file))
    microsoft.grant_roles(GRAPH_RESOURCE, [HUNTING_ROLE, "SecurityAnalyzedMessage.ReadWrite.All"])
    lab = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, lab)
    con, microsoft.query_handler = answer_from(lab)
    out = Console(record=True, width=160)
    async with console_on_microsoft(microsoft, redis_url, lab, SECRET, out) as session:
        script = [
            "/hunt internal-malware-senders",
            "click Take actions",
            "fill Action=Soft delete",
            "fill Description=Lidia's mailbox sent malware: take it back",
            "submit",
            "submit",
            "as @bob",
            "click Approve",
            "as @alice",
            "click Take actions",
            "fill Action=Hard delete",
            "fill Description=and purge it for good",
            "submit",
        ]
        assert await session.run_script(script) == 0, out.export_text()
    con.close()
    shown = out.export_text()
    soft = flat(shown.split("alice ▸ submit", 2)[1])
    hard = flat(shown.rsplit("alice ▸ submit", 1)[1])

    # The review: the colleague's mailbox, and the sender's Sent Items for both messages; the
    # partner's mailbox is not a target, only the way to the sender's copy of that message.
    assert "Soft delete on 2 messages in 1 mailbox, 1 sender's Sent Items" in soft, soft
    assert f"sender's copy: {SENDER} Sent Items (2 messages)" in soft
    assert f"sender's copy: {SENDER} Sent Items · sent to {OUTSIDE}, outside the organisation" in (
        soft
    )
    assert f"{OUTSIDE} · from" not in soft

    # What ran matches: one soft delete asking for the senders' copies of both messages.
    (remediation,) = microsoft.remediation_requests
    body = remediation.json
    assert body["action"] == "softDelete" and body["remediateSendersCopy"] is True
    pairs = {e["recipientEmailAddress"] for e in body["analyzedEmails"]}
    assert len(body["analyzedEmails"]) == 2 and OUTSIDE in pairs

    # Hard delete never takes the sender's copy: the outbound row is left out, and the message
    # HB-1 already soft-deleted (submitted to Graph) is flagged with it.
    assert "Hard delete on 1 message in 1 mailbox, from all 2 rows." in hard, hard
    assert "1 row of outbound mail was left out" in hard
    assert "This target was already handled by an earlier approval (HB-1)" in hard
    assert "— already soft-deleted by HB-1" in hard
    assert OUTSIDE not in hard and "sender's copy" not in hard
