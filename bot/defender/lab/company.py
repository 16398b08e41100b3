"""The lab's fictional company: its people, their devices, and identifiers shaped like Defender's.

Two kinds of people work here. The *cast* are fixed, named users the planted scenarios are about
(see `scenarios.py`); they do nothing but what a scenario scripts, so background noise can never
make a near-miss turn into a hit. The *staff* are generated from the seed and produce all the
background activity.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from functools import cached_property

DOMAIN = "contoso.com"
NETBIOS_DOMAIN = "CONTOSO"

FIRST_NAMES = (
    "Aiden", "Bianca", "Carlos", "Dana", "Elif", "Farah", "Gustav", "Hana", "Ivan", "Jonas",
    "Keiko", "Liam", "Maya", "Noor", "Oscar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Abbott", "Bauer", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jansen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi",
    "Santos", "Tanaka", "Varga", "Weber", "Yilmaz",
)
DEPARTMENTS = ("Finance", "Sales", "Engineering", "HR", "Legal", "Marketing", "IT", "Operations")


def stable_hex(label: str, length: int) -> str:
    """Lowercase hex derived from a label: fixed identifiers that read as real ones."""
    digest = hashlib.sha256(label.encode()).hexdigest() * 2
    return digest[:length]


def stable_guid(label: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hunt-bot-lab:{label}"))


# A version-4 GUID fixes 6 of its 128 bits: the version nibble (4) and the variant (binary 10).
_GUID_KEEP = ((1 << 128) - 1) ^ (0xF << 76) ^ (0x3 << 62)
_GUID_SET = (0x4 << 76) | (0x2 << 62)


def _guid(bits: int) -> str:
    """A version-4 GUID, lowercase, formatted by hand: `uuid.UUID` is slow at this volume."""
    h = f"{(bits & _GUID_KEEP) | _GUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Ids:
    """Random identifiers in Defender's shapes, all drawn from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(length * 4):0{length}x}"

    def guid(self) -> str:
        return _guid(self.rng.getrandbits(128))

    def guids(self, n: int) -> list[str]:
        getrandbits = self.rng.getrandbits
        return [_guid(getrandbits(128)) for _ in range(n)]

    def numbers(self, start: int, stop: int, n: int) -> list[int]:
        """`n` whole numbers from `start` up to (not including) `stop`."""
        random, span = self.rng.random, stop - start
        return [start + int(random() * span) for _ in range(n)]

    def device_id(self) -> str:
        return self.hex(40)

    def sha1(self) -> str:
        return self.hex(40)

    def sha256(self) -> str:
        return self.hex(64)

    def md5(self) -> str:
        return self.hex(32)

    def public_ip(self) -> str:
        rng = self.rng
        first = rng.choice((20, 40, 52, 104, 131, 157))
        rest = rng.getrandbits(24)  # three octets in one draw; the last never 0 or 255
        return f"{first}.{rest >> 16}.{(rest >> 8) & 255}.{1 + (rest & 255) % 254}"

    def private_ip(self) -> str:
        rng = self.rng
        return f"10.{rng.randrange(1, 8)}.{rng.randrange(256)}.{rng.randrange(2, 255)}"

    def sid(self) -> str:
        return f"S-1-5-21-1004336348-1177238915-682003330-{self.rng.randrange(1100, 9999)}"

    def internet_message_id(self, sender_domain: str) -> str:
        return f"<{self.hex(16)}@{sender_domain}>"


@dataclass(frozen=True)
class User:
    given_name: str
    surname: str
    department: str
    object_id: str
    sid: str

    # Cached: the generator reads them for nearly every row it makes.
    @cached_property
    def account_name(self) -> str:
        return f"{self.given_name}.{self.surname}".lower()

    @cached_property
    def upn(self) -> str:
        return f"{self.account_name}@{DOMAIN}"

    @cached_property
    def display_name(self) -> str:
        return f"{self.given_name} {self.surname}"


@dataclass(frozen=True)
class Device:
    device_id: str
    name: str  # Defender reports the FQDN in lowercase
    os_platform: str
    owner: User
    ip: str


@dataclass(frozen=True)
class Company:
    cast: dict[str, User]  # by role in the planted scenarios
    cast_devices: dict[str, Device]  # the device of each cast user, same keys
    staff: list[User]
    staff_devices: list[Device]


def fixed_user(given: str, surname: str, department: str) -> User:
    label = f"{given}.{surname}"
    return User(
        given_name=given,
        surname=surname,
        department=department,
        object_id=stable_guid(f"user:{label}"),
        sid=f"S-1-5-21-1004336348-1177238915-682003330-{1000 + int(stable_hex(label, 3), 16) % 99}",
    )


def device_for(user: User, number: int, *, device_id: str, ip: str, os_platform: str) -> Device:
    name = f"{user.given_name[0]}{user.surname}-lt{number:02d}".lower()
    return Device(device_id, f"{name}.{DOMAIN}", os_platform, user, ip)


def build_company(rng: random.Random, ids: Ids, cast_roles: dict[str, tuple[str, str, str]],
                  staff_size: int) -> Company:
    """The cast (fixed, independent of the seed) and `staff_size` generated staff."""
    cast = {role: fixed_user(*names) for role, names in cast_roles.items()}
    cast_devices = {
        role: device_for(
            user, 1, device_id=stable_hex(f"device:{role}", 40),
            ip=f"10.9.0.{10 + index}", os_platform="Windows11",
        )
        for index, (role, user) in enumerate(cast.items())
    }
    taken = {(u.given_name, u.surname) for u in cast.values()}
    staff: list[User] = []
    while len(staff) < staff_size:
        pair = (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
        if pair in taken:
            continue
        taken.add(pair)
        staff.append(User(pair[0], pair[1], rng.choice(DEPARTMENTS), ids.guid(), ids.sid()))
    staff_devices = [
        device_for(
            user, 1, device_id=ids.device_id(), ip=ids.private_ip(),
            os_platform=rng.choice(("Windows11", "Windows11", "Windows10", "macOS")),
        )
        for user in staff
    ]
    return Company(cast, cast_devices, staff, staff_devices)
