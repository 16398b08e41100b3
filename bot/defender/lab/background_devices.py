"""Background noise for the endpoint tables: inventory, processes, files, network, logons, alerts.

Staff devices only (see `company.py`); the cast's devices do only what a scenario scripts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.defender.lab.background_mail import SPAN
from bot.defender.lab.company import NETBIOS_DOMAIN, Company, Device, Ids
from bot.defender.lab.events import add_file_events, add_processes, binary
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


# Events made per round and kind: each round's rows go in as columns, a few thousand at a time.
CHUNK = 10_000


def add_device_noise(rows: LabRows, ids: Ids, company: Company, anchor: datetime,
                     count: int) -> None:
    """For every `count` processes: half as many downloads and connections, a fifth as many
    logons and other device events."""
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        _add_processes(rows, ids, company, anchor, n)
        _add_downloads(rows, ids, company, anchor, n // 2)
        _add_connections(rows, ids, company, anchor, n // 2)
        _add_logons(rows, ids, company, anchor, n // 5)
        _add_device_events(rows, ids, company, anchor, n // 5)


def _times(ids: Ids, anchor: datetime, n: int) -> list[datetime]:
    return [anchor - SPAN * ids.rng.random() for _ in range(n)]


def _devices(ids: Ids, company: Company, n: int) -> list[Device]:
    return ids.rng.choices(company.staff_devices, k=n)


def _add_processes(rows: LabRows, ids: Ids, company: Company, anchor: datetime, n: int) -> None:
    devices = _devices(ids, company, n)
    routine = ids.rng.choices(ROUTINE_PROCESSES, k=n)
    add_processes(
        rows, ids, n, time=_times(ids, anchor, n), device=devices,
        user=[d.owner for d in devices], image=[image for image, _, _ in routine],
        command_line=[line for _, line, _ in routine], parent=[parent for _, _, parent in routine],
    )


def _add_downloads(rows: LabRows, ids: Ids, company: Company, anchor: datetime, n: int) -> None:
    rng = ids.rng
    devices = _devices(ids, company, n)
    add_file_events(
        rows, ids, n, time=_times(ids, anchor, n), device=devices,
        user=[d.owner for d in devices],
        path=[
            f"C:\\Users\\{d.owner.account_name}\\Downloads\\{ids.hex(4)}-{rng.choice(DOWNLOADS)}"
            for d in devices
        ],
        action_type=[
            rng.choice(("FileCreated", "FileCreated", "FileModified", "FileRenamed"))
            for _ in range(n)
        ],
        sha1=[ids.sha1() for _ in range(n)], sha256=[ids.sha256() for _ in range(n)],
        initiating=EDGE,
        origin_url=[f"https://{rng.choice(REMOTE_URLS)}/{ids.hex(6)}" for _ in range(n)],
    )


def _add_connections(rows: LabRows, ids: Ids, company: Company, anchor: datetime,
                     n: int) -> None:
    rng = ids.rng
    devices = _devices(ids, company, n)
    process = binary(EDGE)
    rows.add_columns(
        "DeviceNetworkEvents", n,
        Timestamp=_times(ids, anchor, n), DeviceId=[d.device_id for d in devices],
        DeviceName=[d.name for d in devices],
        ActionType=[rng.choice(("ConnectionSuccess", "ConnectionSuccess", "ConnectionFailed"))
                    for _ in range(n)],
        RemoteIP=[ids.public_ip() for _ in range(n)], RemotePort=443,
        RemoteUrl=rng.choices(REMOTE_URLS, k=n),
        LocalIP=[d.ip for d in devices], LocalPort=ids.numbers(49152, 65535, n),
        Protocol="Tcp", LocalIPType="Private", RemoteIPType="Public",
        InitiatingProcessSHA1=process["SHA1"], InitiatingProcessSHA256=process["SHA256"],
        InitiatingProcessFileName=process["FileName"], InitiatingProcessFolderPath=EDGE,
        InitiatingProcessAccountName=[d.owner.account_name for d in devices],
        InitiatingProcessAccountUpn=[d.owner.upn for d in devices],
        ReportId=[rng.getrandbits(31) for _ in range(n)],
    )


def _add_logons(rows: LabRows, ids: Ids, company: Company, anchor: datetime, n: int) -> None:
    rng = ids.rng
    devices = _devices(ids, company, n)
    failed = [rng.random() < 0.05 for _ in range(n)]
    rows.add_columns(
        "DeviceLogonEvents", n,
        Timestamp=_times(ids, anchor, n), DeviceId=[d.device_id for d in devices],
        DeviceName=[d.name for d in devices],
        ActionType=["LogonFailed" if f else "LogonSuccess" for f in failed],
        LogonType=[rng.choice(("Interactive", "Unlock", "Network", "RemoteInteractive"))
                   for _ in range(n)],
        AccountDomain=NETBIOS_DOMAIN.lower(),
        AccountName=[d.owner.account_name for d in devices],
        AccountSid=[d.owner.sid for d in devices],
        Protocol=rng.choices(("Kerberos", "Negotiate"), k=n),
        FailureReason=["InvalidUserNameOrPassword" if f else None for f in failed],
        IsLocalAdmin=[rng.random() < 0.1 for _ in range(n)],
        LogonId=[rng.getrandbits(24) for _ in range(n)],
        InitiatingProcessFileName="lsass.exe", ReportId=[rng.getrandbits(31) for _ in range(n)],
        AdditionalFields="{}",
    )


def _add_device_events(rows: LabRows, ids: Ids, company: Company, anchor: datetime,
                       n: int) -> None:
    rng = ids.rng
    devices = _devices(ids, company, n)
    actions = [
        rng.choice(("UsbDriveMounted", "ScheduledTaskCreated", "SmartScreenUrlWarning",
                    "AntivirusDetection"))
        for _ in range(n)
    ]
    rows.add_columns(
        "DeviceEvents", n,
        Timestamp=_times(ids, anchor, n), DeviceId=[d.device_id for d in devices],
        DeviceName=[d.name for d in devices], ActionType=actions,
        AccountDomain=NETBIOS_DOMAIN.lower(),
        AccountName=[d.owner.account_name for d in devices],
        AccountSid=[d.owner.sid for d in devices],
        RemoteUrl=[f"https://{rng.choice(REMOTE_URLS)}/" if a.startswith("Smart") else None
                   for a in actions],
        InitiatingProcessFileName="svchost.exe", ReportId=[rng.getrandbits(31) for _ in range(n)],
        AdditionalFields=['{"ThreatName":"Trojan:Win32/Wacatac"}' if a == "AntivirusDetection"
                          else "{}" for a in actions],
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
