"""Take actions: the modal from a results message, validated step by step, ending in a pending
approval and its card in the incident thread. Nothing runs here; approvers decide."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.actions.model import ActionOptions, ApprovalSpec
from bot.actions.offer import (
    blast_radius,
    choice_by_key,
    offered_actions,
    parse_row_selection,
    sender_copy_applies,
    targets_from_rows,
)
from bot.errors import BadArgument, HuntBotError
from bot.policy import RequestRefused
from bot.slack.approval_card import render_approval_card
from bot.slack.ids import INPUT_ELEMENT, ResultsAction, TakeActionsBlock, TakeActionsView
from bot.slack.take_actions import render_choose_view, render_confirm_view
from bot.state.capabilities import load_capabilities
from bot.state.drafts import Draft
from bot.state.results import StoredResult
from commands.results import Click, answering_errors

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

# Selecting more rows than this in one go would make validation slow on the ack path.
MAX_SELECTED_ROWS = 10_000


def register(app: AsyncApp, services: Services) -> None:
    async def ack_click(ack: AsyncAck) -> None:
        await ack()

    async def open_modal(body: dict[str, Any]) -> None:
        click = Click(body)
        if not await click.allowed(services):
            return
        meta = await services.results.meta(click.value)
        capabilities = await load_capabilities(services.redis.client)
        choices = _choices(meta, capabilities)
        if not choices:
            await click.tell(
                services,
                "None of the actions these results allow is granted to the bot's app registration.",
                "hunt-bot doctor lists the permissions to grant.",
            )
            return
        note = "" if capabilities is not None else "The app's permissions are not known yet."
        metadata = json.dumps({"result": meta.id, "thread": meta.thread_ts or click.message_ts})
        await services.slack.views_open(
            trigger_id=body["trigger_id"],
            view=render_choose_view(meta, choices, metadata, note=note),
        )

    app.action(ResultsAction.TAKE_ACTIONS)(
        ack=ack_click, lazy=[answering_errors(services, open_modal)]
    )

    @app.view(TakeActionsView.CHOOSE)
    async def review(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            draft, confirm = await _review(services, body["user"]["id"], view)
        except _FieldErrors as problems:
            await ack(response_action="errors", errors=problems.errors)
            return
        await services.drafts.save(draft)
        await ack(response_action="update", view=confirm)

    async def ack_submit(ack: AsyncAck) -> None:
        await ack(response_action="clear")

    async def request_approval(body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        draft = await services.drafts.take(view["private_metadata"])
        rule = services.policy.rule(draft.spec.action)
        approval = await services.approvals.create(
            draft.spec,
            user_id,
            draft.hunt,
            draft.result_id,
            draft.channel,
            draft.thread_ts,
            rule.quorum,
            datetime.now(UTC) + rule.expiry,
            requester_name=body["user"].get("username") or body["user"].get("name", ""),
            excluded=draft.excluded,
        )
        card = render_approval_card(approval)
        await services.pacer.wait_turn(draft.channel)
        posted = await services.slack.chat_postMessage(
            channel=draft.channel,
            thread_ts=draft.thread_ts,
            text=card.text,
            blocks=card.blocks,
            unfurl_links=False,
        )
        await services.cards.remember(approval.id, draft.channel, posted["ts"])

    app.view(TakeActionsView.CONFIRM)(ack=ack_submit, lazy=[request_approval])


class _FieldErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _choices(meta: StoredResult, capabilities: set[str] | None) -> list[Any]:
    return offered_actions(
        meta.entity_columns,
        sender_copy_possible=meta.sender_copy_possible,
        capabilities=capabilities,
    )


def _value(view: dict[str, Any], block: TakeActionsBlock) -> str:
    state = view["state"]["values"].get(block, {}).get(INPUT_ELEMENT, {})
    if state.get("type") == "static_select":
        return (state.get("selected_option") or {}).get("value", "")
    return (state.get("value") or "").strip()


async def _review(services: Services, user_id: str, view: dict[str, Any]) -> tuple[Draft, dict]:
    """Validate the first step; the draft and the confirmation view, or errors per field."""
    metadata = json.loads(view["private_metadata"])
    meta = await services.results.meta(metadata["result"])
    errors: dict[str, str] = {}
    name = _value(view, TakeActionsBlock.NAME)
    description = _value(view, TakeActionsBlock.DESCRIPTION)
    if not name:
        errors[TakeActionsBlock.NAME] = "Give the remediation a name."
    if not description:
        errors[TakeActionsBlock.DESCRIPTION] = "Say why: approvers and the Action center see it."
    choices = _choices(meta, await load_capabilities(services.redis.client))
    try:
        choice = choice_by_key(choices, _value(view, TakeActionsBlock.ACTION))
    except BadArgument as exc:
        errors[TakeActionsBlock.ACTION] = exc.message
        raise _FieldErrors(errors) from None
    try:
        selected = parse_row_selection(_value(view, TakeActionsBlock.ROWS), meta.row_count)
    except BadArgument as exc:
        errors[TakeActionsBlock.ROWS] = exc.message
        raise _FieldErrors(errors) from None
    if len(selected) > MAX_SELECTED_ROWS:
        errors[TakeActionsBlock.ROWS] = f"Choose at most {MAX_SELECTED_ROWS:,} rows at a time."
    if errors:
        raise _FieldErrors(errors)
    rows = await services.results.rows(meta.id, selected[0], selected[-1] + 1)
    wanted = set(selected)
    picked = [row for index, row in enumerate(rows, start=selected[0]) if index in wanted]
    targets = targets_from_rows(choice, picked)
    if not targets:
        raise _FieldErrors(
            {TakeActionsBlock.ROWS: "These rows name nothing this action can act on."}
        )
    options: ActionOptions = choice.options
    if options.remediate_senders_copy and not sender_copy_applies(targets):
        raise _FieldErrors(
            {
                TakeActionsBlock.ACTION: "The sender's copy can only be handled for internal and "
                "outbound mail; some chosen rows are inbound."
            }
        )
    try:
        spec = ApprovalSpec(
            action=choice.action,
            options=options,
            targets=tuple(targets),
            name=name[:100],
            description=description[:1000],
        )
        screened = services.policy.screen(spec)
    except RequestRefused as exc:
        raise _FieldErrors({TakeActionsBlock.ROWS: exc.message}) from None
    except (HuntBotError, ValueError) as exc:
        raise _FieldErrors({TakeActionsBlock.ROWS: str(exc)[:150]}) from None
    draft = Draft(
        spec=screened.spec,
        excluded=list(screened.excluded),
        choice_label=choice.label,
        requester=user_id,
        result_id=meta.id,
        hunt=meta.hunt,
        team=meta.team,
        channel=meta.channel,
        thread_ts=metadata["thread"],
    )
    rule = screened.rule
    confirm = render_confirm_view(
        choice=choice,
        targets=list(screened.spec.targets),
        excluded=[(e.target, e.reason) for e in screened.excluded],
        radius=blast_radius(list(screened.spec.targets)),
        quorum=rule.quorum,
        approvers=[*rule.approvers.users, *rule.approvers.usergroups],
        expires_at=datetime.now(UTC) + rule.expiry,
        private_metadata=draft.id,
    )
    return draft, confirm
