"""GET /metrics, as Prometheus scrapes it: what a hunt and an approval leave there, what the
queue and the approvals in Redis look like at scrape time, and Microsoft's calls and 429s."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics, redis_gauges
from bot.app import start_services
from bot.defender.hunting import GraphHunting
from tests.slack.bot_under_test import SocBot, soc_bot
from tests.slack.test_every_failure_answered import ASK_FOR_DELETE

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(bot: SocBot) -> tuple[str, Samples]:
    """The bot's /metrics page: its content type, and every sample by name and labels."""
    base = bot.sender.url.removesuffix("/slack/events")
    async with httpx.AsyncClient() as http:
        page = await http.get(f"{base}/metrics")
    assert page.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(page.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return page.headers["content-type"], samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_hunt_and_an_approval_show_on_metrics(settings):
    async with soc_bot(settings) as bot:
        _, before = await scrape(bot)

        await bot.run("/hunt spam-emails")
        _, hunted = await scrape(bot)
        await bot.run(*ASK_FOR_DELETE, "submit", "submit")
        _, asked = await scrape(bot)
        await bot.run("as @bob", "click Approve")
        content_type, after = await scrape(bot)

    assert content_type.startswith("text/plain; version=")  # Prometheus text format
    # Acks by kind, with their latency.
    assert value(hunted, "hunt_bot_acks_total", kind="command") == (
        value(before, "hunt_bot_acks_total", kind="command") + 1
    )
    assert value(after, "hunt_bot_acks_total", kind="action") > value(
        before, "hunt_bot_acks_total", kind="action"
    )  # Take actions, Approve
    assert value(after, "hunt_bot_acks_total", kind="view") >= (
        value(before, "hunt_bot_acks_total", kind="view") + 2
    )  # the form, then the confirmation
    assert value(hunted, "hunt_bot_ack_seconds_count", kind="command") == value(
        hunted, "hunt_bot_acks_total", kind="command"
    )
    assert value(hunted, "hunt_bot_ack_seconds_bucket", kind="command", le="3.0") == value(
        hunted, "hunt_bot_ack_seconds_count", kind="command"
    )  # every ack inside Slack's 3 s
    # The hunt, by outcome and duration.
    assert value(hunted, "hunt_bot_hunts_total", outcome="completed") == (
        value(before, "hunt_bot_hunts_total", outcome="completed") + 1
    )
    assert value(hunted, "hunt_bot_hunt_seconds_count", outcome="completed") == value(
        hunted, "hunt_bot_hunts_total", outcome="completed"
    )
    # Read from Redis when asked: the queue is drained, the approval waits, then is done.
    assert value(hunted, "hunt_bot_jobs_pending", state="waiting") == 0
    assert value(hunted, "hunt_bot_jobs_pending", state="running") == 0
    assert value(asked, "hunt_bot_approvals_open", state="pending") == 1
    assert value(asked, "hunt_bot_approvals_recent", state="pending") == 1
    assert value(after, "hunt_bot_approvals_open", state="pending") == 0
    assert value(after, "hunt_bot_approvals_recent", state="done") == 1
    assert value(after, "hunt_bot_approvals_recent", state="pending") == 0


async def test_queue_depth_counts_jobs_no_worker_has_taken_yet(settings):
    services = await start_services(settings)  # `serve` alone: nothing takes the jobs
    try:
        for n in range(3):
            await services.queue.enqueue_export(f"result-{n}", "U0ALICE")
        await redis_gauges.read(services.redis.client)
    finally:
        await services.aclose()

    assert sample("hunt_bot_jobs_pending", state="waiting") == 3
    assert sample("hunt_bot_jobs_pending", state="running") == 0


async def test_microsoft_calls_and_429s_are_counted(microsoft, hunting: GraphHunting):
    graph = "Microsoft Graph"
    calls = {s: sample("hunt_bot_microsoft_calls_total", service=graph, status=s) for s in OK_429}
    throttled = sample("hunt_bot_microsoft_throttled_total", service=graph)
    microsoft.throttle_next_query(retry_after=1)

    await hunting.run_query("EmailEvents | take 1")

    page = metrics.exposition().decode()
    assert f'hunt_bot_microsoft_calls_total{{service="{graph}",status="429"}}' in page
    assert sample("hunt_bot_microsoft_calls_total", service=graph, status="429") == calls["429"] + 1
    assert sample("hunt_bot_microsoft_calls_total", service=graph, status="200") == calls["200"] + 1
    assert sample("hunt_bot_microsoft_throttled_total", service=graph) == throttled + 1
    assert sample("hunt_bot_microsoft_call_seconds_count", service=graph) >= 2


OK_429 = ("200", "429")


def sample(name: str, **labels: str) -> float:
    """This process's current value (the tests run the bot in-process)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
