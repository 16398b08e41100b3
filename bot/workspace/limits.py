"""Block Kit limits as data, and a checker that rejects what Slack rejects.

The numbers come from `../shared/reference/slack-platform.md` §3 (Slack's Block Kit reference,
slack_sdk's validators, node-slack-sdk's types). They live in `LIMITS` so the stand-in enforces
them and tests can hold the bot's own output against the same figures.

Problems are worded as Slack words them in `invalid_blocks` answers, e.g.
`no more than 25 items allowed [json-pointer:/blocks/1/elements]` (seen in public issue threads);
the exact wording of the rarer ones is ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BlockKitLimits:
    message_blocks: int = 50
    modal_blocks: int = 100
    text_object: int = 3000
    header_text: int = 150
    section_fields: int = 10
    section_field_text: int = 2000
    context_elements: int = 10
    actions_elements: int = 25
    button_text: int = 75
    button_value: int = 2000
    button_url: int = 3000
    tables_per_message: int = 1
    table_rows: int = 100
    table_cells_per_row: int = 20
    table_column_settings: int = 20
    markdown_text_per_message: int = 12_000
    block_id: int = 255
    action_id: int = 255
    callback_id: int = 255
    external_id: int = 255
    modal_title: int = 24
    modal_submit: int = 24
    modal_close: int = 24
    private_metadata: int = 3000
    message_text: int = 40_000  # Slack truncates longer top-level text rather than refusing it
    input_label: int = 2000
    input_hint: int = 2000
    placeholder: int = 150
    select_options: int = 100
    option_text: int = 75
    option_value: int = 150
    checkbox_options: int = 10
    overflow_options: int = 5
    confirm_title: int = 100
    confirm_text: int = 300
    confirm_button: int = 30
    plain_text_input_length: int = 3000


LIMITS = BlockKitLimits()

MESSAGE_BLOCK_TYPES = frozenset(
    {
        "section",
        "header",
        "context",
        "actions",
        "divider",
        "image",
        "rich_text",
        "table",
        "markdown",
        "file",
        "video",
        "input",
        "context_actions",
    }
)
MODAL_BLOCK_TYPES = frozenset(
    {"section", "header", "context", "actions", "divider", "image", "rich_text", "input", "video"}
)


@dataclass(frozen=True)
class BlockProblem:
    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.message} [json-pointer:{self.pointer}]"


def message_block_problems(blocks: Any) -> list[BlockProblem]:
    """What Slack would refuse in a message's `blocks` (empty when it would accept them)."""
    if not isinstance(blocks, list):
        return [BlockProblem("/blocks", "must be an array")]
    problems = list(_blocks(blocks, "/blocks", LIMITS.message_blocks, MESSAGE_BLOCK_TYPES))
    tables = [i for i, b in enumerate(blocks) if isinstance(b, dict) and b.get("type") == "table"]
    if len(tables) > LIMITS.tables_per_message:
        problems.append(
            BlockProblem(f"/blocks/{tables[1]}", "only one table block is allowed per message")
        )
    markdown = sum(
        len(str(b.get("text", "")))
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "markdown"
    )
    if markdown > LIMITS.markdown_text_per_message:
        problems.append(
            BlockProblem(
                "/blocks",
                f"markdown blocks must hold no more than {LIMITS.markdown_text_per_message} "
                "characters in total",
            )
        )
    return problems


def view_problems(view: Any) -> list[BlockProblem]:
    """What Slack would refuse in a modal view passed to views.open/push/update."""
    if not isinstance(view, dict):
        return [BlockProblem("/view", "must be an object")]
    problems: list[BlockProblem] = []
    if view.get("type") != "modal":
        problems.append(BlockProblem("/view/type", "must be modal"))
    title = view.get("title")
    if title is None:
        problems.append(BlockProblem("/view/title", "missing required field: title"))
    for key, limit in (
        ("title", LIMITS.modal_title),
        ("submit", LIMITS.modal_submit),
        ("close", LIMITS.modal_close),
    ):
        if key in view:
            problems += _text(view[key], f"/view/{key}", limit, plain_only=True)
    for key, limit in (("callback_id", LIMITS.callback_id), ("external_id", LIMITS.external_id)):
        problems += _length(view.get(key), f"/view/{key}", limit)
    problems += _length(
        view.get("private_metadata"), "/view/private_metadata", LIMITS.private_metadata
    )
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        problems.append(BlockProblem("/view/blocks", "missing required field: blocks"))
        return problems
    problems += _blocks(blocks, "/view/blocks", LIMITS.modal_blocks, MODAL_BLOCK_TYPES)
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if has_input and "submit" not in view:
        problems.append(
            BlockProblem("/view/submit", "submit is required when a view has input blocks")
        )
    return problems


