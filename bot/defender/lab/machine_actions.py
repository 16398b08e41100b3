"""Device and file actions in the lab tenant, followed as Defender for Endpoint's would be.

Each action is a machine-action record (`_hunt_bot_machine_actions`, beside the Defender tables)
whose status follows wall time, Pending -> InProgress -> Succeeded, read on refresh. A finished
antivirus scan or quarantine also leaves a `DeviceEvents` row. Every function here runs on the
lab tenant's connection, inside the caller's lock (and, when submitting, its transaction).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import duckdb

from bot.actions.model import ApprovalSpec, FileTarget, OutcomeStatus, Target, TargetOutcome
from bot.defender.actions.mde_objects import IN_FLIGHT, Investigation, MachineAction
from bot.defender.actions.operations import (
    INVESTIGATION,
    MACHINE_OPERATIONS,
    approval_marker,
    failed,
    remediation_comment,
    scope_of,
)
from bot.defender.lab.schema import load_schema
from bot.defender.lab.store import insert_row

MACHINE_ACTIONS_TABLE = "_hunt_bot_machine_actions"

# An investigation's states while queued and running, and where the lab's end.
INVESTIGATION_STATES = ("Queued", "Running", "SuccessfullyRemediated")


@dataclass(frozen=True)
class LabTiming:
    """How long a lab machine action stays Pending, then InProgress, in wall-clock seconds."""

    pending: float = 1.0
    running: float = 3.0

    def status_at(self, created: datetime, now: datetime, final: str) -> str:
        elapsed = (now - created).total_seconds()
        if elapsed < self.pending:
            return "Pending"
        if elapsed < self.pending + self.running:
            return "InProgress"
        return final

    def finished_at(self, created: datetime) -> datetime:
        return created + timedelta(seconds=self.pending + self.running)


def ensure_machine_actions_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {MACHINE_ACTIONS_TABLE} (id VARCHAR PRIMARY KEY, "
        "type VARCHAR, scope VARCHAR, machine_id VARCHAR, computer_dns_name VARCHAR, "
        "requestor_comment VARCHAR, sha1 VARCHAR, created TIMESTAMPTZ, final_status VARCHAR, "
        "failure_reason VARCHAR, trace_written BOOLEAN)"
    )


class LabMachineActions:
    """Starting and reading machine actions; `timing` says how fast they move on."""

    def __init__(self, timing: LabTiming) -> None:
        self._timing = timing

    def start(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: ApprovalSpec,
        approval_id: str,
        target: Target,
        now: datetime,
    ) -> TargetOutcome:
        operation = MACHINE_OPERATIONS[spec.action]
        device_id = getattr(target, "device_id", "")
        row = con.execute(
            'SELECT DeviceName FROM "DeviceInfo" WHERE DeviceId = ? ORDER BY Timestamp DESC '
            "LIMIT 1",
            [device_id],
        ).fetchone()
        if row is None:
            return failed(
                target,
                f"The lab tenant has no device {device_id}.",
                action_type=operation.action_type,
            )
        sha1, final, why, note = None, _final_state(operation.action_type), None, ""
        if isinstance(target, FileTarget):
            sha1 = target.sha1.lower() if target.sha1 else _sha1_of(con, target.sha256 or "")
            if sha1 is None:
                return failed(
                    target,
                    f"The lab tenant knows no SHA-1 for the file with SHA-256 {target.sha256}: "
                    "StopAndQuarantineFile takes SHA-1 only.",
                    action_type=operation.action_type,
                )
            if not target.sha1:
                note = f" (SHA-256 {target.sha256} is SHA-1 {sha1})"
            if _file_on_device(con, device_id, sha1) is None:
                # As on a device, this shows when the action runs, not when it is asked for.
                final, why = "Failed", "the file was never seen on this device"
        marker = approval_marker(approval_id)
        for action in self._actions_on(con, device_id, operation.action_type, now):
            if action.status in IN_FLIGHT:
                if marker in (action.requestor_comment or ""):
                    return _outcome(target.key, action, " (submitted earlier for this approval)")
                return failed(
                    target,
                    f"Action is already in progress: another {operation.action_type} is "
                    "pending on this device.",
                    action_type=operation.action_type,
                )
        action_id = str(uuid.uuid4())
        con.execute(
            f"INSERT INTO {MACHINE_ACTIONS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE)",
            [
                action_id,
                operation.action_type,
                scope_of(spec),
                device_id,
                row[0],
                remediation_comment(spec, approval_id),
                sha1,
                now,
                final,
                why,
            ],
        )
        return self._read(con, action_id, target.key, now, note) or failed(target, "Not recorded.")

    def ours(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: ApprovalSpec,
        approval_id: str,
        target: Target,
        now: datetime,
    ) -> TargetOutcome | None:
        """This approval's action on the target's device (any status), as Defender's list of
        machine actions would show it; None when there is none."""
        operation = MACHINE_OPERATIONS[spec.action]
        device_id = getattr(target, "device_id", "")
        marker = approval_marker(approval_id)
        rows = con.execute(
            f"SELECT id, sha1 FROM {MACHINE_ACTIONS_TABLE} WHERE machine_id = ? AND type = ? "
            "AND contains(requestor_comment, ?)",
            [device_id, operation.action_type, marker],
        ).fetchall()
        sha1 = getattr(target, "sha1", None)
        for action_id, action_sha1 in rows:
            if sha1 and action_sha1 and action_sha1.lower() != sha1.lower():
                continue
            return self._read(con, action_id, target.key, now, " (submitted earlier)")
        return None

    def refresh(
        self, con: duckdb.DuckDBPyConnection, outcome: TargetOutcome, now: datetime
    ) -> TargetOutcome:
        current = self._read(con, str(outcome.machine_action_id), outcome.target_key, now)
        if current is None:
            return outcome.model_copy(
                update={
                    "status": OutcomeStatus.FAILED,
                    "detail": f"The lab tenant has no action {outcome.machine_action_id}.",
                }
            )
        if current.status.settled:
            self._leave_trace(con, str(outcome.machine_action_id))
        return current

    def _actions_on(
        self, con: duckdb.DuckDBPyConnection, device_id: str, action_type: str, now: datetime
    ) -> list[MachineAction]:
        rows = con.execute(
            f"SELECT id FROM {MACHINE_ACTIONS_TABLE} WHERE machine_id = ? AND type = ?",
            [device_id, action_type],
        ).fetchall()
        found = [self._machine_action(con, row[0], now) for row in rows]
        return [action for action in found if isinstance(action, MachineAction)]

    def _read(
        self,
        con: duckdb.DuckDBPyConnection,
        action_id: str,
        key: str,
        now: datetime,
        note: str = "",
    ) -> TargetOutcome | None:
        action = self._machine_action(con, action_id, now)
        if action is None:
            return None
        if action.outcome_status is OutcomeStatus.FAILED:
            row = con.execute(
                f"SELECT failure_reason FROM {MACHINE_ACTIONS_TABLE} WHERE id = ?", [action_id]
            ).fetchone()
            if row is not None and row[0]:
                note += f" ({row[0]})"
        return _outcome(key, action, note)

    def _machine_action(
        self, con: duckdb.DuckDBPyConnection, action_id: str, now: datetime
    ) -> MachineAction | Investigation | None:
        row = con.execute(
            "SELECT type, scope, machine_id, computer_dns_name, requestor_comment, created, "
            f"final_status FROM {MACHINE_ACTIONS_TABLE} WHERE id = ?",
            [action_id],
        ).fetchone()
        if row is None:
            return None
        action_type, scope, machine_id, name, comment, created, final = row
        status = self._timing.status_at(created, now, final)
        if action_type == INVESTIGATION:
            state = {"Pending": INVESTIGATION_STATES[0], "InProgress": INVESTIGATION_STATES[1]}
            return Investigation(
                id=action_id,
                state=state.get(status, status),
                machineId=machine_id,
                computerDnsName=name,
            )
        return MachineAction(
            id=action_id,
            type=action_type,
            scope=scope,
            status=status,
            machineId=machine_id,
            computerDnsName=name,
            requestorComment=comment,
        )

    def _leave_trace(self, con: duckdb.DuckDBPyConnection, action_id: str) -> None:
        """Once settled, what Defender's device tables would show of it (once per action)."""
        row = con.execute(
            "SELECT type, scope, machine_id, computer_dns_name, sha1, created, final_status "
            f"FROM {MACHINE_ACTIONS_TABLE} WHERE id = ? AND NOT trace_written",
            [action_id],
        ).fetchone()
        if row is None:
            return
        action_type, scope, device_id, device_name, sha1, created, final = row
        con.execute(
            f"UPDATE {MACHINE_ACTIONS_TABLE} SET trace_written = TRUE WHERE id = ?", [action_id]
        )
        if final != "Succeeded":
            return
        event: dict[str, Any] = {
            "Timestamp": self._timing.finished_at(created),
            "DeviceId": device_id,
            "DeviceName": device_name,
            "ReportId": uuid.uuid4().int % 2**31,
        }
        if action_type == "RunAntiVirusScan":
            event |= {
                "ActionType": "AntivirusScanCompleted",
                "AdditionalFields": json.dumps({"ScanTypeIndex": scope}),
            }
        elif action_type == "StopAndQuarantineFile":
            file = _file_on_device(con, device_id, sha1) or ("", "", None)
            event |= {
                "ActionType": "AntivirusDetection",
                "SHA1": sha1,
                "FileName": file[0],
                "FolderPath": file[1],
                "SHA256": file[2],
                "AdditionalFields": json.dumps(
                    {"WasRemediated": True, "Action": "StopAndQuarantineFile"}
                ),
            }
        else:
            return  # isolation, packages, restrictions: the machine action is the record
        insert_row(con, "DeviceEvents", event)


