"""Background noise for the mail and identity tables: an ordinary fortnight of a small company.

Only the staff take part (never the cast), so the planted scenarios stay exactly as planted.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from bot.defender.lab.company import DOMAIN, Company, Device, Ids, User
from bot.defender.lab.events import (
    Email,
    add_attachments,
    add_clicks,
    add_emails,
    add_identity_logons,
    add_post_deliveries,
    add_urls,
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


# Messages made per round: each round's rows go in as columns, a few thousand at a time.
CHUNK = 10_000


def add_mail_noise(rows: LabRows, ids: Ids, company: Company, anchor: datetime, count: int) -> None:
    for start in range(0, count, CHUNK):
        _add_mail(rows, ids, company, anchor, min(CHUNK, count - start))


def _add_mail(rows: LabRows, ids: Ids, company: Company, anchor: datetime, n: int) -> None:
    """`n` messages with their attachments, links, clicks and follow-ups."""
    rng = ids.rng
    staff = company.staff
    people = rng.choices(staff, k=n)  # the staff member each message is about
    senders, recipients, directions, threats, actions, subjects = [], [], [], [], [], []
    for person in people:
        roll = rng.random()
        if roll < 0.25:
            sender, recipient, direction = rng.choice(staff).upn, person.upn, "Intra-org"
        elif roll < 0.35:
            sender, direction = person.upn, "Outbound"
            recipient = rng.choice(PARTNER_SENDERS).replace("orders@", "buyer@")
        else:
            sender, recipient, direction = "", person.upn, "Inbound"
        threat, action, subject = "", "Delivered", rng.choice(SUBJECTS)
        if direction == "Inbound":
            sender, threat, action, subject = _inbound_verdict(rng, subject)
        senders.append(sender)
        recipients.append(recipient)
        directions.append(direction)
        threats.append(threat)
        actions.append(action)
        subjects.append(subject)
    attachment_counts = rng.choices((0, 0, 0, 1, 1, 2), k=n)
    url_counts = rng.choices((0, 0, 1, 1, 2, 3), k=n)
    emails = add_emails(
        rows, ids, n, time=[anchor - SPAN * rng.random() for _ in range(n)],
        message_id=ids.guids(n), sender=senders, recipient=recipients, subject=subjects,
        direction=directions, threat_types=threats, delivery_action=actions,
        attachments=attachment_counts, urls=url_counts,
        threat_names=[rng.choice(MALWARE_NAMES) if "Malware" in t else "" for t in threats],
    )
    _add_mail_attachments(rows, ids, emails, attachment_counts)
    _add_mail_links(rows, ids, emails, url_counts, people, anchor)
    _add_follow_ups(rows, ids, emails, actions, anchor)


def _add_mail_attachments(rows: LabRows, ids: Ids, emails: list[Email], counts: list[int]) -> None:
    rng = ids.rng
    carrying = [email for email, count in zip(emails, counts, strict=True) for _ in range(count)]
    malicious = ["Malware" in email.threat_types for email in carrying]
    add_attachments(
        rows, ids, carrying,
        file_name=[
            rng.choice(("Invoice.docm", "Scan.iso")) if bad else rng.choice(ATTACHMENTS)
            for bad in malicious
        ],
        sha256=[ids.sha256() for _ in carrying],
        threat_types=["Malware" if bad else "" for bad in malicious],
        threat_names=[rng.choice(MALWARE_NAMES) if bad else "" for bad in malicious],
    )


def _add_mail_links(rows: LabRows, ids: Ids, emails: list[Email], counts: list[int],
                    people: list[User], anchor: datetime) -> None:
    """Each message's links, and the clicks some recipients make on them."""
    rng = ids.rng
    linking: list[Email] = []
    urls: list[str] = []
    clicks: list[tuple[Email, str, User]] = []
    for email, count, person in zip(emails, counts, people, strict=True):
        domain = email.sender.rsplit("@", 1)[-1]
        for _ in range(count):
            url = f"https://{domain}/{ids.hex(8)}"
            linking.append(email)
            urls.append(url)
            if email.direction != "Outbound" and rng.random() < 0.15:
                clicks.append((email, url, person))
    add_urls(rows, ids, linking, urls)
    phish = ["Phish" in email.threat_types for email, _, _ in clicks]
    # A phish click is mostly blocked by Safe Links; now and then someone clicks through.
    through = [bad and rng.random() < 0.1 for bad in phish]
    add_clicks(
        rows, ids, len(clicks),
        # Clicks never land after the anchor: the lab has no future.
        time=[min(anchor, email.time + timedelta(minutes=rng.randrange(1, 240)))
              for email, _, _ in clicks],
        url=[url for _, url, _ in clicks], user=[person for _, _, person in clicks],
        message_id=[email.message_id for email, _, _ in clicks],
        action_type=[
            "ClickBlocked" if bad and not clicked else "ClickAllowed"
            for bad, clicked in zip(phish, through, strict=True)
        ],
        clicked_through=through, threat_types=["Phish" if bad else "" for bad in phish],
    )


