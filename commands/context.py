"""The one road every Slack request takes into the bot: typed facts, who may press what, and one
error boundary.

`Listeners` is the only way to register a listener. Each registration names who may use the
control (`Who`); the context checks it before any flow runs. Whatever goes wrong is answered where
the person is looking: in the command's own answer, next to a modal's field, in the modal itself,
or privately in the channel; anything unexpected gets an error id, logged once with that id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.errors import FieldErrors, HuntBotError
from bot.flows.failures import failure_message
from bot.flows.log_ids import bind_press
from bot.flows.permissions import Press, Who, check
from bot.services import Services
from bot.slack.blocks import Message, render_markup_notice, render_notice, render_notice_view
from bot.slack.delivery import replace_private, tell_user

# Slack drops an answer to a command or a form that comes after 3 s and shows its own error
# instead; a Redis that hangs (read timeout 5 s) is answered by us, inside that window.
ACK_DEADLINE = 2.5

log = logging.getLogger(__name__)

# Said when a stopping process (a deploy) cuts off what a request started after its ack.
CUT_OFF_NOTICE = render_notice(
    "hunt-bot restarted before it finished what you asked, so it may be only partly done.",
    "Check the thread, then try again if it is still needed.",
)

# Set on every function the boundary hands to Bolt, so a test can prove none goes around it.
BOUNDARY_MARK = "__hunt_bot_boundary__"


class Kind(StrEnum):
    COMMAND = "command"
    ACTION = "action"
    VIEW = "view"
    EVENT = "event"


class PayloadError(HuntBotError):
    """A payload without what its kind always carries: nothing can run, the sender is told."""


@dataclass(frozen=True)
class Facts:
    """The facts of a payload that listeners and rules rely on, parsed once."""

    kind: Kind
    control: str  # command, action id, view callback id or event type
    user: str
    user_name: str = ""
    team: str = ""
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    value: str = ""  # a button's value
    trigger_id: str | None = None
    response_url: str | None = None
    text: str = ""  # a command's or a mention's text
    view: dict[str, Any] = field(default_factory=dict)  # a submitted view
    metadata: dict[str, Any] = field(default_factory=dict)  # JSON value or private_metadata
    event_id: str = ""
    from_bot: bool = False  # an event a bot (this one included) caused
    bot_user: str = ""  # an event's addressee: this bot's user id, as Slack delivered it

    @property
    def shown_to(self) -> str | None:
        shown = self.metadata.get("shown_to")
        return shown if isinstance(shown, str) else None

    def field_value(self, block: str, element: str) -> dict[str, Any]:
        """A submitted input's state: {} when the block is not there."""
        values = (self.view.get("state") or {}).get("values") or {}
        found = (values.get(block) or {}).get(element)
        return found if isinstance(found, dict) else {}


def _object(text: str) -> dict[str, Any]:
    if not text.startswith("{"):
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def parse_facts(kind: Kind, body: dict[str, Any]) -> Facts:
    """The facts of one payload; PayloadError when it lacks what Slack always sends."""
    try:
        if kind is Kind.COMMAND:
            return Facts(
                kind=kind,
                control=str(body["command"]),
                user=str(body["user_id"]),
                user_name=str(body.get("user_name") or ""),
                team=str(body.get("team_id") or ""),
                channel=str(body["channel_id"]),
                text=str(body.get("text") or ""),
                trigger_id=body.get("trigger_id"),
                response_url=body.get("response_url"),
            )
        person = body["user"]
        team = (body.get("team") or {}).get("id") or person.get("team_id") or ""
        name = person.get("username") or person.get("name") or ""
        if kind is Kind.ACTION:
            action = body["actions"][0]
            container = body.get("container") or {}
            # A button's value, or the option chosen in a menu (Go hunt…).
            chosen = action.get("selected_option") or {}
            value = str(action.get("value") or chosen.get("value") or "")
            return Facts(
                kind=kind,
                control=str(action["action_id"]),
                user=str(person["id"]),
                user_name=name,
                team=team,
                channel=(body.get("channel") or {}).get("id") or container.get("channel_id"),
                message_ts=container.get("message_ts"),
                thread_ts=container.get("thread_ts"),
                value=value,
                metadata=_object(value),
                view=body.get("view") or {},  # a button inside a modal
                trigger_id=body.get("trigger_id"),
                response_url=body.get("response_url"),
            )
        if kind is Kind.VIEW:
            view = body["view"]
            metadata = _object(str(view.get("private_metadata") or ""))
            return Facts(
                kind=kind,
                control=str(view["callback_id"]),
                user=str(person["id"]),
                user_name=name,
                team=team,
                channel=metadata.get("channel")
                if isinstance(metadata.get("channel"), str)
                else None,
                view=view,
                metadata=metadata,
            )
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise PayloadError(
            "That request was missing something Slack always sends, so nothing was done.",
            hint="Try again; if it keeps happening, tell whoever runs the bot.",
        ) from exc
    raise ValueError(f"events are parsed with parse_event, not {kind}")


