"""How fast hunt-bot acks `/hunt zap-misses lookback=3d` over HTTP, next to a bare Bolt app.

Targets, all started here as subprocesses on loopback and measured in the same run:
  bot           `hunt-bot serve` on a spare Redis db, lab backend, no worker (jobs just queue),
                SLACK_API_URL at a local stand-in that answers auth.test
  bare          slack_bolt AsyncApp with one /hunt listener that only acks, signature checks on,
                a fixed-token authorize, process_before_response=True (the bot's mode)
  bare-default  the same with Bolt's default process_before_response=False (polls for ack)
Every server is uvicorn + Bolt's async Starlette adapter with the bot's uvicorn settings.

Load comes from a separate process (aiohttp, keep-alive HTTP/1.1): signed slash-command posts,
open loop at fixed rates and a closed loop over N connections, each after a warm-up. A request
counts only if it got 200 and the "Running zap-misses" ack. Method as in
../shared/reference/bolt-ack-latency.md.

    .venv/bin/python benchmarks/ack_latency.py            # 50/s, 200/s, closed 16; 10 s each
    .venv/bin/python benchmarks/ack_latency.py --runs 3
    .venv/bin/python benchmarks/ack_latency.py --quick    # a smoke test of a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).parent))  # when imported rather than run as a script
from common import spare_redis, wait_healthy

HOST = "127.0.0.1"
COMMAND_TEXT = "zap-misses lookback=3d"
EXPECTED_ACK = "Running zap-misses"
BOT_USER_ID = "U0HUNTBOT"
JOB_STREAM = "hunt-bot:jobs"  # bot.state.keys.job_stream()
TARGETS = ("bot", "bare", "bare-default")
MAX_REQUESTS = 200_000  # a bound on any one load step, whatever the options say

# -- the bare Bolt app (a subprocess) -----------------------------------------------------------


def serve_bare(port: int, secret: str, process_before_response: bool) -> None:
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_bolt.authorization import AuthorizeResult
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def authorize(**_: object) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=None, team_id=None, bot_token="xoxb-bench", bot_user_id=BOT_USER_ID
        )

    bolt = AsyncApp(
        signing_secret=secret,
        authorize=authorize,
        process_before_response=process_before_response,
    )

    @bolt.command("/hunt")
    async def hunt(ack: AsyncAck) -> None:
        await ack(text=EXPECTED_ACK)

    handler = AsyncSlackRequestHandler(bolt)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    web = Starlette(
        routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)]
    )
    # The same uvicorn settings as `hunt-bot serve` (bot/cli.py): info level, no access log.
    config = uvicorn.Config(web, host=HOST, port=port, log_level="info", access_log=False)
    asyncio.run(uvicorn.Server(config).serve())


# -- the load generator (a subprocess) ----------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ack_text(body: str) -> str:
    """Bolt answers a text-only ack as plain text, one with blocks as JSON."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    return str(answer.get("text", "")) if isinstance(answer, dict) else ""


