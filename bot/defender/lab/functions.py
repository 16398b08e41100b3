"""Defender's own advanced-hunting functions, in the lab.

`FileProfile`, `DeviceFromIP`, `AssignedIPAddresses`, `SeenBy` and the `Get*Behaviors` filters
are not KQL built-ins; Defender provides them (their documented behaviour is in the packaged
schema's `functions` section). The lab rewrites each call into KQL over its own tables:
DeviceNetworkInfo for addresses, and two small tables of its own (`_LabFileProfiles`,
`_LabSeenBy`) filled from the lab's data when the lab is made. Those two carry a `_Lab` prefix
no Defender table has, and the hunt validator refuses a query that names them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import duckdb

from bot.defender.lab.kql_text import calls, mask, matching, pipeline_before, split_top
from bot.defender.lab.schema import load_functions

if TYPE_CHECKING:
    from bot.defender.lab.kql_text import Columns, Prepared


def fill_helper_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Profiles for every file the lab's devices ran or wrote, and who saw each device.
    Derived from the rows already loaded, so the same seed gives the same answers."""
    con.execute("""
        INSERT INTO "_LabFileProfiles"
        SELECT SHA1, any_value(SHA256), any_value(MD5), any_value(FileSize),
               CAST(abs(hash(SHA1)) % 90000 + 1 AS INTEGER),
               min(Timestamp) - INTERVAL 30 DAY * (abs(hash(SHA1)) % 300 + 1),
               max(Timestamp),
               CASE WHEN bool_or(signed) THEN 'Microsoft Corporation' END,
               CASE WHEN bool_or(signed) THEN 'Microsoft Code Signing PCA 2011' END,
               CASE WHEN bool_or(signed) THEN substr(sha256(SHA1), 1, 40) END,
               bool_or(signed), bool_or(signed),
               CASE WHEN bool_or(signed) THEN 'SignedValid' ELSE 'Unsigned' END,
               bool_or(lower(FileName) SIMILAR TO '.*\\.(exe|dll|sys|scr|msi)'),
               NULL,
               CASE WHEN bool_or(signed) THEN 'Microsoft Corporation' END,
               any_value(FileName),
               'Available'
        FROM (
            SELECT SHA1, SHA256, MD5, FileSize, Timestamp, FileName,
                   FolderPath ILIKE 'C:\\Windows\\%' OR FolderPath ILIKE '%\\Microsoft%'
                       AS signed
            FROM "DeviceProcessEvents"
            UNION ALL
            SELECT SHA1, SHA256, MD5, FileSize, Timestamp, FileName,
                   FolderPath ILIKE 'C:\\Windows\\%' FROM "DeviceFileEvents"
            UNION ALL
            SELECT SHA1, SHA256, MD5, FileSize, Timestamp, FileName,
                   FolderPath ILIKE 'C:\\Windows\\%' FROM "DeviceImageLoadEvents"
        ) WHERE SHA1 IS NOT NULL
        GROUP BY SHA1
    """)
    con.execute("""
        INSERT INTO "_LabSeenBy"
        WITH devices AS (SELECT DISTINCT DeviceId FROM "DeviceInfo"),
             numbered AS (SELECT DeviceId, row_number() OVER (ORDER BY DeviceId) AS n,
                                 count(*) OVER () AS total FROM devices)
        SELECT a.DeviceId, to_json(list(b.DeviceId ORDER BY b.n))
        FROM numbered a JOIN numbered b
          ON b.n IN ((a.n % a.total) + 1, ((a.n + 1) % a.total) + 1) AND b.n <> a.n
        GROUP BY a.DeviceId
    """)


# -- rewriting the calls ----------------------------------------------------------------------

_NETWORK = (
    "DeviceNetworkInfo | mv-expand _Address = parse_json(IPAddresses) "
    "| extend IPAddress = tostring(_Address.IPAddress), "
    "IPType = tostring(_Address.AddressType)"
)

_BEHAVIOUR_FILTERS = {
    "GetFirstSeenBehaviors": '| where Insights contains "FirstSeen" ',
    "GetHighVolumeAnomalyBehaviors": '| where Insights contains "HighVolumeAnomaly" ',
    "GetUncommonValueBehaviors": '| where Insights contains "UncommonValue" ',
}


