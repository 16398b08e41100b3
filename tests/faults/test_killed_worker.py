"""SIGKILL a real `hunt-bot worker` in the middle of an approved run (or SIGTERM it with no
grace, so the run is cancelled mid-request): every target is acted on exactly once at Microsoft,
none is lost, and another worker finishes the run within a minute.

Two `hunt-bot worker` processes share the session's Redis and the Microsoft stand-in (HTTPS,
Entra + Defender for Endpoint). Each trial asks for an antivirus scan of `DEVICES` devices,
approves it, and kills whichever worker claimed the run (its pid is in the approval's executor)
at one of three points:

- `before_submit`: the intent is written and the POST reaches Defender, which is killed before
  acting (the stand-in drops the request): nothing was done for that target;
- `between_submit_and_record`: Defender has created the machine action, and the worker dies
  before the answer reaches it, so Redis never hears of it;
- `after_record`: once some outcomes are recorded (the worker is following statuses).

The surviving worker resumes the run once the lease lapses; a fresh worker replaces the dead
one. Per approval: one machine action per device, no POST for a device after its action exists
(a resend, even one Defender would refuse), every target succeeded, the approval DONE, and the
card says the run was resumed. FAULT_TRIALS trials per point (default 1, so CI stays quick; the
figures in the closing notes come from FAULT_TRIALS=10); FAULT_LEASE_SECONDS and
FAULT_GRACE_SECONDS set the workers' lease and takeover grace (defaults 3 and 1; the product's
defaults are 20 and 5). Figures are printed (run with -s).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis as syncredis
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions.model import ActionKind, ApprovalSpec, DeviceTarget, EmailTarget, OutcomeStatus
from bot.policy import ApprovalPolicy
from bot.state.approval_records import ApprovalState
from bot.state.approvals import ApprovalStore
from bot.state.cards import CardLocations
from bot.state.keys import approval as approval_key
from bot.workspace.webapi import WebApiStandIn
from tests.approvals.conftest import Groups, ask, make_settings
from tests.clock import Clock
from tests.standins.microsoft import MDE_RESOURCE, MicrosoftStandIn

HUNT_BOT = Path(sys.executable).parent / "hunt-bot"
TRIALS = int(os.environ.get("FAULT_TRIALS", "1"))
LEASE = os.environ.get("FAULT_LEASE_SECONDS", "3")
GRACE = os.environ.get("FAULT_GRACE_SECONDS", "1")
DEVICES = 5
TOKEN = "xoxb-console"
POINTS = ("before_submit", "between_submit_and_record", "after_record")
TAKEOVER_LIMIT = 60.0


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Trial:
    """What one trial saw at Microsoft, from the stand-in's handler thread."""

    executor_of: dict[str, int]  # nothing yet; filled by the test
    kill_at: tuple[str, int] = ("", 0)  # (phase, nth distinct device) to kill on
    killed_at: float | None = None
    killed_pid: int | None = None
    seen: list[str] = field(default_factory=list)  # devices in the order first POSTed
    created: Counter[str] = field(default_factory=Counter)
    posts_after_created: Counter[str] = field(default_factory=Counter)


