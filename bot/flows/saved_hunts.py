"""Saved, shared hunts from Slack: Save as hunt (on an ad-hoc query's results), `/hunt save
[NAME]` (a new hunt, or an existing one to edit), `/hunt delete NAME` (asked first).

Who may: saving a new hunt, whoever may run their own KQL; changing or deleting one, its author
or an approver. A saved hunt never takes the name of a built-in or a hunt file. Every save is a
new version, in the audit log with its query.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.errors import FieldErrors, HuntBotError
from bot.flows.adhoc import check_query, kql_refusal
from bot.flows.hunt_lookup import find_hunt, saved_hunts
from bot.hunts import Hunt
from bot.hunts.adhoc import (
    ADHOC_PREFIX,
    NAME_MAX,
    declare_parameters,
    derive_columns,
    normalise_name,
    projected_columns,
)
from bot.services import Services
from bot.slack.blocks import Message, render_notice
from bot.slack.ids import SavedHuntBlock
from bot.slack.saved_hunts import render_delete_question, render_save_view, render_saved
from bot.state.saved_hunts import SaveConflict, SavedHunt

NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$", re.IGNORECASE)


async def may_change(services: Services, saved: SavedHunt, user_id: str) -> bool:
    """A saved hunt's author or an approver (of anything) may change or delete it."""
    if saved.author == user_id:
        return True
    return (await services.policy.may_see_audit(user_id)).allowed


def _not_yours(saved: SavedHunt) -> str:
    by = "was imported" if saved.author == "import" else "is someone else's"
    return f"`{saved.hunt.name}` {by}: only its author or an approver can change or delete it."


async def open_save_form(
    services: Services,
    user_id: str,
    team_id: str,
    channel_id: str,
    trigger_id: str | None,
    *,
    name: str = "",
    result_id: str | None = None,
) -> Message | None:
    """The Save as hunt form, filled in from an ad-hoc result or the saved hunt being edited."""
    metadata: dict[str, Any] = {"shown_to": user_id, "channel": channel_id, "team": team_id}
    fields: dict[str, Any] = {}
    name = name.strip().lower()
    saved = await saved_hunts(services).get(name) if name else None
    if saved is not None:
        if not await may_change(services, saved, user_id):
            return render_notice(_not_yours(saved))
        hunt = saved.hunt
        fields = {
            "title": hunt.title,
            "description": hunt.description,
            "query": _with_lets(hunt),
            "tactics": ", ".join([*hunt.tactics, *hunt.techniques]),
            "editing": (saved.version, saved.saved_by),
        }
        metadata |= {"name": hunt.name, "version": saved.version}
    else:
        refusal = await kql_refusal(services, user_id, channel_id)
        if refusal:
            return render_notice(refusal)
        source = services.catalog.source(name) if name else None
        if source is not None:
            return render_notice(
                f"`{name}` is a {source} hunt; a saved hunt cannot replace it.",
                hint="Choose another name: /hunt save NEW-NAME",
            )
        fields["name"] = name
        if result_id is not None:
            meta = await services.results.meta(result_id)
            adhoc = await find_hunt(services, meta.hunt)
            fields["query"] = adhoc.query
    if not trigger_id:
        return render_notice("Slack sent no way to open the form.", hint="Try again.")
    view = render_save_view(json.dumps(metadata), **fields)
    await services.slack.views_open(trigger_id=trigger_id, view=view)
    return None


def _with_lets(hunt: Hunt) -> str:
    """The query as the person would type it: its parameters back as leading `let`s."""
    lets = [f"let {p.name} = {p.render(p.default_value())};" for p in hunt.parameters]
    return "\n".join([*lets, hunt.query.strip()])


async def save(
    services: Services, user_id: str, metadata: dict[str, Any], values: dict[str, str]
) -> Message:
    """The form's submission, in its ack: FieldErrors beside what is wrong, else saved."""
    channel = str(metadata.get("channel") or "")
    editing = str(metadata.get("name") or "")
    version = int(metadata.get("version") or 0)
    store = saved_hunts(services)
    if editing:
        name = editing
        saved = await store.get(name)
        if saved is None:
            raise HuntBotError(f"`{name}` was deleted meanwhile; nothing was saved.")
        if not await may_change(services, saved, user_id):
            raise HuntBotError(_not_yours(saved))
    else:
        name = _check_name(services, values.get("name", ""))
        refusal = await kql_refusal(services, user_id, channel)
        if refusal:
            raise HuntBotError(refusal)
    hunt, note = await _hunt_from_form(name, values)
    try:
        done = await store.save(hunt, user_id, expected_version=version, channel=channel)
    except SaveConflict as exc:
        if not editing:
            raise FieldErrors({SavedHuntBlock.NAME: f"{exc.message} {exc.hint}"}) from None
        raise
    parameters = [f"{p.name} ({p.type.value}, default {p.example})" for p in hunt.parameters]
    return render_saved(done.hunt.name, done.version, parameters, note)


