"""The Take actions journey: the modal from a results message, validated step by step, ending in
a pending approval and its card in the incident thread. Nothing runs here; approvers decide."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.actions.model import ActionOptions, ApprovalSpec
from bot.actions.offer import (
    ActionChoice,
    blast_radius,
    choice_by_key,
    offered_actions,
    parse_row_selection,
    sender_copy_applies,
    targets_from_rows,
)
from bot.actions.registry import ACTIONS
from bot.actions.row_filter import looks_like_filter, parse_row_filter
from bot.errors import BadArgument, FieldErrors, HuntBotError
from bot.flows.approvals import approvers_of
from bot.policy import RequestRefused
from bot.services import Services
from bot.slack.approval_card import render_approval_card
from bot.slack.blocks import rows_text
from bot.slack.ids import TakeActionsBlock
from bot.slack.take_actions import render_choose_view, render_confirm_view
from bot.state.approval_records import Approval
from bot.state.capabilities import load_capabilities
from bot.state.drafts import Draft
from bot.state.results import StoredResult

# Selecting more rows than this in one go would make validation slow on the ack path.
MAX_SELECTED_ROWS = 10_000


@dataclass(frozen=True)
class Choices:
    """What a person filled in on the first step."""

    action: str
    rows: str
    name: str
    description: str


def _choices(meta: StoredResult, capabilities: set[str] | None) -> list[ActionChoice]:
    return offered_actions(
        meta.entity_columns,
        sender_copy_possible=meta.sender_copy_possible,
        capabilities=capabilities,
    )


async def open_modal(
    services: Services, result_id: str, user_id: str, message_ts: str | None, trigger_id: str
) -> None:
    """The first step, built from the result's entities and what the app may do."""
    meta = await services.results.meta(result_id)
    capabilities = await load_capabilities(services.redis.client)
    choices = _choices(meta, capabilities)
    if not choices:
        raise HuntBotError(
            "None of the actions these results allow is granted to the bot's app registration.",
            hint="hunt-bot doctor lists the permissions to grant.",
        )
    note = "" if capabilities is not None else "The app's permissions are not known yet."
    metadata = json.dumps(
        {
            "result": meta.id,
            "thread": meta.thread_ts or message_ts,
            "channel": meta.channel,
            "shown_to": user_id,
        }
    )
    await services.slack.views_open(
        trigger_id=trigger_id, view=render_choose_view(meta, choices, metadata, note=note)
    )


async def review(
    services: Services, user_id: str, result_id: str, thread_ts: str, filled: Choices
) -> dict[str, object]:
    """Validate the first step and keep a draft; the confirmation view, or FieldErrors."""
    meta = await services.results.meta(result_id)
    errors: dict[str, str] = {}
    if not filled.name:
        errors[TakeActionsBlock.NAME] = "Give the remediation a name."
    if not filled.description:
        errors[TakeActionsBlock.DESCRIPTION] = "Say why: approvers and the Action center see it."
    choices = _choices(meta, await load_capabilities(services.redis.client))
    try:
        choice = choice_by_key(choices, filled.action)
    except BadArgument as exc:
        errors[TakeActionsBlock.ACTION] = exc.message
        raise FieldErrors(errors) from None
    try:
        picked, chosen = await _chosen_rows(services, meta, filled.rows)
    except BadArgument as exc:
        errors[TakeActionsBlock.ROWS] = exc.message
        raise FieldErrors(errors) from None
    if errors:
        raise FieldErrors(errors)
    targets = targets_from_rows(choice, picked)
    if not targets:
        raise FieldErrors(
            {TakeActionsBlock.ROWS: "These rows name nothing this action can act on."}
        )
    options: ActionOptions = choice.options
    if options.remediate_senders_copy and not sender_copy_applies(targets):
        raise FieldErrors(
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
            name=filled.name[:100],
            description=filled.description[:1000],
        )
        screened = services.policy.screen(spec)
    except RequestRefused as exc:
        said = f"{exc.message} {exc.hint}" if exc.hint else exc.message
        raise FieldErrors({TakeActionsBlock.ROWS: said}) from None
    except (HuntBotError, ValueError) as exc:
        raise FieldErrors({TakeActionsBlock.ROWS: str(exc)[:150]}) from None
    draft = Draft(
        spec=screened.spec,
        excluded=list(screened.excluded),
        choice_label=choice.label,
        requester=user_id,
        result_id=meta.id,
        hunt=meta.hunt,
        team=meta.team,
        channel=meta.channel,
        thread_ts=thread_ts,
        filled={
            TakeActionsBlock.ACTION: filled.action,
            TakeActionsBlock.ROWS: filled.rows,
            TakeActionsBlock.NAME: filled.name,
            TakeActionsBlock.DESCRIPTION: filled.description,
        },
    )
    await services.drafts.save(draft)
    rule = screened.rule
    return render_confirm_view(
        choice=choice,
        chosen=chosen,
        targets=list(screened.spec.targets),
        excluded=[(e.target, e.reason) for e in screened.excluded],
        radius=blast_radius(list(screened.spec.targets)),
        quorum=rule.quorum,
        approvers=[*rule.approvers.users, *rule.approvers.usergroups],
        expires_at=datetime.now(UTC) + rule.expiry,
        private_metadata=json.dumps(
            {"draft": draft.id, "channel": meta.channel, "shown_to": user_id}
        ),
        caution=ACTIONS[choice.action].caution,
        back_value=json.dumps({"draft": draft.id, "shown_to": user_id}),
    )


