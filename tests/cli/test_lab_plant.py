"""`hunt-bot lab plant`: a fresh copy of a scenario, which the next hunt finds."""

import json
import re
import shutil

from tests.cli.test_cli import lab_env, run  # noqa: F401  (the fixture, by name)


def test_lab_plant_adds_a_copy_the_next_hunt_finds(lab_env, lab_file, tmp_path):  # noqa: F811
    env, home = lab_env
    target = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, target)
    env = {**env, "LAB_DB": str(target)}

    done = run(env, "lab", "plant", "zap-miss", cwd=home)
    assert done.returncode == 0, done.stderr
    planted = re.search(r"NetworkMessageId ([0-9a-f-]{36})", done.stdout)
    assert planted is not None, done.stdout

    found = run(env, "hunt", "zap-misses", "lookback=1h", "--format", "json", cwd=home)
    assert found.returncode == 0, found.stderr
    rows = json.loads(found.stdout)["rows"]
    assert [row["NetworkMessageId"] for row in rows] == [planted.group(1)]


def test_lab_plant_names_the_scenarios_there_are(lab_env, lab_file, tmp_path):  # noqa: F811
    env, home = lab_env
    target = tmp_path / "lab.duckdb"
    shutil.copyfile(lab_file, target)
    done = run({**env, "LAB_DB": str(target)}, "lab", "plant", "zapmiss", cwd=home)
    assert done.returncode != 0
    assert "no scenario 'zapmiss'" in done.stderr and "zap-miss, spam" in done.stderr
    assert "Traceback" not in done.stderr
