"""Builders for the rows both the background and the planted scenarios write.

Each builder fills the columns Defender would, with the documented values (DeliveryAction
"Delivered"/"Junked"/"Blocked", locations "Inbox/folder"/"Junk folder"/"Quarantine"...), so a
scenario only states what makes it a scenario.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from bot.defender.lab.company import DOMAIN, NETBIOS_DOMAIN, Device, Ids, User, stable_hex
from bot.defender.lab.rows import LabRows

# Where a message lands for each delivery action (EmailEvents.DeliveryLocation).
LOCATION_FOR_ACTION = {
    "Delivered": "Inbox/folder",
    "Junked": "Junk folder",
    "Blocked": "Quarantine",
    "Replaced": "Inbox/folder",
}
DETECTION_FOR_THREAT = {
    "Spam": "Mixed analysis detection",
    "Phish": "URL malicious reputation",
    "Malware": "File detonation",
}


@dataclass(frozen=True)
class Email:
    """What later rows about a message (attachments, clicks, ZAP) need to refer back to it."""

    time: datetime
    message_id: str
    sender: str
    recipient: str
    direction: str
    threat_types: str


def add_email(
    rows: LabRows, ids: Ids, *, time: datetime, message_id: str, sender: str, recipient: str,
    subject: str, direction: str = "Inbound", threat_types: str = "",
    delivery_action: str = "Delivered", latest_location: str | None = None,
    latest_action: str | None = None, threat_names: str = "", attachments: int = 0,
    urls: int = 0, sender_display_name: str | None = None, mail_from: str | None = None,
) -> Email:
    sender_domain = sender.rsplit("@", 1)[-1].lower()
    location = (
        "On-premises/external" if direction == "Outbound" and delivery_action == "Delivered"
        else LOCATION_FOR_ACTION[delivery_action]
    )
    threats = [t.strip() for t in threat_types.split(",") if t.strip()]
    rows.add(
        "EmailEvents",
        Timestamp=time,
        NetworkMessageId=message_id,
        InternetMessageId=ids.internet_message_id(sender_domain),
        SenderMailFromAddress=mail_from or sender,
        SenderFromAddress=sender,
        SenderDisplayName=sender_display_name or sender.split("@")[0],
        SenderMailFromDomain=(mail_from or sender).rsplit("@", 1)[-1].lower(),
        SenderFromDomain=sender_domain,
        SenderIPv4=ids.private_ip() if sender_domain == DOMAIN else ids.public_ip(),
        RecipientEmailAddress=recipient,
        Subject=subject,
        EmailClusterId=ids.rng.getrandbits(40),
        EmailDirection=direction,
        DeliveryAction=delivery_action,
        DeliveryLocation=location,
        ThreatTypes=threat_types,
        ThreatNames=threat_names,
        DetectionMethods=json.dumps({t: [DETECTION_FOR_THREAT[t]] for t in threats}) if threats
        else "",
        ConfidenceLevel=json.dumps({t: "High" for t in threats}) if threats else "",
        BulkComplaintLevel=ids.rng.choice((0, 0, 0, 1, 3, 7)),
        AuthenticationDetails=json.dumps(
            {"SPF": "pass", "DKIM": "pass", "DMARC": "pass", "CompAuth": "pass"}
        ),
        AttachmentCount=attachments,
        UrlCount=urls,
        EmailLanguage="en",
        ReportId=ids.guid(),
        LatestDeliveryLocation=latest_location or location,
        LatestDeliveryAction=latest_action or delivery_action,
        To=recipient,
        RecipientDomain=recipient.rsplit("@", 1)[-1].lower(),
        EmailSize=ids.rng.randrange(4_000, 900_000),
        IsFirstContact=ids.rng.choice((0, 0, 0, 1)),
    )
    return Email(time, message_id, sender, recipient, direction, threat_types)


def add_post_delivery(
    rows: LabRows, ids: Ids, email: Email, *, time: datetime, action_type: str,
    action_result: str, action: str = "Moved to junk folder",
    action_trigger: str = "Special action", location: str = "Inbox/folder",
) -> None:
    rows.add(
        "EmailPostDeliveryEvents",
        Timestamp=time,
        NetworkMessageId=email.message_id,
        InternetMessageId=ids.internet_message_id(email.sender.rsplit("@", 1)[-1]),
        Action=action,
        ActionType=action_type,
        ActionTrigger=action_trigger,
        ActionResult=action_result,
        RecipientEmailAddress=email.recipient,
        DeliveryLocation=location,
        ThreatTypes=email.threat_types,
        ReportId=ids.guid(),
        SenderFromAddress=email.sender,
        EmailDirection=email.direction,
    )


def add_attachment(
    rows: LabRows, ids: Ids, email: Email, *, file_name: str, sha256: str,
    threat_types: str = "", threat_names: str = "",
) -> None:
    rows.add(
        "EmailAttachmentInfo",
        Timestamp=email.time,
        NetworkMessageId=email.message_id,
        SenderFromAddress=email.sender,
        SenderDisplayName=email.sender.split("@")[0],
        RecipientEmailAddress=email.recipient,
        FileName=file_name,
        FileType=file_name.rsplit(".", 1)[-1].lower(),
        SHA256=sha256,
        FileSize=ids.rng.randrange(20_000, 4_000_000),
        ThreatTypes=threat_types,
        ThreatNames=threat_names,
        DetectionMethods=json.dumps({"Malware": ["File detonation"]}) if threat_types else "",
        ReportId=ids.guid(),
    )


def add_url(rows: LabRows, ids: Ids, email: Email, url: str, location: str = "Body") -> None:
    rows.add(
        "EmailUrlInfo",
        Timestamp=email.time,
        NetworkMessageId=email.message_id,
        Url=url,
        UrlDomain=url.split("/")[2],
        UrlLocation=location,
        UrlChainId=ids.guid(),
        UrlChainPosition=0,
        ReportId=ids.guid(),
    )


def add_click(
    rows: LabRows, ids: Ids, *, time: datetime, url: str, user: User, message_id: str | None,
    action_type: str, clicked_through: bool, threat_types: str = "", workload: str = "Email",
) -> None:
    rows.add(
        "UrlClickEvents",
        Timestamp=time,
        Url=url,
        ActionType=action_type,
        AccountUpn=user.upn,
        Workload=workload,
        NetworkMessageId=message_id,
        ThreatTypes=threat_types,
        DetectionMethods=json.dumps({"Phish": ["URL detonation"]}) if threat_types else "",
        IPAddress=ids.public_ip(),
        IsClickedThrough=clicked_through,
        UrlChain=json.dumps([url]),
        ReportId=ids.guid(),
    )


def add_identity_logon(
    rows: LabRows, ids: Ids, *, time: datetime, user: User, device: Device | None,
    application: str = "Microsoft 365", logon_type: str = "Logon", protocol: str = "",
    action_type: str = "LogonSuccess",
) -> None:
    on_prem = application == "Active Directory"
    rows.add(
        "IdentityLogonEvents",
        Timestamp=time,
        ActionType=action_type,
        Application=application,
        LogonType=logon_type,
        Protocol=protocol,
        FailureReason="" if action_type == "LogonSuccess" else "WrongPassword",
        AccountName=user.account_name,
        AccountDomain=DOMAIN,
        AccountUpn=user.upn,
        AccountSid=user.sid,
        AccountObjectId=user.object_id,
        AccountDisplayName=user.display_name,
        DeviceName=device.name if device else "",
        DeviceType="Desktop" if device else "Mobile",
        OSPlatform=device.os_platform if device else "iOS",
        IPAddress=device.ip if device and on_prem else ids.public_ip(),
        Port=ids.rng.randrange(49152, 65535) if on_prem else None,
        DestinationDeviceName=f"dc01.{DOMAIN}" if on_prem else "",
        DestinationPort=88 if protocol == "Kerberos" else (445 if on_prem else None),
        Location="" if on_prem else "US",
        Isp="" if on_prem else "Contoso Fiber",
        ReportId=ids.guid(),
        AdditionalFields={"Pass-through": False} if on_prem else {},
    )


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


def add_process(
    rows: LabRows, ids: Ids, *, time: datetime, device: Device, user: User, image: str,
    command_line: str, parent: str, parent_command_line: str | None = None,
    upn: str | None = None,
) -> None:
    created = binary(image)
    initiating = binary(parent)
    rows.add(
        "DeviceProcessEvents",
        Timestamp=time,
        DeviceId=device.device_id,
        DeviceName=device.name,
        ActionType="ProcessCreated",
        **created,
        FileSize=ids.rng.randrange(50_000, 5_000_000),
        ProcessId=ids.rng.randrange(1_000, 60_000),
        ProcessCommandLine=command_line,
        ProcessIntegrityLevel="Medium",
        ProcessTokenElevation="TokenElevationTypeDefault",
        ProcessCreationTime=time,
        AccountDomain=NETBIOS_DOMAIN.lower(),
        AccountName=user.account_name,
        AccountSid=user.sid,
        AccountUpn=upn or user.upn,
        AccountObjectId=user.object_id,
        LogonId=ids.rng.getrandbits(24),
        InitiatingProcessAccountDomain=NETBIOS_DOMAIN.lower(),
        InitiatingProcessAccountName=user.account_name,
        InitiatingProcessAccountSid=user.sid,
        InitiatingProcessAccountUpn=upn or user.upn,
        InitiatingProcessAccountObjectId=user.object_id,
        InitiatingProcessSHA1=initiating["SHA1"],
        InitiatingProcessSHA256=initiating["SHA256"],
        InitiatingProcessMD5=initiating["MD5"],
        InitiatingProcessFileName=initiating["FileName"],
        InitiatingProcessFolderPath=parent,
        InitiatingProcessId=ids.rng.randrange(1_000, 60_000),
        InitiatingProcessCommandLine=parent_command_line or f'"{initiating["FileName"]}"',
        InitiatingProcessCreationTime=time - timedelta(seconds=ids.rng.randrange(1, 3_600)),
        InitiatingProcessIntegrityLevel="Medium",
        InitiatingProcessParentFileName="explorer.exe",
        ReportId=ids.rng.getrandbits(31),
    )


def add_file_event(
    rows: LabRows, ids: Ids, *, time: datetime, device: Device, user: User, path: str,
    action_type: str = "FileCreated", sha1: str | None = None, sha256: str | None = None,
    initiating: str = r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
    origin_url: str | None = None,
) -> None:
    file = binary(path)
    parent = binary(initiating)
    rows.add(
        "DeviceFileEvents",
        Timestamp=time,
        DeviceId=device.device_id,
        DeviceName=device.name,
        ActionType=action_type,
        FileName=file["FileName"],
        FolderPath=path,
        SHA1=sha1 or file["SHA1"],
        SHA256=sha256 or file["SHA256"],
        MD5=file["MD5"],
        FileOriginUrl=origin_url,
        FileSize=ids.rng.randrange(1_000, 8_000_000),
        InitiatingProcessAccountDomain=NETBIOS_DOMAIN.lower(),
        InitiatingProcessAccountName=user.account_name,
        InitiatingProcessAccountSid=user.sid,
        InitiatingProcessAccountUpn=user.upn,
        InitiatingProcessAccountObjectId=user.object_id,
        InitiatingProcessSHA1=parent["SHA1"],
        InitiatingProcessSHA256=parent["SHA256"],
        InitiatingProcessMD5=parent["MD5"],
        InitiatingProcessFolderPath=initiating,
        InitiatingProcessFileName=parent["FileName"],
        InitiatingProcessId=ids.rng.randrange(1_000, 60_000),
        InitiatingProcessCommandLine=f'"{parent["FileName"]}"',
        InitiatingProcessIntegrityLevel="Medium",
        ReportId=ids.rng.getrandbits(31),
    )