async def back_to_choose(services: Services, draft_id: str, user_id: str) -> dict[str, object]:
    """The first step again, as the person filled it in, to change before requesting."""
    draft = await services.drafts.get(draft_id)
    meta = await services.results.meta(draft.result_id)
    choices = _choices(meta, await load_capabilities(services.redis.client))
    metadata = json.dumps(
        {
            "result": meta.id,
            "thread": draft.thread_ts,
            "channel": meta.channel,
            "shown_to": user_id,
        }
    )
    return render_choose_view(meta, choices, metadata, filled=draft.filled)


async def _chosen_rows(
    services: Services, meta: StoredResult, text: str
) -> tuple[list[dict[str, Any]], str]:
    """The rows the Rows field names (numbers, or a filter on column values), and how many of
    the result's rows that is, in words for the review."""
    if looks_like_filter(text):
        if meta.row_count > MAX_SELECTED_ROWS:
            raise BadArgument(
                f"Filters work on results of up to {MAX_SELECTED_ROWS:,} rows; this one has "
                f"{meta.row_count:,}. Choose rows by number, or narrow the hunt."
            )
        wanted = parse_row_filter(text, [c.name for c in meta.columns])
        rows = await services.results.rows(meta.id, 0, meta.row_count)
        picked = [row for row in rows if wanted.matches(row)]
        if not picked:
            raise BadArgument(f"No row has {wanted.describe()}.")
        return picked, (f"{rows_text(len(picked))} of {meta.row_count:,} where {wanted.describe()}")
    selected = parse_row_selection(text, meta.row_count)
    if len(selected) > MAX_SELECTED_ROWS:
        raise BadArgument(f"Choose at most {MAX_SELECTED_ROWS:,} rows at a time.")
    rows = await services.results.rows(meta.id, selected[0], selected[-1] + 1)
    wanted_rows = set(selected)
    picked = [row for index, row in enumerate(rows, start=selected[0]) if index in wanted_rows]
    every = len(selected) == meta.row_count
    return picked, (
        f"all {rows_text(meta.row_count)}" if every else f"{rows_text(len(picked))}: {text.strip()}"
    )


async def request_approval(
    services: Services, draft_id: str, user_id: str, user_name: str
) -> Approval:
    """The reviewed draft becomes a pending approval (once: the draft is taken)."""
    draft = await services.drafts.take(draft_id)
    rule = services.policy.rule(draft.spec.action)
    return await services.approvals.create(
        draft.spec,
        user_id,
        draft.hunt,
        draft.result_id,
        draft.channel,
        draft.thread_ts,
        rule.quorum,
        datetime.now(UTC) + rule.expiry,
        requester_name=user_name,
        excluded=draft.excluded,
    )


async def post_card(services: Services, approval_id: str) -> None:
    """The approval's card in the incident thread, where approvers vote."""
    approval = await services.approvals.get(approval_id)
    if approval is None:
        return
    card = render_approval_card(approval, approvers=approvers_of(services, approval))
    await services.pacer.wait_turn(approval.channel)
    posted = await services.slack.chat_postMessage(
        channel=approval.channel,
        thread_ts=approval.thread_ts,
        text=card.text,
        blocks=card.blocks,
        unfurl_links=False,
    )
    await services.cards.remember(approval.id, approval.channel, posted["ts"])
