"""Many processes and threads share one lab file: hunts read side by side, an action writes
alone, every wait is bounded, and what a person is told names no file and no process."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb_kql
import pytest

from bot.defender.lab import LabTenant, create_lab, store
from bot.defender.lab.store import LabBusy, opened, scrub
from bot.errors import LabError

COUNT = "EmailEvents | count"

# Holds the lab read-write with DuckDB alone, ignoring the bot's lock, until stdin closes.
HOLDER = """
import sys, duckdb_kql
con = duckdb_kql.connect(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
con.close()
"""


# The start of an absolute file path: "/srv/...", "C:\\bot\\...".
PATH_START = re.compile(r"(?:^|[\s\"'(])(?:/|[A-Za-z]:\\)\S")


def assert_nothing_private(text: str, path: Path) -> None:
    assert str(path) not in text and path.name not in text
    assert not PATH_START.search(text), text
    assert "PID" not in text and str(os.getpid()) not in text


def hold_outside_the_lock(path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


async def test_two_tenants_on_one_file_hunt_side_by_side(lab_copy: Path):
    first, second = LabTenant.open(lab_copy), LabTenant.open(lab_copy)
    try:
        results = await asyncio.gather(
            *(t.run_query(COUNT) for t in (first, second, first, second))
        )
    finally:
        await first.aclose()
        await second.aclose()
    assert len({r.rows[0]["Count"] for r in results}) == 1


async def test_a_hunt_waits_for_an_action_and_sees_what_it_did(lab_copy: Path):
    tenant = LabTenant.open(lab_copy)
    before = (await tenant.run_query(COUNT)).rows[0]["Count"]
    released = threading.Event()

    def act() -> None:
        with tenant.connection() as con:
            con.execute(
                'DELETE FROM "EmailEvents" WHERE rowid = (SELECT min(rowid) FROM "EmailEvents")'
            )
            time.sleep(0.5)
            released.set()

    writer = asyncio.create_task(asyncio.to_thread(act))
    await asyncio.sleep(0.1)
    after = await tenant.run_query(COUNT)
    assert released.is_set()  # the hunt could not read while the action held the lab
    assert after.rows[0]["Count"] == before - 1
    await writer
    await tenant.aclose()


async def test_a_hunt_gives_up_after_its_wait_with_a_clear_message(lab_copy: Path):
    holder = LabTenant.open(lab_copy)
    impatient = LabTenant.open(lab_copy, wait=0.3)
    release = threading.Event()

    def hold() -> None:
        with holder.connection():
            release.wait(10)

    task = asyncio.create_task(asyncio.to_thread(hold))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    try:
        with pytest.raises(LabBusy) as caught:
            await impatient.run_query(COUNT)
    finally:
        release.set()
        await task
    assert time.monotonic() - started < 2
    assert "lab tenant is busy" in caught.value.message
    assert_nothing_private(str(caught.value), lab_copy)
    assert (await impatient.run_query(COUNT)).row_count == 1  # free again


async def test_another_program_holding_the_file_is_waited_for_then_reported_without_its_pid(
    lab_copy: Path,
):
    tenant = LabTenant.open(lab_copy, wait=0.5)
    holder = hold_outside_the_lock(lab_copy)
    try:
        with pytest.raises(LabBusy) as caught:
            await tenant.run_query(COUNT)
        assert_nothing_private(str(caught.value), lab_copy)
        assert str(holder.pid) not in str(caught.value)

        later = asyncio.create_task(LabTenant(lab_copy, wait=10).run_query(COUNT))
        await asyncio.sleep(0.3)
        assert not later.done()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    assert (await later).row_count == 1  # went through once the other program let go


async def test_a_waiting_action_is_not_starved_by_a_stream_of_hunts(lab_copy: Path):
    tenant = LabTenant.open(lab_copy)
    stop = threading.Event()

    def hunt_forever() -> int:
        done = 0
        while not stop.is_set():
            tenant._run_query("EmailEvents | summarize count() by SenderFromDomain")
            done += 1
        return done

    readers = [asyncio.create_task(asyncio.to_thread(hunt_forever)) for _ in range(4)]
    await asyncio.sleep(0.2)
    started = time.monotonic()

    def act() -> None:
        with tenant.connection() as con:
            con.execute("SELECT 1")

    await asyncio.to_thread(act)
    waited = time.monotonic() - started
    stop.set()
    hunts = sum(await asyncio.gather(*readers))
    await tenant.aclose()
    assert hunts > 4
    assert waited < 3, waited


def test_workers_opening_a_missing_lab_together_create_it_once(tmp_path: Path):
    path = tmp_path / "new" / "lab.duckdb"
    opened: list[LabTenant] = []
    failures: list[BaseException] = []

    def open_it() -> None:
        try:
            opened.append(LabTenant.open(path))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and len(opened) == 3
    assert not list(path.parent.glob("*.partial"))


def test_duckdbs_lock_error_is_scrubbed_of_its_path_and_pid(lab_copy: Path):
    holder = hold_outside_the_lock(lab_copy)
    try:
        with pytest.raises(Exception) as caught:
            duckdb_kql.connect(str(lab_copy))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    raw = str(caught.value)
    assert str(lab_copy) in raw and f"PID {holder.pid}" in raw  # what DuckDB says
    cleaned = scrub(raw, lab_copy)
    assert_nothing_private(cleaned, lab_copy)
    assert str(holder.pid) not in cleaned
    assert "Could not set lock" in cleaned


@pytest.mark.parametrize(
    "text",
    [
        'IO Error: Could not read from file "/srv/bot/data/lab.duckdb": Input/output error',
        "Cannot open file /var/lib/hunt-bot/other.duckdb.wal: Permission denied",
        "held in C:\\bot\\python.exe (PID 77)",
        "Conflicting lock is held in /usr/bin/python3 (PID: 4242).",
    ],
)
def test_scrub_takes_out_paths_and_process_ids(text: str, tmp_path: Path):
    cleaned = scrub(text, tmp_path / "lab.duckdb")
    assert not PATH_START.search(cleaned) and "\\" not in cleaned, cleaned
    assert "PID" not in cleaned and not any(ch.isdigit() for ch in cleaned), cleaned


async def test_recreating_the_lab_waits_for_a_hunt_and_open_tenants_see_the_new_file(
    lab_copy: Path,
):
    tenant = LabTenant.open(lab_copy)
    before = (await tenant.run_query(COUNT)).rows[0]["Count"]
    hunting = threading.Event()
    finished: list[float] = []

    def long_hunt() -> None:
        with opened(lab_copy, write=False):
            hunting.set()
            time.sleep(0.5)
        finished.append(time.monotonic())

    reader = asyncio.create_task(asyncio.to_thread(long_hunt))
    await asyncio.to_thread(hunting.wait, 5)
    summary = await asyncio.to_thread(create_lab, lab_copy, rows=200, seed=1)
    replaced = time.monotonic()
    await reader
    assert finished and finished[0] <= replaced  # the file was not swapped under the hunt
    after = (await tenant.run_query(COUNT)).rows[0]["Count"]
    await tenant.aclose()
    assert after == summary.rows["EmailEvents"] != before


def test_a_disk_error_while_using_the_lab_is_told_without_the_path(lab_copy: Path):
    tenant = LabTenant.open(lab_copy)
    elsewhere = lab_copy.parent / "elsewhere" / "export.csv"
    with pytest.raises(LabError) as caught, tenant.connection() as con:
        con.execute(f"COPY (SELECT 1) TO '{elsewhere}'")  # no such folder: DuckDB's IO error
    assert "could not use its database" in caught.value.message
    assert_nothing_private(str(caught.value), lab_copy)
    assert str(elsewhere) not in str(caught.value)


def test_asking_again_inside_an_action_reuses_its_connection_instead_of_waiting(lab_copy: Path):
    tenant = LabTenant.open(lab_copy, wait=1)
    started = time.monotonic()
    with tenant.connection() as outer:
        outer.execute("BEGIN TRANSACTION")
        outer.execute('DELETE FROM "EmailEvents" WHERE rowid = 0')
        with tenant.connection() as inner:
            assert inner is outer
        seen = tenant._run_query(COUNT).rows[0]["Count"]  # sees its own uncommitted change
        outer.execute("COMMIT")
    assert time.monotonic() - started < 1
    assert tenant._run_query(COUNT).rows[0]["Count"] == seen


def test_a_lab_stopped_halfway_keeps_the_old_one_and_leaves_no_partial_file(
    lab_copy: Path, monkeypatch: pytest.MonkeyPatch
):
    before = lab_copy.read_bytes()

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C arrives in the middle of making the rows

    monkeypatch.setattr(store, "generate_into", interrupted)
    with pytest.raises(KeyboardInterrupt):
        create_lab(lab_copy, rows=500)
    assert lab_copy.read_bytes() == before
    assert not list(lab_copy.parent.glob("*.partial*"))
