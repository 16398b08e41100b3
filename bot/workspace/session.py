"""One person at the console: each line they type becomes what Slack would send the bot, and
what the bot then does is drawn once it has settled.

"Settled" means no Web API call for a short quiet period and no background job in flight (when
the console can see the job queue), bounded by a limit long enough for a hunt. A line fails,
with the reason printed, when it is not understood, names no button or input that is there,
gets an HTTP error from the bot, or nothing at all happens in time.

`wait` and `plant` act on the world around the bot rather than as a person (lab_controls.py):
the schedules' clock, and the lab tenant's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from bot.errors import HuntBotError

from .calls import Call, Effect
from .model import BOT_ID, Channel, User
from .platform import ButtonRef, Sent, SlackPlatform, buttons_in
from .render import ButtonNumbers, Renderer

if TYPE_CHECKING:
    from bot.state.schedules import Schedule

    from .lab_controls import LabControls, Waited

HELP = """\
/hunt ...               run a slash command in the channel
@hunt-bot ...           mention the bot in the current incident thread
click LABEL | click N   press a button in the open modal or the latest message that has it
fill LABEL=VALUE        type into (or pick from) an input of the open modal
submit | cancel         submit or close the open modal
as @NAME                act as another person (@alice, @bob, @carol)
thread                  show the current incident thread
wait DURATION           move the schedules' clock on (wait 1h, 90m, 2d): what falls due runs
plant SCENARIO          add a fresh copy of a lab scenario, timed now, for the next run to find
help | quit

