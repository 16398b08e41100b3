"""views.open, views.push, views.update, and the file upload methods.

Views: a trigger id opens one modal within ~3 s; a stack holds at most 3 views
(`push_limit_reached`); views.update finds a view by `view_id` or `external_id` (`not_found`)
and refuses a stale `hash` (`hash_conflict`). Error codes are those of Slack's views.* reference
pages; a view that breaks Block Kit limits gets `invalid_arguments` with the problems in
`response_metadata.messages`.

Files: files.getUploadURLExternal hands out an upload URL on this stand-in; the bytes are POSTed
there; files.completeUploadExternal shares the file into `channel_id` (and `thread_ts`) as a
message from the bot with a `files` list.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from .calls import Effect
from .chat_methods import with_ids
from .limits import view_problems
from .model import BOT_ID, BOT_USER_ID, Message, UploadedFile, View
from .protocol import Handler, Reply, SlackError, SlackState, json_arg, optional_str, required

MAX_VIEW_STACK = 3


def _view_spec(args: dict[str, Any]) -> dict[str, Any]:
    spec = json_arg(args, "view", "invalid_arguments")
    if spec is None:
        raise SlackError("invalid_arguments")
    problems = view_problems(spec)
    if problems:
        raise SlackError("invalid_arguments", problems)
    return dict(spec) | {"blocks": with_ids(spec.get("blocks", []))}


def _new_hash() -> str:
    return f"{int(time.time())}.{secrets.token_urlsafe(6)}"


def _exchange(state: SlackState, args: dict[str, Any]) -> str:
    trigger_id = optional_str(args, "trigger_id") or optional_str(args, "interactivity_pointer")
    if trigger_id is None:
        raise SlackError("invalid_arguments")
    user, error = state.triggers.exchange(trigger_id)
    if error:
        raise SlackError(error)
    assert user is not None
    return user


def _check_external_id(state: SlackState, spec: dict[str, Any], keep: View | None = None) -> None:
    external_id = spec.get("external_id")
    if external_id:
        other = state.workspace.find_view(external_id=external_id)
        if other is not None and other is not keep:
            raise SlackError("duplicate_external_id")


def views_open(state: SlackState, args: dict[str, Any]) -> Reply:
    spec = _view_spec(args)
    _check_external_id(state, spec)
    user = _exchange(state, args)
    view_id = state.workspace.new_id("V")
    view = View(view_id, user, spec, _new_hash(), root_view_id=view_id)
    # A new modal replaces whatever the person had open.
    state.workspace.views[user] = [view]
    return Reply({"ok": True, "view": view.to_slack()}, [("view", view.id)])


def views_push(state: SlackState, args: dict[str, Any]) -> Reply:
    spec = _view_spec(args)
    _check_external_id(state, spec)
    user = _exchange(state, args)
    stack = state.workspace.views.get(user)
    if not stack:
        raise SlackError("not_found")
    if len(stack) >= MAX_VIEW_STACK:
        raise SlackError("push_limit_reached")
    view = View(
        state.workspace.new_id("V"),
        user,
        spec,
        _new_hash(),
        root_view_id=stack[0].id,
        previous_view_id=stack[-1].id,
    )
    stack.append(view)
    return Reply({"ok": True, "view": view.to_slack()}, [("view", view.id)])


def views_update(state: SlackState, args: dict[str, Any]) -> Reply:
    spec = _view_spec(args)
    view = state.workspace.find_view(
        view_id=optional_str(args, "view_id"), external_id=optional_str(args, "external_id")
    )
    if view is None:
        raise SlackError("not_found")
    expected = optional_str(args, "hash")
    if expected is not None and expected != view.hash:
        raise SlackError("hash_conflict")
    _check_external_id(state, spec, keep=view)
    view.spec = spec
    view.hash = _new_hash()
    view.errors = {}
    # Inputs that keep their block_id and action_id keep what the person typed.
    still_there = _input_ids(spec)
    view.values = {
        block_id: {a: v for a, v in actions.items() if (block_id, a) in still_there}
        for block_id, actions in view.values.items()
        if any(b == block_id for b, _ in still_there)
    }
    return Reply({"ok": True, "view": view.to_slack()}, [("view", view.id)])


def _input_ids(spec: dict[str, Any]) -> set[tuple[str, str]]:
    ids = set()
    for block in spec.get("blocks", []):
        element = block.get("element") if isinstance(block, dict) else None
        if isinstance(element, dict) and block.get("block_id") and element.get("action_id"):
            ids.add((block["block_id"], element["action_id"]))
    return ids


# -- files ------------------------------------------------------------------------------------


def get_upload_url(state: SlackState, args: dict[str, Any]) -> Reply:
    filename = required(args, "filename")
    try:
        length = int(required(args, "length"))
    except ValueError:
        raise SlackError("invalid_arguments") from None
    file_id = state.workspace.new_id("F")
    state.workspace.files[file_id] = UploadedFile(file_id, filename, length)
    return Reply(
        {"ok": True, "upload_url": f"{state.base_url}/upload/v1/{file_id}", "file_id": file_id}
    )


def complete_upload(state: SlackState, args: dict[str, Any]) -> Reply:
    workspace = state.workspace
    entries = json_arg(args, "files", "invalid_arguments")
    if not isinstance(entries, list) or not entries:
        raise SlackError("invalid_arguments")
    files: list[UploadedFile] = []
    for entry in entries:
        found = workspace.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
        if found is None or found.content is None:
            raise SlackError("file_not_found")
        found.title = str(entry.get("title") or found.filename)
        files.append(found)
    channel_ref = optional_str(args, "channel_id") or optional_str(args, "channels")
    thread_ts = optional_str(args, "thread_ts")
    effects: list[Effect] = []
    if channel_ref is not None:
        channel = workspace.channel_by_ref(channel_ref.split(",")[0])
        if channel is None:
            raise SlackError("channel_not_found")
        if thread_ts is not None and workspace.message(channel.id, thread_ts) is None:
            raise SlackError("thread_not_found")
        for found in files:
            found.shared_in.append((channel.id, thread_ts))
        message = workspace.add_message(
            Message(
                channel.id,
                workspace.next_ts(),
                str(args.get("initial_comment") or ""),
                [],
                BOT_USER_ID,
                BOT_ID,
                thread_ts,
                files=[f.to_slack(state.base_url) for f in files],
            )
        )
        effects.append(("message", channel.id, message.ts))
    return Reply({"ok": True, "files": [f.to_slack(state.base_url) for f in files]}, effects)


MODAL_AND_FILE_METHODS: dict[str, Handler] = {
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
}
