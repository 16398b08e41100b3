"""`/hunt audit [N]`: recent audit entries, one line each, for approvers."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, SectionBlock

from bot.slack.blocks import Message, as_dicts, mrkdwn
from bot.slack.mrkdwn import clip, code, escape, user
from bot.state.audit import AuditEntry


def render_audit(entries: list[AuditEntry]) -> Message:
    if not entries:
        return Message(
            text="The audit log is empty.",
            blocks=as_dicts([SectionBlock(text=mrkdwn("The audit log is empty."))]),
        )
    lines = [_line(entry) for entry in reversed(entries)]  # newest first
    blocks: list[Block] = []
    chunk = ""
    for line in lines:
        if len(chunk) + len(line) + 1 > 2900:
            blocks.append(SectionBlock(text=mrkdwn(chunk)))
            chunk = ""
        chunk += line + "\n"
    if chunk:
        blocks.append(SectionBlock(text=mrkdwn(chunk)))
    return Message(text=f"The last {len(entries)} audit entries", blocks=as_dicts(blocks[:45]))


def _line(entry: AuditEntry) -> str:
    who = user(entry.user_id) if entry.user_id else "the bot"
    # Event and action names have underscores: in code spans so mrkdwn does not italicise them.
    parts = [f"`{entry.at:%Y-%m-%d %H:%M:%S}`", code(entry.event), who]
    if entry.approval_id:
        parts.append(code(entry.approval_id))
    if entry.action:
        parts.append(code(entry.action))
    if entry.state:
        parts.append(f"→ {code(entry.state)}")
    extra = getattr(entry, "reason", None) or getattr(entry, "vote", None)
    if extra:
        parts.append(escape(clip(str(extra), 200)))
    return " · ".join(parts)
