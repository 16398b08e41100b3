"""What a stopping process waits for: every task, those started while it waits included; past
the bound, each is cancelled, and then (not before) queued again where it can be."""

from __future__ import annotations

import asyncio

from bot.in_flight import InFlight


async def test_drain_waits_for_every_task_even_one_started_while_it_waits():
    work = InFlight("tasks")
    finished: list[str] = []

    async def step(name: str, seconds: float, then: str | None = None) -> None:
        await asyncio.sleep(seconds)
        if then is not None:
            work.start(step(then, 0.05), then)
        finished.append(name)

    work.start(step("press", 0.05, then="follow-up"), "press")

    assert await work.drain(5) == []
    assert finished == ["press", "follow-up"]
    assert len(work) == 0


async def test_past_the_bound_tasks_are_cancelled_then_handed_over():
    work = InFlight("jobs")
    events: list[str] = []

    async def job() -> None:
        work.adopt("run_hunt h1", on_cut_off=requeue)
        try:
            await asyncio.sleep(60)
        finally:
            events.append("cancelled")

    async def requeue() -> None:
        events.append("queued again")

    async def quick() -> None:
        work.adopt("run_hunt h2", on_cut_off=requeue)

    long_job = asyncio.create_task(job())
    quick_job = asyncio.create_task(quick())
    await asyncio.sleep(0.01)

    assert await work.drain(0.1) == ["run_hunt h1"]
    assert long_job.cancelled() and quick_job.done()
    assert events == ["cancelled", "queued again"]  # h2 ended on its own: not queued again
