"""Slack's own part in an interaction: a person acts, Slack tells the bot and shows its answer.

`SlackPlatform` turns "alice types /hunt", "bob presses Next", "carol submits the modal" into
the signed request Slack would send (with a trigger id and response URL the stand-in accepts),
and applies what Slack does with the bot's HTTP answer: a slash command's ack body becomes a
message only that person sees; a view submission's `response_action` shows errors, updates,
pushes or closes the modal (../shared/reference/slack-platform.md §2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .calls import Effect
from .chat_methods import with_ids
from .model import Channel, Ephemeral, Message, User, View, Workspace
from .slack_requests import (
    BotAnswer,
    Sender,
    SlackRequest,
    action_payload,
    app_mention,
    block_actions_in_message,
    block_actions_in_view,
    slash_command,
    view_closed,
    view_submission,
)
from .webapi import WebApiStandIn


@dataclass(frozen=True)
class ButtonRef:
    """A button as a person sees it: where it is, and the element itself."""

    where: str  # "message", "ephemeral" or "view"
    key: str  # the message ts or the view id
    channel: str | None
    block_id: str
    element: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.element.get("text", {}).get("text", ""))


def buttons_in(blocks: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(block_id, button element) for every button, in reading order."""
    for block in blocks:
        candidates = [*block.get("elements", []), block.get("accessory")]
        for element in candidates:
            if isinstance(element, dict) and element.get("type") == "button":
                yield str(block.get("block_id", "")), element


@dataclass
class Sent:
    """One request to the bot: what was sent, its answer, and what Slack then showed."""

    request: SlackRequest
    answer: BotAnswer
    calls_before: int  # the call log's length when it was sent
    effects: list[Effect] = field(default_factory=list)
    problem: str | None = None  # why Slack would show the person an error

    @property
    def failed(self) -> bool:
        return self.answer.status >= 400 or self.problem is not None


