"""The Defender for Endpoint objects the executors read, and what their states mean for a target.

Fields as documented (machineaction.md, investigation.md, get-file-information.md); unknown
fields are ignored, since Defender adds fields over time.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from bot.actions.model import OutcomeStatus

MACHINE_ACTION_STATUS: dict[str, OutcomeStatus] = {
    "Pending": OutcomeStatus.IN_PROGRESS,
    "InProgress": OutcomeStatus.IN_PROGRESS,
    "Succeeded": OutcomeStatus.SUCCEEDED,
    "Failed": OutcomeStatus.FAILED,
    "TimeOut": OutcomeStatus.TIMED_OUT,
    "Cancelled": OutcomeStatus.CANCELLED,
}

# An investigation has ended once it reaches any of these; every other state (Running, Queued,
# PendingApproval, PendingResource, Unknown...) is still going.
INVESTIGATION_ENDED: dict[str, OutcomeStatus] = {
    "SuccessfullyRemediated": OutcomeStatus.SUCCEEDED,
    "PartiallyRemediated": OutcomeStatus.SUCCEEDED,
    "Benign": OutcomeStatus.SUCCEEDED,
    "PartiallyInvestigated": OutcomeStatus.SUCCEEDED,
    "PreexistingAlert": OutcomeStatus.SUCCEEDED,
    "SuppressedAlert": OutcomeStatus.SUCCEEDED,
    "Failed": OutcomeStatus.FAILED,
    "InnerFailure": OutcomeStatus.FAILED,
    "UnsupportedOs": OutcomeStatus.FAILED,
    "UnsupportedAlertType": OutcomeStatus.FAILED,
    "Terminated": OutcomeStatus.CANCELLED,
    "TerminatedByUser": OutcomeStatus.CANCELLED,
    "TerminatedBySystem": OutcomeStatus.CANCELLED,
}

# A MachineAction in one of these blocks another of its type on the device ("already in progress").
IN_FLIGHT = frozenset({"Pending", "InProgress"})


class _MdeObject(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class MachineAction(_MdeObject):
    id: str
    type: str = ""
    scope: str | None = None
    status: str = "Pending"
    machine_id: str | None = Field(default=None, alias="machineId")
    computer_dns_name: str | None = Field(default=None, alias="computerDnsName")
    requestor_comment: str | None = Field(default=None, alias="requestorComment")
    related_file_info: dict[str, Any] | None = Field(default=None, alias="relatedFileInfo")
    # Single-object examples say lastUpdateDateTimeUtc, list examples lastUpdateTimeUtc.
    last_update: str | None = Field(
        default=None, validation_alias=AliasChoices("lastUpdateDateTimeUtc", "lastUpdateTimeUtc")
    )

    @property
    def outcome_status(self) -> OutcomeStatus:
        # A status Defender adds later is treated as still running: the poller's deadline ends it.
        return MACHINE_ACTION_STATUS.get(self.status, OutcomeStatus.IN_PROGRESS)

    def describe(self) -> str:
        scope = f" ({self.scope})" if self.scope else ""
        return f"{self.type}{scope}: {self.status}"


class Investigation(_MdeObject):
    id: str
    state: str = "Unknown"
    machine_id: str | None = Field(default=None, alias="machineId")
    computer_dns_name: str | None = Field(default=None, alias="computerDnsName")
    status_details: str | None = Field(default=None, alias="statusDetails")

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # Documented as a string; some samples show a number.
        return str(value) if isinstance(value, int) else value

    @property
    def outcome_status(self) -> OutcomeStatus:
        return INVESTIGATION_ENDED.get(self.state, OutcomeStatus.IN_PROGRESS)

    def describe(self) -> str:
        details = f" ({self.status_details})" if self.status_details else ""
        return f"Automated investigation {self.id}: {self.state}{details}"


class FileInfo(_MdeObject):
    sha1: str | None = None
    sha256: str | None = None
