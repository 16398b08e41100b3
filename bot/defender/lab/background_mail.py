"""Background noise for the mail and identity tables: an ordinary fortnight of a small company.

Only the staff take part (never the cast), so the planted scenarios stay exactly as planted.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from bot.defender.lab.company import DOMAIN, Company, Ids, User
from bot.defender.lab.events import (
    add_attachment,
    add_click,
    add_email,
    add_identity_logon,
    add_post_delivery,
    add_url,
)
from bot.defender.lab.rows import LabRows

# Background activity spreads over this many days before the anchor.
SPAN = timedelta(days=14)

PARTNER_SENDERS = (
    "orders@northwind-traders.example", "support@fabrikam.example", "news@adventure-works.example",
    "invoices@tailspin-toys.example", "team@wingtip.example", "noreply@litware.example",
)
BULK_SENDERS = ("deals@bulk-offers.example", "promo@shop-now.example", "win@prize-draw.example")
HOSTILE_SENDERS = (
    "security@micros0ft-support.example", "it-desk@office365-verify.example",
    "dhl@parcel-notice.example", "ceo@contoso-exec.example",
)
SUBJECTS = (
    "Weekly sync notes", "Re: contract draft", "Invoice attached", "Lunch on Friday?",
    "Quarterly planning", "Your order has shipped", "Updated org chart", "Travel itinerary",
    "Re: customer escalation", "Security training reminder", "Expense report approved",
    "Meeting moved to 3pm", "FW: pricing proposal", "Welcome to the team",
)
SPAM_SUBJECTS = ("You have won a gift card", "Limited time: 80% discount", "Hot deals this week")
PHISH_SUBJECTS = (
    "Your password expires today", "Unusual sign-in activity", "Shared document: Payroll.xlsx",
    "Voicemail received (2)", "Package delivery failed",
)
ATTACHMENTS = ("report.pdf", "minutes.docx", "budget.xlsx", "photo.jpg", "slides.pptx")
MALWARE_NAMES = ("Trojan:Win32/Emotet", "TrojanDownloader:O97M/Obfuse", "Backdoor:JS/Qakbot")


def add_mail_noise(rows: LabRows, ids: Ids, company: Company, anchor: datetime, count: int) -> None:
    rng = ids.rng
    staff = company.staff
    for _ in range(count):
        time = anchor - SPAN * rng.random()
        recipient = rng.choice(staff)
        roll = rng.random()
        if roll < 0.25:
            sender, direction = rng.choice(staff).upn, "Intra-org"
            outside = None
        elif roll < 0.35:
            sender, direction = recipient.upn, "Outbound"
            outside = rng.choice(PARTNER_SENDERS).replace("orders@", "buyer@")
        else:
            sender, direction, outside = "", "Inbound", None
        threats, action, subject = "", "Delivered", rng.choice(SUBJECTS)
        if direction == "Inbound":
            sender, threats, action, subject = _inbound_verdict(rng, subject)
        attachments = rng.choice((0, 0, 0, 1, 1, 2))
        urls = rng.choice((0, 0, 1, 1, 2, 3))
        email = add_email(
            rows, ids, time=time, message_id=ids.guid(), sender=sender,
            recipient=outside or recipient.upn, subject=subject, direction=direction,
            threat_types=threats, delivery_action=action, attachments=attachments, urls=urls,
            threat_names=rng.choice(MALWARE_NAMES) if "Malware" in threats else "",
        )
        for _ in range(attachments):
            malicious = "Malware" in threats
            add_attachment(
                rows, ids, email,
                file_name=rng.choice(("Invoice.docm", "Scan.iso")) if malicious
                else rng.choice(ATTACHMENTS),
                sha256=ids.sha256(), threat_types="Malware" if malicious else "",
                threat_names=rng.choice(MALWARE_NAMES) if malicious else "",
            )
        for _ in range(urls):
            domain = email.sender.rsplit("@", 1)[-1]
            url = f"https://{domain}/{ids.hex(8)}"
            add_url(rows, ids, email, url)
            if direction != "Outbound" and rng.random() < 0.15:
                _add_background_click(rows, ids, recipient, email.message_id, url, threats,
                                      email.time, anchor)
        # Follow-ups never land after the anchor: the lab has no future.
        if action == "Delivered" and threats and rng.random() < 0.5:
            zapped = min(anchor, time + timedelta(minutes=rng.randrange(5, 600)))
            add_post_delivery(
                rows, ids, email, time=zapped,
                action_type="Malware ZAP" if "Malware" in threats else "Phish ZAP",
                action_result="Error" if rng.random() < 0.05 else "Success",
                action="Moved to quarantine",
            )
        elif action == "Delivered" and rng.random() < 0.01:
            remediated = min(anchor, time + timedelta(hours=rng.randrange(1, 48)))
            add_post_delivery(
                rows, ids, email, time=remediated,
                action_type="Manual remediation", action_result="Success",
                action="Soft delete", action_trigger="Admin",
            )


def _inbound_verdict(rng: random.Random, subject: str) -> tuple[str, str, str, str]:
    """Sender, ThreatTypes, DeliveryAction and subject for one inbound message."""
    roll = rng.random()
    if roll < 0.80:
        return rng.choice(PARTNER_SENDERS), "", "Delivered", subject
    if roll < 0.90:
        return rng.choice(BULK_SENDERS), "Spam", "Junked", rng.choice(SPAM_SUBJECTS)
    if roll < 0.93:
        return rng.choice(BULK_SENDERS), "Phish, Spam", "Junked", rng.choice(PHISH_SUBJECTS)
    phish_or_malware = "Phish" if roll < 0.98 else "Malware"
    action = rng.choice(("Blocked", "Blocked", "Blocked", "Delivered", "Junked"))
    return rng.choice(HOSTILE_SENDERS), phish_or_malware, action, rng.choice(PHISH_SUBJECTS)


def _add_background_click(rows: LabRows, ids: Ids, user: User, message_id: str, url: str,
                          threats: str, sent: datetime, anchor: datetime) -> None:
    rng = ids.rng
    time = min(anchor, sent + timedelta(minutes=rng.randrange(1, 240)))
    if "Phish" in threats:
        through = rng.random() < 0.1
        add_click(rows, ids, time=time, url=url, user=user, message_id=message_id,
                  action_type="ClickAllowed" if through else "ClickBlocked",
                  clicked_through=through, threat_types="Phish")
    else:
        add_click(rows, ids, time=time, url=url, user=user, message_id=message_id,
                  action_type="ClickAllowed", clicked_through=False)


def add_identity_noise(rows: LabRows, ids: Ids, company: Company, anchor: datetime,
                       count: int) -> None:
    rng = ids.rng
    for _ in range(count):
        index = rng.randrange(len(company.staff))
        user, device = company.staff[index], company.staff_devices[index]
        time = anchor - SPAN * rng.random()
        failed = rng.random() < 0.04
        if rng.random() < 0.5:
            protocol = rng.choice(("Kerberos", "Kerberos", "NTLM"))
            add_identity_logon(
                rows, ids, time=time, user=user, device=device, application="Active Directory",
                logon_type=rng.choice(("Credentials validation", "Resource access")),
                protocol=protocol, action_type="LogonFailed" if failed else "LogonSuccess",
            )
        else:
            add_identity_logon(
                rows, ids, time=time, user=user,
                device=device if rng.random() < 0.7 else None,
                application=rng.choice(("Office 365", "Microsoft Teams", "Exchange Online")),
                logon_type="Logon", action_type="LogonFailed" if failed else "LogonSuccess",
            )


def add_directory(rows: LabRows, ids: Ids, company: Company, anchor: datetime) -> None:
    """IdentityInfo: one profile per person, cast included (they exist, they are just quiet)."""
    for user in [*company.cast.values(), *company.staff]:
        rows.add(
            "IdentityInfo",
            Timestamp=anchor - timedelta(hours=ids.rng.randrange(1, 24)),
            ReportId=ids.guid(),
            AccountObjectId=user.object_id,
            AccountUpn=user.upn,
            OnPremSid=user.sid,
            AccountDisplayName=user.display_name,
            AccountName=user.account_name,
            AccountDomain=DOMAIN,
            GivenName=user.given_name,
            Surname=user.surname,
            Department=user.department,
            JobTitle=f"{user.department} specialist",
            EmailAddress=user.upn,
            City="Redmond",
            Country="US",
            IsAccountEnabled=True,
            CreatedDateTime=anchor - timedelta(days=ids.rng.randrange(90, 2_000)),
            CompanyName="Contoso",
            Tags=[],
            AssignedRoles=["Global Administrator"] if user.department == "IT" else [],
            SourceProviders=["AzureActiveDirectory", "ActiveDirectory"],
        )


# (Application, ApplicationId, ActionType, ActivityType) as Defender for Cloud Apps reports them.
CLOUD_ACTIVITIES = (
    ("Microsoft Exchange Online", 20893, "MailItemsAccessed", "Read"),
    ("Microsoft Exchange Online", 20893, "Send", "Send"),
    ("Microsoft SharePoint Online", 20892, "FileAccessed", "Access"),
    ("Microsoft SharePoint Online", 20892, "FileDownloaded", "Download"),
    ("Microsoft OneDrive for Business", 15600, "FileUploaded", "Upload"),
    ("Microsoft Teams", 11394, "MessageSent", "Send"),
)


def add_cloud_app_noise(rows: LabRows, ids: Ids, company: Company, anchor: datetime,
                        count: int) -> None:
    rng = ids.rng
    for _ in range(count):
        user = rng.choice(company.staff)
        application, application_id, action, activity = rng.choice(CLOUD_ACTIVITIES)
        document = f"{rng.choice(ATTACHMENTS)}"
        rows.add(
            "CloudAppEvents",
            Timestamp=anchor - SPAN * rng.random(),
            ActionType=action,
            Application=application,
            ApplicationId=application_id,
            AccountObjectId=user.object_id,
            AccountId=user.object_id,
            AccountDisplayName=user.display_name,
            IsAdminOperation=False,
            DeviceType="Desktop",
            OSPlatform="Windows",
            IPAddress=ids.public_ip(),
            IsAnonymousProxy=False,
            CountryCode="US",
            City="Redmond",
            Isp="Contoso Fiber",
            UserAgent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/130.0",
            ActivityType=activity,
            ActivityObjects=[{"Type": "File", "Name": document}] if "File" in action else [],
            ObjectName=document if "File" in action else "",
            ObjectType="File" if "File" in action else "",
            ReportId=ids.guid(),
            AccountType="Regular",
            IsExternalUser=False,
            IsImpersonated=False,
            RawEventData={"Workload": application.removeprefix("Microsoft "), "UserId": user.upn},
            AuditSource="Defender for Cloud Apps access control",
        )
