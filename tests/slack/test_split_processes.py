"""The Procfile's shape: a web process that only acks and enqueues, and a separate worker.
Results written by the worker are paged by the web process: state lives in Redis, not in memory."""

from __future__ import annotations

import asyncio
from contextlib import suppress

import httpx

from bot.app import serve_in_process, start_services
from bot.jobs import run_worker
from bot.workspace.slack_requests import SignedSender
from bot.workspace.webapi import WebApiStandIn
from tests.slack.conftest import SIGNING_SECRET, TOKEN, Harness


async def test_web_and_worker_in_separate_services_share_everything_through_redis(settings):
    async with WebApiStandIn(token=TOKEN).running() as slack:
        current = settings.model_copy(update={"slack_api_url": slack.api_url})
        async with serve_in_process(current, with_worker=False) as url:
            async with httpx.AsyncClient() as http:
                health = await http.get(f"{url}/healthz")
            assert health.status_code == 200 and health.json() == {"ok": True}
            sender = SignedSender(url, SIGNING_SECRET)
            harness = Harness(slack, sender, current)
            answer = await harness.slash("spam-emails lookback=14d")
            assert "Running" in answer.text
            await asyncio.sleep(0.5)
            assert not [c for c in harness.calls if c.method == "chat.postMessage"]

            worker_services = await start_services(current)
            worker = asyncio.create_task(run_worker(worker_services))
            try:
                results = harness.message(await harness.next("chat.postMessage"))
                before = len(harness.calls)
                await harness.click(results, "Next ▶")  # handled by the web process
                update = await harness.wait("chat.update", after=before)
                assert "Page 2 of" in str(update.args["blocks"])
            finally:
                worker.cancel()
                with suppress(asyncio.CancelledError):
                    await worker
                await worker_services.aclose()
                await sender.aclose()
