"""Which application permissions each capability of the bot needs, and which are granted.

App-only tokens carry the consented application permissions in their `roles` claim, one token
per resource. Given the roles of the Graph token and of the Defender for Endpoint token, say for
each capability whether it is available and, if not, which permission to grant (and consent).
Sources: ../shared/reference/microsoft-apis.md §1a, §2a, §3, §4, §6.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Resource(StrEnum):
    """The API an application permission belongs to, as Entra's "API permissions" page names it."""

    GRAPH = "Microsoft Graph"
    MDE = "WindowsDefenderATP"


@dataclass(frozen=True)
class Capability:
    key: str
    title: str
    resource: Resource
    # The permission to grant first; any of `also_accepted` (a broader one) serves as well.
    permission: str
    also_accepted: tuple[str, ...] = ()

    @property
    def accepted(self) -> tuple[str, ...]:
        return (self.permission, *self.also_accepted)


CAPABILITIES: tuple[Capability, ...] = (
    Capability("hunting", "Run advanced-hunting queries", Resource.GRAPH, "ThreatHunting.Read.All"),
    Capability(
        "email.remediate",
        "Move or delete emails (remediation)",
        Resource.GRAPH,
        "SecurityAnalyzedMessage.ReadWrite.All",
    ),
    Capability("device.isolate", "Isolate and release devices", Resource.MDE, "Machine.Isolate"),
    Capability("device.scan", "Run antivirus scans", Resource.MDE, "Machine.Scan"),
    Capability(
        "device.collect_package",
        "Collect investigation packages",
        Resource.MDE,
        "Machine.CollectForensics",
    ),
    Capability(
        "device.restrict_apps",
        "Restrict and unrestrict app execution",
        Resource.MDE,
        "Machine.RestrictExecution",
    ),
    Capability(
        "device.investigate",
        "Start automated investigations",
        Resource.MDE,
        "Alert.ReadWrite.All",
    ),
    Capability(
        "file.stop_and_quarantine",
        "Stop and quarantine files",
        Resource.MDE,
        "Machine.StopAndQuarantine",
    ),
    Capability(
        "action.status",
        "Follow device action status",
        Resource.MDE,
        "Machine.Read.All",
        also_accepted=("Machine.ReadWrite.All",),
    ),
    Capability(
        "file.sha256_to_sha1",
        "Map SHA-256 file hashes to SHA-1",
        Resource.MDE,
        "File.Read.All",
    ),
)


class Availability(StrEnum):
    AVAILABLE = "available"
    MISSING = "missing"
    UNKNOWN = "unknown"  # no token for the resource, so its roles could not be read


@dataclass(frozen=True)
class CapabilityStatus:
    capability: Capability
    availability: Availability

    @property
    def available(self) -> bool:
        return self.availability is Availability.AVAILABLE

    @property
    def grant(self) -> str | None:
        """What to do to make it available, or None when it is."""
        cap = self.capability
        if self.availability is Availability.AVAILABLE:
            return None
        if self.availability is Availability.UNKNOWN:
            return f"get a token for {cap.resource} first, then check {cap.permission}"
        return (
            f"grant the application permission {cap.permission} on {cap.resource} "
            "and grant admin consent"
        )


def check_capabilities(
    graph_roles: Iterable[str] | None, mde_roles: Iterable[str] | None
) -> list[CapabilityStatus]:
    """For each capability: available, missing, or unknown (None = no token for that resource)."""
    roles = {
        Resource.GRAPH: None if graph_roles is None else frozenset(graph_roles),
        Resource.MDE: None if mde_roles is None else frozenset(mde_roles),
    }
    statuses = []
    for cap in CAPABILITIES:
        granted = roles[cap.resource]
        if granted is None:
            availability = Availability.UNKNOWN
        elif granted.intersection(cap.accepted):
            availability = Availability.AVAILABLE
        else:
            availability = Availability.MISSING
        statuses.append(CapabilityStatus(cap, availability))
    return statuses

