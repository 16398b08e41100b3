"""Block Kit for ad-hoc KQL and saved hunts: the query form, the Save as hunt form, and the
question `/hunt delete NAME` asks."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.hunts.adhoc import NAME_MAX, QUERY_MAX_CHARS
from bot.slack.blocks import Message, as_dicts, mrkdwn
from bot.slack.ids import INPUT_ELEMENT, SavedHuntAction, SavedHuntBlock, SavedHuntView
from bot.slack.mrkdwn import clip, code, escape, user, when


def render_kql_view(private_metadata: str, query: str = "") -> dict[str, Any]:
    """The ad-hoc query form: one multi-line KQL input."""
    intro = (
        "Type a KQL query over Defender's advanced-hunting tables. It is checked like a hunt "
        "file, then runs like any hunt: results in this channel, paging, export and an incident "
        "thread, and Take actions when its columns name emails, devices or files."
    )
    return View(
        type="modal",
        callback_id=SavedHuntView.KQL,
        private_metadata=private_metadata,
        title=PlainTextObject(text="Ad-hoc KQL"),
        submit=PlainTextObject(text="Run"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(text=mrkdwn(intro)),
            _query_input(query),
        ],
    ).to_dict()


def _query_input(query: str) -> InputBlock:
    return InputBlock(
        block_id=SavedHuntBlock.QUERY,
        label=PlainTextObject(text="Query"),
        element=PlainTextInputElement(
            action_id=INPUT_ELEMENT,
            multiline=True,
            max_length=QUERY_MAX_CHARS,
            initial_value=clip(query, QUERY_MAX_CHARS) or None,
            placeholder=PlainTextObject(text="EmailEvents | where Timestamp > ago(1d) | take 50"),
        ),
    )


def render_save_view(
    private_metadata: str,
    *,
    name: str = "",
    title: str = "",
    description: str = "",
    query: str = "",
    tactics: str = "",
    editing: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """The Save as hunt form; `editing` is the version being edited and who saved it."""
    intro = (
        "Everyone in the workspace can then run it by name. Leading `let name = value;` lines "
        'become its parameters, typed by their value (`7d`, `10`, `"text"`, '
        "`datetime(2026-01-01)`, `true`) with that value as the default."
    )
    if editing is not None:
        version, by = editing
        intro = (
            f"Editing version {version}, saved by {_by(by)}. Saving makes version "
            f"{version + 1}; earlier versions stay in the audit log.\n{intro}"
        )
    blocks: list[Block] = [SectionBlock(text=mrkdwn(intro))]
    if editing is None:
        blocks.append(
            _text_input(SavedHuntBlock.NAME, "Name", name, NAME_MAX, "suspicious-inbox-rules")
        )
    blocks += [
        _text_input(SavedHuntBlock.TITLE, "Title", title, 150, "What it finds, in a few words"),
        _text_input(
            SavedHuntBlock.DESCRIPTION,
            "Description",
            description,
            1000,
            "When to run it and what its rows mean",
            multiline=True,
        ),
        _query_input(query),
        _text_input(
            SavedHuntBlock.TACTICS,
            "MITRE tactics and techniques",
            tactics,
            500,
            "InitialAccess, T1566",
            optional=True,
        ),
    ]
    return View(
        type="modal",
        callback_id=SavedHuntView.SAVE,
        private_metadata=private_metadata,
        title=PlainTextObject(text="Edit hunt" if editing else "Save as hunt"),
        submit=PlainTextObject(text="Save"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
    ).to_dict()


def _text_input(
    block_id: str,
    label: str,
    value: str,
    max_length: int,
    placeholder: str,
    *,
    multiline: bool = False,
    optional: bool = False,
) -> InputBlock:
    return InputBlock(
        block_id=block_id,
        label=PlainTextObject(text=label),
        optional=optional,
        element=PlainTextInputElement(
            action_id=INPUT_ELEMENT,
            multiline=multiline,
            max_length=max_length,
            initial_value=clip(value, max_length) or None,
            placeholder=PlainTextObject(text=placeholder),
        ),
    )


def _by(who: str) -> str:
    return "an import" if who == "import" else user(who)


def render_saved(name: str, version: int, parameters: list[str], note: str | None) -> Message:
    """What the person who saved a hunt is told."""
    run = code(f"/hunt {name}")
    body = f":floppy_disk: Saved {code(name)} as version {version}. Run it with {run}."
    if parameters:
        body += "\nParameters: " + ", ".join(code(p) for p in parameters) + "."
    if note:
        body += f"\n:information_source: {escape(note)}"
    return Message(text=f"Saved {name}", blocks=as_dicts([SectionBlock(text=mrkdwn(body))]))


def render_running_note(message: Message, note: str | None) -> Message:
    """The Running answer of an ad-hoc query, with what the check could not check."""
    if not note:
        return message
    blocks = [
        *message.blocks[:1],
        ContextBlock(
            elements=[mrkdwn(f":information_source: {escape(clip(note, 1500))}")]
        ).to_dict(),
        *message.blocks[1:],
    ]
    return Message(text=message.text, blocks=blocks)


def render_delete_question(
    name: str, title: str, version: int, saved_by: str, saved_at: Any, shown_to: str
) -> Message:
    """`/hunt delete NAME`: are you sure? Delete, or keep it."""
    body = (
        f"Delete the saved hunt {code(name)} ({escape(clip(title, 150))}), version {version}, "
        f"saved by {_by(saved_by)} {when(saved_at)}? Nobody will be able to run it by name; "
        "its versions stay in the audit log."
    )
    value = json.dumps({"subject": name, "version": version, "shown_to": shown_to})
    buttons = ActionsBlock(
        elements=[
            ButtonElement(
                text=PlainTextObject(text="Delete it"),
                action_id=SavedHuntAction.DELETE,
                value=value,
                style="danger",
            ),
            ButtonElement(
                text=PlainTextObject(text="Keep it"), action_id=SavedHuntAction.KEEP, value=value
            ),
        ]
    )
    return Message(
        text=f"Delete {name}?", blocks=as_dicts([SectionBlock(text=mrkdwn(body)), buttons])
    )