async def generate(spec: dict) -> dict:
    import aiohttp
    from slack_sdk.signature import SignatureVerifier

    signer = SignatureVerifier(spec["secret"])
    form = {
        "token": "bench",
        "team_id": "T0BENCH",
        "team_domain": "bench",
        "channel_id": "C0SOC",
        "channel_name": "soc",
        "user_id": "U0ALICE",
        "user_name": "alice",
        "command": "/hunt",
        "text": COMMAND_TEXT,
        "api_app_id": "A0BENCH",
        "is_enterprise_install": "false",
        "response_url": spec["response_url"],
        "trigger_id": "1.2.bench",
    }
    body = urlencode(form)
    warmup, duration = spec["warmup"], spec["duration"]
    records: list[tuple[float, float, str | None]] = []  # (start, latency, error)

    async def one(session: aiohttp.ClientSession) -> None:
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signer.generate_signature(timestamp=ts, body=body),
        }
        start = time.perf_counter()
        error = None
        try:
            async with session.post(spec["url"], data=body, headers=headers) as response:
                text = await response.text()
            if response.status != 200:
                error = f"HTTP {response.status}: {text[:120]}"
            elif not ack_text(text).startswith(EXPECTED_ACK):
                error = f"not the running ack: {text[:120]}"
        except Exception as exc:  # counted and shown, never fatal to the run
            error = f"{type(exc).__name__}: {exc}"
        records.append((start, time.perf_counter() - start, error))

    window: dict[str, float] = {}

    async def sample_cpu() -> None:
        await asyncio.sleep(warmup)
        window.update(server=cpu_seconds(spec["pid"]), own=time.process_time())
        await asyncio.sleep(duration)
        window["server"] = cpu_seconds(spec["pid"]) - window["server"]
        window["own"] = time.process_time() - window["own"]

    connections = spec["connections"]
    connector = aiohttp.TCPConnector(limit=connections or 256, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        sampler = asyncio.create_task(sample_cpu())
        t0 = time.perf_counter()
        end = t0 + warmup + duration
        if connections:  # closed loop: each connection sends its next request on the answer

            async def worker() -> None:
                while time.perf_counter() < end and len(records) < MAX_REQUESTS:
                    await one(session)

            await asyncio.gather(*(worker() for _ in range(connections)))
        else:  # open loop: request i leaves at t0 + i/rate whether or not earlier ones returned
            total = min(int(spec["rate"] * (warmup + duration)), MAX_REQUESTS)
            tasks = []
            for i in range(total):
                delay = t0 + i / spec["rate"] - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(session)))
            await asyncio.gather(*tasks)
        await sampler

    # Latency and throughput count answered requests sent in the window; errors count all.
    measured = [r for r in records if t0 + warmup <= r[0] < t0 + warmup + duration and not r[2]]
    latencies = sorted(r[1] * 1000 for r in measured)
    errors = [r[2] for r in records if r[2]]
    done = [r for r in measured if r[0] + r[1] < t0 + warmup + duration]
    return {
        "sent": len(records),
        "measured": len(measured),
        "p50": percentile(latencies, 50) if latencies else None,
        "p99": percentile(latencies, 99) if latencies else None,
        "max": latencies[-1] if latencies else None,
        "throughput": len(done) / duration,
        "errors": len(errors),
        "error_sample": errors[:3],
        "server_cpu": 100 * window["server"] / duration,
        "loadgen_cpu": 100 * window["own"] / duration,
    }


# -- the harness --------------------------------------------------------------------------------


