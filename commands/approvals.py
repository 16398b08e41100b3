"""Approve / Reject on an approval card. Who may vote is the policy's call, asked on every
click; the vote that reaches the quorum, and only that one, starts the execution."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.slack.ids import ApprovalAction
from bot.slack.mrkdwn import user
from commands.results import Click, answering_errors

if TYPE_CHECKING:
    from bot.app import Services


def register(app: AsyncApp, services: Services) -> None:
    async def ack_click(ack: AsyncAck) -> None:
        await ack()

    def voting(approve: bool) -> Any:
        async def vote(body: dict[str, Any]) -> None:
            click = Click(body)
            name = body["user"].get("username") or body["user"].get("name", "")
            result = await services.approvals.vote(click.value, click.user, approve, user_name=name)
            if not result.counted:
                ask = ", ".join([user(u) for u in result.ask.users] + list(result.ask.usergroups))
                await click.tell(services, result.reason, f"Approvers: {ask}" if ask else None)
                return
            await services.jobs.update_card(click.value)
            if result.reached_quorum:
                await services.jobs.enqueue_execution(click.value)

        vote.__name__ = "approve" if approve else "reject"
        return vote

    app.action(ApprovalAction.APPROVE)(
        ack=ack_click, lazy=[answering_errors(services, voting(True))]
    )
    app.action(ApprovalAction.REJECT)(
        ack=ack_click, lazy=[answering_errors(services, voting(False))]
    )
