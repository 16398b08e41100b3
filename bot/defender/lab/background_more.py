"""Sample rows for the tables no scenario or other background module writes.

A few dozen rows a table, enough that a hunt over any documented table returns something. Each
row is about one of the staff and their device (never the cast, whose rows the planted
scenarios script), and every column is filled by what its name says it holds: a device's id
and name, a person's UPN and SID, a hash, an address, a time in the last fortnight.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from bot.defender.lab.background_mail import SPAN
from bot.defender.lab.company import DOMAIN, NETBIOS_DOMAIN, Company, Device, Ids, User
from bot.defender.lab.rows import LabRows
from bot.defender.lab.schema import load_schema

ROWS_PER_TABLE = 24

# What a table's ActionType says, where Defender documents the values.
ACTION_TYPES = {
    "DeviceRegistryEvents": ("RegistryValueSet", "RegistryKeyCreated", "RegistryValueDeleted"),
    "DeviceImageLoadEvents": ("ImageLoaded",),
    "IdentityQueryEvents": ("DNS query", "LDAP query", "SAMR query"),
    "IdentityDirectoryEvents": (
        "Group Membership changed",
        "Account Password changed",
        "Account Enabled changed",
    ),
    "IdentityEvents": ("UserLoggedIn", "PasswordReset"),
    "CloudAuditEvents": ("Create", "Delete", "Update"),
    "CloudProcessEvents": ("ProcessCreated",),
    "CloudDnsEvents": ("DnsQueryResponse",),
    "GraphApiAuditEvents": ("GraphApiCall",),
    "DataSecurityEvents": ("SensitiveFileRead", "FileCopiedToCloud"),
    "MessageEvents": ("MessageSent",),
    "CallActivityEvents": ("CallStarted", "CallEnded"),
}
DLLS = ("kernel32.dll", "ntdll.dll", "amsi.dll", "wininet.dll", "crypt32.dll", "dbghelp.dll")
RUN_KEYS = (
    "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
    "HKEY_CURRENT_USER\\Software\\Microsoft\\Office\\16.0\\Outlook\\Security",
    "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\WinDefend",
)
SOFTWARE = (
    ("microsoft", "edge", "120.0.2210.91"),
    ("google", "chrome", "119.0.6045.199"),
    ("oracle", "jre", "8.0.3810.9"),
    ("7-zip", "7-zip", "23.01"),
    ("microsoft", "windows_11", "10.0.22631.2861"),
)
CVES = ("CVE-2024-21412", "CVE-2023-36884", "CVE-2024-38063", "CVE-2023-4863")
APPLICATIONS = (
    "Microsoft Teams",
    "Office 365 SharePoint Online",
    "Microsoft Exchange Online",
    "Azure Portal",
)
CITIES = (("Seattle", "WA", "US"), ("London", "England", "GB"), ("Berlin", "Berlin", "DE"))


def add_remaining_tables(
    rows: LabRows, ids: Ids, company: Company, anchor: datetime, filled: Collection[str]
) -> None:
    """DeviceNetworkInfo for every device, and rows for every documented table still empty:
    neither in `filled` (the tables the other parts wrote) nor written here."""
    _add_network_info(rows, ids, company, anchor)
    for name, table in load_schema().items():
        if name in filled or rows.count(name):
            continue
        for n in range(ROWS_PER_TABLE):
            device = ids.rng.choice(company.staff_devices)
            time = anchor - SPAN * ids.rng.random()
            row = {
                column: _value(name, column, kind, n, device, device.owner, time, ids)
                for column, kind in table.columns
            }
            rows.add(name, **{c: v for c, v in row.items() if v is not None})


def _add_network_info(rows: LabRows, ids: Ids, company: Company, anchor: datetime) -> None:
    """One adapter report a device, the newest a day old at most: what AssignedIPAddresses()
    and DeviceFromIP() read."""
    for device in [*company.cast_devices.values(), *company.staff_devices]:
        rows.add(
            "DeviceNetworkInfo",
            Timestamp=anchor - timedelta(minutes=ids.rng.randrange(5, 1440)),
            DeviceId=device.device_id,
            DeviceName=device.name,
            NetworkAdapterName="Ethernet",
            MacAddress=ids.hex(12).upper(),
            NetworkAdapterType="Ethernet",
            NetworkAdapterStatus="Up",
            TunnelType="None",
            ConnectedNetworks=json.dumps(
                [{"Name": DOMAIN, "Category": "Domain", "IsConnectedToInternet": True}]
            ),
            DnsAddresses='["10.0.0.53"]',
            IPv4Dhcp="10.0.0.1",
            DefaultGateways='["10.0.0.1"]',
            IPAddresses=json.dumps(
                [{"IPAddress": device.ip, "SubnetPrefix": 16, "AddressType": "Private"}]
            ),
            ReportId=ids.rng.getrandbits(31),
            NetworkAdapterVendor="Intel",
        )


def _value(
    table: str, column: str, kind: str, n: int, device: Device, user: User, time: datetime, ids: Ids
) -> Any:
    rng = ids.rng
    if kind == "datetime":
        return time if column == "Timestamp" else time - timedelta(minutes=rng.randrange(1, 600))
    if column == "Timestamp":  # GraphApiAuditEvents documents it as a string
        return time.isoformat()
    if kind == "bool":
        return rng.random() < 0.3
    if kind in ("int", "long"):
        if column.endswith("Port"):
            return rng.choice((443, 80, 445, 3389, 53))
        return rng.getrandbits(31) if column == "ReportId" else rng.randrange(0, 100)
    if kind == "real":
        return round(rng.random() * 10, 2)
    if kind == "guid":
        return ids.guid()
    if column == "ActionType":
        return rng.choice(ACTION_TYPES.get(table, ("Detected", "Created", "Modified")))
    for test, make in _BY_NAME:
        if test(column):
            value = make(device, user, ids, n)
            return json.dumps(value) if kind == "dynamic" else str(value)
    if kind == "dynamic":
        return "{}"
    return None


def _ends(*suffixes: str) -> Callable[[str], bool]:
    return lambda column: column.endswith(suffixes)


def _is(*names: str) -> Callable[[str], bool]:
    return lambda column: column in names


Make = Callable[[Device, User, Ids, int], Any]
_BY_NAME: list[tuple[Callable[[str], bool], Make]] = [
    (
        _is("DeviceId", "TargetDeviceId", "AadDeviceId", "EntraIdDeviceId"),
        lambda d, u, i, n: d.device_id,
    ),
    (_ends("DeviceName"), lambda d, u, i, n: d.name),
    (
        _ends("Upn", "UPN", "UserPrincipalName", "EmailAddress", "SignInName"),
        lambda d, u, i, n: u.upn,
    ),
    (
        _is("AccountName", "InitiatingProcessAccountName", "TargetAccountName"),
        lambda d, u, i, n: u.account_name,
    ),
    (_ends("AccountDomain"), lambda d, u, i, n: NETBIOS_DOMAIN.lower()),
    (
        _is("AccountDisplayName", "TargetAccountDisplayName", "ActivityInitiatorDisplayName"),
        lambda d, u, i, n: u.display_name,
    ),
    (_ends("ObjectId"), lambda d, u, i, n: u.object_id),
    (_ends("Sid"), lambda d, u, i, n: u.sid),
    (_is("Department"), lambda d, u, i, n: u.department),
    (_is("GivenName"), lambda d, u, i, n: u.given_name),
    (_is("Surname"), lambda d, u, i, n: u.surname),
    (_ends("SHA1"), lambda d, u, i, n: i.sha1()),
    (_ends("SHA256"), lambda d, u, i, n: i.sha256()),
    (_ends("MD5"), lambda d, u, i, n: i.md5()),
    (_is("LocalIP", "InitiatingProcessRemoteSessionIP"), lambda d, u, i, n: d.ip),
    (_ends("IP", "IPAddress", "IPv4"), lambda d, u, i, n: i.public_ip()),
    (
        _is("FileName", "InitiatingProcessFileName", "ProcessName"),
        lambda d, u, i, n: i.rng.choice(DLLS),
    ),
    (
        _is("FolderPath", "InitiatingProcessFolderPath"),
        lambda d, u, i, n: "C:\\Windows\\System32\\" + i.rng.choice(DLLS),
    ),
    (_ends("CommandLine"), lambda d, u, i, n: "svchost.exe -k netsvcs -p"),
    (_is("RegistryKey"), lambda d, u, i, n: i.rng.choice(RUN_KEYS)),
    (_is("RegistryValueName"), lambda d, u, i, n: i.rng.choice(("OneDrive", "Start", "Level"))),
    (_is("RegistryValueData"), lambda d, u, i, n: i.rng.choice(("1", "2", "C:\\Program Files"))),
    (_is("CveId"), lambda d, u, i, n: i.rng.choice(CVES)),
    (_is("SoftwareVendor"), lambda d, u, i, n: SOFTWARE[n % len(SOFTWARE)][0]),
    (_is("SoftwareName"), lambda d, u, i, n: SOFTWARE[n % len(SOFTWARE)][1]),
    (_is("SoftwareVersion"), lambda d, u, i, n: SOFTWARE[n % len(SOFTWARE)][2]),
    (
        _ends("SeverityLevel", "Severity"),
        lambda d, u, i, n: i.rng.choice(("Low", "Medium", "High", "Critical")),
    ),
    (_is("OSPlatform"), lambda d, u, i, n: d.os_platform),
    (_is("Application"), lambda d, u, i, n: i.rng.choice(APPLICATIONS)),
    (_is("City"), lambda d, u, i, n: CITIES[n % len(CITIES)][0]),
    (_is("State"), lambda d, u, i, n: CITIES[n % len(CITIES)][1]),
    (_is("Country", "CountryCode"), lambda d, u, i, n: CITIES[n % len(CITIES)][2]),
    (_is("ReportId"), lambda d, u, i, n: str(i.rng.getrandbits(31))),
    (_ends("Id", "ID"), lambda d, u, i, n: i.guid()),
    (_ends("Url", "Uri"), lambda d, u, i, n: f"https://{DOMAIN}/{i.hex(6)}"),
    (_ends("Domain"), lambda d, u, i, n: DOMAIN),
]