def _check_name(services: Services, typed: str) -> str:
    name = typed.strip().lower()
    if not NAME_PATTERN.fullmatch(name) or len(name) > NAME_MAX:
        suggestion = normalise_name(typed) or "suspicious-inbox-rules"
        raise FieldErrors(
            {
                SavedHuntBlock.NAME: "Use lower-case words and digits joined by hyphens, "
                f"such as {suggestion}."
            }
        )
    if name.startswith(ADHOC_PREFIX):
        raise FieldErrors({SavedHuntBlock.NAME: f"Names starting {ADHOC_PREFIX} are reserved."})
    source = services.catalog.source(name)
    if source is not None:
        raise FieldErrors(
            {SavedHuntBlock.NAME: f"There is a {source} hunt called {name}; choose another name."}
        )
    return name


async def _hunt_from_form(name: str, values: dict[str, str]) -> tuple[Hunt, str | None]:
    title = values.get("title", "").strip()
    description = values.get("description", "").strip() or title
    errors: dict[str, str] = {}
    if not title:
        errors[SavedHuntBlock.TITLE] = "Give it a title."
    query = values.get("query", "").strip()
    try:
        checked = await check_query(query)
    except FieldErrors as exc:
        errors |= exc.errors
    if errors:
        raise FieldErrors(errors)
    declared = declare_parameters(query)
    tactics, techniques = _split_mitre(values.get("tactics", ""))
    returned, note = checked.columns, checked.note
    if returned is None:
        returned = projected_columns(declared.query)
        found = (
            "its columns were read from its last project"
            if returned
            else "its columns are not known, so Take actions is not offered on its results"
        )
        note = f"{note}; {found}." if note else f"The lab could not check it; {found}."
    columns, entities = derive_columns(returned or ())
    try:
        hunt = Hunt(
            name=name,
            title=title,
            description=description,
            parameters=declared.parameters,
            query=declared.query,
            columns=columns,
            entities=entities,
            tactics=tactics,
            techniques=techniques,
        )
    except ValueError as exc:
        raise FieldErrors({SavedHuntBlock.QUERY: str(exc).splitlines()[-1][:300]}) from None
    return hunt, note


def _split_mitre(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    tactics: list[str] = []
    techniques: list[str] = []
    for token in re.split(r"[,;\s]+", text.strip()):
        if not token:
            continue
        (techniques if TECHNIQUE.fullmatch(token) else tactics).append(
            token.upper() if TECHNIQUE.fullmatch(token) else token
        )
    return tuple(dict.fromkeys(tactics)), tuple(dict.fromkeys(techniques))


async def ask_delete(services: Services, user_id: str, name: str) -> Message:
    """`/hunt delete NAME`: the question, with Delete it and Keep it; or why not."""
    name = name.strip().lower()
    if not name:
        return render_notice("Say which saved hunt to delete: /hunt delete NAME")
    saved = await saved_hunts(services).get(name)
    if saved is None:
        source = services.catalog.source(name)
        if source is not None:
            return render_notice(
                f"`{name}` is a {source} hunt, not a saved one; it cannot be deleted from Slack."
            )
        return render_notice(f"There is no saved hunt called `{name}`.", hint="See /hunt list.")
    if not await may_change(services, saved, user_id):
        return render_notice(_not_yours(saved))
    return render_delete_question(
        name, saved.hunt.title, saved.version, saved.saved_by, saved.saved_at, user_id
    )


async def delete(
    services: Services, user_id: str, channel: str | None, name: str, version: int
) -> Message:
    """Delete it, if it is still the version the question was about."""
    store = saved_hunts(services)
    saved = await store.get(name)
    if saved is None:
        return render_notice(f"`{name}` is already deleted.")
    if not await may_change(services, saved, user_id):
        return render_notice(_not_yours(saved))
    if not await store.delete(name, user_id, version=version, channel=channel):
        return render_notice(
            f"`{name}` was saved again meanwhile, so it was not deleted.",
            hint=f"Ask again with /hunt delete {name} if you still mean it.",
        )
    return render_notice(f"Deleted the saved hunt {name}. The audit log keeps its versions.")


def kept(name: str) -> Message:
    return render_notice(f"Kept {name}; nothing was deleted.")
