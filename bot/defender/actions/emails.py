"""Email remediation through Graph: `POST /v1.0/security/collaboration/analyzedEmails/remediate`.

Graph answers 202 with no body and a `Location` header holding an Action center URL (a portal
page, not an API): that URL and the `bulkId` in it are all there is to keep, because no API reads
a remediation's status back. Each target is therefore SUBMITTED, never SUCCEEDED.

Targets go in batches (`DEFAULT_BATCH_SIZE`, see there). A batch that fails fails its targets
only; the next batch is still sent.

A remediation POST is never repeated after a timeout or an unclear 5xx, and a batch a worker that
died may have sent is not sent again: no API finds an earlier remediation by its name or bulkId
(the Action center history is portal-only, and analyzedEmails' `latestDelivery` or
EmailPostDeliveryEvents can lag by hours, so their silence proves nothing). Those targets are
UNKNOWN, with the Action center link, for an approver to check and, if need be, retry.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from urllib.parse import parse_qs, unquote, urlsplit

from bot.actions.model import (
    ApprovalSpec,
    EmailTarget,
    OutcomeStatus,
    Target,
    TargetOutcome,
)
from bot.defender.actions.operations import (
    GRAPH_EMAIL_ACTIONS,
    capability_for,
    failed,
    remediation_display_name,
    senders_copy_applies,
    unknown,
)
from bot.defender.actions.transport import ApiClient, CallFailed, CallUncertain
from bot.defender.http import api_error

log = logging.getLogger(__name__)

REMEDIATE_PATH = "/v1.0/security/collaboration/analyzedEmails/remediate"

# Microsoft recommends remediations of at most 50,000 messages and caps an organisation at 50
# active ones; the per-request array size is undocumented. 10,000 (message, recipient) pairs
# make a body of about 1.5 MB, well inside Graph's usual 4 MB request limit, keep a typical
# approval (tens to hundreds of rows) in one Action center entry, and turn even a 100,000-row
# hunt into 10 remediations, a fifth of the org's concurrent allowance.
DEFAULT_BATCH_SIZE = 10_000

_BULK_ID = re.compile(r'"bulkId"\s*:\s*\[\s*"([^"]+)"')


class GraphEmailRemediation:
    def __init__(self, graph: ApiClient, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if not 1 <= batch_size <= 50_000:
            raise ValueError("batch_size must be between 1 and 50,000")
        self._graph = graph
        self._batch_size = batch_size

    async def submit(
        self, spec: ApprovalSpec, approval_id: str, targets: Sequence[Target]
    ) -> list[TargetOutcome]:
        emails = [t for t in targets if isinstance(t, EmailTarget)]
        batches = self._batches(spec, emails)
        outcomes: list[TargetOutcome] = []
        for number, (senders_copy, batch) in enumerate(batches, start=1):
            body = {
                "displayName": remediation_display_name(spec, approval_id, number, len(batches)),
                "description": spec.description,
                "severity": spec.options.severity,
                "action": GRAPH_EMAIL_ACTIONS[spec.action],
                "remediateSendersCopy": senders_copy,  # a JSON boolean, not the doc's "true"
                "analyzedEmails": [
                    {"networkMessageId": t.network_message_id, "recipientEmailAddress": t.recipient}
                    for t in batch
                ],
            }
            outcomes += await self._send(spec, body, batch, senders_copy)
        return outcomes

    def batches(self, spec: ApprovalSpec, targets: Sequence[Target]) -> list[list[Target]]:
        """The targets as they go to Graph, one remediation request each."""
        emails = [t for t in targets if isinstance(t, EmailTarget)]
        return [list(batch) for _, batch in self._batches(spec, emails)]

    def reconcile(self, targets: Sequence[Target]) -> dict[str, TargetOutcome]:
        """Targets a worker that died may have sent: Graph offers no way to tell."""
        why = "It may have been sent before a worker stopped, and Graph can't look it up."
        return {t.key: unknown(t, why) for t in targets}

    def _batches(
        self, spec: ApprovalSpec, emails: list[EmailTarget]
    ) -> list[tuple[bool, list[EmailTarget]]]:
        """Batches, each sending `remediateSendersCopy` true only if all its mail is internal.

        When the sender's copy was asked for, internal/outbound mail and inbound mail go in
        separate requests, so an inbound message never turns the flag off for the rest.
        """
        groups: dict[bool, list[EmailTarget]] = {True: [], False: []}
        for target in emails:
            groups[senders_copy_applies(spec, target)].append(target)
        size = self._batch_size
        return [
            (senders_copy, group[start : start + size])
            for senders_copy, group in groups.items()
            for start in range(0, len(group), size)
        ]

    async def _send(
        self,
        spec: ApprovalSpec,
        body: dict[str, object],
        batch: list[EmailTarget],
        senders_copy: bool,
    ) -> list[TargetOutcome]:
        try:
            response = await self._graph.request(
                "POST", REMEDIATE_PATH, needs=capability_for(spec.action), json=body, resend=False
            )
        except CallUncertain as exc:
            return [unknown(t, exc.reason) for t in batch]
        except CallFailed as exc:
            return [failed(t, exc.reason) for t in batch]
        if not response.is_success:
            error = api_error(response).describe(response.status_code)
            reason = f"Microsoft Graph refused the remediation ({error})."
            return [failed(t, reason) for t in batch]
        link = response.headers.get("Location") or None
        bulk_id = bulk_id_from(link) if link else None
        detail = f"Submitted to Defender: {body['action']}"
        if spec.options.remediate_senders_copy:
            detail += ", sender's copy too" if senders_copy else ", not the sender's copy (inbound)"
        detail += ". Its progress shows only in the Action center."
        log.info("email remediation of %d messages accepted, bulkId %s", len(batch), bulk_id)
        return [
            TargetOutcome(
                target_key=t.key,
                status=OutcomeStatus.SUBMITTED,
                detail=detail,
                link=link,
                bulk_id=bulk_id,
            )
            for t in batch
        ]


def bulk_id_from(location: str) -> str | None:
    """The bulkId in `...action-center/history?filters={"bulkId":["<id>"]}&tid=...`."""
    for value in parse_qs(urlsplit(location).query).get("filters", []):
        try:
            ids = json.loads(value).get("bulkId")
        except (ValueError, AttributeError):
            continue
        if isinstance(ids, list) and ids:
            return str(ids[0])
    match = _BULK_ID.search(unquote(location))
    return match.group(1) if match else None
