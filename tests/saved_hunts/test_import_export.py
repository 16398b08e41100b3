"""`hunt-bot hunts import` loads a folder of Microsoft's published hunting queries (and hunt
files) as saved hunts, says per file what it did and why; `/hunt list tactic=...` then finds
them; `hunt-bot hunts export` writes them back as hunt files that load as the same hunts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.config import Settings
from bot.hunts.catalog import load_hunt_file
from bot.state.saved_hunts import SavedHunts
from tests.slack.bot_under_test import soc_bot

HUNT_BOT = str(Path(sys.executable).parent / "hunt-bot")
MICROSOFT = Path(__file__).parent / "microsoft"  # SOURCES.md says where each file came from


def run(settings: Settings, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HUNT", "AZURE_"))}
    env |= {
        "REDIS_URL": settings.redis_url.get_secret_value() if settings.redis_url else "",
        "LAB_DB": str(settings.lab_db),
        "HUNT_BACKEND": "lab",
        "XDG_DATA_HOME": str(home),
        "COLUMNS": "250",
    }
    return subprocess.run(
        [HUNT_BOT, *args], env=env, capture_output=True, text=True, timeout=300, cwd=home
    )


async def test_microsofts_format_imports_is_found_by_tactic_and_exports_as_hunt_files(
    settings: Settings, tmp_path: Path
):
    done = run(settings, tmp_path, "hunts", "import", str(MICROSOFT))
    assert done.returncode == 0, done.stderr
    assert "3 imported, 0 updated, 1 skipped." in done.stdout
    assert "nothing to run" in done.stdout  # the moved file, with no query, and why
    assert "columns from running it on lab" in done.stdout

    again = run(settings, tmp_path, "hunts", "import", str(MICROSOFT))
    assert "0 imported, 0 updated, 1 skipped." in again.stdout and "unchanged" in again.stdout
    listed = run(settings, tmp_path, "hunts")  # the shell's list shows them too
    assert "jar-attachments" in listed.stdout and "saved hunt (Redis)" in listed.stdout

    async with soc_bot(settings) as bot:
        store = SavedHunts(bot.services.redis.client)
        jar = await store.get("jar-attachments")
        assert jar is not None and jar.author == "import"
        assert jar.hunt.tactics == ("Initial access",)
        # What the query returned decides the entities: EmailEvents rows name emails.
        assert jar.hunt.entities.email and "NetworkMessageId" in jar.hunt.columns
        await bot.run("/hunt list tactic=InitialAccess")
        listed = json.dumps(bot.slack.workspace.ephemerals_for("U0ALICE")[-1].blocks)
        for name in ("jar-attachments", "files-from-malicious-sender", "suspiciousurlclicked"):
            assert name in listed
        assert "zap-misses" in listed  # a built-in tagged Initial access
        assert "ransomware-precursors" not in listed  # Impact
        assert "saved, version 1 by an import" in listed
        await bot.run("/hunt list table=DeviceFileEvents")
        listed = json.dumps(bot.slack.workspace.ephemerals_for("U0ALICE")[-1].blocks)
        assert "files-from-malicious-sender" in listed and "jar-attachments" not in listed
        await bot.run("/hunt jar-attachments")
        assert [m for m in bot.messages_with("jar-attachments") if "run by" in str(m.blocks)]
        saved = await store.all()

    out = tmp_path / "exported"
    done = run(settings, tmp_path, "hunts", "export", str(out))
    assert done.returncode == 0, done.stderr
    assert "3 saved hunts written" in done.stdout
    for each in saved:
        assert load_hunt_file(out / f"{each.hunt.name}.yaml") == each.hunt