class SlackStandIn(BaseHTTPRequestHandler):
    """Answers every Web API method with ok (auth.test with the bot's identity) and counts calls."""

    calls: ClassVar[dict[str, int]] = {}

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        method = self.path.rstrip("/").rsplit("/", 1)[-1]
        SlackStandIn.calls[method] = SlackStandIn.calls.get(method, 0) + 1
        answer = {"ok": True}
        if method == "auth.test":
            answer |= {"user_id": BOT_USER_ID, "bot_id": "B0HUNTBOT", "team_id": "T0BENCH"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *_: object) -> None:
        pass


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def run_load(args: argparse.Namespace, url: str, pid: int, load: dict, secret: str) -> dict:
    spec = {
        "url": url,
        "pid": pid,
        "secret": secret,
        "response_url": f"http://{HOST}:{args.slack_port}/response-url",
        "warmup": args.warmup,
        "duration": args.duration,
        **load,
    }
    answer = subprocess.run(
        [sys.executable, __file__, "_load", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=args.warmup + args.duration + 60,
    )
    if answer.returncode != 0:
        sys.exit(f"load generator failed:\n{answer.stderr[-2000:]}")
    return json.loads(answer.stdout)


COLUMNS = (  # (heading, result key, format)
    ("n", "measured", "{}"),
    ("p50 ms", "p50", "{:.1f}"),
    ("p99 ms", "p99", "{:.1f}"),
    ("max ms", "max", "{:.1f}"),
    ("req/s", "throughput", "{:.0f}"),
    ("srv CPU%", "server_cpu", "{:.0f}"),
    ("gen CPU%", "loadgen_cpu", "{:.0f}"),
    ("errors", "errors", "{}"),
)


def spread(values: list, pattern: str) -> str:
    """One value, or the lowest-highest over several runs."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    low, high = pattern.format(min(values)), pattern.format(max(values))
    return low if low == high else f"{low}-{high}"


def show(rows: list[dict]) -> None:
    loads = list(dict.fromkeys(r["load"] for r in rows))
    lines = [("target", "load", *(heading for heading, _, _ in COLUMNS))]
    for load in loads:
        for target in TARGETS:
            group = [r for r in rows if (r["target"], r["load"]) == (target, load)]
            if group:
                cells = [spread([r[key] for r in group], fmt) for _, key, fmt in COLUMNS]
                lines.append((target, load, *cells))
    widths = [max(map(len, column)) for column in zip(*lines, strict=True)]
    for line in lines:
        print(
            "  ".join(
                v.ljust(w) if i < 2 else v.rjust(w)
                for i, (v, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    print()
    for load in loads:
        runs = {(r["run"], r["target"]): r for r in rows if r["load"] == load}
        pairs = [
            (runs[(n, "bot")], runs[(n, "bare")])
            for n, t in runs
            if t == "bot"
            if (n, "bare") in runs and runs[(n, "bare")]["p50"] and runs[(n, "bot")]["p50"]
        ]
        if pairs:
            p50 = spread([a["p50"] / b["p50"] for a, b in pairs], "{:.2f}")
            text = f"bot/bare at {load}: p50 x{p50}"
            throughput = spread([a["throughput"] / b["throughput"] for a, b in pairs], "{:.2f}")
            print(text + (f", throughput x{throughput}" if load.startswith("closed") else ""))


# Issue 13's budgets for the bot's ack: (figure, how it is measured, the budget, which is ok).
BUDGET_RATE = "200/s"


def budget_rows(rows: list[dict], connections: int) -> list[tuple[str, str, str, bool]]:
    """Each budget next to the bot's figure (the median over runs); missing targets or loads
    leave their lines out."""
    from statistics import median

    def figure(target: str, load: str, key: str) -> float | None:
        values = [
            r[key]
            for r in rows
            if (r["target"], r["load"]) == (target, load) and r[key] is not None
        ]
        return median(values) if values else None

    closed = f"closed {connections}"
    lines = []
    bot, default = figure("bot", closed, "throughput"), figure("bare-default", closed, "throughput")
    bare = figure("bare", closed, "throughput")
    if bot is not None and default is not None:
        lines.append(
            (
                f"bot throughput, {closed}",
                f"{bot:.0f} req/s",
                f">= bare-default's {default:.0f} req/s",
                bot >= default,
            )
        )
    if bot is not None and bare:
        lines.append(
            (
                f"bot/bare throughput, {closed}",
                f"x{bot / bare:.2f}",
                ">= x0.70",
                bot / bare >= 0.7,
            )
        )
    for key, limit in (("p50", 5.0), ("p99", 15.0)):
        value = figure("bot", BUDGET_RATE, key)
        if value is not None:
            lines.append(
                (
                    f"bot {key} at {BUDGET_RATE}",
                    f"{value:.1f} ms",
                    f"<= {limit:g} ms",
                    value <= limit,
                )
            )
    return lines


def show_budgets(rows: list[dict], connections: int) -> None:
    lines = budget_rows(rows, connections)
    if not lines:
        return
    table = [
        ("budget (issue 13)", "measured", "budget", ""),
        *(
            (name, measured, budget, "ok" if ok else "MISSED")
            for name, measured, budget, ok in lines
        ),
    ]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    print()
    for line in table:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def start_servers(args: argparse.Namespace, secret: str, workdir: Path) -> dict:
    """Each target as a subprocess on its own port, answering /healthz: {target: (process, port)}"""
    scrubbed = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("SLACK_", "HUNT", "AZURE_", "REDIS", "LAB_", "GRAPH_", "MDE_", "RESULTS_")
        )
    }
    bot_env = scrubbed | {
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": secret,
        "SLACK_API_URL": f"http://{HOST}:{args.slack_port}/api/",
        "REDIS_URL": args.redis_url,
        "HUNT_BACKEND": "lab",
        "LAB_DB": str(workdir / "lab.duckdb"),
    }
    entry = Path(sys.executable).with_name("hunt-bot")
    serve = [str(entry)] if entry.exists() else [sys.executable, "-m", "bot.cli"]
    processes = {}
    for target in args.targets:
        port = free_port()
        if target == "bot":  # cwd is the temp dir: no .env of the checkout is read
            argv, env = [*serve, "serve", "--host", HOST, "--port", str(port)], bot_env
        else:
            mode = "pbr" if target == "bare" else "default"
            argv, env = [sys.executable, __file__, "_bare", str(port), secret, mode], scrubbed
        log = (workdir / f"{target}.log").open("w")
        processes[target] = (
            subprocess.Popen(argv, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT),
            port,
        )
    for target, (process, port) in processes.items():
        wait_healthy(
            process, f"http://{HOST}:{port}/healthz", workdir / f"{target}.log", name=target
        )
    return processes


def benchmark(args: argparse.Namespace) -> None:
    secret = secrets.token_hex(16)
    loads = [{"label": f"{r:g}/s", "rate": r, "connections": 0} for r in args.rates]
    if args.connections:
        loads.append(
            {"label": f"closed {args.connections}", "rate": 0, "connections": args.connections}
        )
    redis_client = spare_redis(args.redis_url)
    stand_in = ThreadingHTTPServer((HOST, 0), SlackStandIn)
    args.slack_port = stand_in.server_address[1]
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    processes: dict = {}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="hunt-bot-bench-") as tmp:
        workdir = Path(tmp)
        try:
            processes = start_servers(args, secret, workdir)
            startup_calls = dict(SlackStandIn.calls)
            SlackStandIn.calls.clear()
            print(
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.warmup:g} s"
                f" warm-up + {args.duration:g} s per step. process_before_response: bot True"
                " (bot/app.py), bare True, bare-default False. uvicorn access log off in all, as"
                " in `hunt-bot serve`.",
                flush=True,
            )
            for run in range(1, args.runs + 1):
                # Rotate who goes first so slow drift does not always favour one target.
                turn = run % len(args.targets)
                order = args.targets[turn:] + args.targets[:turn]
                for load in loads:
                    for target in order:
                        process, port = processes[target]
                        spec = {"rate": load["rate"], "connections": load["connections"]}
                        result = run_load(
                            args, f"http://{HOST}:{port}/slack/events", process.pid, spec, secret
                        )
                        rows.append({"run": run, "target": target, "load": load["label"], **result})
                        for sample in result["error_sample"]:
                            print(f"  {target} {load['label']}: {sample}", file=sys.stderr)
                print(f"run {run} done, load average {os.getloadavg()[0]:.2f}", flush=True)
            print()
            show(rows)
            show_budgets(rows, args.connections)
            if "bot" in processes:
                answered = sum(r["sent"] - r["errors"] for r in rows if r["target"] == "bot")
                print(
                    f"\nbot: {answered} requests answered 'running', "
                    f"{redis_client.xlen(JOB_STREAM)} jobs queued in {JOB_STREAM}; Slack Web API "
                    f"calls at start {startup_calls}, under load {SlackStandIn.calls or 'none'}"
                )
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
        finally:
            for process, _ in processes.values():
                process.terminate()
            for process, _ in processes.values():
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            stand_in.shutdown()
            redis_client.flushdb()
            if args.keep_logs:
                Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
                for log in workdir.glob("*.log"):
                    (Path(args.keep_logs) / log.name).write_text(log.read_text())


def main() -> None:
    if sys.argv[1:2] == ["_bare"]:
        port, secret, mode = sys.argv[2:5]
        serve_bare(int(port), secret, process_before_response=mode == "pbr")
        return
    if sys.argv[1:2] == ["_load"]:
        print(json.dumps(asyncio.run(generate(json.loads(sys.argv[2])))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rates",
        type=float,
        nargs="*",
        default=[50, 200],
        help="open-loop rates in requests/s (default: 50 200)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=16,
        help="closed-loop connections; 0 skips the closed loop (default: 16)",
    )
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole matrix")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/14",
        help="a spare Redis db, flushed before and after (default: db 14)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: bot and bare, 100/s and closed 4, 1 s each",
    )
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the servers' logs here")
    args = parser.parse_args()
    if args.quick:
        args.rates, args.connections, args.duration, args.warmup, args.runs = [100], 4, 1, 0.5, 1
        args.targets = [t for t in args.targets if t != "bare-default"] or ["bot", "bare"]
    if any(not 0 < rate <= 2000 for rate in args.rates) or not 0 <= args.connections <= 64:
        sys.exit("keep --rates within 0-2000/s and --connections within 0-64")
    if urlsplit(args.redis_url).hostname not in (HOST, "localhost"):
        sys.exit("--redis-url must be on loopback")
    if not 0 < args.duration <= 120 or not 0 <= args.warmup <= 30 or not 1 <= args.runs <= 10:
        sys.exit("keep --duration within 0-120 s, --warmup within 0-30 s, --runs within 1-10")
    benchmark(args)


if __name__ == "__main__":
    main()
