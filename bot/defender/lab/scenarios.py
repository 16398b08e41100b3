"""Planted scenarios: for every built-in hunt, rows it must find and near-misses it must not.

Identifiers here are fixed (derived from a label, not the seed), so tests and demos can name
them: `PLANTED` lists, per hunt and arguments, which key values a run with those arguments must
return and which it must not. The people involved are the company's *cast*, who have no
background activity, so nothing random can turn a near-miss into a hit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.defender.lab.company import DOMAIN, Company, Ids, fixed_user, stable_guid, stable_hex
from bot.defender.lab.events import (
    add_attachment,
    add_click,
    add_email,
    add_file_event,
    add_identity_logon,
    add_post_delivery,
    add_process,
    add_url,
    binary,
)
from bot.defender.lab.rows import LabRows

HoursAgo = Callable[[float], datetime]

# role -> (given name, surname, department)
CAST_ROLES: dict[str, tuple[str, str, str]] = {
    "zap_miss": ("Megan", "Bowen", "Finance"),
    "zap_success": ("Adele", "Vance", "Legal"),
    "zap_late_signin": ("Alex", "Wilber", "Sales"),
    "spam_target": ("Diego", "Siciliani", "HR"),
    "phish_clicker": ("Isaiah", "Langer", "Sales"),
    "attachment_victim": ("Lee", "Gu", "Finance"),
    "internal_sender": ("Lidia", "Holloway", "Engineering"),
    "ransomware_device": ("Nestor", "Wilke", "Operations"),
    "powershell_victim": ("Patti", "Fernandez", "Finance"),
    "powershell_late": ("Pradeep", "Gupta", "Engineering"),
    "powershell_blocked": ("Johanna", "Lorenz", "Marketing"),
    "subject_reader": ("Grady", "Archie", "IT"),
    "sender_target": ("Joni", "Sherman", "Legal"),
}

# Subjects that break naive escaping: quotes, backslashes, pipes, comment markers, LIKE wildcards,
# non-ASCII. Each is found by searching for the whole subject; NEAR_MISS_SUBJECTS are what a
# broken escaper would also (wrongly) match.
HOSTILE_SUBJECTS = (
    'Re: "Urgent" wire transfer - reply by 5pm',
    'Path C:\\Users\\Public\\invoice.exe and \\"escaped\\" quotes',
    "Quarterly numbers | where Amount > 0 | take 1",
    "Reset at https://contoso-login.example//reset?u=1 // now",
    "Zahlung fällig: Ünïcødé ✓ 💸 請求書",
    "50% off_today only",
    "It's a 'single' quote; drop table EmailEvents; --",
)
NEAR_MISS_SUBJECTS = (
    "Re: Urgent wire transfer - reply by 5pm",
    "500 off-today only",
)

PHISH_SENDER = "Billing@Fabrikam-Payments.example"
LOOKALIKE_SENDERS = ("billing@fabrikam-payments.example.net", "x-billing@fabrikam-payments.example")


@dataclass(frozen=True)
class PlantedCase:
    """Running `hunt` with `args` returns rows whose `key` column holds every `found` value and
    none of the `missed` ones."""

    hunt: str
    key: str
    found: frozenset[str]
    missed: frozenset[str]
    args: dict[str, str] = field(default_factory=dict)


def message_id(label: str) -> str:
    return stable_guid(f"message:{label}")


def cast_upn(role: str) -> str:
    return fixed_user(*CAST_ROLES[role]).upn


def cast_device_id(role: str) -> str:
    return stable_hex(f"device:{role}", 40)  # as company.build_company gives the cast's devices


def attachment_path(name: str) -> str:
    """Where the attachment victim's downloads land (the file's hashes follow its path)."""
    victim = fixed_user(*CAST_ROLES["attachment_victim"])
    return f"C:\\Users\\{victim.account_name}\\Downloads\\{name}"


RANSOMWARE_PARENT = r"C:\ProgramData\SvcUpdate\svcupd.exe"
RANSOMWARE_COMMANDS = (
    "vssadmin.exe delete shadows /all /quiet",
    "wmic.exe shadowcopy delete /nointeractive",
    'powershell.exe -c "Get-WmiObject Win32_ShadowCopy | ForEach-Object { $_.Delete() }"',
    "wbadmin.exe delete catalog -quiet",
    "bcdedit.exe /set {default} recoveryenabled No",
    "bcdedit.exe /set {default} bootstatuspolicy ignoreallfailures",
)
ADMIN_COMMANDS = (
    "vssadmin.exe list shadows",
    "wbadmin.exe start backup -backupTarget:E: -include:C: -quiet",
    "bcdedit.exe /enum",
)
POWERSHELL_COMMAND = "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0A"
MALWARE_ATTACHMENT_SHA256 = stable_hex("attachment:invoice-4471", 64)
UNOPENED_MALWARE_SHA256 = stable_hex("attachment:unopened", 64)
CLEAN_ATTACHMENT_SHA256 = stable_hex("attachment:clean-agenda", 64)

PLANTED: tuple[PlantedCase, ...] = (
    PlantedCase(
        "zap-misses", "NetworkMessageId",
        found=frozenset({message_id("zap-miss")}),
        missed=frozenset({message_id("zap-success"), message_id("zap-late-signin")}),
    ),
    PlantedCase(
        "spam-emails", "NetworkMessageId",
        found=frozenset({message_id("spam"), message_id("phish-and-spam")}),
        missed=frozenset({message_id("phish-only"), message_id("clean"), message_id("old-spam")}),
    ),
    PlantedCase(
        "spam-emails", "NetworkMessageId", args={"threat": "phish"},
        found=frozenset({message_id("phish-only"), message_id("phish-and-spam")}),
        missed=frozenset({message_id("spam"), message_id("clean")}),
    ),
    *(
        PlantedCase(
            "emails-by-subject", "Subject", args={"subject": subject},
            found=frozenset({subject}), missed=frozenset(NEAR_MISS_SUBJECTS),
        )
        for subject in HOSTILE_SUBJECTS
    ),
    PlantedCase(
        "emails-from", "NetworkMessageId", args={"sender": PHISH_SENDER.lower()},
        found=frozenset({message_id("from-billing-1"), message_id("from-billing-2")}),
        missed=frozenset({message_id("from-lookalike-0"), message_id("from-lookalike-1")}),
    ),
    PlantedCase(
        "phish-link-clicks", "NetworkMessageId",
        found=frozenset({message_id("phish-clicked-through")}),
        missed=frozenset({message_id("phish-click-blocked"), message_id("spam-clicked-through")}),
    ),
    PlantedCase(
        "malicious-attachments-on-devices", "SHA256",
        found=frozenset({MALWARE_ATTACHMENT_SHA256}),
        missed=frozenset({UNOPENED_MALWARE_SHA256, CLEAN_ATTACHMENT_SHA256}),
    ),
    PlantedCase(
        "internal-malware-senders", "NetworkMessageId",
        found=frozenset({message_id("internal-malware"), message_id("outbound-malware")}),
        missed=frozenset({message_id("internal-clean"), message_id("inbound-malware")}),
    ),
    PlantedCase(
        "ransomware-precursors", "ProcessCommandLine",
        found=frozenset(RANSOMWARE_COMMANDS), missed=frozenset(ADMIN_COMMANDS),
    ),
    PlantedCase(
        "powershell-after-malicious-email", "NetworkMessageId",
        found=frozenset({message_id("powershell-soon")}),
        missed=frozenset({message_id("powershell-late"), message_id("powershell-blocked")}),
    ),
    # The pivots' follow-ups, run with what a row of the hunts above holds.
    PlantedCase(
        "emails-to", "NetworkMessageId", args={"recipient": cast_upn("zap_miss")},
        found=frozenset({message_id("zap-miss")}),
        missed=frozenset({message_id("zap-success"), message_id("zap-late-signin")}),
    ),
    PlantedCase(
        "device-timeline", "ProcessCommandLine",
        args={"device_id": cast_device_id("ransomware_device"), "lookback": "7d"},
        found=frozenset(RANSOMWARE_COMMANDS + ADMIN_COMMANDS),
        missed=frozenset({POWERSHELL_COMMAND}),
    ),
    PlantedCase(
        "device-timeline", "ProcessCommandLine",
        args={"device_id": cast_device_id("ransomware_device")},
        found=frozenset(RANSOMWARE_COMMANDS), missed=frozenset(ADMIN_COMMANDS),
    ),
    PlantedCase(  # by SHA-1, under the parameter's old name
        "where-file-seen", "ProcessCommandLine",
        args={"sha1": binary(RANSOMWARE_PARENT)["SHA1"]},
        found=frozenset(RANSOMWARE_COMMANDS), missed=frozenset(ADMIN_COMMANDS),
    ),
    PlantedCase(
        "where-file-seen", "FileName",
        args={"file_hash": binary(attachment_path("Invoice_4471.docm"))["SHA1"]},
        found=frozenset({"Invoice_4471.docm"}), missed=frozenset({"Agenda.pdf"}),
    ),
    PlantedCase(  # by SHA-256, as threat intelligence gives it (the attachment's, on disk)
        "where-file-seen", "FileName",
        args={"file_hash": MALWARE_ATTACHMENT_SHA256},
        found=frozenset({"Invoice_4471.docm"}), missed=frozenset({"Agenda.pdf"}),
    ),
)


def plant_scenarios(rows: LabRows, ids: Ids, company: Company, anchor: datetime) -> None:
    """Write every scenario's rows, timed in hours before `anchor`."""

    def ago(hours: float) -> datetime:
        return anchor - timedelta(hours=hours)

    _plant_zap(rows, ids, company, ago)
    _plant_mail_verdicts(rows, ids, company, ago)
    _plant_clicks_and_attachments(rows, ids, company, ago)
    _plant_devices(rows, ids, company, ago)


