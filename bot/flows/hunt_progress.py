"""Progress on a long hunt, and Cancel.

Why a visible message rather than the private "Running…" answer: an ephemeral answer can be
changed only through its response URL, which Slack takes at most 5 times in 30 minutes, and
replacing a slash command's own answer posts a new message instead (bolt-python #1268). A hunt on
Defender can run for minutes, so once it has gone on for `HUNT_PROGRESS_AFTER_SECONDS` the worker
posts one message where the results will go and edits it (chat.update, no such limit) every
`HUNT_PROGRESS_EVERY_SECONDS`: the time so far, or its place in the quota queue. It is deleted
when the hunt ends, or says who cancelled it. Quick hunts post nothing extra.

Cancel works across processes: the press claims the hunt's outcome in Redis ("cancelled"), the
worker claims "posting" before it stores and posts results, and whichever comes first holds. The
worker checks for a cancel every `CANCEL_POLL` seconds while it waits for the quota or for
Defender, and then stops waiting: a queued hunt never runs, a running one posts nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from contextlib import suppress
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeVar

from slack_sdk.errors import SlackApiError

from bot.services import Services
from bot.slack.blocks import Message, render_hunt_progress, render_notice
from bot.state.hunt_requests import CANCELLED, POSTING, HuntRequest, Progress

log = logging.getLogger(__name__)

CANCEL_POLL = 0.5  # seconds between looks at the cancel flag while a hunt waits
QUEUED_SLOWER = 4

T = TypeVar("T")


class HuntCancelled(Exception):
    """Someone pressed Cancel: the hunt stops and posts nothing."""


async def until_cancelled(services: Services, request_id: str, work: Awaitable[T]) -> T:
    """`work`'s answer, unless the hunt is cancelled first: then `work` is stopped (leaving the
    quota queue, or no longer waiting for Defender) and HuntCancelled is raised."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=CANCEL_POLL)
            if done:
                return task.result()
            if await services.hunt_requests.cancelled_by(request_id) is not None:
                raise HuntCancelled(request_id)
    finally:
        if not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task


class HuntProgress:
    """The progress message of one hunt run, kept up to date in the background."""

    def __init__(self, services: Services, request: HuntRequest) -> None:
        self._services = services
        self._request = request
        self._started = time.monotonic()
        self._queued: tuple[int, float] | None = None  # position, when it should start
        self._where: Progress | None = None
        self._task: asyncio.Task[None] | None = None

    def waiting(self, position: int, seconds: float) -> None:
        self._queued = (position, time.monotonic() + seconds)

    def running(self) -> None:
        self._queued = None

    async def __aenter__(self) -> HuntProgress:
        # A redelivered run carries on with the message an earlier delivery posted.
        self._where = await self._services.hunt_requests.progress(self._request.id)
        self._task = asyncio.create_task(self._keep_telling())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()
        if self._where is None:
            return
        cancelled_by = await self._services.hunt_requests.cancelled_by(self._request.id)
        try:
            if cancelled_by is not None:
                # Said again here: a tick of ours may have landed after the Cancel's own edit.
                await show_cancelled(self._services, self._request, self._where, cancelled_by)
            else:
                await self._services.slack.chat_delete(
                    channel=self._where.channel, ts=self._where.ts
                )
        except SlackApiError as exc_:
            log.info("progress of %s: %s", self._request.id, exc_.response.get("error"))

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _keep_telling(self) -> None:
        settings = self._services.settings
        await asyncio.sleep(settings.hunt_progress_after_seconds)
        while True:
            try:
                await self._tell()
            except SlackApiError as exc:  # progress is a courtesy: the hunt goes on regardless
                log.info("progress of %s: %s", self._request.id, exc.response.get("error"))
                return
            # Many hunts may queue at once and chat.update is Tier 3 (~50 a minute for the whole
            # workspace): a queued hunt, whose place moves slowly, is edited a quarter as often.
            queued = self._queued is not None
            await asyncio.sleep(
                settings.hunt_progress_every_seconds * (QUEUED_SLOWER if queued else 1)
            )

    async def _tell(self) -> None:
        s, request = self._services, self._request
        if await s.hunt_requests.cancelled_by(request.id) is not None:
            return
        queued = None
        if self._queued is not None:
            queued = (self._queued[0], max(0.0, self._queued[1] - time.monotonic()))
        message = render_hunt_progress(
            request.id,
            request.hunt,
            request.user_id,
            _since(request),
            queued=queued,
        )
        if self._where is None:
            await s.pacer.wait_turn(request.channel_id)
            posted = await s.slack.chat_postMessage(
                channel=request.channel_id,
                thread_ts=request.thread_ts,
                text=message.text,
                blocks=message.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
            self._where = Progress(channel=request.channel_id, ts=str(posted["ts"]))
            await s.hunt_requests.save_progress(request.id, self._where)
        else:
            await s.slack.chat_update(
                channel=self._where.channel,
                ts=self._where.ts,
                text=message.text,
                blocks=message.blocks,
            )


def _since(request: HuntRequest) -> float:
    return (datetime.now(UTC) - request.requested_at).total_seconds()


async def show_cancelled(
    services: Services, request: HuntRequest, where: Progress, cancelled_by: str
) -> None:
    message = render_hunt_progress(
        request.id, request.hunt, request.user_id, _since(request), cancelled_by=cancelled_by
    )
    await services.slack.chat_update(
        channel=where.channel, ts=where.ts, text=message.text, blocks=message.blocks
    )


async def cancel(services: Services, request_id: str, user_id: str) -> Message:
    """Cancel a hunt (the permission rule has checked who); what the person is told."""
    request = await services.hunt_requests.load(request_id)
    if request is None:
        return render_notice("This hunt is no longer known, so there is nothing to cancel.")
    held = await services.hunt_requests.claim(request_id, f"{CANCELLED}:{user_id}")
    if held == POSTING:
        return render_notice(
            f"{request.hunt} had already finished: its results are posted.",
            "Nothing was cancelled.",
        )
    where = await services.hunt_requests.progress(request_id)
    if where is not None:
        with suppress(SlackApiError):  # the person is told below either way
            await show_cancelled(services, request, where, held.partition(":")[2] or user_id)
    return render_notice(f"Cancelled: {request.hunt} stops and posts nothing.")