wait moves only the clock schedules run by: hunts, their results and the lab keep real times.
A schedule due several times during one wait runs once, as after an outage."""

EMOJI = re.compile(r":[a-z0-9_+\-]+:")
NAME_MENTION = re.compile(r"@([a-z0-9._\-]+)")


WAIT_UNITS = {"d": 86400, "h": 3600, "min": 60, "m": 60, "s": 1}
WAIT_PART = re.compile(r"(\d+)\s*(d|h|min|m|s)", re.IGNORECASE)


def help_text(scenarios: dict[str, str] | None) -> str:
    """The commands, and the scenarios `plant` knows when the console has a lab to plant in."""
    if not scenarios:
        return HELP
    width = max(len(name) for name in scenarios) + 2
    listed = "\n".join(f"  {name:<{width}}{about}" for name, about in scenarios.items())
    return f"{HELP}\n\nScenarios to plant (and the hunt that finds them):\n{listed}"


def parse_wait(text: str) -> timedelta:
    """'1h' -> one hour; '1h30m', '90m', '2d', '45s' too."""
    compact = text.replace(" ", "")
    parts = WAIT_PART.findall(compact)
    if not compact or "".join(f"{n}{u}" for n, u in parts).lower() != compact.lower():
        raise LineFailed(f"wait needs a duration such as 15m, 1h or 2d, not {text!r}")
    span = timedelta(seconds=sum(int(n) * WAIT_UNITS[u.lower()] for n, u in parts))
    if span <= timedelta(0):
        raise LineFailed("wait needs a duration longer than nothing")
    return span


class LineFailed(Exception):
    """A line that did not do what it says; the message says why."""


# How long a click may go unanswered before the console says nothing happened, when it can see
# that no job is running: after-ack steps answer after the ack, behind the channel's pacing.
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
        controls: LabControls | None = None,
    ) -> None:
        self.platform = platform
        self.workspace = platform.workspace
        self.calls = platform.slack.calls
        self.out = out
        self.jobs_busy = jobs_busy
        self.timing = timing or Timing()
        self.controls = controls
        self.help = help_text(controls.scenarios if controls else None)
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
        self.out.print(Text(self.help, style="dim"))
        while True:
            prompt = f"{self.user.name} in #{self.channel.name}> "
            try:
                line = await asyncio.to_thread(input, prompt)
            except (EOFError, KeyboardInterrupt):
                return 0
            if line.strip() in ("quit", "exit"):
                return 0
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
            elif verb == "help":
                self.out.print(Text(self.help, style="dim"))
                return
            elif verb == "wait":
                await self._wait(rest)
                return
            elif verb == "plant":
                await self._plant(rest)
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

    async def _wait(self, text: str) -> None:
        controls = self._lab_controls("wait")
        span = parse_wait(text)
        calls_before = len(self.calls)
        started = time.monotonic()
        waited = await controls.wait(span)
        if waited.ran:
            await self._settle_jobs(started)
        calls = self.calls.since(calls_before)
        self._show([effect for call in calls for effect in call.effects], calls)
        now = await controls.last_runs(s.id for s in waited.ran)
        self.out.print(Text(_waited_line(waited, {s.id: s for s in now}), style="dim"))

    async def _plant(self, name: str) -> None:
        controls = self._lab_controls("plant")
        if not name:
            raise LineFailed("plant needs a scenario: " + ", ".join(controls.scenarios))
        try:
            planted = await controls.plant(name)
        except HuntBotError as exc:
            raise LineFailed(exc.message + (f" {exc.hint}" if exc.hint else "")) from None
        self.out.print(
            Text(
                f"(planted {planted.scenario} at {planted.at:%H:%M} UTC: {planted.person}, "
                f"new to the lab, on {planted.device}; {planted.key_column} {planted.key}. "
                f"/hunt {planted.hunt} finds it.)",
                style="dim",
            )
        )

    def _lab_controls(self, verb: str) -> LabControls:
        if self.controls is None:
            raise LineFailed(f"{verb} needs the console's own bot and lab tenant")
        return self.controls

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

    async def _settle_jobs(self, started: float) -> None:
        """After `wait` queued scheduled hunts: until they are done and Slack has gone quiet.
        A run that finds nothing new posts nothing, so no post is waited for."""
        deadline = started + self.timing.limit
        while time.monotonic() < deadline:
            quiet = await self.calls.quiet(
                period=self.timing.quiet, timeout=deadline - time.monotonic(), since=started
            )
            if quiet and (self.jobs_busy is None or not await self.jobs_busy()):
                return
            await asyncio.sleep(0.05)
        raise LineFailed(f"the scheduled hunts were still running after {self.timing.limit:.0f} s")

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


def _waited_line(waited: Waited, now: dict[str, Schedule]) -> str:
    """What a wait did: the clock, and each schedule that fell due and what its run found."""
    ahead = round(waited.ahead.total_seconds() / 60)
    clock = (
        f"the schedules' clock is now {waited.now.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{_span(timedelta(minutes=ahead))} ahead of the real time"
    )
    if not waited.ran:
        return f"({clock}; no schedule was due)"
    runs = [f"{s.id} {s.hunt}{_outcome(s, now.get(s.id))}" for s in waited.ran]
    ran = "1 schedule ran" if len(runs) == 1 else f"{len(runs)} schedules ran"
    return f"({clock}; {ran}: " + "; ".join(runs) + ")"


def _outcome(before: Schedule, after: Schedule | None) -> str:
    if after is None:
        return ", deleted since"
    run = after.last_run
    if run is None or run == before.last_run:
        return ""  # still running, or its outcome is not recorded
    if run.error:
        return f", did not run: {run.error}"
    if run.new == 0:
        return ", nothing new to post"
    return f", {run.new} new row{'s' if run.new != 1 else ''} posted"


def _span(span: timedelta) -> str:
    """45 min, 3 h, 2 days 4 h: exact, unlike a message's rounded duration."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes or not parts else []
    return " ".join(parts)


def _normalise(label: str) -> str:
    """A label as typed: without emoji codes, symbols such as ▶, case or extra spaces."""
    kept = "".join(c for c in EMOJI.sub("", label) if not unicodedata.category(c).startswith("S"))
    return " ".join(kept.split()).casefold()


def _same_button(a: ButtonRef, b: ButtonRef) -> bool:
    return a.element.get("action_id") == b.element.get("action_id") and a.label == b.label