def _plant_zap(rows: LabRows, ids: Ids, company: Company, ago: HoursAgo) -> None:
    attacker = "payroll-update@contoso-hr.example"
    for role, label, result, zap_hours, signin_hours in (
        ("zap_miss", "zap-miss", "Error", 29, 26),  # signs in 3 h after the failed ZAP: a hit
        ("zap_success", "zap-success", "Success", 49, 47),  # ZAP worked: not a miss
        ("zap_late_signin", "zap-late-signin", "Error", 98, 26),  # signs in 3 days later
    ):
        user, device = company.cast[role], company.cast_devices[role]
        email = add_email(
            rows, ids, time=ago(zap_hours + 1), message_id=message_id(label), sender=attacker,
            recipient=user.upn, subject="Action required: confirm your payroll details",
            threat_types="Phish", urls=1,
            latest_location="Inbox/folder" if result == "Error" else "Junk folder",
            latest_action=None if result == "Error" else "Moved to junk folder",
        )
        add_url(rows, ids, email, "https://contoso-hr.example/payroll/confirm")
        add_post_delivery(
            rows, ids, email, time=ago(zap_hours), action_type="Phish ZAP", action_result=result,
            action_trigger="Special action",
        )
        add_identity_logon(rows, ids, time=ago(signin_hours), user=user, device=device,
                           application="Office 365")


