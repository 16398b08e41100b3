"""Background noise for the endpoint tables: inventory, processes, files, network, logons, alerts.

Staff devices only (see `company.py`); the cast's devices do only what a scenario scripts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.defender.lab.background_mail import SPAN
from bot.defender.lab.company import NETBIOS_DOMAIN, Company, Device, Ids
from bot.defender.lab.events import add_file_event, add_process, binary
from bot.defender.lab.rows import LabRows

SYSTEM32 = "C:\\Windows\\System32\\"
OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
EDGE = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe"
EXPLORER = "C:\\Windows\\explorer.exe"

# (image, command line, parent): what people and IT routinely run.
ROUTINE_PROCESSES = (
    (EDGE, '"msedge.exe" --single-argument https://contoso.sharepoint.com/', EXPLORER),
    (OFFICE + "OUTLOOK.EXE", '"OUTLOOK.EXE"', EXPLORER),
    (OFFICE + "WINWORD.EXE", '"WINWORD.EXE" /n', EXPLORER),
    (OFFICE + "EXCEL.EXE", '"EXCEL.EXE"', EXPLORER),
    ("C:\\Program Files\\Microsoft Teams\\ms-teams.exe", '"ms-teams.exe"', EXPLORER),
    (SYSTEM32 + "svchost.exe", "svchost.exe -k netsvcs -p", SYSTEM32 + "services.exe"),
    (SYSTEM32 + "cmd.exe", 'cmd.exe /c "ipconfig /all"', EXPLORER),
    (SYSTEM32 + "WindowsPowerShell\\v1.0\\powershell.exe",
     "powershell.exe -ExecutionPolicy Bypass -File C:\\ProgramData\\IT\\inventory.ps1",
     "C:\\Program Files\\Microsoft Intune Management Extension\\AgentExecutor.exe"),
    (SYSTEM32 + "WindowsPowerShell\\v1.0\\powershell.exe",
     "powershell.exe Get-ChildItem $env:TEMP", EXPLORER),
    (SYSTEM32 + "vssadmin.exe", "vssadmin.exe list shadowstorage",
     SYSTEM32 + "svchost.exe"),
    ("C:\\Program Files\\Git\\cmd\\git.exe", "git.exe pull --ff-only", EXPLORER),
)
DOWNLOADS = ("report.pdf", "minutes.docx", "budget.xlsx", "setup.msi", "photo.jpg", "data.csv")
REMOTE_URLS = (
    "contoso.sharepoint.com", "outlook.office365.com", "login.microsoftonline.com",
    "teams.microsoft.com", "github.com", "www.bing.com", "update.googleapis.com",
)


def add_device_noise(rows: LabRows, ids: Ids, company: Company, anchor: datetime,
                     count: int) -> None:
    rng = ids.rng
    devices = company.staff_devices

    def when() -> datetime:
        return anchor - SPAN * rng.random()

    for _ in range(count):
        device = rng.choice(devices)
        image, command_line, parent = rng.choice(ROUTINE_PROCESSES)
        add_process(rows, ids, time=when(), device=device, user=device.owner, image=image,
                    command_line=command_line, parent=parent)

    for _ in range(count // 2):
        device = rng.choice(devices)
        name = rng.choice(DOWNLOADS)
        add_file_event(
            rows, ids, time=when(), device=device, user=device.owner,
            path=f"C:\\Users\\{device.owner.account_name}\\Downloads\\{ids.hex(4)}-{name}",
            action_type=rng.choice(("FileCreated", "FileCreated", "FileModified", "FileRenamed")),
            sha1=ids.sha1(), sha256=ids.sha256(), initiating=EDGE,
            origin_url=f"https://{rng.choice(REMOTE_URLS)}/{ids.hex(6)}",
        )

    for _ in range(count // 2):
        _add_connection(rows, ids, rng.choice(devices), when())

    for _ in range(count // 5):
        device = rng.choice(devices)
        failed = rng.random() < 0.05
        rows.add(
            "DeviceLogonEvents",
            Timestamp=when(), DeviceId=device.device_id, DeviceName=device.name,
            ActionType="LogonFailed" if failed else "LogonSuccess",
            LogonType=rng.choice(("Interactive", "Unlock", "Network", "RemoteInteractive")),
            AccountDomain=NETBIOS_DOMAIN.lower(), AccountName=device.owner.account_name,
            AccountSid=device.owner.sid, Protocol=rng.choice(("Kerberos", "Negotiate")),
            FailureReason="InvalidUserNameOrPassword" if failed else None,
            IsLocalAdmin=rng.random() < 0.1, LogonId=ids.rng.getrandbits(24),
            InitiatingProcessFileName="lsass.exe", ReportId=ids.rng.getrandbits(31),
            AdditionalFields="{}",
        )

    for _ in range(count // 5):
        device = rng.choice(devices)
        action = rng.choice(("UsbDriveMounted", "ScheduledTaskCreated", "SmartScreenUrlWarning",
                             "AntivirusDetection"))
        rows.add(
            "DeviceEvents",
            Timestamp=when(), DeviceId=device.device_id, DeviceName=device.name,
            ActionType=action, AccountDomain=NETBIOS_DOMAIN.lower(),
            AccountName=device.owner.account_name, AccountSid=device.owner.sid,
            RemoteUrl=f"https://{rng.choice(REMOTE_URLS)}/" if action.startswith("Smart") else None,
            InitiatingProcessFileName="svchost.exe", ReportId=ids.rng.getrandbits(31),
            AdditionalFields='{"ThreatName":"Trojan:Win32/Wacatac"}'
            if action == "AntivirusDetection" else "{}",
        )


def _add_connection(rows: LabRows, ids: Ids, device: Device, time: datetime) -> None:
    process = binary(EDGE)
    rows.add(
        "DeviceNetworkEvents",
        Timestamp=time, DeviceId=device.device_id, DeviceName=device.name,
        ActionType=ids.rng.choice(("ConnectionSuccess", "ConnectionSuccess", "ConnectionFailed")),
        RemoteIP=ids.public_ip(), RemotePort=443, RemoteUrl=ids.rng.choice(REMOTE_URLS),
        LocalIP=device.ip, LocalPort=ids.rng.randrange(49152, 65535), Protocol="Tcp",
        LocalIPType="Private", RemoteIPType="Public",
        InitiatingProcessSHA1=process["SHA1"], InitiatingProcessSHA256=process["SHA256"],
        InitiatingProcessFileName=process["FileName"], InitiatingProcessFolderPath=EDGE,
        InitiatingProcessAccountName=device.owner.account_name,
        InitiatingProcessAccountUpn=device.owner.upn, ReportId=ids.rng.getrandbits(31),
    )


def add_inventory(rows: LabRows, ids: Ids, company: Company, anchor: datetime) -> None:
    """DeviceInfo: a daily snapshot of every device, cast devices included."""
    devices = [*company.cast_devices.values(), *company.staff_devices]
    for day in range(SPAN.days):
        for device in devices:
            rows.add(
                "DeviceInfo",
                Timestamp=anchor - timedelta(days=day, minutes=ids.rng.randrange(0, 600)),
                DeviceId=device.device_id, DeviceName=device.name,
                ClientVersion="10.8760.22621.1000", PublicIP="203.0.113.10",
                OSArchitecture="64-bit", OSPlatform=device.os_platform,
                OSBuild=22631 if device.os_platform == "Windows11" else 19045,
                IsAzureADJoined=True, JoinType="Hybrid Azure AD Join",
                LoggedOnUsers=f'[{{"UserName":"{device.owner.account_name}",'
                f'"DomainName":"{NETBIOS_DOMAIN}"}}]',
                MachineGroup="Workstations", ReportId=ids.rng.getrandbits(31),
                OnboardingStatus="Onboarded", DeviceCategory="Endpoint",
                DeviceType="Workstation", SensorHealthState="Active",
                ExposureLevel=ids.rng.choice(("Low", "Medium")), AssetValue="Normal",
            )


def add_alerts(rows: LabRows, ids: Ids, company: Company, anchor: datetime, count: int) -> None:
    """A few alerts with device evidence, plus the one the ransomware scenario would raise."""
    alerts = [
        (anchor - SPAN * ids.rng.random(), ids.rng.choice(company.staff_devices),
         "Suspicious PowerShell command line", "Execution", "Medium", "T1059.001")
        for _ in range(count)
    ]
    alerts.append((anchor - timedelta(hours=5.9), company.cast_devices["ransomware_device"],
                   "Ransomware-linked behavior: shadow copies deleted", "Ransomware", "High",
                   "T1490"))
    for time, device, title, category, severity, technique in alerts:
        alert_id = f"da{ids.hex(16)}_{ids.rng.randrange(10**9)}"
        rows.add("AlertInfo", Timestamp=time, AlertId=alert_id, Title=title, Category=category,
                 Severity=severity, ServiceSource="Microsoft Defender for Endpoint",
                 DetectionSource="EDR", AttackTechniques=f'["{technique}"]')
        rows.add("AlertEvidence", Timestamp=time, AlertId=alert_id, Title=title,
                 Categories=f'["{category}"]', AttackTechniques=f'["{technique}"]',
                 ServiceSource="Microsoft Defender for Endpoint", DetectionSource="EDR",
                 EntityType="Machine", EvidenceRole="Impacted", DeviceId=device.device_id,
                 DeviceName=device.name, Severity=severity, AdditionalFields="{}")
