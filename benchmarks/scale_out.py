"""Scale-out, measured: 4 `hunt-bot serve` + 4 `hunt-bot worker` processes on one Redis, 200
hunts queued at once through signed `/hunt` requests spread over the serve processes, Graph
played by the Microsoft stand-in enforcing the tenant's call quota.

Checks, and prints beside each budget: every hunt acknowledged and answered (its results
posted); the quota never exceeded (no 60 s window at the stand-in holds more calls than the
limit; no 429); the places in the queue people were told are right (the hunts that queued in the
burst were told 1..N, each place once; each hunt's place, as its progress message shows it,
only ever moves forward). See benchmarks/README.md.

    .venv/bin/python benchmarks/scale_out.py [--hunts 200] [--per-minute 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average, spare_redis, wait_healthy  # noqa: E402

HOST = "127.0.0.1"
TOKEN = "xoxb-scale"
SECRET = "scale-out-signing-secret"
HUNT = "spam-emails"
TOLD = re.compile(r"is number (\d+) in the queue")
SHOWN = re.compile(r"number (\d+) in the queue")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def request_id_in(answer_text: str) -> str | None:
    """The hunt's request id: the value of the Cancel button on the ack."""
    try:
        body = json.loads(answer_text)
    except json.JSONDecodeError:
        return None
    for block in body.get("blocks", []):
        for element in block.get("elements", []):
            if element.get("action_id") == "results.cancel_hunt":
                return str(element.get("value"))
    return None


async def run(args: argparse.Namespace) -> int:
    from bot.workspace import slack_requests as requests
    from bot.workspace.model import BOT_USER_ID, Channel
    from bot.workspace.slack_requests import SignedSender
    from bot.workspace.webapi import WebApiStandIn
    from tests.standins.microsoft import MicrosoftStandIn

    client = spare_redis(args.redis_url)
    load = load_average()
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="hunt-bot-scale-") as scratch:
        workdir = Path(scratch)
        microsoft = MicrosoftStandIn(calls_per_minute=args.per_minute)
        try:
            with microsoft.running(workdir):
                async with WebApiStandIn(token=TOKEN).running() as slack:
                    people = ["U0ALICE", "U0BOB", "U0CAROL"]
                    channels = []
                    for n in range(args.channels):  # Slack takes a post a second per channel
                        channel = Channel(f"C0SCALE{n:02d}", f"hunts-{n}", [*people, BOT_USER_ID])
                        slack.workspace.channels[channel.id] = channel
                        channels.append(channel)
                    env = {
                        k: v
                        for k, v in os.environ.items()
                        if not k.startswith(
                            (
                                "SLACK_",
                                "HUNT",
                                "AZURE_",
                                "REDIS",
                                "LAB_",
                                "GRAPH_",
                                "MDE_",
                                "RESULTS_",
                            )
                        )
                    } | {
                        "SLACK_BOT_TOKEN": TOKEN,
                        "SLACK_SIGNING_SECRET": SECRET,
                        "SLACK_API_URL": slack.api_url,
                        "REDIS_URL": args.redis_url,
                        "HUNT_BACKEND": "graph",
                        "AZURE_TENANT_ID": microsoft.tenant_id,
                        "AZURE_CLIENT_ID": microsoft.client_id,
                        "AZURE_CLIENT_SECRET": microsoft.client_secret,
                        "GRAPH_URL": microsoft.base_url,
                        "MDE_URL": microsoft.base_url,
                        "AZURE_AUTHORITY_HOST": microsoft.base_url,
                        "GRAPH_HUNTS_PER_MINUTE": str(args.per_minute),
                        "HUNT_PROGRESS_EVERY_SECONDS": "1",
                        "REQUESTS_CA_BUNDLE": str(microsoft.ca_file),
                        "SSL_CERT_FILE": str(microsoft.ca_file),
                        "LAB_DB": str(workdir / "lab.duckdb"),
                    }
                    entry = Path(sys.executable).with_name("hunt-bot")
                    bot = [str(entry)] if entry.exists() else [sys.executable, "-m", "bot.cli"]
                    ports = []
                    for n in range(args.serve):
                        port = free_port()
                        log = workdir / f"serve-{n}.log"
                        processes.append(
                            start(
                                [*bot, "serve", "--host", HOST, "--port", str(port)],
                                env,
                                log,
                                workdir,
                            )
                        )
                        ports.append((processes[-1], port, log))
                    for n in range(args.workers):
                        processes.append(
                            start([*bot, "worker"], env, workdir / f"worker-{n}.log", workdir)
                        )
                    for process, port, log in ports:
                        await asyncio.to_thread(
                            wait_healthy, process, f"http://{HOST}:{port}/healthz", log
                        )
                    senders = [
                        SignedSender(f"http://{HOST}:{port}", SECRET, timeout=30)
                        for _, port, _ in ports
                    ]

                    async def hunt(n: int) -> tuple[float, int, str | None]:
                        channel = channels[n % len(channels)]
                        who = slack.workspace.users[people[n % len(people)]]
                        request = requests.slash_command(
                            user=who,
                            channel=channel,
                            command="/hunt",
                            text=HUNT,
                            response_url=slack.issue_response_url(channel=channel.id, user=who.id),
                            trigger_id=slack.issue_trigger(who.id),
                        )
                        clock = time.perf_counter()
                        answer = await senders[n % len(senders)].send(request)
                        return (
                            time.perf_counter() - clock,
                            answer.status,
                            request_id_in(answer.text),
                        )

                    began = time.monotonic()
                    acks = await asyncio.gather(*(hunt(n) for n in range(args.hunts)))
                    ids = [rid for _, status, rid in acks if status == 200 and rid]
                    answered = await until_answered(slack, set(ids), args.timeout)
                    took = time.monotonic() - began
                    for sender in senders:
                        await sender.aclose()
                    figures = measure(args, slack, microsoft, acks, ids, answered, took, began)
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            client.flushdb()
    report(figures, load, args)
    return 0 if figures["all_ok"] else 1


