"""What a person would see in Slack, drawn on a terminal with rich.

Everything shown comes from the bot or from query results, so it is data: it goes into rich
`Text` objects and is never parsed as rich markup. mrkdwn is made readable (mentions become
@names, links `label (url)`, `&lt;` becomes `<`, *bold* is bold) but nothing in it can restyle
the terminal or pretend to be console output. Emoji shortcodes show as Slack shows them
(`:white_check_mark:` as ✅), in mrkdwn and in plain text alike (unless it says `"emoji": false`);
a code Slack would not know stays as written. Only the drawing changes: the transcript keeps the
text as the bot sent it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from rich import box
from rich.console import Group, RenderableType
from rich.emoji import Emoji, NoEmoji
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from .model import Ephemeral, Message, View, Workspace
from .platform import ButtonRef

MARKUP = re.compile(r"<([^<>]*)>")
SHORTCODE = re.compile(r":[a-z0-9_+\-]+:")
EMPHASIS = re.compile(
    r"(:[a-z0-9_+\-]+:|```.+?```|`[^`\n]+`|\*[^*\n]+\*|_[^_\n]+_|~[^~\n]+~)", re.DOTALL
)
EMPHASIS_STYLE = {"`": "bold magenta", "*": "bold", "_": "italic", "~": "strike"}
JUSTIFY: dict[str, Literal["left", "center", "right"]] = {
    "left": "left",
    "center": "center",
    "right": "right",
}
BUTTON_STYLE = {"primary": "bold green", "danger": "bold red"}


@dataclass
class ButtonNumbers:
    """The numbers shown on buttons in the latest render, for `click N`."""

    buttons: list[ButtonRef] = field(default_factory=list)

    def add(self, ref: ButtonRef) -> int:
        self.buttons.append(ref)
        return len(self.buttons)


class Renderer:
    def __init__(self, workspace: Workspace, width: int = 100) -> None:
        self.workspace = workspace
        self.width = width
        self.numbers = ButtonNumbers()

    def start(self) -> None:
        """Number buttons from 1 again: a new screenful is about to be drawn."""
        self.numbers = ButtonNumbers()

    # -- surfaces ------------------------------------------------------------------------------

    def message(self, message: Message, *, note: str = "") -> RenderableType:
        author = self.workspace.users.get(message.user)
        title = Text(author.name if author else message.user, style="bold cyan")
        title.append(f"  {_clock(message.ts)}", style="dim")
        if note:
            title.append(f"  ({note})", style="yellow")
        ref = ("message", message.ts, message.channel)
        body = self.blocks(message.blocks, ref) if message.blocks else [self.mrkdwn(message.text)]
        body += [_file_line(f) for f in message.files]
        panel = Panel(Group(*body), title=title, title_align="left", box=box.ROUNDED)
        if not message.is_reply or not message.thread_ts:
            return panel
        root = self.workspace.message(message.channel, message.thread_ts)
        label = Text("↳ in the thread of ", style="dim")
        label.append(_summary(root) if root else message.thread_ts, style="dim italic")
        return Padding(Group(label, panel), (0, 0, 0, 4))

    def ephemeral(self, ephemeral: Ephemeral) -> RenderableType:
        viewer = self.workspace.users.get(ephemeral.user)
        title = Text("hunt-bot", style="bold cyan")
        title.append(f"  {_clock(ephemeral.ts)}", style="dim")
        subtitle = Text(f"only visible to you (@{viewer.name if viewer else ephemeral.user})")
        subtitle.stylize("dim italic")
        ref = ("ephemeral", ephemeral.ts, ephemeral.channel)
        body = (
            self.blocks(ephemeral.blocks, ref)
            if ephemeral.blocks
            else [self.mrkdwn(ephemeral.text)]
        )
        panel = Panel(
            Group(*body),
            title=title,
            subtitle=subtitle,
            title_align="left",
            subtitle_align="right",
            border_style="dim",
            box=box.ROUNDED,
        )
        return Padding(panel, (0, 0, 0, 4)) if ephemeral.thread_ts else panel

    def view(self, view: View) -> RenderableType:
        spec = view.spec
        title = Text(_plain(spec.get("title")) or "modal", style="bold")
        body = self.blocks(spec.get("blocks", []), ("view", view.id, None), errors=view.errors)
        controls = Text()
        if spec.get("submit"):
            controls.append(f"[submit: {_plain(spec['submit'])}]", style="bold green")
            controls.append("  ")
        controls.append(f"[cancel: {_plain(spec.get('close')) or 'Cancel'}]", style="bold")
        body += [Text(""), controls]
        return Panel(Group(*body), title=title, box=box.DOUBLE, border_style="blue")

    def thread(self, channel: str, root_ts: str) -> RenderableType:
        messages = self.workspace.thread(channel, root_ts)
        if not messages:
            return Text("(no such thread)", style="dim")
        parts: list[RenderableType] = [self.message(messages[0])]
        parts += [self.message(reply) for reply in messages[1:]]
        return Group(*parts)

    # -- blocks --------------------------------------------------------------------------------

    def blocks(
        self,
        blocks: list[dict[str, Any]],
        ref: tuple[str, str, str | None],
        errors: dict[str, str] | None = None,
    ) -> list[RenderableType]:
        drawn: list[RenderableType] = []
        for block in blocks:
            drawn.append(self.block(block, ref))
            error = (errors or {}).get(str(block.get("block_id")))
            if error:
                drawn.append(Text(f"  ⚠ {error}", style="bold red"))
        return drawn

    def block(self, block: dict[str, Any], ref: tuple[str, str, str | None]) -> RenderableType:
        kind = block.get("type")
        if kind == "header":
            return Text(_plain(block.get("text")), style="bold underline")
        if kind == "divider":
            return Rule(style="dim")
        if kind == "section":
            return self._section(block, ref)
        if kind == "context":
            line = Text(style="dim")
            for element in block.get("elements", []):
                if line:
                    line.append("  ·  ")
                line.append_text(self._text_object(element))
            return line
        if kind == "actions":
            line = Text()
            for element in block.get("elements", []):
                line.append_text(self._element(element, str(block.get("block_id", "")), ref))
                line.append(" ")
            return line
        if kind == "table":
            return _table(block, self.width - 4)  # inside a panel's borders
        if kind == "rich_text":
            return self._rich_text(block)
        if kind == "markdown":
            return Text(emojize(str(block.get("text", ""))))
        if kind == "image":
            return Text(f"[image: {block.get('alt_text', '')}]", style="dim")
        if kind == "input":
            return self._input(block, ref)
        return Text(f"[{kind} block]", style="dim")

    def _section(self, block: dict[str, Any], ref: tuple[str, str, str | None]) -> RenderableType:
        parts: list[RenderableType] = []
        if "text" in block:
            parts.append(self._text_object(block["text"]))
        fields = block.get("fields") or []
        if fields:
            grid = Table.grid(padding=(0, 4))
            grid.add_column()
            grid.add_column()
            cells = [self._text_object(f) for f in fields]
            for i in range(0, len(cells), 2):
                grid.add_row(*cells[i : i + 2])
            parts.append(grid)
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            parts.append(self._element(accessory, str(block.get("block_id", "")), ref))
        return Group(*parts)

    def _input(self, block: dict[str, Any], ref: tuple[str, str, str | None]) -> RenderableType:
        label = Text(_plain(block.get("label")), style="bold")
        if block.get("optional"):
            label.append(" (optional)", style="dim")
        element = block.get("element") or {}
        view = self.workspace.find_view(view_id=ref[1]) if ref[0] == "view" else None
        typed = (view.values if view else {}).get(str(block.get("block_id")), {})
        shown = _chosen_text(typed.get(str(element.get("action_id", ""))), self.workspace)
        if shown is None:
            shown = _initial_text(element)
        field_line = Text("  ")
        if shown:
            field_line.append(f"[ {shown} ]")
        else:
            placeholder = _plain(element.get("placeholder"))
            field_line.append(f"[ {placeholder or '…'} ]", style="dim")
        options = [_plain(o.get("text")) for o in element.get("options") or []]
        if options:
            field_line.append("  options: " + ", ".join(options), style="dim")
        parts: list[RenderableType] = [label, field_line]
        if block.get("hint"):
            parts.append(Text("  " + _plain(block["hint"]), style="dim italic"))
        return Group(*parts)

    def _element(
        self, element: dict[str, Any], block_id: str, ref: tuple[str, str, str | None]
    ) -> Text:
        kind = element.get("type")
        if kind == "button":
            where, key, channel = ref
            number = self.numbers.add(ButtonRef(where, key, channel, block_id, element))
            return Text(
                f"[{number} {_plain(element.get('text'))}]",
                style=BUTTON_STYLE.get(str(element.get("style")), "bold"),
            )
        if kind == "image":
            return Text(f"[image: {element.get('alt_text', '')}]", style="dim")
        placeholder = _plain(element.get("placeholder")) or str(kind)
        return Text(f"[{placeholder} ▾]", style="dim")

    def _text_object(self, obj: Any) -> Text:
        if not isinstance(obj, dict):
            return Text("")
        if obj.get("type") == "mrkdwn":
            return self.mrkdwn(str(obj.get("text", "")))
        return Text(_plain(obj))

    def mrkdwn(self, source: str) -> Text:
        """mrkdwn made readable, as data: entities decoded, markup named, emphasis styled."""
        out = Text()
        position = 0
        for match in MARKUP.finditer(source):
            _emphasised(out, source[position : match.start()])
            out.append(self._markup(match.group(1)), style="cyan")
            position = match.end()
        _emphasised(out, source[position:])
        return out

    def _markup(self, inner: str) -> str:
        target, _, label = inner.partition("|")
        label = _unescape(label)
        if target.startswith("@"):
            user = self.workspace.users.get(target[1:])
            return f"@{user.name}" if user else label or target
        if target.startswith("#"):
            channel = self.workspace.channels.get(target[1:])
            return f"#{channel.name}" if channel else label or target
        if target.startswith("!subteam^"):
            group = self.workspace.groups.get(target.removeprefix("!subteam^"))
            return f"@{group.handle}" if group else label or target
        if target.startswith("!date^"):
            return label or target
        if target.startswith("!"):
            return f"@{target[1:]}"
        url = _unescape(target)
        return f"{label} ({url})" if label else url

    def _rich_text(self, block: dict[str, Any]) -> Text:
        out = Text()
        for part in block.get("elements", []):
            kind = part.get("type")
            items = part.get("elements", [])
            if kind == "rich_text_list":
                for item in items:
                    out.append("  • ")
                    self._inline(out, item.get("elements", []))
                    out.append("\n")
            else:
                self._inline(out, items, style="bold magenta" if "preformatted" in kind else "")
                out.append("\n")
        out.rstrip()
        return out

    def _inline(self, out: Text, elements: list[dict[str, Any]], style: str = "") -> None:
        for element in elements:
            kind = element.get("type")
            if kind == "text":
                out.append(str(element.get("text", "")), style=style)
            elif kind == "link":
                out.append(str(element.get("text") or element.get("url", "")), style="cyan")
            elif kind == "user":
                out.append(self._markup(f"@{element.get('user_id')}"), style="cyan")
            elif kind == "channel":
                out.append(self._markup(f"#{element.get('channel_id')}"), style="cyan")
            elif kind == "usergroup":
                out.append(self._markup(f"!subteam^{element.get('usergroup_id')}"), style="cyan")
            elif kind == "emoji":
                out.append(_emoji(f":{element.get('name')}:"))
            elif kind == "broadcast":
                out.append(f"@{element.get('range')}", style="cyan")


# -- helpers ------------------------------------------------------------------------------------


def _plain(obj: Any) -> str:
    """A plain_text object as Slack draws it: its emoji codes as emoji, unless it says not to."""
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    return text if obj.get("emoji") is False else emojize(text)


def emojize(text: str) -> str:
    """Every emoji code in `text` that Slack knows, as its character."""
    return SHORTCODE.sub(lambda match: _emoji(match.group(0)), text)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _emphasised(out: Text, source: str) -> None:
    position = 0
    for match in EMPHASIS.finditer(source):
        out.append(_unescape(source[position : match.start()]))
        token = match.group(1)
        if token.startswith(":"):
            out.append(_emoji(token))
            position = match.end()
            continue
        fence = 3 if token.startswith("```") else 1
        inner = _unescape(token[fence:-fence])
        # Slack draws emoji in bold, italic and struck text, never in code.
        shown = inner if token[0] == "`" else emojize(inner)
        out.append(shown, style=EMPHASIS_STYLE[token[0]])
        position = match.end()
    out.append(_unescape(source[position:]))


def _emoji(code: str) -> str:
    """The character for a Slack emoji code that rich knows, else the code itself."""
    try:
        return str(Emoji(code.strip(":")))
    except NoEmoji:
        return code


def _clock(ts: str) -> str:
    return datetime.fromtimestamp(float(ts), UTC).strftime("%H:%M:%S")


def _summary(message: Message) -> str:
    for block in message.blocks:
        if block.get("type") == "header":
            return _plain(block.get("text"))
    return (message.text or "a message")[:60]


def _file_line(file: dict[str, Any]) -> Text:
    line = Text("📎 ")
    line.append(str(file.get("name", "")), style="bold")
    line.append(
        f"  {file.get('title', '')} · {file.get('mimetype', '')} · {file.get('size', 0)} bytes"
    )
    return line


def _cell(cell: Any) -> Text:
    if not isinstance(cell, dict):
        return Text("")
    if cell.get("type") == "raw_text":
        return Text(str(cell.get("text", "")))
    if cell.get("type") == "raw_number":
        return Text(str(cell.get("text") or cell.get("value", "")))
    texts = []
    for part in cell.get("elements", []):
        texts += [str(e.get("text") or e.get("url") or "") for e in part.get("elements", [])]
    return Text("".join(texts))


def _table(block: dict[str, Any], width: int) -> RenderableType:
    """A table as a table when it fits the width, else one card of "column: value" per row."""
    rows = [[_cell(c) for c in row] for row in block.get("rows") or []]
    columns = max((len(r) for r in rows), default=0)
    natural = sum(
        max((len(r[i].plain) for r in rows if i < len(r)), default=0) + 3 for i in range(columns)
    )
    if natural <= width or len(rows) < 2:
        return _grid_table(block, rows)
    headers = rows[0]
    cards: list[RenderableType] = []
    numbered = bool(headers) and headers[0].plain == "#"  # the bot's own row-number column
    for row in rows[1:]:
        card = Table.grid(padding=(0, 2))
        card.add_column(style="bold", no_wrap=True)
        card.add_column()
        for index, cell in enumerate(row):
            if not (numbered and index == 0):
                card.add_row(headers[index] if index < len(headers) else Text(""), cell)
        # Only what Slack would show: the row's number when the table carries one.
        title = Text(f"row {row[0].plain}") if numbered and row else Text("")
        cards += [Rule(title, style="dim", align="left"), card]
    return Group(*cards)


def _grid_table(block: dict[str, Any], rows: list[list[Text]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_header=bool(rows), header_style="bold", expand=False)
    settings = block.get("column_settings") or []
    for index in range(max((len(r) for r in rows), default=0)):
        align = settings[index].get("align") if index < len(settings) else None
        header = rows[0][index] if index < len(rows[0]) else Text("")
        table.add_column(header, justify=JUSTIFY.get(str(align), "left"))
    for row in rows[1:]:
        table.add_row(*row)
    return table


def _chosen_text(state: Any, workspace: Workspace) -> str | None:
    if not isinstance(state, dict):
        return None
    if state.get("selected_option"):
        return _plain(state["selected_option"].get("text"))
    if state.get("selected_options"):
        return ", ".join(_plain(o.get("text")) for o in state["selected_options"])
    if state.get("selected_user"):
        user = workspace.users.get(state["selected_user"])
        return f"@{user.name}" if user else state["selected_user"]
    for key in ("value", "selected_date", "selected_conversation", "selected_channel"):
        if state.get(key) is not None:
            return str(state[key])
    return None


def _initial_text(element: dict[str, Any]) -> str | None:
    if element.get("initial_option"):
        return _plain(element["initial_option"].get("text"))
    if element.get("initial_value"):
        return str(element["initial_value"])
    return None