class SlackPlatform:
    def __init__(
        self,
        stand_in: WebApiStandIn,
        sender: Sender,
        *,
        on_answer: Callable[[str, int, object], None] | None = None,
    ) -> None:
        self.slack = stand_in
        self.sender = sender
        self._on_answer = on_answer  # told each ack's body (the console's transcript)

    @property
    def workspace(self) -> Workspace:
        return self.slack.workspace

    async def _send(self, request: SlackRequest) -> Sent:
        before = len(self.slack.calls)
        answer = await self.sender.send(request)
        if self._on_answer is not None:
            self._on_answer(request.kind, answer.status, answer.json())
        problem = None if answer.status < 400 else f"the bot answered HTTP {answer.status}"
        return Sent(request, answer, before, problem=problem)

    # -- in the channel ------------------------------------------------------------------------

    async def slash_command(self, user: User, channel: Channel, command: str, text: str) -> Sent:
        request = slash_command(
            user=user,
            channel=channel,
            command=command,
            text=text,
            response_url=self.slack.issue_response_url(channel=channel.id, user=user.id),
            trigger_id=self.slack.issue_trigger(user.id),
        )
        sent = await self._send(request)
        if not sent.failed:
            self._show_command_answer(sent, user, channel)
        return sent

    def _show_command_answer(self, sent: Sent, user: User, channel: Channel) -> None:
        """An ack with a body is shown at once, to the person alone unless `in_channel`."""
        body = sent.answer.json()
        if not isinstance(body, dict):
            if sent.answer.text.strip():
                body = {"text": sent.answer.text}
            else:
                return
        text, blocks = str(body.get("text") or ""), with_ids(body.get("blocks") or [])
        workspace = self.workspace
        if body.get("response_type") == "in_channel":
            message = workspace.add_message(
                Message(channel.id, workspace.next_ts(), text, blocks, user.id)
            )
            sent.effects.append(("message", channel.id, message.ts))
        else:
            ephemeral = Ephemeral(channel.id, user.id, workspace.next_ts(), text, blocks)
            workspace.ephemerals.append(ephemeral)
            sent.effects.append(("ephemeral", ephemeral.ts))

    async def mention(self, user: User, channel: Channel, text: str, thread_ts: str | None) -> Sent:
        """The person posts `text` (mentions already `<@U…>`) in the thread; the bot hears of it."""
        workspace = self.workspace
        message = workspace.add_message(
            Message(channel.id, workspace.next_ts(), text, [], user.id, thread_ts=thread_ts)
        )
        request = app_mention(
            user=user, channel=channel, text=text, ts=message.ts, thread_ts=thread_ts
        )
        sent = await self._send(request)
        sent.effects.append(("message", channel.id, message.ts))
        return sent

    # -- buttons -------------------------------------------------------------------------------

    async def press(self, user: User, button: ButtonRef) -> Sent:
        action = action_payload(button.element, button.block_id)
        trigger_id = self.slack.issue_trigger(user.id)
        if button.where == "view":
            view = self._view(button.key)
            request = block_actions_in_view(
                user=user, view=self.view_payload(view), action=action, trigger_id=trigger_id
            )
            return await self._send(request)
        assert button.channel is not None
        channel = self.workspace.channels[button.channel]
        if button.where == "ephemeral":
            ephemeral = self.workspace.ephemeral(button.key)
            assert ephemeral is not None
            message = {"type": "message", "ts": ephemeral.ts, "text": ephemeral.text}
            if ephemeral.thread_ts:
                message["thread_ts"] = ephemeral.thread_ts
        else:
            found = self.workspace.message(channel.id, button.key)
            assert found is not None
            message = found.to_slack()
        response_url = self.slack.issue_response_url(
            channel=channel.id,
            user=user.id,
            source=(button.where, button.key),
            thread_ts=message.get("thread_ts"),
        )
        request = block_actions_in_message(
            user=user,
            channel=channel,
            message=message,
            action=action,
            trigger_id=trigger_id,
            response_url=response_url,
            is_ephemeral=button.where == "ephemeral",
        )
        return await self._send(request)

    # -- modals --------------------------------------------------------------------------------

    def _view(self, view_id: str) -> View:
        view = self.workspace.find_view(view_id=view_id)
        if view is None:
            raise LookupError(f"no open view {view_id}")
        return view

    def view_payload(self, view: View) -> dict[str, Any]:
        """The view as Slack sends it back: with the state of every input, typed or not."""
        return view.to_slack() | {"state": {"values": submission_values(view)}}

    async def dispatch_input(
        self, user: User, view: View, block_id: str, chosen: dict[str, Any]
    ) -> Sent:
        """An input with `dispatch_action` tells the bot as soon as it changes."""
        block = next(b for b in view.spec["blocks"] if b.get("block_id") == block_id)
        action = action_payload(block["element"], block_id, chosen)
        request = block_actions_in_view(
            user=user,
            view=self.view_payload(view),
            action=action,
            trigger_id=self.slack.issue_trigger(user.id),
        )
        return await self._send(request)

    async def fill(self, user: User, label: str, value: str) -> Sent | None:
        """Type into, or pick from, the input labelled `label` in the person's open modal."""
        view = self.workspace.top_view(user.id)
        if view is None:
            raise LookupError("no modal is open")
        inputs = [b for b in view.spec.get("blocks", []) if b.get("type") == "input"]
        wanted = label.strip().casefold()
        block = next(
            (b for b in inputs if _plain(b.get("label")).strip().casefold() == wanted), None
        )
        if block is None:
            labels = ", ".join(repr(_plain(b.get("label"))) for b in inputs) or "none"
            raise LookupError(f"no input labelled {label!r} (inputs: {labels})")
        element = block["element"]
        chosen = choose(element, value, self.workspace)
        block_id, action_id = block["block_id"], element.get("action_id", "")
        view.values.setdefault(block_id, {})[action_id] = {"type": element.get("type")} | chosen
        view.errors.pop(block_id, None)
        if block.get("dispatch_action"):
            return await self.dispatch_input(user, view, block_id, chosen)
        return None

    async def submit(self, user: User) -> Sent:
        view = self.workspace.top_view(user.id)
        if view is None:
            raise LookupError("no modal is open")
        request = view_submission(
            user=user, view=self.view_payload(view), trigger_id=self.slack.issue_trigger(user.id)
        )
        sent = await self._send(request)
        if not sent.failed:
            self._apply_response_action(sent, user, view)
        return sent

    def _apply_response_action(self, sent: Sent, user: User, view: View) -> None:
        body = sent.answer.json() or {}
        action = body.get("response_action") if isinstance(body, dict) else None
        stack = self.workspace.views.get(user.id, [])
        if action == "errors":
            view.errors = dict(body.get("errors") or {})
            sent.effects.append(("view", view.id))
        elif action == "update":
            view.spec = dict(body["view"]) | {"blocks": with_ids(body["view"].get("blocks", []))}
            view.errors = {}
            sent.effects.append(("view", view.id))
        elif action == "push":
            pushed = View(
                self.workspace.new_id("V"),
                user.id,
                dict(body["view"]) | {"blocks": with_ids(body["view"].get("blocks", []))},
                hash="",
                root_view_id=stack[0].id if stack else view.id,
                previous_view_id=view.id,
            )
            stack.append(pushed)
            sent.effects.append(("view", pushed.id))
        elif action == "clear":
            stack.clear()
            sent.effects.append(("view_closed", user.id))
        else:
            if stack and stack[-1] is view:
                stack.pop()
            sent.effects.append(("view_closed", user.id))

    async def cancel(self, user: User) -> Sent | None:
        """Close the top modal; the bot hears of it only if the view asked (`notify_on_close`)."""
        stack = self.workspace.views.get(user.id)
        if not stack:
            raise LookupError("no modal is open")
        view = stack.pop()
        if not view.spec.get("notify_on_close"):
            return None
        request = view_closed(user=user, view=self.view_payload(view))
        sent = await self._send(request)
        sent.effects.append(("view_closed", user.id))
        return sent


