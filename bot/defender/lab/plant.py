"""Planting a fresh copy of one of the lab's scenarios, timed now (the console's `plant`).

Each copy is one scenario's hit, squeezed into the last few minutes so a short look-back finds
it, with new identifiers throughout (NetworkMessageId, ReportId, device id, hashes) and a new
person at its centre: someone in the directory with no activity at all, as the scenarios' cast
have none. So a copy finds nothing older and nothing older finds it: the next run of its hunt
sees exactly what was planted, however many copies came before.

Rows go in through the lab's own write path (`store.opened`, exclusive, under its lock file), so
hunts running meanwhile read the lab before or after, never half of it. The lab is re-based
first and the copy timed by its anchor: every planted row then ages with the rest of the lab.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import product
from pathlib import Path

import duckdb

from bot.defender.lab.background_devices import add_inventory
from bot.defender.lab.background_mail import add_directory
from bot.defender.lab.company import (
    FIRST_NAMES,
    LAST_NAMES,
    Company,
    Device,
    Ids,
    User,
    device_for,
)
from bot.defender.lab.events import (
    add_attachment,
    add_click,
    add_email,
    add_file_event,
    add_identity_logon,
    add_post_delivery,
    add_process,
    add_url,
)
from bot.defender.lab.generate import load_rows
from bot.defender.lab.rows import LabRows
from bot.defender.lab.scenarios import CAST_ROLES, RANSOMWARE_COMMANDS, RANSOMWARE_PARENT
from bot.defender.lab.store import LAB_WAIT_SECONDS, opened, read_anchor, rebase
from bot.errors import LabError

SYSTEM32 = "C:\\Windows\\System32\\"
POWERSHELL = SYSTEM32 + "WindowsPowerShell\\v1.0\\powershell.exe"
WINWORD = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"


@dataclass(frozen=True)
class Victim:
    """The new person a copy is about, and their laptop."""

    user: User
    device: Device


# Minutes before now -> a time: where in the last few minutes each row of a copy falls.
MinutesAgo = Callable[[float], datetime]
Build = Callable[[LabRows, Ids, Victim, MinutesAgo], str]


@dataclass(frozen=True)
class Scenario:
    name: str
    hunt: str  # the built-in hunt that finds it
    about: str  # what it is, for the console's help
    role: str  # its part in scenarios.py's cast: the new person's department comes from it
    key_column: str  # the hunt's column that tells this copy apart
    build: Build  # writes the rows; answers the copy's value in `key_column`


@dataclass(frozen=True)
class Planted:
    scenario: str
    hunt: str
    person: str  # the new person's UPN
    device: str  # their device's name
    key_column: str
    key: str  # the copy's value in the hunt's `key_column`
    at: datetime  # the lab's time it was planted at


class UnknownScenario(LabError):
    pass


def _zap_miss(rows: LabRows, ids: Ids, victim: Victim, ago: MinutesAgo) -> str:
    email = add_email(
        rows,
        ids,
        time=ago(10),
        message_id=ids.guid(),
        sender="payroll-update@contoso-hr.example",
        recipient=victim.user.upn,
        subject="Action required: confirm your payroll details",
        threat_types="Phish",
        urls=1,
        latest_location="Inbox/folder",
    )
    add_url(rows, ids, email, "https://contoso-hr.example/payroll/confirm")
    add_post_delivery(
        rows,
        ids,
        email,
        time=ago(5),
        action_type="Phish ZAP",
        action_result="Error",
        action_trigger="Special action",
    )
    add_identity_logon(
        rows, ids, time=ago(2), user=victim.user, device=victim.device, application="Office 365"
    )
    return email.message_id


def _spam(rows: LabRows, ids: Ids, victim: Victim, ago: MinutesAgo) -> str:
    email = add_email(
        rows,
        ids,
        time=ago(5),
        message_id=ids.guid(),
        sender="deals@bulk-offers.example",
        recipient=victim.user.upn,
        subject="Limited offer (spam)",
        threat_types="Spam",
        delivery_action="Junked",
    )
    return email.message_id


def _phish_click(rows: LabRows, ids: Ids, victim: Victim, ago: MinutesAgo) -> str:
    url = "https://sharepoint-docs.example/contoso/login.aspx"
    email = add_email(
        rows,
        ids,
        time=ago(10),
        message_id=ids.guid(),
        sender="it-support@sharepoint-docs.example",
        recipient=victim.user.upn,
        subject="Your document is waiting",
        threat_types="Phish",
        urls=1,
    )
    add_url(rows, ids, email, url)
    add_click(
        rows,
        ids,
        time=ago(5),
        url=url,
        user=victim.user,
        message_id=email.message_id,
        action_type="ClickAllowed",
        clicked_through=True,
        threat_types="Phish",
    )
    return email.message_id


def _malware_on_device(rows: LabRows, ids: Ids, victim: Victim, ago: MinutesAgo) -> str:
    name, sha256 = f"Invoice_{ids.rng.randrange(1000, 9999)}.docm", ids.sha256()
    email = add_email(
        rows,
        ids,
        time=ago(10),
        message_id=ids.guid(),
        sender="accounts@northwind-traders.example",
        recipient=victim.user.upn,
        subject=f"Document: {name}",
        threat_types="Malware",
        attachments=1,
        threat_names="Trojan:O97M/Donoff",
    )
    add_attachment(
        rows,
        ids,
        email,
        file_name=name,
        sha256=sha256,
        threat_types="Malware",
        threat_names="Trojan:O97M/Donoff",
    )
    downloads = f"C:\\Users\\{victim.user.account_name}\\Downloads\\"
    add_file_event(
        rows,
        ids,
        time=ago(5),
        device=victim.device,
        user=victim.user,
        path=downloads + name,
        sha256=sha256,
    )
    return sha256


def _internal_malware(rows: LabRows, ids: Ids, victim: Victim, ago: MinutesAgo) -> str:
    email = add_email(
        rows,
        ids,
        time=ago(5),
        message_id=ids.guid(),
        sender=victim.user.upn,
        recipient="ap@fourthcoffee.example",
        subject="Shared: Q3 budget.xlsm",
        direction="Outbound",
        threat_types="Malware",
        attachments=1,
        threat_names="Trojan:O97M/Donoff",
    )
    return email.message_id


def _ransomware(rows: LabRows, ids: Ids, victim: Victim, ago: MinutesAgo) -> str:
    for index, command in enumerate(RANSOMWARE_COMMANDS):
        add_process(
            rows,
            ids,
            time=ago(8 - index * 0.5),
            device=victim.device,
            user=victim.user,
            image=_system32_image(command),
            command_line=command,
            parent=RANSOMWARE_PARENT,
        )
    return victim.device.device_id


def _powershell_after_email(rows: LabRows, ids: Ids, victim: Victim, ago: MinutesAgo) -> str:
    email = add_email(
        rows,
        ids,
        time=ago(10),
        message_id=ids.guid(),
        sender="hr-notice@benefits-portal.example",
        recipient=victim.user.upn,
        subject="2027 benefits enrollment form",
        threat_types="Malware",
        attachments=1,
        threat_names="TrojanDownloader:O97M/Obfuse",
    )
    add_process(
        rows,
        ids,
        time=ago(5),
        device=victim.device,
        user=victim.user,
        image=POWERSHELL,
        command_line="powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0A",
        parent=WINWORD,
    )
    return email.message_id


def _system32_image(command: str) -> str:
    """Where the Windows tool a ransomware command starts lives (as scenarios.py has them)."""
    image = command.split(" ", 1)[0]
    if image == "wmic.exe":
        image = "wbem\\wmic.exe"
    if image == "powershell.exe":
        image = "WindowsPowerShell\\v1.0\\powershell.exe"
    return SYSTEM32 + image


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "zap-miss",
            "zap-misses",
            "a Phish email ZAP failed to remove, and the recipient signing in after",
            "zap_miss",
            "NetworkMessageId",
            _zap_miss,
        ),
        Scenario(
            "spam", "spam-emails", "a spam email, junked", "spam_target", "NetworkMessageId", _spam
        ),
        Scenario(
            "phish-click",
            "phish-link-clicks",
            "a Phish email whose link the recipient clicked through",
            "phish_clicker",
            "NetworkMessageId",
            _phish_click,
        ),
        Scenario(
            "malware-on-device",
            "malicious-attachments-on-devices",
            "a malware attachment saved to the recipient's laptop",
            "attachment_victim",
            "SHA256",
            _malware_on_device,
        ),
        Scenario(
            "internal-malware",
            "internal-malware-senders",
            "malware sent out by one of our mailboxes",
            "internal_sender",
            "NetworkMessageId",
            _internal_malware,
        ),
        Scenario(
            "ransomware",
            "ransomware-precursors",
            "shadow copies and backups deleted on a laptop",
            "ransomware_device",
            "DeviceId",
            _ransomware,
        ),
        Scenario(
            "powershell-after-email",
            "powershell-after-malicious-email",
            "PowerShell started minutes after a malware email arrived",
            "powershell_victim",
            "NetworkMessageId",
            _powershell_after_email,
        ),
    )
}


def scenario(name: str) -> Scenario:
    found = SCENARIOS.get(name.strip().lower())
    if found is None:
        raise UnknownScenario(
            f"The lab has no scenario {name!r} to plant.",
            hint="Scenarios: " + ", ".join(SCENARIOS) + ".",
        )
    return found


def plant(path: Path, name: str, *, wait: float = LAB_WAIT_SECONDS) -> Planted:
    """Add a fresh copy of scenario `name` to the lab at `path`, timed now. Blocking: call
    from a worker thread."""
    chosen = scenario(name)
    ids = Ids(random.Random())
    with opened(path, write=True, wait=wait) as con:
        rebase(con)
        anchor = read_anchor(con)
        victim = _new_victim(con, ids, chosen.role)
        rows = LabRows()
        key = chosen.build(rows, ids, victim, lambda minutes: anchor - timedelta(minutes=minutes))
        # In the directory and the device inventory like everyone else at the company.
        company = Company({chosen.role: victim.user}, {chosen.role: victim.device}, [], [])
        add_directory(rows, ids, company, anchor)
        add_inventory(rows, ids, company, anchor)
        rows.check_columns()
        load_rows(con, rows)
    return Planted(
        chosen.name,
        chosen.hunt,
        victim.user.upn,
        victim.device.name,
        chosen.key_column,
        key,
        anchor,
    )


def _new_victim(con: duckdb.DuckDBPyConnection, ids: Ids, role: str) -> Victim:
    """Someone the lab has never heard of: no row anywhere names them."""
    known = con.execute('SELECT DISTINCT lower(AccountUpn) FROM "IdentityInfo"').fetchall()
    taken = {str(upn).split("@", 1)[0] for (upn,) in known}
    free = [
        (given, surname)
        for given, surname in product(FIRST_NAMES, LAST_NAMES)
        if f"{given}.{surname}".lower() not in taken
    ]
    if not free:
        raise LabError(
            "The lab has no one left to plant a scenario on.",
            hint="Recreate the lab with `hunt-bot lab init --force`.",
        )
    given, surname = ids.rng.choice(free)
    user = User(given, surname, CAST_ROLES[role][2], ids.guid(), ids.sid())
    device = device_for(
        user, 1, device_id=ids.device_id(), ip=ids.private_ip(), os_platform="Windows11"
    )
    return Victim(user, device)
