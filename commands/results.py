"""The results message's buttons: page, Export CSV, Re-run (Take actions: commands/actions.py).

Each click is acknowledged at once; the work (updating the message, enqueueing a job) follows in a
lazy listener, after the person's access is checked again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from bot.errors import HuntBotError
from bot.jobs import tell_user
from bot.slack.blocks import PAGE_ROWS, page_count, render_notice, render_results
from bot.slack.ids import ResultsAction
from bot.state.hunt_requests import HuntRequest

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)


async def _ack(ack: AsyncAck) -> None:
    await ack()


def register(app: AsyncApp, services: Services) -> None:
    async def turn_page(body: dict[str, Any]) -> None:
        click = Click(body)
        if not await click.allowed(services):
            return
        result_id, _, page_text = click.value.partition(":")
        meta = await services.results.meta(result_id)
        page = min(max(int(page_text or 1), 1), page_count(meta.row_count))
        start = (page - 1) * PAGE_ROWS
        rows = await services.results.rows(result_id, start, start + PAGE_ROWS)
        message = render_results(meta, rows, page)
        await services.slack.chat_update(
            channel=click.channel, ts=click.message_ts, text=message.text, blocks=message.blocks
        )

    async def export(body: dict[str, Any]) -> None:
        click = Click(body)
        if await click.allowed(services):
            await services.results.meta(click.value)  # still kept?
            await services.jobs.enqueue_export(click.value, click.user)

    async def rerun(body: dict[str, Any]) -> None:
        click = Click(body)
        if not await click.allowed(services):
            return
        meta = await services.results.meta(click.value)
        request = HuntRequest(
            hunt=meta.hunt,
            arguments=meta.arguments,
            user_id=click.user,
            team_id=meta.team,
            channel_id=meta.channel,
            response_url=click.response_url,
            thread_ts=meta.thread_ts or click.message_ts,
            rerun_of=meta.id,
        )
        await services.hunt_requests.save(request)
        await services.jobs.enqueue_hunt(request.id)

    for action, work in (
        (ResultsAction.PREVIOUS, turn_page),
        (ResultsAction.NEXT, turn_page),
        (ResultsAction.EXPORT, export),
        (ResultsAction.RERUN, rerun),
    ):
        app.action(action)(ack=_ack, lazy=[answering_errors(services, work)])


def answering_errors(services: Services, work: Any) -> Any:
    """Lazy listeners' errors never reach Bolt's error handler: tell the person here."""

    async def run(body: dict[str, Any]) -> None:
        click = Click(body)
        try:
            await work(body)
        except HuntBotError as exc:
            await click.tell(services, exc.message, exc.hint)
        except (SlackApiError, ValueError) as exc:
            log.exception("button %s failed", click.action_id)
            await click.tell(services, f"That did not work: {type(exc).__name__}.", "Try again.")

    run.__name__ = work.__name__
    return run


class Click:
    """The parts of a block_actions payload the handlers rely on."""

    def __init__(self, body: dict[str, Any]) -> None:
        action = body["actions"][0]
        self.action_id: str = action["action_id"]
        self.value: str = action.get("value", "")
        self.user: str = body["user"]["id"]
        self.channel: str = (body.get("channel") or {}).get("id") or body["container"]["channel_id"]
        self.message_ts: str = body["container"].get("message_ts", "")
        self.response_url: str | None = body.get("response_url")

    async def allowed(self, services: Services) -> bool:
        decision = await services.access.check(self.user, self.channel)
        if not decision.allowed:
            await self.tell(services, decision.reason)
        return bool(decision.allowed)

    async def tell(self, services: Services, text: str, hint: str | None = None) -> None:
        message = render_notice(text, hint)
        await tell_user(services, self.channel, self.user, message, self.response_url)