def _plant_mail_verdicts(rows: LabRows, ids: Ids, company: Company, ago: HoursAgo) -> None:
    target = company.cast["spam_target"].upn
    for label, threats, action, hours in (
        ("spam", "Spam", "Junked", 20),
        ("phish-and-spam", "Phish, Spam", "Junked", 22),
        ("phish-only", "Phish", "Blocked", 24),
        ("clean", "", "Delivered", 26),
        ("old-spam", "Spam", "Junked", 24 * 10),  # outside the default 7-day lookback
    ):
        add_email(rows, ids, time=ago(hours), message_id=message_id(label),
                  sender="deals@bulk-offers.example", recipient=target,
                  subject=f"Limited offer ({label})", threat_types=threats, delivery_action=action)

    reader = company.cast["subject_reader"].upn
    for index, subject in enumerate(HOSTILE_SUBJECTS + NEAR_MISS_SUBJECTS):
        add_email(rows, ids, time=ago(30 + index), message_id=message_id(f"subject-{index}"),
                  sender="news@partner.example", recipient=reader, subject=subject)

    joni = company.cast["sender_target"].upn
    for index, hours in enumerate((33, 57), start=1):
        add_email(rows, ids, time=ago(hours), message_id=message_id(f"from-billing-{index}"),
                  sender=PHISH_SENDER, recipient=joni, subject=f"Invoice {4400 + index} overdue",
                  threat_types="Phish" if index == 1 else "")
    for index, sender in enumerate(LOOKALIKE_SENDERS):
        add_email(rows, ids, time=ago(40 + index), message_id=message_id(f"from-lookalike-{index}"),
                  sender=sender, recipient=joni, subject="Invoice overdue")

    lidia = company.cast["internal_sender"]
    colleague = company.staff[0].upn
    for label, recipient, direction, threats, sender in (
        ("internal-malware", colleague, "Intra-org", "Malware", lidia.upn),
        ("outbound-malware", "ap@fourthcoffee.example", "Outbound", "Malware", lidia.upn),
        ("internal-clean", colleague, "Intra-org", "", lidia.upn),
        ("inbound-malware", lidia.upn, "Inbound", "Malware", "courier@parcel-track.example"),
    ):
        add_email(rows, ids, time=ago(15), message_id=message_id(label), sender=sender,
                  recipient=recipient, subject="Shared: Q3 budget.xlsm", direction=direction,
                  threat_types=threats, attachments=1,
                  threat_names="Trojan:O97M/Donoff" if threats else "",
                  delivery_action="Blocked" if threats and direction == "Inbound" else "Delivered")