def _final_state(action_type: str) -> str:
    return INVESTIGATION_STATES[-1] if action_type == INVESTIGATION else "Succeeded"


def _outcome(key: str, action: MachineAction | Investigation, note: str = "") -> TargetOutcome:
    return TargetOutcome(
        target_key=key,
        status=action.outcome_status,
        detail=action.describe() + note,
        machine_action_id=action.id,
        action_type=action.type if isinstance(action, MachineAction) else INVESTIGATION,
    )


@cache
def _hash_columns() -> list[tuple[str, str, str, str, str]]:
    """(table, SHA1, SHA256, FileName, FolderPath) for every device table naming a file's hashes:
    the file itself, or the process that started an event."""
    found = []
    for table in load_schema().values():
        names = set(table.column_names)
        if "DeviceId" not in names:
            continue
        for prefix in ("", "InitiatingProcess"):
            sha1, sha256 = f"{prefix}SHA1", f"{prefix}SHA256"
            name, folder = f"{prefix}FileName", f"{prefix}FolderPath"
            if names.issuperset((sha1, sha256, name, folder)):
                found.append((table.name, sha1, sha256, name, folder))
    return found


def _sha1_of(con: duckdb.DuckDBPyConnection, sha256: str) -> str | None:
    for table, sha1_col, sha256_col, _, _ in _hash_columns():
        row = con.execute(
            f'SELECT "{sha1_col}" FROM "{table}" WHERE lower("{sha256_col}") = lower(?) '
            f'AND "{sha1_col}" IS NOT NULL LIMIT 1',
            [sha256],
        ).fetchone()
        if row is not None:
            return str(row[0]).lower()
    return None


def _file_on_device(
    con: duckdb.DuckDBPyConnection, device_id: str, sha1: str | None
) -> tuple[str, str, str | None] | None:
    """(FileName, FolderPath, SHA256) of the file as last seen on the device."""
    for table, sha1_col, sha256_col, name_col, folder_col in _hash_columns():
        row = con.execute(
            f'SELECT "{name_col}", "{folder_col}", "{sha256_col}" FROM "{table}" '
            f'WHERE DeviceId = ? AND lower("{sha1_col}") = lower(?) LIMIT 1',
            [device_id, sha1],
        ).fetchone()
        if row is not None:
            return row[0] or "", row[1] or "", row[2]
    return None
