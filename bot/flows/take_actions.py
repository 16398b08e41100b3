"""The Take actions journey: the modal from a results message, validated step by step, ending in
a pending approval (one per chosen action) and its card in the incident thread. Nothing runs
here; approvers decide."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.actions.model import ApprovalSpec, Target
from bot.actions.offer import (
    ActionChoice,
    blast_radius,
    choose_actions,
    offered_actions,
    parse_row_selection,
    plan_emails,
    targets_from_rows,
)
from bot.actions.registry import ACTIONS
from bot.actions.row_filter import looks_like_filter, parse_row_filter
from bot.errors import BadArgument, FieldErrors, HuntBotError
from bot.flows.approvals import post_card
from bot.policy import RequestRefused, Screened
from bot.services import Services
from bot.slack.blocks import rows_text
from bot.slack.ids import TakeActionsBlock
from bot.slack.take_actions import ReviewedAction, render_choose_view, render_confirm_view
from bot.state.approval_records import Approval
from bot.state.capabilities import load_capabilities
from bot.state.drafts import Draft, DraftPart
from bot.state.remediated import RemediatedTargets
from bot.state.results import StoredResult

# Selecting more rows than this in one go would make validation slow on the ack path.
MAX_SELECTED_ROWS = 10_000


@dataclass(frozen=True)
class Choices:
    """What a person filled in on the first step."""

    actions: tuple[str, ...]  # the chosen menu entries' keys
    rows: str
    name: str
    description: str


def _choices(meta: StoredResult, capabilities: set[str] | None) -> list[ActionChoice]:
    return offered_actions(meta.entity_columns, capabilities=capabilities)


async def open_modal(
    services: Services,
    result_id: str,
    user_id: str,
    message_ts: str | None,
    trigger_id: str,
    rows: str = "",
) -> None:
    """The first step, built from the result's entities and what the app may do; `rows` starts
    the Rows field (a filtered results view passes its filter)."""
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
        trigger_id=trigger_id,
        view=render_choose_view(
            meta,
            choices,
            metadata,
            note=note,
            filled={TakeActionsBlock.ROWS: rows} if rows else None,
        ),
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
        picked_actions = choose_actions(choices, filled.actions)
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
    several = len(picked_actions) > 1
    planned = [_plan(services, meta, choice, picked, filled, several) for choice in picked_actions]
    draft = Draft(
        parts=[
            DraftPart(
                spec=screened.spec,
                excluded=list(screened.excluded),
                choice_label=choice.label,
            )
            for choice, screened, _ in planned
        ],
        requester=user_id,
        result_id=meta.id,
        hunt=meta.hunt,
        team=meta.team,
        channel=meta.channel,
        thread_ts=thread_ts,
        filled={
            TakeActionsBlock.ACTION: ",".join(c.key for c in picked_actions),
            TakeActionsBlock.ROWS: filled.rows,
            TakeActionsBlock.NAME: filled.name,
            TakeActionsBlock.DESCRIPTION: filled.description,
        },
    )
    await services.drafts.save(draft)
    earlier = RemediatedTargets(services.redis.client)
    reviewed = []
    for choice, screened, left_out in planned:
        spec, rule = screened.spec, screened.rule
        flags = {
            key: (ACTIONS[found.action].done, found.approval_id)
            for key, found in (
                await earlier.earlier(spec.action, [t.key for t in spec.targets])
            ).items()
        }
        reviewed.append(
            ReviewedAction(
                label=choice.label,  # the sender's copy is in the blast radius
                targets=list(spec.targets),
                radius=blast_radius(
                    list(spec.targets), senders_copy=spec.options.remediate_senders_copy
                ),
                quorum=rule.quorum,
                approvers=(list(rule.approvers.users), list(rule.approvers.usergroups)),
                expires_at=datetime.now(UTC) + rule.expiry,
                excluded=[(e.target, e.reason) for e in screened.excluded],
                caution=ACTIONS[choice.action].caution,
                flags=flags,
                senders_copy=spec.options.remediate_senders_copy,
                left_out=left_out,
            )
        )
    return render_confirm_view(
        actions=reviewed,
        chosen=chosen,
        private_metadata=json.dumps(
            {"draft": draft.id, "channel": meta.channel, "shown_to": user_id}
        ),
        back_value=json.dumps({"draft": draft.id, "shown_to": user_id}),
    )


def _plan(
    services: Services,
    meta: StoredResult,
    choice: ActionChoice,
    rows: list[dict[str, Any]],
    filled: Choices,
    several: bool,
) -> tuple[ActionChoice, Screened, int]:
    """One chosen action as policy lets it run, and how many outbound rows it left out; a
    FieldErrors naming the action (when there are several) if it can't be asked for."""
    named = f"{choice.label}: " if several else ""
    targets: list[Target] = targets_from_rows(choice, rows)
    options, left_out = choice.options, 0
    if choice.action.entity == "email":
        plan = plan_emails(choice.action, targets, sender_copy_possible=meta.sender_copy_possible)
        targets, left_out = plan.targets, plan.left_out
        options = options.model_copy(update={"remediate_senders_copy": plan.senders_copy})
        if not targets and left_out:
            said = (
                "These rows are outbound mail: the recipients' mailboxes are outside the "
                "organisation, beyond Defender's reach."
            )
            if meta.sender_copy_possible and not ACTIONS[choice.action].senders_copy:
                said += " Soft delete would take the sender's Sent Items copy."
            raise FieldErrors({TakeActionsBlock.ROWS: said})
    if not targets:
        raise FieldErrors(
            {TakeActionsBlock.ROWS: f"{named}These rows name nothing this action can act on."}
        )
    try:
        spec = ApprovalSpec(
            action=choice.action,
            options=options,
            targets=tuple(targets),
            name=filled.name[:100],
            description=filled.description[:1000],
        )
        return choice, services.policy.screen(spec), left_out
    except RequestRefused as exc:
        said = f"{exc.message} {exc.hint}" if exc.hint else exc.message
        raise FieldErrors({TakeActionsBlock.ROWS: named + said}) from None
    except (HuntBotError, ValueError) as exc:
        raise FieldErrors({TakeActionsBlock.ROWS: (named + str(exc))[:150]}) from None


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
    if len(selected) == meta.row_count:
        return picked, f"all {rows_text(meta.row_count)}"
    if len(selected) == 1:
        return picked, f"row {selected[0] + 1}"
    return picked, f"{rows_text(len(picked))} ({text.strip()})"


async def request_approval(
    services: Services, draft_id: str, user_id: str, user_name: str
) -> list[Approval]:
    """The reviewed draft becomes pending approvals, one per action (once: the draft is taken).
    All or none: if one can't be made, those made before it are cancelled."""
    draft = await services.drafts.take(draft_id)
    made: list[Approval] = []
    try:
        for part in draft.parts:
            rule = services.policy.rule(part.spec.action)
            made.append(
                await services.approvals.create(
                    part.spec,
                    user_id,
                    draft.hunt,
                    draft.result_id,
                    draft.channel,
                    draft.thread_ts,
                    rule.quorum,
                    datetime.now(UTC) + rule.expiry,
                    requester_name=user_name,
                    excluded=part.excluded,
                )
            )
    except Exception:
        for approval in made:
            await services.approvals.cancel(
                approval.id, user_id, by_name=user_name, reason="the request was not completed"
            )
        raise
    return made


async def post_cards(services: Services, approval_ids: list[str]) -> None:
    """Each approval's card in the incident thread, in the order the actions were chosen."""
    for approval_id in approval_ids:
        await post_card(services, approval_id)