def _plant_clicks_and_attachments(rows: LabRows, ids: Ids, company: Company, ago: HoursAgo) -> None:
    isaiah = company.cast["phish_clicker"]
    url = "https://sharepoint-docs.example/contoso/login.aspx"
    for label, threats, action, through, hours in (
        ("phish-clicked-through", "Phish", "ClickAllowed", True, 12),
        ("phish-click-blocked", "Phish", "ClickBlocked", False, 14),
        ("spam-clicked-through", "Spam", "ClickAllowed", True, 16),
    ):
        email = add_email(rows, ids, time=ago(hours + 1), message_id=message_id(label),
                          sender="it-support@sharepoint-docs.example", recipient=isaiah.upn,
                          subject="Your document is waiting", threat_types=threats, urls=1)
        add_url(rows, ids, email, url)
        add_click(rows, ids, time=ago(hours), url=url, user=isaiah, message_id=email.message_id,
                  action_type=action, clicked_through=through, threat_types=threats)
    add_click(rows, ids, time=ago(13), url=url, user=isaiah, message_id=None,
              action_type="ClickAllowed", clicked_through=True, threat_types="Phish",
              workload="Teams")

    lee, device = company.cast["attachment_victim"], company.cast_devices["attachment_victim"]
    downloads = f"C:\\Users\\{lee.account_name}\\Downloads\\"
    for label, name, sha256, threats, on_disk in (
        ("attachment-malware", "Invoice_4471.docm", MALWARE_ATTACHMENT_SHA256, "Malware", True),
        ("attachment-unopened", "Statement.zip", UNOPENED_MALWARE_SHA256, "Malware", False),
        ("attachment-clean", "Agenda.pdf", CLEAN_ATTACHMENT_SHA256, "", True),
    ):
        email = add_email(rows, ids, time=ago(10), message_id=message_id(label),
                          sender="accounts@northwind-traders.example", recipient=lee.upn,
                          subject=f"Document: {name}", threat_types=threats, attachments=1,
                          threat_names="Trojan:O97M/Donoff" if threats else "")
        add_attachment(rows, ids, email, file_name=name, sha256=sha256, threat_types=threats,
                       threat_names="Trojan:O97M/Donoff" if threats else "")
        if on_disk:
            add_file_event(rows, ids, time=ago(9.5), device=device, user=lee,
                           path=downloads + name, sha256=sha256)


def _plant_devices(rows: LabRows, ids: Ids, company: Company, ago: HoursAgo) -> None:
    nestor, device = company.cast["ransomware_device"], company.cast_devices["ransomware_device"]
    system32 = "C:\\Windows\\System32\\"
    for index, command in enumerate(RANSOMWARE_COMMANDS):
        image = command.split(" ", 1)[0]
        if image == "wmic.exe":
            image = "wbem\\wmic.exe"
        if image == "powershell.exe":
            image = "WindowsPowerShell\\v1.0\\powershell.exe"
        add_process(rows, ids, time=ago(6 - index * 0.05), device=device, user=nestor,
                    image=system32 + image, command_line=command, parent=RANSOMWARE_PARENT)
    for index, command in enumerate(ADMIN_COMMANDS):
        add_process(rows, ids, time=ago(50 + index), device=device, user=nestor,
                    image=system32 + command.split(" ", 1)[0], command_line=command,
                    parent=system32 + "cmd.exe")

    powershell = system32 + "WindowsPowerShell\\v1.0\\powershell.exe"
    winword = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
    for role, label, threats, action, email_hours, minutes_later in (
        ("powershell_victim", "powershell-soon", "Malware", "Delivered", 20, 20),
        ("powershell_late", "powershell-late", "Malware", "Delivered", 40, 5 * 60),
        ("powershell_blocked", "powershell-blocked", "Phish", "Blocked", 60, 10),
    ):
        user, device = company.cast[role], company.cast_devices[role]
        email = add_email(rows, ids, time=ago(email_hours), message_id=message_id(label),
                          sender="hr-notice@benefits-portal.example", recipient=user.upn,
                          subject="2027 benefits enrollment form", threat_types=threats,
                          delivery_action=action, attachments=1,
                          threat_names="TrojanDownloader:O97M/Obfuse" if threats else "")
        # Defender keeps the UPN's original case; the hunt must match it case-insensitively.
        add_process(rows, ids, time=email.time + timedelta(minutes=minutes_later),
                    device=device, user=user, image=powershell,
                    command_line=POWERSHELL_COMMAND,
                    parent=winword, upn=f"{user.given_name}.{user.surname}@{DOMAIN}")