def parse_event(body: dict[str, Any]) -> Facts:
    """An event's facts; a person without a channel is answered in their DM with the bot."""
    event = body.get("event") or {}
    user = event.get("user")
    if not isinstance(user, str) or not user:
        raise PayloadError("An event without a user: nobody to answer.")
    return Facts(
        kind=Kind.EVENT,
        control=str(event.get("type") or ""),
        user=user,
        team=str(event.get("team") or body.get("team_id") or ""),
        channel=event.get("channel") if isinstance(event.get("channel"), str) else None,
        message_ts=event.get("ts"),
        thread_ts=event.get("thread_ts") or event.get("ts"),
        text=str(event.get("text") or ""),
        event_id=str(body.get("event_id") or ""),
        from_bot=bool(event.get("bot_id")),
        bot_user=_addressee(body),
    )


def _addressee(body: dict[str, Any]) -> str:
    """The bot user an event was delivered to (`authorizations[0].user_id`), if it says."""
    authorizations = body.get("authorizations")
    if isinstance(authorizations, list) and authorizations:
        first = authorizations[0]
        if isinstance(first, dict) and first.get("is_bot", True):
            user = first.get("user_id")
            return user if isinstance(user, str) else ""
    return ""


@dataclass
class Context:
    """One request in the bot: its facts, the process's services, and how to answer."""

    facts: Facts
    services: Services
    carry: Any = None  # what the ack-time step leaves for the after-ack step (JSON-able)

    @cached_property
    def press(self) -> Press:
        """What permissions are decided on (made once: the log ids and the rule both read it)."""
        f = self.facts
        return Press(
            user=f.user,
            team=f.team,
            channel=f.channel,
            control=f.control,
            subject=str(f.metadata.get("subject") or f.value),
            shown_to=f.shown_to,
        )

    async def show_in_modal(self, title: str, message: Message) -> None:
        """Replace the submitted modal's content (it stays open) with `message`."""
        await self.show_view(render_notice_view(title, message))

    async def show_view(self, view: dict[str, Any]) -> None:
        """Show `view` in the submitted modal, which stays open."""
        await self.services.slack.views_update(view_id=str(self.facts.view.get("id")), view=view)

    async def tell(self, message: Message) -> None:
        """Privately, where the person is: the response URL, else an ephemeral (or their DM)."""
        f = self.facts
        await tell_user(self.services.slack, f.channel, f.user, message, f.response_url)

    async def replace(self, message: Message) -> None:
        """In place of the private message the button was on; else privately, as `tell`."""
        f = self.facts
        if not f.response_url:
            await self.tell(message)
            return
        await replace_private(self.services.slack, f.channel, f.user, message, f.response_url)


CommandAnswer = Callable[[Context], Awaitable[Message]]
Step = Callable[[Context], Awaitable[None]]


@dataclass(frozen=True)
class ViewAnswer:
    """How a view submission is acknowledged: close the modal, or show `view` in it."""

    view: dict[str, Any] | None = None  # None: close the modal
    carry: Any = None  # for the after-ack step


ViewSubmit = Callable[[Context], Awaitable[ViewAnswer]]


@dataclass(frozen=True)
class Registration:
    kind: Kind
    control: str
    who: Who


