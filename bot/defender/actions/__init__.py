"""Carrying out approved remediation: email through Graph, devices and files through Defender
for Endpoint, or the lab tenant, behind one `RemediationBackend`."""

from bot.defender.actions.backend import DefenderRemediation, open_remediation
from bot.defender.actions.emails import DEFAULT_BATCH_SIZE, GraphEmailRemediation, bulk_id_from
from bot.defender.actions.machines import MachineActions
from bot.defender.actions.protocol import RemediationBackend
from bot.defender.actions.transport import RetryPolicy

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DefenderRemediation",
    "GraphEmailRemediation",
    "MachineActions",
    "RemediationBackend",
    "RetryPolicy",
    "bulk_id_from",
    "open_remediation",
]