def _add_follow_ups(rows: LabRows, ids: Ids, emails: list[Email], actions: list[str],
                    anchor: datetime) -> None:
    """ZAP for half the delivered threats; an admin's soft delete for 1% of the rest."""
    rng = ids.rng
    zapped: list[Email] = []
    remediated: list[Email] = []
    for email, action in zip(emails, actions, strict=True):
        if action == "Delivered" and email.threat_types and rng.random() < 0.5:
            zapped.append(email)
        elif action == "Delivered" and rng.random() < 0.01:
            remediated.append(email)
    # Follow-ups never land after the anchor: the lab has no future.
    add_post_deliveries(
        rows, ids, zapped,
        time=[min(anchor, e.time + timedelta(minutes=rng.randrange(5, 600))) for e in zapped],
        action_type=["Malware ZAP" if "Malware" in e.threat_types else "Phish ZAP"
                     for e in zapped],
        action_result=["Error" if rng.random() < 0.05 else "Success" for _ in zapped],
        action="Moved to quarantine",
    )
    add_post_deliveries(
        rows, ids, remediated,
        time=[min(anchor, e.time + timedelta(hours=rng.randrange(1, 48))) for e in remediated],
        action_type="Manual remediation", action_result="Success", action="Soft delete",
        action_trigger="Admin",
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


def add_identity_noise(rows: LabRows, ids: Ids, company: Company, anchor: datetime,
                       count: int) -> None:
    for start in range(0, count, CHUNK):
        _add_sign_ins(rows, ids, company, anchor, min(CHUNK, count - start))


def _add_sign_ins(rows: LabRows, ids: Ids, company: Company, anchor: datetime, n: int) -> None:
    """Half against Active Directory (Kerberos or NTLM), half to cloud apps; 4% fail."""
    rng = ids.rng
    users: list[User] = []
    devices: list[Device | None] = []
    applications: list[str] = []
    logon_types: list[str] = []
    protocols: list[str] = []
    for _ in range(n):
        index = rng.randrange(len(company.staff))
        users.append(company.staff[index])
        if rng.random() < 0.5:
            devices.append(company.staff_devices[index])
            applications.append("Active Directory")
            logon_types.append(rng.choice(("Credentials validation", "Resource access")))
            protocols.append(rng.choice(("Kerberos", "Kerberos", "NTLM")))
        else:
            devices.append(company.staff_devices[index] if rng.random() < 0.7 else None)
            applications.append(rng.choice(("Office 365", "Microsoft Teams", "Exchange Online")))
            logon_types.append("Logon")
            protocols.append("")
    add_identity_logons(
        rows, ids, n, time=[anchor - SPAN * rng.random() for _ in range(n)], user=users,
        device=devices, application=applications, logon_type=logon_types, protocol=protocols,
        action_type=["LogonFailed" if rng.random() < 0.04 else "LogonSuccess" for _ in range(n)],
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
