"""One person at the console: each line they type becomes what Slack would send the bot, and
what the bot then does is drawn once it has settled.

"Settled" means no Web API call for a short quiet period and no background job in flight (when
the console can see the job queue), bounded by a limit long enough for a hunt. A line fails,
with the reason printed, when it is not understood, names no button or input that is there,
gets an HTTP error from the bot, or nothing at all happens in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from .calls import Call, Effect
from .model import BOT_ID, Channel, User
from .platform import ButtonRef, Sent, SlackPlatform, buttons_in
from .render import ButtonNumbers, Renderer

HELP = """\
/hunt ...               run a slash command in the channel
@hunt-bot ...           mention the bot in the current incident thread
click LABEL | click N   press a button in the open modal or the latest message that has it
fill LABEL=VALUE        type into (or pick from) an input of the open modal
submit | cancel         submit or close the open modal
as @NAME                act as another person (@alice, @bob, @carol)
thread                  show the current incident thread
help | quit"""

EMOJI = re.compile(r":[a-z0-9_+\-]+:")
NAME_MENTION = re.compile(r"@([a-z0-9._\-]+)")


class LineFailed(Exception):
    """A line that did not do what it says; the message says why."""


# How long a click may go unanswered before the console says nothing happened, when it can see
# that no job is running: lazy listeners answer after the ack, behind the channel's pacing.
REPLY_GRACE = 5.0
# Calls that only read (who is in a group, a permalink): the bot is still working out its answer.
_READS = frozenset(
    {
        "auth.test",
        "usergroups.users.list",
        "users.info",
        "conversations.members",
        "chat.getPermalink",
    }
)


def _seen(call: Call) -> bool:
    """A call that shows the person something (a post, an update, a modal, a file)."""
    return call.method not in _READS


@dataclass
class Timing:
    quiet: float = 0.4  # no Web API call for this long, and no job running: the bot is done
    limit: float = 120.0  # the longest a line may take, a cold lab hunt included


class ConsoleSession:
    def __init__(
        self,
        platform: SlackPlatform,
        out: Console,
        *,
        jobs_busy: Callable[[], Awaitable[bool]] | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.platform = platform
        self.workspace = platform.workspace
        self.calls = platform.slack.calls
        self.out = out
        self.jobs_busy = jobs_busy
        self.timing = timing or Timing()
        alice = self.workspace.user_by_name("alice")
        assert alice is not None
        self.user: User = alice
        self.channel: Channel = self.workspace.channels["C0SOC"]
        self.thread_ts: str | None = None
        self.renderer = Renderer(self.workspace, width=out.width)
        self.numbers = ButtonNumbers()
        self._shown: set[tuple[str, str]] = set()

    # -- running lines -------------------------------------------------------------------------

    async def run_script(self, lines: Iterable[str]) -> int:
        for number, line in enumerate(lines, start=1):
            try:
                await self.run_line(line)
            except LineFailed as exc:
                self._fail(f"line {number}: {exc}")
                return 1
        return 0

    async def interactive(self) -> int:
        self.out.print(Text(HELP, style="dim"))
        while True:
            prompt = f"{self.user.name} in #{self.channel.name}> "
            try:
                line = await asyncio.to_thread(input, prompt)
            except (EOFError, KeyboardInterrupt):
                return 0
            if line.strip() in ("quit", "exit"):
                return 0
            if line.strip() == "help":
                self.out.print(Text(HELP, style="dim"))
                continue
            try:
                await self.run_line(line, echo=False)
            except LineFailed as exc:
                self._fail(str(exc))

    async def run_line(self, line: str, *, echo: bool = True) -> None:
        line = line.strip()
        if not line or line.startswith("#"):
            return
        if echo:
            self._echo(line)
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        try:
            if line.startswith("/"):
                sent = await self.platform.slash_command(self.user, self.channel, verb, rest)
            elif verb.casefold() == "@hunt-bot":
                sent = await self.platform.mention(
                    self.user, self.channel, self._as_slack_text(line), self.thread_ts
                )
                await self._await_reply(sent)
            elif verb == "click":
                sent = await self._click(rest)
            elif verb == "fill":
                label, equals, value = rest.partition("=")
                if not equals:
                    raise LineFailed("fill needs LABEL=VALUE")
                filled = await self.platform.fill(self.user, label, value.strip())
                if filled is None:
                    self._show_top_view()
                    return
                sent = filled
            elif verb == "submit":
                sent = await self.platform.submit(self.user)
            elif verb == "cancel":
                closed = await self.platform.cancel(self.user)
                if closed is None:
                    self.out.print(Text("(modal closed)", style="dim"))
                    return
                sent = closed
            elif verb == "as":
                self._act_as(rest)
                return
            elif verb == "thread":
                self._show_thread()
                return
            else:
                raise LineFailed(f"unknown command {verb!r} (type help for the commands)")
        except LookupError as exc:
            raise LineFailed(str(exc).strip("'\"")) from None
        await self._settle_and_show(sent)

    # -- commands ------------------------------------------------------------------------------

    def _act_as(self, name: str) -> None:
        found = self.workspace.user_by_name(name.strip())
        if found is None or found.bot_id:
            raise LineFailed(f"no person {name!r} here (there are @alice, @bob and @carol)")
        self.user = found
        self.out.print(Text(f"(now acting as @{found.name})", style="dim"))

    def _show_thread(self) -> None:
        if self.thread_ts is None:
            raise LineFailed("there is no incident thread yet: run a hunt first")
        self.renderer.start()
        self.out.print(self.renderer.thread(self.channel.id, self.thread_ts))
        self._keep_numbers()

    def _show_top_view(self) -> None:
        view = self.workspace.top_view(self.user.id)
        if view is not None:
            self.renderer.start()
            self.out.print(self.renderer.view(view))
            self._keep_numbers()

    async def _click(self, what: str) -> Sent:
        if not what:
            raise LineFailed("click needs a button label or number")
        button = self._numbered(int(what)) if what.isdigit() else self._labelled(what)
        confirm = button.element.get("confirm")
        if isinstance(confirm, dict):  # Slack asks first; a typed click is the person's yes
            title = (confirm.get("title") or {}).get("text", "Are you sure?")
            yes = (confirm.get("confirm") or {}).get("text", "Yes")
            self.out.print(Text(f"(Slack asked “{title}”: {yes})", style="dim"))
        if button.where == "message" and button.channel:
            message = self.workspace.message(button.channel, button.key)
            if message is not None and message.bot_id == BOT_ID:
                self.thread_ts = message.thread_ts if message.is_reply else message.ts
        return await self.platform.press(self.user, button)

    def _numbered(self, number: int) -> ButtonRef:
        if not 1 <= number <= len(self.numbers.buttons):
            raise LineFailed(f"no button {number} on screen")
        shown = self.numbers.buttons[number - 1]
        # The message may have changed since it was drawn: press the button as it is now.
        for button in self._visible_buttons():
            if button.key == shown.key and _same_button(button, shown):
                return button
        raise LineFailed(f"button {number} ({shown.label}) is no longer there")

    def _labelled(self, label: str) -> ButtonRef:
        wanted = _normalise(label)
        for button in self._visible_buttons():
            if _normalise(button.label) == wanted:
                return button
        raise LineFailed(f"no button labelled {label!r} in the open modal or any message")

    def _visible_buttons(self) -> list[ButtonRef]:
        """Buttons the person can see: the open modal's first, then the latest messages'."""
        found: list[ButtonRef] = []
        view = self.workspace.top_view(self.user.id)
        if view is not None:
            for block_id, element in buttons_in(view.spec.get("blocks", [])):
                found.append(ButtonRef("view", view.id, None, block_id, element))
        surfaces: list[tuple[str, str, list]] = [
            ("message", m.ts, m.blocks) for m in self.workspace.channel_history(self.channel.id)
        ]
        surfaces += [
            ("ephemeral", e.ts, e.blocks)
            for e in self.workspace.ephemerals_for(self.user.id)
            if e.channel == self.channel.id
        ]
        for where, ts, blocks in sorted(surfaces, key=lambda s: float(s[1]), reverse=True):
            for block_id, element in buttons_in(blocks):
                found.append(ButtonRef(where, ts, self.channel.id, block_id, element))
        return found

    def _as_slack_text(self, line: str) -> str:
        """What Slack's client sends for typed text: `& < >` escaped, @names as mentions."""
        text = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        def mention(match: re.Match[str]) -> str:
            name = match.group(1)
            user = self.workspace.user_by_name(name)
            if user is not None:
                return f"<@{user.id}>"
            group = next((g for g in self.workspace.groups.values() if g.handle == name), None)
            return f"<!subteam^{group.id}>" if group else match.group(0)

        return NAME_MENTION.sub(mention, text)

    # -- settling and showing ------------------------------------------------------------------

    async def _settle_and_show(self, sent: Sent) -> None:
        if not sent.failed:
            await self._settle(sent)
        calls = self.calls.since(sent.calls_before)
        self._show(sent.effects + [e for call in calls for e in call.effects], calls)
        if sent.failed:
            body = sent.answer.text.strip()[:300]
            raise LineFailed(f"{sent.problem}" + (f": {body}" if body else ""))
        if not sent.effects and not calls:
            raise LineFailed(f"nothing happened within {self.timing.limit:.0f} s")

    async def _await_reply(self, sent: Sent) -> None:
        """A mention is answered in its thread, after the bot's own pacing: wait for that post
        (the mention itself already shows as an effect, so quiet alone would end the line)."""
        if sent.failed:
            return
        with contextlib.suppress(TimeoutError):
            await self.calls.next_call(
                lambda call: call.method == "chat.postMessage",
                after=sent.calls_before,
                timeout=self.timing.limit,
            )

    async def _settle(self, sent: Sent) -> None:
        started = time.monotonic()
        deadline = started + self.timing.limit
        while time.monotonic() < deadline:
            quiet = await self.calls.quiet(
                period=self.timing.quiet, timeout=deadline - time.monotonic(), since=started
            )
            if not quiet:
                return
            nothing_yet = not sent.effects and not any(
                _seen(call) for call in self.calls.since(sent.calls_before)
            )
            if self.jobs_busy is not None and await self.jobs_busy():
                await asyncio.sleep(0.05)
            elif nothing_yet:
                # The bot answers clicks after the ack, paced to a post a second per channel:
                # give a silent bot a while (the whole limit when the queue cannot be seen).
                wait = deadline - time.monotonic()
                if self.jobs_busy is not None:
                    wait = min(wait, REPLY_GRACE)
                try:
                    await self.calls.next_call(_seen, after=sent.calls_before, timeout=wait)
                except TimeoutError:
                    return
            else:
                return

    def _show(self, effects: list[Effect], calls: list[Call]) -> None:
        self.renderer.start()
        seen: set[Effect] = set()
        for effect in effects:
            if effect in seen:
                continue
            seen.add(effect)
            self._show_effect(effect)
        for call in calls:
            if not call.ok and call.method != "file_upload":
                problem = call.response.get("error") or f"HTTP {call.status}"
                details = call.response.get("response_metadata", {}).get("messages", [])
                line = Text(f"⚠ the bot's {call.method} call failed: {problem}", style="yellow")
                for detail in details:
                    line.append(f"\n    {detail}", style="yellow")
                self.out.print(line)
        self._keep_numbers()

    def _show_effect(self, effect: Effect) -> None:
        kind = effect[0]
        workspace = self.workspace
        if kind == "message":
            message = workspace.message(effect[1], effect[2])
            if message is None:
                return
            key = (message.channel, message.ts)
            note = "updated" if key in self._shown else ""
            self._shown.add(key)
            # A new results message from the bot starts the incident thread people talk in.
            is_root = message.bot_id == BOT_ID and not message.is_reply and bool(message.blocks)
            if is_root and message.channel == self.channel.id and not note:
                self.thread_ts = message.ts
            self.out.print(self.renderer.message(message, note=note))
        elif kind == "ephemeral":
            ephemeral = workspace.ephemeral(effect[1])
            if ephemeral is None:
                return
            if ephemeral.user != self.user.id:
                viewer = workspace.users[ephemeral.user].name
                self.out.print(Text(f"(a message only @{viewer} can see)", style="dim"))
                return
            self.out.print(self.renderer.ephemeral(ephemeral))
        elif kind == "view":
            view = workspace.find_view(view_id=effect[1])
            if view is None:
                return
            if view.user != self.user.id:
                viewer = workspace.users[view.user].name
                self.out.print(Text(f"(a modal opened for @{viewer})", style="dim"))
                return
            if workspace.top_view(self.user.id) is view:
                self.out.print(self.renderer.view(view))
        elif kind == "view_closed":
            self.out.print(Text("(modal closed)", style="dim"))
        elif kind in ("deleted", "deleted_ephemeral"):
            self.out.print(Text("(a message was deleted)", style="dim"))

    def _keep_numbers(self) -> None:
        """`click N` refers to the latest drawing that had buttons."""
        if self.renderer.numbers.buttons:
            self.numbers = self.renderer.numbers

    def _echo(self, line: str) -> None:
        self.out.print(Text(f"{self.user.name} ▸ {line}", style="bold"))

    def _fail(self, message: str) -> None:
        self.out.print(Text(f"✗ {message}", style="bold red"))


def _normalise(label: str) -> str:
    """A label as typed: without emoji codes, symbols such as ▶, case or extra spaces."""
    kept = "".join(c for c in EMOJI.sub("", label) if not unicodedata.category(c).startswith("S"))
    return " ".join(kept.split()).casefold()


def _same_button(a: ButtonRef, b: ButtonRef) -> bool:
    return a.element.get("action_id") == b.element.get("action_id") and a.label == b.label
