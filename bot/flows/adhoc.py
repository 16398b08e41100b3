"""Ad-hoc KQL from Slack: `/hunt kql` opens a form; the query typed there is checked like a hunt
file and runs like any hunt (results, paging, export, incident thread, Take actions when its
columns name entities).

The query is the person's own, validated; it reaches Defender as typed and is never pasted into
anything else. Only people on KQL_ALLOWED_USERS / KQL_ALLOWED_USERGROUPS may (empty: nobody),
and every ad-hoc query is audited with its text.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import timedelta

from bot.errors import FieldErrors, HuntBotError, HuntFileError
from bot.flows import hunts
from bot.flows.hunt_lookup import saved_hunts
from bot.hunts.adhoc import QUERY_MAX_CHARS, adhoc_hunt
from bot.hunts.schema_check import QueryCheck, SchemaChecker
from bot.services import Services
from bot.slack.blocks import Message, render_notice
from bot.slack.directory import usergroup_members
from bot.slack.ids import SavedHuntBlock
from bot.slack.saved_hunts import render_kql_view, render_running_note
from bot.state.usergroups import GroupMembers

# One checker a process (its DuckDB connection of empty tables is made once); checks take turns.
_checker = SchemaChecker()
_checker_lock = threading.Lock()

NOT_ALLOWED = (
    "You are not on the list of people who may run their own KQL. "
    "Ask whoever runs the bot to add you to KQL_ALLOWED_USERS or KQL_ALLOWED_USERGROUPS."
)


def _check(kql: str) -> QueryCheck:
    with _checker_lock:
        return _checker.check_query(kql, "query")


async def check_query(kql: str, block: str = SavedHuntBlock.QUERY) -> QueryCheck:
    """The query checked against Defender's schema; FieldErrors beside `block` when it is surely
    wrong (syntax, a table or column Defender does not document)."""
    if not kql.strip():
        raise FieldErrors({block: "Type a query."})
    if len(kql) > QUERY_MAX_CHARS:
        raise FieldErrors({block: f"A query here may be at most {QUERY_MAX_CHARS:,} characters."})
    try:
        return await asyncio.to_thread(_check, kql)
    except HuntFileError as exc:
        raise FieldErrors({block: _sentence(exc.detail)}) from None


def _sentence(detail: str) -> str:
    """The checker's words about a query, as a sentence beside the field."""
    text = detail[0].upper() + detail[1:] if detail else "This query is not valid."
    if text.startswith(("Is not", "Uses", "Reads")):
        text = "The query " + detail
    return text if text.endswith(".") else text + "."


async def kql_refusal(services: Services, user_id: str, channel_id: str) -> str | None:
    """Why `user_id` may not run their own KQL in this channel, or None if they may."""
    access = await services.access.check(user_id, channel_id)
    if not access.allowed:
        return access.reason
    settings = services.settings
    if user_id in settings.kql_allowed_users:
        return None
    slack = services.slack

    async def lookup(group: str) -> set[str]:
        return await usergroup_members(slack, group)

    members = GroupMembers(services.redis.client, lookup)
    for group in settings.kql_allowed_usergroups:
        if user_id in await members(group):
            return None
    return NOT_ALLOWED


async def open_query_form(
    services: Services, user_id: str, team_id: str, channel_id: str, trigger_id: str | None
) -> Message | None:
    """After the ack of `/hunt kql`: the form, or why not."""
    refusal = await kql_refusal(services, user_id, channel_id)
    if refusal:
        return render_notice(refusal)
    if not trigger_id:
        return render_notice("Slack sent no way to open the form.", hint="Try /hunt kql again.")
    metadata = json.dumps({"shown_to": user_id, "channel": channel_id, "team": team_id})
    await services.slack.views_open(trigger_id=trigger_id, view=render_kql_view(metadata))
    return None


async def run_query(
    services: Services, user_id: str, team_id: str, channel_id: str, query: str
) -> Message:
    """The form's submission, in its ack: check, keep, enqueue. What to tell the person."""
    refusal = await kql_refusal(services, user_id, channel_id)
    if refusal:
        raise HuntBotError(refusal)
    check = await check_query(query)
    hunt = adhoc_hunt(uuid.uuid4().hex, query.strip(), check.columns)
    ttl = timedelta(days=services.settings.results_ttl_days)
    await saved_hunts(services).keep_adhoc(hunt, user_id, ttl, channel=channel_id)
    running = await hunts.start_hunt(services, user_id, team_id, channel_id, hunt.name, "")
    return render_running_note(running, check.note)
