"""The `hunt-bot` command as a person runs it: a real process, real settings, the lab tenant."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HUNT_BOT = str(Path(sys.executable).parent / "hunt-bot")


@pytest.fixture(scope="module")
def lab_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_", "SLACK_", "HUNT", "REDIS_URL", "GRAPH_URL", "MDE_URL"))
    }
    env.update(LAB_DB=str(home / "lab.duckdb"), XDG_DATA_HOME=str(home), COLUMNS="200")
    return env, home


def run(env, *args, cwd=None):
    return subprocess.run(
        [HUNT_BOT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_hunts_lists_the_catalog_with_parameters(lab_env):
    env, home = lab_env
    done = run(env, "hunts", cwd=home)
    assert done.returncode == 0, done.stderr
    for name in ("zap-misses", "spam-emails", "emails-by-subject", "emails-from"):
        assert name in done.stdout
    assert "lookback (timespan) = 7d" in done.stdout


def test_kql_prints_the_rendered_query_and_runs_nothing(lab_env):
    env, home = lab_env
    done = run(env, "hunt", "emails-by-subject", 'subject=invoice "due" \\ now', "--kql", cwd=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == 'let subject = "invoice \\"due\\" \\\\ now";'
    assert not Path(env["LAB_DB"]).exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["hunt", "zap-miss"], "There is no hunt called `zap-miss`"),
        (["hunt", "zap-misses", "lookbak=3d"], "Did you mean lookback?"),
        (["hunt", "zap-misses", "lookback=a week"], "expected a number and a unit"),
        (["hunt", "emails-from"], "needs `sender`"),
    ],
)
def test_bad_input_gets_a_clear_answer_and_exit_2(lab_env, args, says):
    env, home = lab_env
    done = run(env, *args, cwd=home)
    assert done.returncode == 2
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_an_invalid_setting_is_named_before_anything_starts(lab_env):
    env, home = lab_env
    done = run({**env, "HUNT_BACKEND": "defender"}, "hunt", "zap-misses", cwd=home)
    assert done.returncode == 2
    assert "HUNT_BACKEND" in done.stderr and "'lab'" in done.stderr
    assert "Traceback" not in done.stderr


def test_graph_without_an_app_registration_names_what_is_missing(lab_env):
    env, home = lab_env
    done = run(env, "hunt", "zap-misses", "--backend", "graph", cwd=home)
    assert done.returncode == 2
    assert "AZURE_TENANT_ID is not set" in done.stderr
    assert "--backend lab" in done.stderr


def test_zap_misses_on_the_lab_prints_rows(lab_env):
    env, home = lab_env
    table = run(env, "hunt", "zap-misses", "--backend", "lab", cwd=home)
    assert table.returncode == 0, table.stderr
    assert "ZapTime" in table.stdout and "rows" in table.stdout
    as_json = run(env, "hunt", "zap-misses", "--backend", "lab", "--format", "json", cwd=home)
    document = json.loads(as_json.stdout)
    assert document["hunt"] == "zap-misses"
    assert document["row_count"] > 0
    assert {c["name"] for c in document["columns"]} >= {"ZapTime", "NetworkMessageId", "AccountUpn"}
    as_csv = run(env, "hunt", "zap-misses", "--format", "csv", cwd=home)
    assert as_csv.stdout.splitlines()[0].startswith("ZapTime,ActionType,NetworkMessageId")
    assert len(as_csv.stdout.splitlines()) == document["row_count"] + 1


def test_lab_init_writes_a_larger_tenant(lab_env, tmp_path):
    env, home = lab_env
    target = tmp_path / "big.duckdb"
    done = run(env, "lab", "init", "--rows", "5000", "--seed", "3", "--path", str(target), cwd=home)
    assert done.returncode == 0, done.stderr
    assert target.exists()
    assert "EmailEvents" in done.stdout
    again = run(env, "lab", "init", "--path", str(target), cwd=home)
    assert again.returncode == 1 and "add --force to replace it" in again.stderr
    forced = run(env, "lab", "init", "--rows", "5000", "--path", str(target), "--force", cwd=home)
    assert forced.returncode == 0, forced.stderr