async def until_answered(slack: Any, ids: set[str], timeout: float) -> set[str]:
    """The request ids whose results were posted, once all are (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    answered: set[str] = set()
    while time.monotonic() < deadline:
        answered = set()
        for call in slack.calls.calls:
            if (
                call.method == "chat.postMessage"
                and call.ok
                and "Export CSV" in str(call.args.get("blocks"))
            ):
                blocks = str(call.args.get("blocks"))
                answered.update(rid for rid in ids if rid in blocks)
        if answered >= ids:
            break
        await asyncio.sleep(1.0)
    return answered


def measure(
    args: Any,
    slack: Any,
    microsoft: Any,
    acks: list[tuple[float, int, str | None]],
    ids: list[str],
    answered: set[str],
    took: float,
    began: float,
) -> dict[str, Any]:
    calls = sorted(c.at for c in microsoft.hunting_calls)
    throttled = sum(1 for c in microsoft.hunting_calls if c.status == 429)
    busiest = max((sum(1 for t in calls if at <= t < at + 60.0) for at in calls), default=0)
    # The places told in the burst: before the first hunt that queued was let through, nobody
    # had left the queue, so the hunts that joined it (as workers took them up) must have been
    # told 1..N, each once.
    first_queued_call = calls[args.per_minute] if len(calls) > args.per_minute else float("inf")
    burst_places = sorted(
        int(m.group(1))
        for c in slack.calls.calls
        if c.method == "response_url" and c.at < first_queued_call
        for m in [TOLD.search(json.dumps(c.args))]
        if m
    )
    # Each hunt's place as its progress message showed it, in order: it only moves forward.
    shown: dict[str, list[int]] = defaultdict(list)
    for c in slack.calls.calls:
        if c.method in ("chat.postMessage", "chat.update") and c.ok:
            blocks = json.dumps(c.args.get("blocks"))
            place = SHOWN.search(blocks)
            if place:
                owner = next((rid for rid in ids if rid in blocks), None)
                if owner:
                    shown[owner].append(int(place.group(1)))
    backwards = sum(1 for places in shown.values() if any(b > a for a, b in pairwise(places)))
    latencies = sorted(t for t, status, _ in acks if status == 200)
    figures = {
        "hunts": args.hunts,
        "acked": len(ids),
        "answered": len(answered),
        "seconds_to_answer_all": took,
        "ack_p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
        "ack_max_ms": latencies[-1] * 1000 if latencies else None,
        "graph_calls": len(calls),
        "per_minute": args.per_minute,
        "busiest_60s": busiest,
        "throttled_429": throttled,
        "overruns": microsoft.quota_overruns(),
        "queued_in_burst": len(burst_places),
        "burst_places_right": burst_places == list(range(1, len(burst_places) + 1)),
        "burst_duplicates": len(burst_places) - len(set(burst_places)),
        "burst_places": burst_places,
        "hunts_with_progress_places": len(shown),
        "places_moving_backwards": backwards,
    }
    figures["all_ok"] = (
        figures["acked"] == args.hunts
        and figures["answered"] == args.hunts
        and busiest <= args.per_minute
        and throttled == 0
        and figures["overruns"] == 0
        and figures["burst_places_right"]
        and backwards == 0
    )
    return figures


def report(f: dict[str, Any], load: tuple[float, float, float], args: Any) -> None:
    print(
        f"scale-out: {args.serve} serve + {args.workers} worker processes, one Redis, "
        f"{f['hunts']} hunts at once over {args.channels} channels; Graph quota "
        f"{f['per_minute']} calls/min; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    lines = [
        ("hunts acknowledged", f"{f['acked']}", f"{f['hunts']}", f["acked"] == f["hunts"]),
        (
            "hunts answered (results posted)",
            f"{f['answered']}",
            f"{f['hunts']}",
            f["answered"] == f["hunts"],
        ),
        (
            "most Graph calls in any 60 s",
            f"{f['busiest_60s']}",
            f"<= {f['per_minute']}",
            f["busiest_60s"] <= f["per_minute"],
        ),
        ("429s from Graph", f"{f['throttled_429']}", "0", f["throttled_429"] == 0),
        (
            "places told in the burst = 1..N",
            "yes" if f["burst_places_right"] else "no",
            "yes",
            f["burst_places_right"],
        ),
        (
            "duplicate places in the burst",
            f"{f['burst_duplicates']}",
            "0",
            f["burst_duplicates"] == 0,
        ),
        (
            "progress places moving backwards",
            f"{f['places_moving_backwards']}",
            "0",
            f["places_moving_backwards"] == 0,
        ),
    ]
    print(f"{'figure':<36}{'measured':>10}{'budget':>10}  ok")
    for label, measured, budget, ok in lines:
        print(f"{label:<36}{measured:>10}{budget:>10}  {'yes' if ok else 'NO'}")
    print(
        f"(all answered in {f['seconds_to_answer_all']:.0f} s; {f['graph_calls']} Graph calls; "
        f"{f['queued_in_burst']} hunts told their place before the queue first moved; "
        f"ack p50 {f['ack_p50_ms']:.0f} ms, max {f['ack_max_ms']:.0f} ms under the burst; "
        f"{f['hunts_with_progress_places']} hunts showed their place in a progress message)"
    )
    f["budgets"] = [list(line) for line in lines]  # for benchmarks/all.py
    if args.json:
        Path(args.json).write_text(json.dumps(f, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hunts", type=int, default=200)
    parser.add_argument("--serve", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument(
        "--per-minute",
        type=int,
        default=100,
        help="the tenant's hunting calls a minute (stand-in and bot alike)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for answers")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--json", help="also write the figures to this file")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
