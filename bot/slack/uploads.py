"""Sharing a file from disk into a channel or thread, streamed rather than held in memory.

slack_sdk's `files_upload_v2` reads the whole file into memory first; a 100,000-row CSV export
is tens of megabytes. This takes the same three steps (files.getUploadURLExternal, the bytes
POSTed to the URL it gives, files.completeUploadExternal) and sends the bytes from the file as
they are read.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient


async def share_file(
    slack: AsyncWebClient,
    path: Path,
    *,
    filename: str,
    title: str,
    channel: str,
    thread_ts: str | None,
    initial_comment: str,
) -> None:
    """Upload `path` and share it in `channel` (in `thread_ts`'s thread) with a comment.
    Raises SlackApiError when Slack refuses a step, the upload included."""
    size = path.stat().st_size
    answer = await slack.files_getUploadURLExternal(filename=filename, length=size)
    upload_url, file_id = str(answer["upload_url"]), str(answer["file_id"])
    timeout = aiohttp.ClientTimeout(total=max(float(slack.timeout), 120.0))
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with path.open("rb") as body:
                async with session.post(
                    upload_url,
                    data=body,
                    headers={"Content-Type": "application/octet-stream"},
                    proxy=slack.proxy,
                    ssl=slack.ssl if slack.ssl is not None else True,
                ) as response:
                    status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        error = {"ok": False, "error": "upload_failed"}
        raise SlackApiError(f"the upload failed: {exc!r}", error) from exc
    if status != 200:
        raise SlackApiError(
            f"the upload answered {status}", {"ok": False, "error": f"upload_failed_{status}"}
        )
    await slack.files_completeUploadExternal(
        files=[{"id": file_id, "title": title}],
        channel_id=channel,
        thread_ts=thread_ts,
        initial_comment=initial_comment,
    )
