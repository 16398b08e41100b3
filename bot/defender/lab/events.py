"""Builders for the rows both the background and the planted scenarios write.

Each builder fills the columns Defender would, with the documented values (DeliveryAction
"Delivered"/"Junked"/"Blocked", locations "Inbox/folder"/"Junk folder"/"Quarantine"...), so a
scenario only states what makes it a scenario.

A builder makes `n` rows at once, column by column: every argument is either one value for all
of them or a list with one value per row. The background noise makes thousands of rows per call
(a list comprehension per column costs a fraction of a Python call per row); a scenario makes
one row with `add_email(...)` and its kin, which take single values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Any, NamedTuple, TypeAlias, TypeVar

from bot.defender.lab.company import DOMAIN, NETBIOS_DOMAIN, Device, Ids, User, stable_hex
from bot.defender.lab.rows import LabRows

T = TypeVar("T")
# One value for every row, or a list of one per row.
Each: TypeAlias = T | list[T]

# Where a message lands for each delivery action (EmailEvents.DeliveryLocation).
LOCATION_FOR_ACTION = {
    "Delivered": "Inbox/folder",
    "Junked": "Junk folder",
    "Blocked": "Quarantine",
    "Replaced": "Inbox/folder",
}
# Every background message passes every check (EmailEvents.AuthenticationDetails).
ALL_PASS = json.dumps({"SPF": "pass", "DKIM": "pass", "DMARC": "pass", "CompAuth": "pass"})
ACCOUNT_DOMAIN = NETBIOS_DOMAIN.lower()  # as DeviceProcessEvents.AccountDomain shows it
DETECTION_FOR_THREAT = {
    "Spam": "Mixed analysis detection",
    "Phish": "URL malicious reputation",
    "Malware": "File detonation",
}


class Email(NamedTuple):  # a named tuple: made for every message, and cheaper than a dataclass
    """What later rows about a message (attachments, clicks, ZAP) need to refer back to it."""

    time: datetime
    message_id: str
    sender: str
    recipient: str
    direction: str
    threat_types: str


def each(value: Each[T], n: int) -> list[T]:
    """`value` for each of `n` rows."""
    return value if isinstance(value, list) else [value] * n


# Cached: a few hundred addresses and a handful of verdicts recur across every message.
@cache
def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


@cache
def _threats(threat_types: str) -> list[str]:
    return [t.strip() for t in threat_types.split(",") if t.strip()]


@cache
def _detection_methods(threat_types: str) -> str:
    """EmailEvents.DetectionMethods: how each threat type was found; empty without any."""
    threats = _threats(threat_types)
    return json.dumps({t: [DETECTION_FOR_THREAT[t]] for t in threats}) if threats else ""


@cache
def _confidence(threat_types: str) -> str:
    """EmailEvents.ConfidenceLevel: high for each threat type; empty without any."""
    threats = _threats(threat_types)
    return json.dumps(dict.fromkeys(threats, "High")) if threats else ""


def add_emails(
    rows: LabRows, ids: Ids, n: int, *, time: Each[datetime], message_id: Each[str],
    sender: Each[str], recipient: Each[str], subject: Each[str],
    direction: Each[str] = "Inbound", threat_types: Each[str] = "",
    delivery_action: Each[str] = "Delivered", latest_location: Each[str | None] = None,
    latest_action: Each[str | None] = None, threat_names: Each[str] = "",
    attachments: Each[int] = 0, urls: Each[int] = 0,
    sender_display_name: Each[str | None] = None, mail_from: Each[str | None] = None,
) -> list[Email]:
    rng = ids.rng
    times, message_ids, senders = each(time, n), each(message_id, n), each(sender, n)
    recipients, directions, threats = each(recipient, n), each(direction, n), each(threat_types, n)
    actions = each(delivery_action, n)
    sender_domains = [_domain(s) for s in senders]
    mail_froms = [m or s for m, s in zip(each(mail_from, n), senders, strict=True)]
    locations = [
        "On-premises/external" if d == "Outbound" and a == "Delivered" else LOCATION_FOR_ACTION[a]
        for d, a in zip(directions, actions, strict=True)
    ]
    rows.add_columns(
        "EmailEvents", n,
        Timestamp=times,
        NetworkMessageId=message_ids,
        InternetMessageId=[ids.internet_message_id(d) for d in sender_domains],
        SenderMailFromAddress=mail_froms,
        SenderFromAddress=senders,
        SenderDisplayName=[
            d or s.split("@")[0]
            for d, s in zip(each(sender_display_name, n), senders, strict=True)
        ],
        SenderMailFromDomain=[_domain(m) for m in mail_froms],
        SenderFromDomain=sender_domains,
        SenderIPv4=[ids.private_ip() if d == DOMAIN else ids.public_ip() for d in sender_domains],
        RecipientEmailAddress=recipients,
        Subject=subject,
        EmailClusterId=[rng.getrandbits(40) for _ in range(n)],
        EmailDirection=directions,
        DeliveryAction=actions,
        DeliveryLocation=locations,
        ThreatTypes=threats,
        ThreatNames=threat_names,
        DetectionMethods=[_detection_methods(t) for t in threats],
        ConfidenceLevel=[_confidence(t) for t in threats],
        BulkComplaintLevel=rng.choices((0, 0, 0, 1, 3, 7), k=n),
        AuthenticationDetails=ALL_PASS,
        AttachmentCount=attachments,
        UrlCount=urls,
        EmailLanguage="en",
        ReportId=ids.guids(n),
        LatestDeliveryLocation=[
            latest or location
            for latest, location in zip(each(latest_location, n), locations, strict=True)
        ],
        LatestDeliveryAction=[
            latest or action
            for latest, action in zip(each(latest_action, n), actions, strict=True)
        ],
        To=recipients,
        RecipientDomain=[_domain(r) for r in recipients],
        EmailSize=ids.numbers(4_000, 900_000, n),
        IsFirstContact=rng.choices((0, 0, 0, 1), k=n),
    )
    return list(map(Email, times, message_ids, senders, recipients, directions, threats))


def add_email(rows: LabRows, ids: Ids, **one: Any) -> Email:
    """One message (see `add_emails`)."""
    return add_emails(rows, ids, 1, **one)[0]


def add_post_deliveries(
    rows: LabRows, ids: Ids, emails: list[Email], *, time: Each[datetime],
    action_type: Each[str], action_result: Each[str], action: Each[str] = "Moved to junk folder",
    action_trigger: Each[str] = "Special action", location: Each[str] = "Inbox/folder",
) -> None:
    n = len(emails)
    rows.add_columns(
        "EmailPostDeliveryEvents", n,
        Timestamp=time,
        NetworkMessageId=[e.message_id for e in emails],
        InternetMessageId=[ids.internet_message_id(e.sender.rsplit("@", 1)[-1]) for e in emails],
        Action=action,
        ActionType=action_type,
        ActionTrigger=action_trigger,
        ActionResult=action_result,
        RecipientEmailAddress=[e.recipient for e in emails],
        DeliveryLocation=location,
        ThreatTypes=[e.threat_types for e in emails],
        ReportId=ids.guids(n),
        SenderFromAddress=[e.sender for e in emails],
        EmailDirection=[e.direction for e in emails],
    )


def add_post_delivery(rows: LabRows, ids: Ids, email: Email, **one: Any) -> None:
    add_post_deliveries(rows, ids, [email], **one)


def add_attachments(
    rows: LabRows, ids: Ids, emails: list[Email], *, file_name: Each[str], sha256: Each[str],
    threat_types: Each[str] = "", threat_names: Each[str] = "",
) -> None:
    n = len(emails)
    rows.add_columns(
        "EmailAttachmentInfo", n,
        Timestamp=[e.time for e in emails],
        NetworkMessageId=[e.message_id for e in emails],
        SenderFromAddress=[e.sender for e in emails],
        SenderDisplayName=[e.sender.split("@")[0] for e in emails],
        RecipientEmailAddress=[e.recipient for e in emails],
        FileName=file_name,
        FileType=[name.rsplit(".", 1)[-1].lower() for name in each(file_name, n)],
        SHA256=sha256,
        FileSize=ids.numbers(20_000, 4_000_000, n),
        ThreatTypes=threat_types,
        ThreatNames=threat_names,
        DetectionMethods=[
            json.dumps({"Malware": ["File detonation"]}) if t else ""
            for t in each(threat_types, n)
        ],
        ReportId=ids.guids(n),
    )


def add_attachment(rows: LabRows, ids: Ids, email: Email, **one: Any) -> None:
    add_attachments(rows, ids, [email], **one)


def add_urls(
    rows: LabRows, ids: Ids, emails: list[Email], urls: list[str], location: str = "Body"
) -> None:
    n = len(emails)
    rows.add_columns(
        "EmailUrlInfo", n,
        Timestamp=[e.time for e in emails],
        NetworkMessageId=[e.message_id for e in emails],
        Url=urls,
        UrlDomain=[url.split("/")[2] for url in urls],
        UrlLocation=location,
        UrlChainId=ids.guids(n),
        UrlChainPosition=0,
        ReportId=ids.guids(n),
    )


def add_url(rows: LabRows, ids: Ids, email: Email, url: str, location: str = "Body") -> None:
    add_urls(rows, ids, [email], [url], location)


def add_clicks(
    rows: LabRows, ids: Ids, n: int, *, time: Each[datetime], url: Each[str], user: Each[User],
    message_id: Each[str | None], action_type: Each[str], clicked_through: Each[bool],
    threat_types: Each[str] = "", workload: Each[str] = "Email",
) -> None:
    urls = each(url, n)
    rows.add_columns(
        "UrlClickEvents", n,
        Timestamp=time,
        Url=urls,
        ActionType=action_type,
        AccountUpn=[u.upn for u in each(user, n)],
        Workload=workload,
        NetworkMessageId=message_id,
        ThreatTypes=threat_types,
        DetectionMethods=[
            json.dumps({"Phish": ["URL detonation"]}) if t else "" for t in each(threat_types, n)
        ],
        IPAddress=[ids.public_ip() for _ in range(n)],
        IsClickedThrough=clicked_through,
        UrlChain=[json.dumps([u]) for u in urls],
        ReportId=ids.guids(n),
    )


def add_click(rows: LabRows, ids: Ids, **one: Any) -> None:
    add_clicks(rows, ids, 1, **one)


def add_identity_logons(
    rows: LabRows, ids: Ids, n: int, *, time: Each[datetime], user: Each[User],
    device: Each[Device | None], application: Each[str] = "Microsoft 365",
    logon_type: Each[str] = "Logon", protocol: Each[str] = "",
    action_type: Each[str] = "LogonSuccess",
) -> None:
    rng = ids.rng
    users, devices = each(user, n), each(device, n)
    protocols = each(protocol, n)
    on_prem = [a == "Active Directory" for a in each(application, n)]
    rows.add_columns(
        "IdentityLogonEvents", n,
        Timestamp=time,
        ActionType=action_type,
        Application=application,
        LogonType=logon_type,
        Protocol=protocol,
        FailureReason=["" if a == "LogonSuccess" else "WrongPassword"
                       for a in each(action_type, n)],
        AccountName=[u.account_name for u in users],
        AccountDomain=DOMAIN,
        AccountUpn=[u.upn for u in users],
        AccountSid=[u.sid for u in users],
        AccountObjectId=[u.object_id for u in users],
        AccountDisplayName=[u.display_name for u in users],
        DeviceName=[d.name if d else "" for d in devices],
        DeviceType=["Desktop" if d else "Mobile" for d in devices],
        OSPlatform=[d.os_platform if d else "iOS" for d in devices],
        IPAddress=[
            d.ip if d and here else ids.public_ip()
            for d, here in zip(devices, on_prem, strict=True)
        ],
        Port=[rng.randrange(49152, 65535) if here else None for here in on_prem],
        DestinationDeviceName=[f"dc01.{DOMAIN}" if here else "" for here in on_prem],
        DestinationPort=[
            88 if p == "Kerberos" else (445 if here else None)
            for p, here in zip(protocols, on_prem, strict=True)
        ],
        Location=["" if here else "US" for here in on_prem],
        Isp=["" if here else "Contoso Fiber" for here in on_prem],
        ReportId=ids.guids(n),
        AdditionalFields=[{"Pass-through": False} if here else {} for here in on_prem],
    )


def add_identity_logon(rows: LabRows, ids: Ids, **one: Any) -> None:
    add_identity_logons(rows, ids, 1, **one)


@lru_cache(maxsize=1024)
def binary(path: str) -> Mapping[str, str]:
    """Image name, folder and hashes of a program: the same file has the same hashes everywhere."""
    return {
        "FileName": path.rsplit("\\", 1)[-1],
        "FolderPath": path,
        "SHA1": stable_hex(f"sha1:{path.lower()}", 40),
        "SHA256": stable_hex(f"sha256:{path.lower()}", 64),
        "MD5": stable_hex(f"md5:{path.lower()}", 32),
    }


def add_processes(
    rows: LabRows, ids: Ids, n: int, *, time: Each[datetime], device: Each[Device],
    user: Each[User], image: Each[str], command_line: Each[str], parent: Each[str],
    parent_command_line: Each[str | None] = None, upn: Each[str | None] = None,
) -> None:
    rng = ids.rng
    times, devices, users = each(time, n), each(device, n), each(user, n)
    created = [binary(i) for i in each(image, n)]
    parents = each(parent, n)
    initiating = [binary(p) for p in parents]
    upns = [given or u.upn for given, u in zip(each(upn, n), users, strict=True)]
    rows.add_columns(
        "DeviceProcessEvents", n,
        Timestamp=times,
        DeviceId=[d.device_id for d in devices],
        DeviceName=[d.name for d in devices],
        ActionType="ProcessCreated",
        FileName=[c["FileName"] for c in created],
        FolderPath=[c["FolderPath"] for c in created],
        SHA1=[c["SHA1"] for c in created],
        SHA256=[c["SHA256"] for c in created],
        MD5=[c["MD5"] for c in created],
        FileSize=ids.numbers(50_000, 5_000_000, n),
        ProcessId=ids.numbers(1_000, 60_000, n),
        ProcessCommandLine=command_line,
        ProcessIntegrityLevel="Medium",
        ProcessTokenElevation="TokenElevationTypeDefault",
        ProcessCreationTime=times,
        AccountDomain=ACCOUNT_DOMAIN,
        AccountName=[u.account_name for u in users],
        AccountSid=[u.sid for u in users],
        AccountUpn=upns,
        AccountObjectId=[u.object_id for u in users],
        LogonId=[rng.getrandbits(24) for _ in range(n)],
        InitiatingProcessAccountDomain=ACCOUNT_DOMAIN,
        InitiatingProcessAccountName=[u.account_name for u in users],
        InitiatingProcessAccountSid=[u.sid for u in users],
        InitiatingProcessAccountUpn=upns,
        InitiatingProcessAccountObjectId=[u.object_id for u in users],
        InitiatingProcessSHA1=[i["SHA1"] for i in initiating],
        InitiatingProcessSHA256=[i["SHA256"] for i in initiating],
        InitiatingProcessMD5=[i["MD5"] for i in initiating],
        InitiatingProcessFileName=[i["FileName"] for i in initiating],
        InitiatingProcessFolderPath=parents,
        InitiatingProcessId=ids.numbers(1_000, 60_000, n),
        InitiatingProcessCommandLine=[
            given or f'"{i["FileName"]}"'
            for given, i in zip(each(parent_command_line, n), initiating, strict=True)
        ],
        InitiatingProcessCreationTime=[
            t - timedelta(seconds=rng.randrange(1, 3_600)) for t in times
        ],
        InitiatingProcessIntegrityLevel="Medium",
        InitiatingProcessParentFileName="explorer.exe",
        ReportId=[rng.getrandbits(31) for _ in range(n)],
    )


def add_process(rows: LabRows, ids: Ids, **one: Any) -> None:
    add_processes(rows, ids, 1, **one)


OUTLOOK = r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"


def add_file_events(
    rows: LabRows, ids: Ids, n: int, *, time: Each[datetime], device: Each[Device],
    user: Each[User], path: Each[str], action_type: Each[str] = "FileCreated",
    sha1: Each[str | None] = None, sha256: Each[str | None] = None,
    initiating: Each[str] = OUTLOOK, origin_url: Each[str | None] = None,
) -> None:
    rng = ids.rng
    devices, users, paths = each(device, n), each(user, n), each(path, n)
    parents = [binary(i) for i in each(initiating, n)]
    rows.add_columns(
        "DeviceFileEvents", n,
        Timestamp=time,
        DeviceId=[d.device_id for d in devices],
        DeviceName=[d.name for d in devices],
        ActionType=action_type,
        FileName=[p.rsplit("\\", 1)[-1] for p in paths],
        FolderPath=paths,
        # The file's own hashes where given (a download's differ from any other file's), else
        # those of the program at that path; `binary` is cached, so only then.
        SHA1=[given or binary(p)["SHA1"] for given, p in zip(each(sha1, n), paths, strict=True)],
        SHA256=[
            given or binary(p)["SHA256"] for given, p in zip(each(sha256, n), paths, strict=True)
        ],
        MD5=[stable_hex(f"md5:{p.lower()}", 32) for p in paths],  # as `binary` makes it
        FileOriginUrl=origin_url,
        FileSize=ids.numbers(1_000, 8_000_000, n),
        InitiatingProcessAccountDomain=ACCOUNT_DOMAIN,
        InitiatingProcessAccountName=[u.account_name for u in users],
        InitiatingProcessAccountSid=[u.sid for u in users],
        InitiatingProcessAccountUpn=[u.upn for u in users],
        InitiatingProcessAccountObjectId=[u.object_id for u in users],
        InitiatingProcessSHA1=[p["SHA1"] for p in parents],
        InitiatingProcessSHA256=[p["SHA256"] for p in parents],
        InitiatingProcessMD5=[p["MD5"] for p in parents],
        InitiatingProcessFolderPath=initiating,
        InitiatingProcessFileName=[p["FileName"] for p in parents],
        InitiatingProcessId=ids.numbers(1_000, 60_000, n),
        InitiatingProcessCommandLine=[f'"{p["FileName"]}"' for p in parents],
        InitiatingProcessIntegrityLevel="Medium",
        ReportId=[rng.getrandbits(31) for _ in range(n)],
    )


def add_file_event(rows: LabRows, ids: Ids, **one: Any) -> None:
    add_file_events(rows, ids, 1, **one)