# -- blocks -----------------------------------------------------------------------------------


def _blocks(
    blocks: list[Any], pointer: str, limit: int, allowed: frozenset[str]
) -> Iterator[BlockProblem]:
    if len(blocks) > limit:
        yield BlockProblem(pointer, f"no more than {limit} items allowed")
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        here = f"{pointer}/{index}"
        if not isinstance(block, dict):
            yield BlockProblem(here, "must be an object")
            continue
        kind = block.get("type")
        if kind not in allowed:
            yield BlockProblem(f"{here}/type", f"unsupported block type: {kind!r}")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            yield from _length(block_id, f"{here}/block_id", LIMITS.block_id)
            if block_id in seen_block_ids:
                yield BlockProblem(f"{here}/block_id", f"duplicate block_id: {block_id!r}")
            seen_block_ids.add(block_id)
        yield from _BLOCK_CHECKS.get(kind, _no_check)(block, here)


def _no_check(block: dict[str, Any], here: str) -> Iterator[BlockProblem]:
    return iter(())


def _section(block: dict[str, Any], here: str) -> Iterator[BlockProblem]:
    if "text" not in block and "fields" not in block:
        yield BlockProblem(here, "must provide either text or fields")
    if "text" in block:
        yield from _text(block["text"], f"{here}/text", LIMITS.text_object)
    fields = block.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            yield BlockProblem(f"{here}/fields", "must be an array")
        else:
            if len(fields) > LIMITS.section_fields:
                yield BlockProblem(
                    f"{here}/fields", f"no more than {LIMITS.section_fields} items allowed"
                )
            for i, field in enumerate(fields):
                yield from _text(field, f"{here}/fields/{i}", LIMITS.section_field_text)
    if "accessory" in block:
        yield from _element(block["accessory"], f"{here}/accessory")


def _header(block: dict[str, Any], here: str) -> Iterator[BlockProblem]:
    yield from _text(block.get("text"), f"{here}/text", LIMITS.header_text, plain_only=True)


def _context(block: dict[str, Any], here: str) -> Iterator[BlockProblem]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        yield BlockProblem(f"{here}/elements", "must provide at least one element")
        return
    if len(elements) > LIMITS.context_elements:
        yield BlockProblem(
            f"{here}/elements", f"no more than {LIMITS.context_elements} items allowed"
        )
    for i, element in enumerate(elements):
        if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
            yield from _text(element, f"{here}/elements/{i}", LIMITS.text_object)


def _actions(block: dict[str, Any], here: str) -> Iterator[BlockProblem]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        yield BlockProblem(f"{here}/elements", "must provide at least one element")
        return
    if len(elements) > LIMITS.actions_elements:
        yield BlockProblem(
            f"{here}/elements", f"no more than {LIMITS.actions_elements} items allowed"
        )
    action_ids: set[str] = set()
    for i, element in enumerate(elements):
        yield from _element(element, f"{here}/elements/{i}")
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if action_id is not None:
            if action_id in action_ids:
                yield BlockProblem(
                    f"{here}/elements/{i}/action_id", f"duplicate action_id: {action_id!r}"
                )
            action_ids.add(action_id)


def _input(block: dict[str, Any], here: str) -> Iterator[BlockProblem]:
    yield from _text(block.get("label"), f"{here}/label", LIMITS.input_label, plain_only=True)
    if "hint" in block:
        yield from _text(block["hint"], f"{here}/hint", LIMITS.input_hint, plain_only=True)
    if "element" not in block:
        yield BlockProblem(f"{here}/element", "missing required field: element")
    else:
        yield from _element(block["element"], f"{here}/element")


def _table(block: dict[str, Any], here: str) -> Iterator[BlockProblem]:
    rows = block.get("rows")
    if not isinstance(rows, list) or not rows:
        yield BlockProblem(f"{here}/rows", "must provide at least one row")
        return
    if len(rows) > LIMITS.table_rows:
        yield BlockProblem(f"{here}/rows", f"no more than {LIMITS.table_rows} items allowed")
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            yield BlockProblem(f"{here}/rows/{r}", "must be an array")
            continue
        if len(row) > LIMITS.table_cells_per_row:
            yield BlockProblem(
                f"{here}/rows/{r}", f"no more than {LIMITS.table_cells_per_row} items allowed"
            )
        for c, cell in enumerate(row):
            yield from _cell(cell, f"{here}/rows/{r}/{c}")
    settings = block.get("column_settings")
    if isinstance(settings, list) and len(settings) > LIMITS.table_column_settings:
        yield BlockProblem(
            f"{here}/column_settings", f"no more than {LIMITS.table_column_settings} items allowed"
        )