def rewrite_functions(out: Prepared, columns: Columns | None) -> None:
    _assigned_ip_addresses(out)
    masked = mask(out.text)
    for match in reversed(list(re.finditer(r"\|\s*invoke\s+(\w+)\s*\(", masked))):
        name = match[1]
        close = matching(masked, match.end() - 1)
        if close is None:
            continue
        args = [
            out.text[a:b].strip()
            for a, b in split_top(masked, match.end(), close)
            if out.text[a:b].strip()
        ]
        before = pipeline_before(out.text, masked, match.start())
        replacement = _invoke(name, args, out, before, columns)
        if replacement is not None:
            out.text = out.text[: match.start()] + replacement + out.text[close + 1 :]


def _invoke(
    name: str, args: list[str], out: Prepared, before: str, columns: Columns | None
) -> str | None:
    if name == "FileProfile":
        return _file_profile(args, out, before, columns)
    if name == "DeviceFromIP":
        time = f"| where Timestamp <= {args[1]} " if len(args) > 1 else ""
        return (
            f"| lookup kind=leftouter ({_NETWORK} {time}| where isnotempty(IPAddress) "
            "| summarize arg_max(Timestamp, DeviceId) by IP = IPAddress "
            "| project IP, DeviceId) on IP "
        )
    if name == "SeenBy":
        return "| lookup kind=leftouter (_LabSeenBy) on DeviceId "
    if name in _BEHAVIOUR_FILTERS:
        return _BEHAVIOUR_FILTERS[name]
    if name in ("GetAnomalousBehaviorsByKind", "GetAnomalousBehaviorsByValue") and args:
        field = "Kind" if name.endswith("Kind") else "Value"
        text = f"| where Insights contains strcat('\"{field}\":\"', {args[0]}, '\"') "
        if len(args) > 1:
            text += f"| where isempty({args[1]}) or Insights contains {args[1]} "
        return text
    if name == "GetAnomalousBehaviorsAbout":
        out.notes.append("GetAnomalousBehaviorsAbout keeps every row with insights in the lab")
        return "| where isnotempty(Insights) "
    return None


_PROFILE_KEYS = {
    "SHA1": "SHA1",
    "SHA256": "SHA256",
    "InitiatingProcessSHA1": "SHA1",
    "InitiatingProcessSHA256": "SHA256",
}


def _file_profile(
    args: list[str], out: Prepared, before: str, columns: Columns | None
) -> str | None:
    key = args[0].strip("'\"") if args else "SHA1"
    if key not in _PROFILE_KEYS:
        return None
    base = _PROFILE_KEYS[key]
    profile = [name for name, _ in load_functions()["FileProfile"]["returns"]]
    present = (columns(before) or []) if columns is not None else []
    added = [c for c in profile if c not in present and c != base]
    rename = f"| extend {key} = {base} " if key != base else ""
    return (
        f"| lookup kind=leftouter (_LabFileProfiles {rename}"
        f"| project {', '.join([key, *added])}) on {key} "
    )


def _assigned_ip_addresses(out: Prepared) -> None:
    for name_at, open_at, close_at in calls(mask(out.text), "AssignedIPAddresses"):
        masked = mask(out.text)
        args = [
            out.text[a:b].strip()
            for a, b in split_top(masked, open_at + 1, close_at)
            if out.text[a:b].strip()
        ]
        if not args:
            continue
        device = args[0]
        time = f"| where Timestamp <= {args[1]} " if len(args) > 1 else ""
        body = (
            f"{_NETWORK} | where DeviceId == {device} or DeviceName =~ {device} {time}"
            "| where isnotempty(IPAddress) "
            "| summarize arg_max(Timestamp, IPType, NetworkAdapterType, ConnectedNetworks)"
            " by IPAddress "
            "| project Timestamp, IPAddress, IPType, NetworkAdapterType, ConnectedNetworks"
        )
        out.text = out.text[:name_at] + f"({body})" + out.text[close_at + 1 :]