class Workers:
    """Two `hunt-bot worker` processes; a killed one is replaced."""

    def __init__(self, env: dict[str, str], directory: Path) -> None:
        self.env = env
        self.directory = directory
        self.running: dict[int, Worker] = {}
        self.started = 0

    def spawn(self) -> Worker:
        self.started += 1
        log = self.directory / f"worker-{self.started}.err"
        with log.open("wb") as err:
            process = subprocess.Popen(
                [str(HUNT_BOT), "worker"],
                env=self.env,
                cwd=self.directory,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        worker = Worker(process, log)
        self.running[process.pid] = worker
        return worker

    def wait_ready(self, worker: Worker, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while "consuming jobs" not in worker.log.read_text(errors="replace"):
            assert worker.process.poll() is None, worker.log.read_text(errors="replace")
            assert time.monotonic() < deadline, worker.log.read_text(errors="replace")
            time.sleep(0.05)

    def replace_dead(self) -> None:
        for pid, worker in list(self.running.items()):
            if worker.process.poll() is not None:
                del self.running[pid]
        while len(self.running) < 2:
            self.wait_ready(self.spawn())

    def stop(self) -> None:
        for worker in self.running.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.running.values():
            try:
                worker.process.wait(15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(5)


@contextmanager
def two_workers(env: dict[str, str], directory: Path) -> Iterator[Workers]:
    workers = Workers(env, directory)
    try:
        workers.replace_dead()
        yield workers
    finally:
        workers.stop()


def worker_env(redis_url: str, microsoft: MicrosoftStandIn, slack_api_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "HUNT", "LAB_", "REDIS", "APPROVAL_", "AZURE_", "GRAPH_"))
        and k not in {"MDE_URL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"}
    }
    env.update(
        REDIS_URL=redis_url,
        HUNT_BACKEND="graph",
        AZURE_TENANT_ID=microsoft.tenant_id,
        AZURE_CLIENT_ID=microsoft.client_id,
        AZURE_CLIENT_SECRET=microsoft.client_secret,
        GRAPH_URL=microsoft.base_url,
        MDE_URL=microsoft.base_url,
        AZURE_AUTHORITY_HOST=microsoft.base_url,
        SSL_CERT_FILE=str(microsoft.ca_file),  # httpx
        REQUESTS_CA_BUNDLE=str(microsoft.ca_file),  # MSAL (requests)
        SLACK_API_URL=slack_api_url,
        SLACK_BOT_TOKEN=TOKEN,
        APPROVAL_APPROVER_USERGROUPS="S0APPROVERS",
        APPROVAL_LEASE_SECONDS=LEASE,
        APPROVAL_TAKEOVER_GRACE_SECONDS=GRACE,
    )
    return env


def scan_of(machines: list[str]) -> ApprovalSpec:
    return ApprovalSpec(
        action=ActionKind.DEVICE_AV_SCAN,
        targets=tuple(DeviceTarget(device_id=m, device_name=f"ws-{m[:6]}") for m in machines),
        name="Scan after the dropper",
        description="Quick scan of the devices that ran it",
    )


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("point", POINTS)
async def test_a_worker_killed_mid_run_leaves_every_target_done_exactly_once(
    point: str, how: str, redis, redis_url: str, tmp_path: Path
):
    """SIGKILL: the worker dies on the spot. SIGTERM with SHUTDOWN_GRACE_SECONDS=0: a deploy
    that cannot wait, so the run is cancelled mid-request (Defender holds its answer 3 s) and
    left, as after a crash, for housekeeping to resume."""
    policy = ApprovalPolicy.from_settings(make_settings(), Groups())
    store = ApprovalStore(redis, policy, clock=time.time)
    cards = CardLocations(redis)
    executors = syncredis.Redis.from_url(redis_url, decode_responses=True)
    lock = threading.Lock()
    trial = Trial(executor_of={})
    approval_id = ""

    def executor_pid() -> int | None:
        executor = executors.hget(approval_key(approval_id), "executor") or ""
        parts = executor.split(":")
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None

    def kill_executor() -> None:
        pid = executor_pid()
        assert pid is not None
        trial.killed_pid = pid
        trial.killed_at = time.monotonic()
        os.kill(pid, getattr(signal, how))

    def on_post(machine_id: str, phase: str) -> bool:
        """In the stand-in's thread: count what Defender was asked, and kill when told to."""
        with lock:
            if phase == "received":
                if trial.created[machine_id]:
                    trial.posts_after_created[machine_id] += 1
                if machine_id not in trial.seen:
                    trial.seen.append(machine_id)
            else:
                trial.created[machine_id] += 1
            want_phase, nth = trial.kill_at
            if (
                trial.killed_at is None
                and want_phase == phase
                and machine_id in trial.seen
                and trial.seen.index(machine_id) + 1 == nth
            ):
                kill_executor()
                if how == "SIGTERM":
                    # Held past the worker's stop (its queue read blocks up to 1 s), so the run
                    # is cut off with this request still waiting.
                    time.sleep(3.0)
                return phase == "received"  # before submit: Defender never acts on it
            return False

    figures: list[dict[str, object]] = []
    microsoft = MicrosoftStandIn()
    with microsoft.running(tmp_path):
        microsoft.grant_roles(MDE_RESOURCE, ["Machine.Scan", "Machine.Read.All"])
        microsoft.defender.on_machine_post = on_post
        async with WebApiStandIn(token=TOKEN).running() as slack:
            client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
            env = worker_env(redis_url, microsoft, slack.api_url)
            env["SHUTDOWN_GRACE_SECONDS"] = "0"
            with two_workers(env, tmp_path) as workers:
                for number in range(1, TRIALS + 1):
                    machines = [uuid.uuid4().hex for _ in range(DEVICES)]
                    for m in machines:
                        microsoft.defender.add_machine(m, f"ws-{m[:6]}.contoso.local")
                    nth = random.randint(1, DEVICES)
                    phase = {"before_submit": "received", "between_submit_and_record": "created"}
                    with lock:
                        trial = Trial(executor_of={}, kill_at=(phase.get(point, ""), nth))
                    approval = await ask(store, scan_of(machines), Clock(time.time()))
                    approval_id = approval.id
                    posted = await client.chat_postMessage(channel="C0SOC", text="card")
                    await cards.remember(approval_id, "C0SOC", str(posted["ts"]))
                    for voter in ("U0BOB", "U0CAROL")[: approval.quorum]:
                        await store.vote(approval_id, voter, True)
                    if point == "after_record":
                        await _kill_after_outcomes(store, approval_id, nth, kill_executor)
                    final = await _final(store, approval_id, timeout=TAKEOVER_LIMIT + 60)
                    done_at = time.monotonic()
                    outcomes = await store.outcomes(approval_id)
                    with lock:
                        seen = dict(trial.created), dict(trial.posts_after_created)
                    created, resent = seen
                    figures.append(
                        {
                            "trial": number,
                            "kill": f"{trial.kill_at[0] or 'outcomes'}#{nth}",
                            "killed": trial.killed_at is not None,
                            "takeover": None
                            if trial.killed_at is None
                            else done_at - trial.killed_at,
                            "duplicates": sum(max(0, n - 1) for n in created.values())
                            + sum(resent.values()),
                            "lost": sum(
                                1
                                for t in approval.spec.targets
                                if created.get(getattr(t, "device_id", ""), 0) == 0
                                or outcomes.get(t.key) is None
                                or outcomes[t.key].status is not OutcomeStatus.SUCCEEDED
                            ),
                            "state": final.state.value,
                            "reason": final.reason,
                            "statuses": dict(Counter(o.status.value for o in outcomes.values())),
                            "claims": final.claims,
                        }
                    )
                    figures[-1]["card_says_resumed"] = await _card_says(
                        slack, str(posted["ts"]), "Resumed by another worker"
                    )
                    figures[-1]["card_says_done"] = await _card_says(
                        slack, str(posted["ts"]), ":white_check_mark: Done", timeout=5
                    )
                    stopped = workers.running.get(trial.killed_pid or 0)
                    if stopped is not None:
                        figures[-1]["exit"] = await asyncio.to_thread(stopped.process.wait, 30)
                        said = stopped.log.read_text(errors="replace")
                        figures[-1]["says_run_cut_off"] = f"execute_approval {approval_id}" in said
                    await asyncio.to_thread(workers.replace_dead)
    executors.close()

    takeovers = [float(str(f["takeover"])) for f in figures if f["takeover"] is not None]
    duplicates = sum(int(str(f["duplicates"])) for f in figures)
    lost = sum(int(str(f["lost"])) for f in figures)
    spread = f"min {min(takeovers):.1f} max {max(takeovers):.1f}" if takeovers else "none"
    print(
        f"\n{point}, {how}: {len(figures)} trials, {DEVICES} devices each, lease {LEASE} s, grace "
        f"{GRACE} s; duplicates {duplicates}, lost {lost}, takeover seconds {spread}"
    )
    for f in figures:
        print("  ", f)
    for f in figures:
        assert f["killed"], f
        assert f["duplicates"] == 0, f
        assert f["lost"] == 0, f
        assert f["state"] == ApprovalState.DONE.value, f
        assert f["card_says_done"], f
        assert f["takeover"] is not None and f["takeover"] <= TAKEOVER_LIMIT, f
        if how == "SIGTERM":  # stopped as it should, and said which run it left
            assert f["exit"] == 0 and f["says_run_cut_off"], f
        if how == "SIGTERM" and f["claims"] == 1:
            # Its targets came back while the worker was stopping (up to a second): it finished
            # the run itself and was cut off after, so there was nothing to resume.
            assert f["kill"].startswith("outcomes"), f
            continue
        assert f["claims"] >= 2, f
        assert f["card_says_resumed"], f


async def _kill_after_outcomes(store: ApprovalStore, approval_id: str, nth: int, kill) -> None:
    """Once `nth` outcomes are in Redis (so recorded), kill the worker running the run."""
    deadline = time.monotonic() + 60
    while len(await store.outcomes(approval_id)) < nth:
        assert time.monotonic() < deadline, "no outcomes recorded"
        await asyncio.sleep(0.02)
    await asyncio.to_thread(kill)


async def _card_says(slack: WebApiStandIn, ts: str, text: str, timeout: float = 10.0) -> bool:
    """The card's last update says `text` (the update follows the state change: wait for it)."""
    deadline = time.monotonic() + timeout
    while True:
        updates = [
            c for c in slack.calls.since(0) if c.method == "chat.update" and c.args.get("ts") == ts
        ]
        if updates and text in str(updates[-1].args):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


async def _final(store: ApprovalStore, approval_id: str, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        approval = await store.get(approval_id)
        assert approval is not None
        if approval.state.final:
            return approval
        assert time.monotonic() < deadline, approval
        await asyncio.sleep(0.05)


EMAIL_POINTS = ("before_submit", "between_submit_and_record")


@pytest.mark.parametrize("point", EMAIL_POINTS)
async def test_a_worker_killed_mid_email_remediation_never_resends_and_says_unknown(
    point: str, redis, redis_url: str, tmp_path: Path
):
    """Graph can't look an earlier remediation up, so a batch the dead worker may have sent is
    UNKNOWN (with the Action center link and Retry these), never sent again by the resumed run.
    Before submit, an approver who checked presses Retry these: then each message is remediated
    once. Between submit and record, the one remediation Graph holds is all there is."""
    policy = ApprovalPolicy.from_settings(make_settings(), Groups())
    store = ApprovalStore(redis, policy, clock=time.time)
    cards = CardLocations(redis)
    executors = syncredis.Redis.from_url(redis_url, decode_responses=True)
    approval_id = ""
    killed: list[float] = []
    phase = "received" if point == "before_submit" else "created"

    def on_remediate(seen: str) -> bool:
        if killed or seen != phase:
            return False
        executor = (executors.hget(approval_key(approval_id), "executor") or "").split(":")
        killed.append(time.monotonic())
        os.kill(int(executor[1]), signal.SIGKILL)
        return seen == "received"

    figures = []
    microsoft = MicrosoftStandIn()
    with microsoft.running(tmp_path):
        microsoft.defender.on_remediate = on_remediate
        async with WebApiStandIn(token=TOKEN).running() as slack:
            client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
            env = worker_env(redis_url, microsoft, slack.api_url)
            with two_workers(env, tmp_path) as workers:
                for number in range(1, TRIALS + 1):
                    killed.clear()
                    spec = ApprovalSpec(
                        action=ActionKind.EMAIL_SOFT_DELETE,
                        targets=tuple(
                            EmailTarget(
                                network_message_id=uuid.uuid4().hex,
                                recipient=f"user{i}@contoso.com",
                            )
                            for i in range(DEVICES)
                        ),
                        name="Phish cleanup",
                        description="Soft delete the phish",
                    )
                    approval = await ask(store, spec, Clock(time.time()))
                    approval_id = approval.id
                    posted = await client.chat_postMessage(channel="C0SOC", text="card")
                    await cards.remember(approval_id, "C0SOC", str(posted["ts"]))
                    for voter in ("U0BOB", "U0CAROL")[: approval.quorum]:
                        await store.vote(approval_id, voter, True)
                    final = await _final(store, approval_id, timeout=TAKEOVER_LIMIT + 60)
                    takeover = time.monotonic() - killed[0] if killed else None
                    statuses = Counter(
                        o.status for o in (await store.outcomes(approval_id)).values()
                    )
                    offered = await _card_says(slack, str(posted["ts"]), "approval.retry_unknown")
                    retried = None
                    if point == "before_submit":
                        retried = await store.retry_unknown(approval_id, "U0CAROL")
                        final = await _final(store, approval_id, timeout=TAKEOVER_LIMIT)
                    per_message = Counter(
                        e["networkMessageId"]
                        for r in microsoft.defender.remediations
                        for e in r.body["analyzedEmails"]
                    )
                    sent = [per_message[t.network_message_id] for t in spec.targets]  # type: ignore[union-attr]
                    after = Counter(o.status for o in (await store.outcomes(approval_id)).values())
                    figures.append(
                        {
                            "trial": number,
                            "killed": bool(killed),
                            "takeover": takeover,
                            "unknown_after_takeover": statuses[OutcomeStatus.UNKNOWN],
                            "retry_offered": offered,
                            "retried": retried.retrying if retried else 0,
                            "remediations_per_message": sorted(set(sent)),
                            "final": final.state.value,
                            "outcomes": {s.value: n for s, n in after.items()},
                        }
                    )
                    await asyncio.to_thread(workers.replace_dead)
    executors.close()
    print(f"\nemail {point}: {len(figures)} trials of {DEVICES} messages")
    for f in figures:
        print("  ", f)
    for f in figures:
        assert f["killed"] and f["takeover"] is not None and f["takeover"] <= TAKEOVER_LIMIT, f
        assert f["unknown_after_takeover"] == DEVICES and f["retry_offered"], f
        assert f["remediations_per_message"] == [1], f  # once at Microsoft: no blind resend
        assert f["final"] == ApprovalState.DONE.value, f
        if point == "before_submit":
            assert f["retried"] == DEVICES and f["outcomes"] == {"submitted": DEVICES}, f
        else:
            assert f["outcomes"] == {"unknown": DEVICES}, f
