"""Prometheus metrics (the official `prometheus_client`), one registry per process.

Each process counts what it does: `hunt-bot serve` its acks, `hunt-bot worker` its hunts,
Microsoft calls and quota waits; Redis errors wherever they happen. `serve` answers GET /metrics
on its HTTP port; a worker answers on `METRICS_PORT` when that is set (a small HTTP server of
prometheus_client's own, in a thread). prometheus_client's multiprocess mode was not used: the
processes are separate programs (often separate containers), each scraped on its own, and
Prometheus sums them across instances.

What lives in Redis rather than in a process (the job queue's depth, approvals by state) is read
when /metrics is asked, by `serve` only (bot/redis_gauges.py), so it is counted once however
many workers run.
"""

from __future__ import annotations

import logging

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# -- the web process: acks ------------------------------------------------------------------------

ACK_KINDS = ("command", "action", "view", "event", "other", "refused")
# Slack waits 3 s for an ack; the budget is 5 ms at the median and 15 ms at the 99th percentile.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 3)

ACKS = Counter(
    "hunt_bot_acks",
    "Slack requests answered on POST /slack/events, by kind (refused: bad signature, size or body)",
    ["kind"],
)
ACK_SECONDS = Histogram(
    "hunt_bot_ack_seconds",
    "Time from a Slack request's arrival to its answer, by kind",
    ["kind"],
    buckets=ACK_BUCKETS,
)
# Label lookups take a lock: done once here rather than on every ack.
_ACK_COUNT = {kind: ACKS.labels(kind) for kind in ACK_KINDS}
_ACK_TIME = {kind: ACK_SECONDS.labels(kind) for kind in ACK_KINDS}


def acked(kind: str, seconds: float) -> None:
    kind = kind if kind in _ACK_COUNT else "other"
    _ACK_COUNT[kind].inc()
    _ACK_TIME[kind].observe(seconds)


# -- the worker: hunts ----------------------------------------------------------------------------

HUNT_OUTCOMES = ("completed", "cancelled", "failed", "crashed", "redis_unreachable")
HUNTS = Counter(
    "hunt_bot_hunts",
    "Hunt jobs ended, by outcome: completed (ran; results posted, or nothing new for a "
    "schedule), cancelled, failed (the requester was told why), crashed (an error id), "
    "redis_unreachable",
    ["outcome"],
)
HUNT_SECONDS = Histogram(
    "hunt_bot_hunt_seconds",
    "How long a hunt job took, from its start in a worker to its end, by outcome",
    ["outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)


def hunt_ended(outcome: str, seconds: float) -> None:
    HUNTS.labels(outcome).inc()
    HUNT_SECONDS.labels(outcome).observe(seconds)


# -- Microsoft ------------------------------------------------------------------------------------

MICROSOFT_CALLS = Counter(
    "hunt_bot_microsoft_calls",
    "Calls to Microsoft (Graph, Defender for Endpoint), by service and HTTP status ('no answer' "
    "when the connection failed or timed out)",
    ["service", "status"],
)
MICROSOFT_THROTTLED = Counter(
    "hunt_bot_microsoft_throttled",
    "Microsoft's 429 answers (too many requests), by service",
    ["service"],
)
MICROSOFT_SECONDS = Histogram(
    "hunt_bot_microsoft_call_seconds",
    "How long a call to Microsoft took, by service",
    ["service"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
QUOTA_WAITS = Counter(
    "hunt_bot_quota_waits",
    "Times a hunt was told to wait for the tenant's hunting quota, by reason (quota: the "
    "rolling minute is full; paused: Microsoft's Retry-After)",
    ["reason"],
)
QUOTA_WAIT_SECONDS = Counter(
    "hunt_bot_quota_wait_seconds",
    "Seconds hunts were told to wait for the tenant's hunting quota",
)


def microsoft_answered(service: str, status: int | str, seconds: float) -> None:
    """A call answered with HTTP `status` ("no answer": the connection failed or timed out)."""
    MICROSOFT_CALLS.labels(service, str(status)).inc()
    MICROSOFT_SECONDS.labels(service).observe(seconds)
    if status == 429:
        MICROSOFT_THROTTLED.labels(service).inc()


def quota_wait(seconds: float, *, paused: bool) -> None:
    QUOTA_WAITS.labels("paused" if paused else "quota").inc()
    QUOTA_WAIT_SECONDS.inc(seconds)


# -- Redis ----------------------------------------------------------------------------------------

REDIS_ERRORS = Counter(
    "hunt_bot_redis_errors",
    "Redis unreachable or timing out, by where it was met: answered (a person was told to try "
    "again), job (a job waits for it), queue (a worker's listening waits), scrape (/metrics)",
    ["where"],
)


def redis_error(where: str) -> None:
    REDIS_ERRORS.labels(where).inc()


# -- read from Redis at scrape time (serve only) --------------------------------------------------

JOBS_PENDING = Gauge(
    "hunt_bot_jobs_pending",
    "Jobs in the queue: waiting (not yet taken by a worker) and running (taken, not finished)",
    ["state"],
)
OPEN_APPROVALS = Gauge(
    "hunt_bot_approvals_open",
    "Approvals not finished, by state (pending, approved, executing)",
    ["state"],
)
RECENT_APPROVALS = 500
APPROVALS_RECENT = Gauge(
    "hunt_bot_approvals_recent",
    f"The {RECENT_APPROVALS} most recent approvals, by state",
    ["state"],
)
APPROVAL_STATES = (
    "pending",
    "approved",
    "executing",
    "done",
    "failed",
    "rejected",
    "expired",
    "cancelled",
)


def exposition() -> bytes:
    """This process's metrics in Prometheus's text format."""
    return generate_latest(REGISTRY)


def serve_worker_metrics(port: int, host: str = "0.0.0.0") -> None:
    """A worker's /metrics on `port`, in a thread of prometheus_client's own."""
    start_http_server(port, addr=host, registry=REGISTRY)
    log.info("metrics: serving /metrics on port %d", port)
