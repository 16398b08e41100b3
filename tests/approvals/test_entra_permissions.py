"""infra/entra grants what bot/defender/permissions.py says each capability needs, no more, with
hunting apart from remediation; its README names every permission."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.defender.permissions import CAPABILITIES

ENTRA = Path(__file__).resolve().parents[2] / "infra" / "entra"


def test_permissions_json_mirrors_the_capabilities_in_the_code():
    listed = json.loads((ENTRA / "permissions.json").read_text())["capabilities"]
    expected = [
        {
            "key": cap.key,
            "set": "hunting" if cap.key == "hunting" else "remediation",
            "resource": cap.resource.value,
            "permission": cap.permission,
            "title": cap.title,
        }
        for cap in CAPABILITIES
    ]
    assert listed == expected, json.dumps({"capabilities": expected}, indent=2)


def test_a_read_only_install_grants_threat_hunting_read_only():
    listed = json.loads((ENTRA / "permissions.json").read_text())["capabilities"]
    hunting = [(c["resource"], c["permission"]) for c in listed if c["set"] == "hunting"]
    assert hunting == [("Microsoft Graph", "ThreatHunting.Read.All")]
    variables = (ENTRA / "variables.tf").read_text()
    assert re.search(r'variable "remediation" \{.*?default\s+= "none"', variables, re.S)


def test_no_app_role_guid_is_hard_coded():
    guid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
    for path in ENTRA.rglob("*.tf"):
        assert not guid.search(path.read_text()), path


def test_the_readme_names_every_permission_and_what_it_unlocks():
    readme = (ENTRA / "README.md").read_text()
    for cap in CAPABILITIES:
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{cap.key}`")), "")
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 4 and cells[2] == f"`{cap.permission}`" and cells[3], cap.key