class Listeners:
    """Registers every listener inside the boundary, with its rule; nothing else may."""

    def __init__(self, app: AsyncApp, services: Services) -> None:
        self._app = app
        self._services = services
        self.registered: list[Registration] = []

    def _declare(self, kind: Kind, control: str, who: Who) -> None:
        if any(r.kind is kind and r.control == control for r in self.registered):
            raise ValueError(f"{kind} {control} is registered twice")
        self.registered.append(Registration(kind, control, who))

    def _context(self, facts: Facts, who: Who | None = None) -> Context:
        ctx = Context(facts, self._services)
        bind_press(ctx.press, who)  # the ids its log lines carry (bot/logs.py)
        return ctx

    async def _allowed(self, ctx: Context, who: Who) -> bool:
        verdict = await check(self._services, who, ctx.press)
        if not verdict.allowed:
            await ctx.tell(
                render_markup_notice(verdict.reason, verdict.hint, fallback="Not yours to press.")
            )
        return verdict.allowed

    def command(
        self,
        name: str,
        who: Who,
        answer: CommandAnswer,
        after: Step | None = None,
        *,
        after_when: Callable[[Facts], bool] | None = None,
    ) -> None:
        """A slash command: answered privately in its ack; `after` runs once acked, for the
        payloads `after_when` accepts (all, when it is None)."""
        self._declare(Kind.COMMAND, name, who)

        async def ack_command(ack: AsyncAck, body: dict[str, Any]) -> None:
            ctx = None
            try:
                ctx = self._context(parse_facts(Kind.COMMAND, body), who)
                async with asyncio.timeout(ACK_DEADLINE):
                    if not await self._allowed(ctx, who):
                        await ack()
                        return
                    message = await answer(ctx)
            except Exception as exc:
                message = failure_message(exc, name)
            await ack(text=message.text, blocks=message.blocks, response_type="ephemeral")
            if (
                after is not None
                and ctx is not None
                and (after_when is None or after_when(ctx.facts))
            ):
                self._start(self._run(ctx, after, None, name), name, ctx.facts.user, ctx.tell)

        self._app.command(name)(_marked(ack_command))

    def _start(
        self,
        step: Coroutine[Any, Any, None],
        control: str,
        user: str | None,
        tell: Callable[[Message], Awaitable[None]],
    ) -> None:
        """Run `step` once the ack has gone; a stopping process waits for it and, if it must cut
        it off, `tell`s the person (bot/in_flight.py). A task of our own rather than a Bolt lazy
        listener: Bolt deep-copies the whole request for one (a tenth of every /hunt ack's CPU,
        benchmarks/README.md) and keeps no hold on its task, so nothing could wait for it."""
        self._services.after_ack.start(
            step, f"{control} by {user}", on_cut_off=lambda: tell(CUT_OFF_NOTICE)
        )

    def action(self, action_id: str, who: Who, then: Step) -> None:
        """A button: acked at once; who pressed it is checked, then `then` runs."""
        self._declare(Kind.ACTION, action_id, who)

        async def ack_action(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            # Its payload is read after the ack (a broken one is answered from what it names).
            self._start(
                self._after_action(action_id, then, who, body),
                action_id,
                _user_of(body),
                lambda message: _tell_what_we_can(self._services, body, message),
            )

        self._app.action(action_id)(_marked(ack_action))

    def view(
        self, callback_id: str, who: Who, submit: ViewSubmit, then: Step | None = None
    ) -> None:
        """A modal's submission: checked and answered in the ack (errors, a new view, or close);
        `then` runs after, answering in the modal if it stays open, else privately."""
        self._declare(Kind.VIEW, callback_id, who)

        async def ack_view(ack: AsyncAck, body: dict[str, Any]) -> None:
            try:
                ctx = self._context(parse_facts(Kind.VIEW, body), who)
                async with asyncio.timeout(ACK_DEADLINE):
                    verdict = await check(self._services, who, ctx.press)
                    if not verdict.allowed:
                        notice = render_markup_notice(
                            verdict.reason, verdict.hint, fallback="Not yours to answer."
                        )
                        await ack(
                            response_action="update", view=render_notice_view("Not yours", notice)
                        )
                        return
                    answer = await submit(ctx)
            except FieldErrors as exc:
                await ack(response_action="errors", errors=exc.errors)
                return
            except Exception as exc:
                message = failure_message(exc, callback_id)
                await ack(response_action="update", view=render_notice_view("Not done", message))
                return
            if answer.view is None:
                await ack(response_action="clear")
            else:
                await ack(response_action="update", view=answer.view)
            if then is not None:
                ctx.carry = answer.carry
                modal_open = answer.view is not None
                step = self._run(ctx, then, None, callback_id, modal_open=modal_open)
                self._start(step, callback_id, ctx.facts.user, ctx.tell)

        self._app.view(callback_id)(_marked(ack_view))

    def event(self, event_type: str, who: Who, then: Step) -> None:
        self._declare(Kind.EVENT, event_type, who)

        async def ack_event(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            try:
                facts = parse_event(body)
            except PayloadError as exc:
                log.warning("%s event dropped: %s", event_type, exc.message)  # no one to tell
                return
            ctx = self._context(facts, who)
            self._start(self._run(ctx, then, who, event_type), event_type, facts.user, ctx.tell)

        self._app.event(event_type)(_marked(ack_event))

    async def _after_action(
        self, action_id: str, step: Step, who: Who, body: dict[str, Any]
    ) -> None:
        """A button's step, once acked: its payload is read here, so a broken one is answered."""
        try:
            facts = parse_facts(Kind.ACTION, body)
        except PayloadError as exc:
            await _tell_what_we_can(self._services, body, render_notice(exc.message, exc.hint))
            return
        await self._run(self._context(facts, who), step, who, action_id)

    async def _run(
        self, ctx: Context, step: Step, who: Who | None, where: str, *, modal_open: bool = False
    ) -> None:
        try:
            if who is not None and not await self._allowed(ctx, who):
                return
            await step(ctx)
        except Exception as exc:
            message = failure_message(exc, where)
            try:
                if modal_open and ctx.facts.view.get("id"):
                    await ctx.show_in_modal("Not done", message)
                else:
                    await ctx.tell(message)
            except Exception:
                log.exception("%s: could not tell %s what went wrong", where, ctx.facts.user)


def _user_of(body: dict[str, Any]) -> str | None:
    """Who a payload says sent it, before (or without) parsing the rest."""
    person = body.get("user") or {}
    user = person.get("id") if isinstance(person, dict) else body.get("user_id")
    return user if isinstance(user, str) and user else None


async def _tell_what_we_can(services: Services, body: dict[str, Any], message: Message) -> None:
    """A payload too broken to parse: answer whoever it names, if it names anyone."""
    if user := _user_of(body):
        channel = (
            (body.get("channel") or {}).get("id") if isinstance(body.get("channel"), dict) else None
        )
        await tell_user(services.slack, channel, user, message, body.get("response_url"))


def _marked(function: Any) -> Any:
    setattr(function, BOUNDARY_MARK, True)
    return function