def _cell(cell: Any, here: str) -> Iterator[BlockProblem]:
    if not isinstance(cell, dict):
        yield BlockProblem(here, "must be an object")
        return
    kind = cell.get("type")
    if kind == "raw_text":
        text = cell.get("text")
        if not isinstance(text, str) or not text:
            yield BlockProblem(f"{here}/text", "must be more than 0 characters")
    elif kind == "raw_number":
        if not isinstance(cell.get("value"), int | float):
            yield BlockProblem(f"{here}/value", "must be a number")
    elif kind != "rich_text":
        yield BlockProblem(f"{here}/type", f"unsupported cell type: {kind!r}")


def _image(block: dict[str, Any], here: str) -> Iterator[BlockProblem]:
    if "alt_text" not in block:
        yield BlockProblem(f"{here}/alt_text", "missing required field: alt_text")


_BLOCK_CHECKS = {
    "section": _section,
    "header": _header,
    "context": _context,
    "actions": _actions,
    "input": _input,
    "table": _table,
    "image": _image,
}


# -- elements and composition objects -------------------------------------------------------------


def _element(element: Any, here: str) -> Iterator[BlockProblem]:
    if not isinstance(element, dict):
        yield BlockProblem(here, "must be an object")
        return
    yield from _length(element.get("action_id"), f"{here}/action_id", LIMITS.action_id)
    kind = element.get("type")
    if kind == "button":
        yield from _text(element.get("text"), f"{here}/text", LIMITS.button_text, plain_only=True)
        yield from _length(element.get("value"), f"{here}/value", LIMITS.button_value)
        yield from _length(element.get("url"), f"{here}/url", LIMITS.button_url)
        if element.get("style") not in (None, "primary", "danger"):
            yield BlockProblem(f"{here}/style", "must be one of primary, danger")
    if "placeholder" in element:
        yield from _text(
            element["placeholder"], f"{here}/placeholder", LIMITS.placeholder, plain_only=True
        )
    if "options" in element:
        yield from _options(element, here)
    if "confirm" in element:
        yield from _confirm(element["confirm"], f"{here}/confirm")
    if kind == "plain_text_input":
        for key in ("min_length", "max_length"):
            value = element.get(key)
            if isinstance(value, int) and not 0 <= value <= LIMITS.plain_text_input_length:
                yield BlockProblem(
                    f"{here}/{key}", f"must be at most {LIMITS.plain_text_input_length}"
                )


def _options(element: dict[str, Any], here: str) -> Iterator[BlockProblem]:
    options = element["options"]
    if not isinstance(options, list):
        yield BlockProblem(f"{here}/options", "must be an array")
        return
    limit = {
        "checkboxes": LIMITS.checkbox_options,
        "radio_buttons": LIMITS.checkbox_options,
        "overflow": LIMITS.overflow_options,
    }.get(str(element.get("type")), LIMITS.select_options)
    if len(options) > limit:
        yield BlockProblem(f"{here}/options", f"no more than {limit} items allowed")
    for i, option in enumerate(options):
        if not isinstance(option, dict):
            yield BlockProblem(f"{here}/options/{i}", "must be an object")
            continue
        yield from _text(option.get("text"), f"{here}/options/{i}/text", LIMITS.option_text)
        yield from _length(option.get("value"), f"{here}/options/{i}/value", LIMITS.option_value)


def _confirm(confirm: Any, here: str) -> Iterator[BlockProblem]:
    if not isinstance(confirm, dict):
        yield BlockProblem(here, "must be an object")
        return
    for key, limit in (
        ("title", LIMITS.confirm_title),
        ("text", LIMITS.confirm_text),
        ("confirm", LIMITS.confirm_button),
        ("deny", LIMITS.confirm_button),
    ):
        if key in confirm:
            yield from _text(confirm[key], f"{here}/{key}", limit)


def _text(value: Any, here: str, limit: int, *, plain_only: bool = False) -> Iterator[BlockProblem]:
    if not isinstance(value, dict):
        yield BlockProblem(here, "must provide a text object")
        return
    kind = value.get("type")
    if plain_only and kind != "plain_text":
        yield BlockProblem(f"{here}/type", "must be plain_text")
    elif kind not in ("plain_text", "mrkdwn"):
        yield BlockProblem(f"{here}/type", "must be one of plain_text, mrkdwn")
    text = value.get("text")
    if not isinstance(text, str):
        yield BlockProblem(f"{here}/text", "missing required field: text")
    elif not text:
        yield BlockProblem(f"{here}/text", "must be more than 0 characters")
    elif len(text) > limit:
        yield BlockProblem(f"{here}/text", f"must be less than {limit + 1} characters")


def _length(value: Any, here: str, limit: int) -> Iterator[BlockProblem]:
    if isinstance(value, str) and len(value) > limit:
        yield BlockProblem(here, f"must be less than {limit + 1} characters")
