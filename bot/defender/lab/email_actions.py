"""Email remediation in the lab tenant, as Defender's tables would show it.

The message's `EmailEvents.LatestDeliveryLocation`/`LatestDeliveryAction` change and an
`EmailPostDeliveryEvents` row ("Manual remediation") records the action, as Defender records an
Action center remediation, so re-running a hunt shows where the mail went.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import duckdb

from bot.actions.model import ApprovalSpec, EmailTarget, OutcomeStatus, TargetOutcome
from bot.defender.actions.operations import GRAPH_EMAIL_ACTIONS, failed
from bot.defender.lab.store import insert_row

# Where each Graph remediation `action` leaves a message, and the action name Defender's tables
# record. Keyed by Graph's word, so the lab does what Graph would be asked to.
# Soft and hard delete both show as "Deleted items" here; only LatestDeliveryAction tells them
# apart (how Defender reports a hard-deleted message's location is not documented).
EMAIL_MOVES: dict[str, tuple[str, str]] = {
    "moveToJunk": ("Junk folder", "Moved to junk folder"),
    "moveToInbox": ("Inbox/folder", "Moved to inbox"),
    "moveToDeletedItems": ("Deleted items", "Moved to deleted items"),
    "softDelete": ("Deleted items", "Soft delete"),
    "hardDelete": ("Deleted items", "Hard delete"),
}
# Mail Defender cannot act on (microsoft-apis.md §2a).
NOT_ACTIONABLE = frozenset({"On-premises/external", "Failed", "Dropped"})


def remediate_email(
    con: duckdb.DuckDBPyConnection,
    spec: ApprovalSpec,
    target: EmailTarget,
    now: datetime,
    bulk_id: str,
) -> TargetOutcome:
    row = con.execute(
        "SELECT InternetMessageId, RecipientEmailAddress, LatestDeliveryLocation, "
        'LatestDeliveryAction, SenderFromAddress, EmailDirection, ThreatTypes FROM "EmailEvents" '
        "WHERE NetworkMessageId = ? AND lower(RecipientEmailAddress) = lower(?) LIMIT 1",
        [target.network_message_id, target.recipient],
    ).fetchone()
    if row is None:
        return failed(
            target,
            f"The lab tenant has no message {target.network_message_id} to {target.recipient}.",
        )
    internet_id, recipient, location, latest_action, sender, direction, threats = row
    destination, action = EMAIL_MOVES[GRAPH_EMAIL_ACTIONS[spec.action]]
    if spec.options.remediate_senders_copy and direction == "Outbound":
        # The recipient is outside the organisation: this pair only names the message whose
        # sender's Sent Items copy is acted on (the review shows it so). The lab holds no
        # senders' copies, so there is nothing to move; the recipient's mail is not touched.
        return TargetOutcome(
            target_key=target.key,
            status=OutcomeStatus.SUCCEEDED,
            detail=f"{action}: the sender's copy ({sender}, Sent Items); the recipient is "
            "outside the organisation and was not acted on",
            bulk_id=bulk_id,
        )
    if location in NOT_ACTIONABLE or latest_action == "Hard delete":
        result = "Failed"
    elif location == destination and latest_action == action:
        result = "Already in destination"
    else:
        result = "Success"
        con.execute(
            'UPDATE "EmailEvents" SET LatestDeliveryLocation = ?, LatestDeliveryAction = ? '
            "WHERE NetworkMessageId = ? AND lower(RecipientEmailAddress) = lower(?)",
            [destination, action, target.network_message_id, target.recipient],
        )
    insert_row(
        con,
        "EmailPostDeliveryEvents",
        {
            "Timestamp": now,
            "NetworkMessageId": target.network_message_id,
            "InternetMessageId": internet_id,
            "Action": action,
            "ActionType": "Manual remediation",
            "ActionTrigger": "Admin",
            "ActionResult": result,
            "RecipientEmailAddress": recipient,
            "DeliveryLocation": destination if result != "Failed" else location,
            "ThreatTypes": threats,
            "ReportId": str(uuid.uuid4()),
            "SenderFromAddress": sender,
            "EmailDirection": direction,
        },
    )
    if result == "Failed":
        reason = "it was hard-deleted" if latest_action == "Hard delete" else f"it is {location}"
        return failed(target, f"{action}: not actionable, {reason}.", bulk_id=bulk_id)
    detail = f"{action}: {location} -> {destination}"
    if result != "Success":
        detail = f"{action}: {result.lower()} ({destination})"
    if spec.options.remediate_senders_copy:
        detail += "; the lab holds no senders' copies"
    return TargetOutcome(
        target_key=target.key, status=OutcomeStatus.SUCCEEDED, detail=detail, bulk_id=bulk_id
    )
