"""Making values safe to show in Slack.

In mrkdwn only `&`, `<` and `>` are control characters: `<!channel>` pings a channel and
`<https://evil|Approve>` disguises a link. Every value we did not write ourselves is escaped
before it goes into mrkdwn, and such text objects are marked `verbatim` so Slack does not
auto-link it either. Plain text and table `raw_text` cells are not parsed, so they need neither.
"""

from __future__ import annotations

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def code(text: str) -> str:
    """A value as inline code: escaped, and without backticks that would end the span."""
    return "`" + escape(text.replace("`", "'")) + "`"


def user(user_id: str) -> str:
    """A mention of a Slack user id we received from Slack itself (never from query data)."""
    if not user_id.isalnum():
        return escape(user_id)
    return f"<@{user_id}>"


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, marking a cut with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