def submission_values(view: View) -> dict[str, dict[str, Any]]:
    """`state.values` of a view: what was typed or picked, else each input's initial value."""
    values: dict[str, dict[str, Any]] = {}
    for block in view.spec.get("blocks", []):
        element = block.get("element")
        if block.get("type") != "input" or not isinstance(element, dict):
            continue
        block_id, action_id = block["block_id"], element.get("action_id", "")
        typed = view.values.get(block_id, {}).get(action_id)
        values[block_id] = {action_id: typed or initial_value(element)}
    return values


def initial_value(element: dict[str, Any]) -> dict[str, Any]:
    kind = element.get("type", "")
    state: dict[str, Any] = {"type": kind}
    if kind in ("static_select", "radio_buttons", "external_select"):
        state["selected_option"] = element.get("initial_option")
    elif kind in ("multi_static_select", "checkboxes"):
        state["selected_options"] = element.get("initial_options", [])
    elif kind == "users_select":
        state["selected_user"] = element.get("initial_user")
    elif kind == "multi_users_select":
        state["selected_users"] = element.get("initial_users", [])
    elif kind == "datepicker":
        state["selected_date"] = element.get("initial_date")
    else:
        state["value"] = element.get("initial_value")
    return state


def _plain(text: Any) -> str:
    return str(text.get("text", "")) if isinstance(text, dict) else ""


def options_of(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return options


def choose(element: dict[str, Any], value: str, workspace: Workspace) -> dict[str, Any]:
    """What the person picked or typed, in the shape of `state.values` for that element."""
    kind = element.get("type", "")
    if kind in ("static_select", "radio_buttons", "multi_static_select", "checkboxes"):
        options = options_of(element)
        picked = []
        wanted = [value] if kind in ("static_select", "radio_buttons") else value.split(",")
        for item in wanted:
            key = item.strip().casefold()
            option = next(
                (
                    o
                    for o in options
                    if _plain(o.get("text")).casefold() == key or str(o.get("value")) == item
                ),
                None,
            )
            if option is None:
                names = ", ".join(repr(_plain(o.get("text"))) for o in options)
                raise LookupError(f"no option {item.strip()!r} (options: {names})")
            picked.append(option)
        if kind in ("static_select", "radio_buttons"):
            return {"selected_option": picked[0]}
        return {"selected_options": picked}
    if kind in ("users_select", "multi_users_select"):
        users = []
        for name in value.split(","):
            found = workspace.user_by_name(name.strip())
            if found is None:
                raise LookupError(f"no user {name.strip()!r}")
            users.append(found.id)
        if kind == "users_select":
            return {"selected_user": users[0]}
        return {"selected_users": users}
    if kind in ("conversations_select", "channels_select"):
        channel = workspace.channel_by_ref(value.strip())
        if channel is None:
            raise LookupError(f"no channel {value.strip()!r}")
        key = "selected_conversation" if kind == "conversations_select" else "selected_channel"
        return {key: channel.id}
    if kind == "datepicker":
        return {"selected_date": value}
    return {"value": value}
