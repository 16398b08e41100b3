"""Making values safe to show in Slack.

In mrkdwn only `&`, `<` and `>` are control characters: `<!channel>` pings a channel and
`<https://evil|Approve>` disguises a link. Every value we did not write ourselves is escaped
before it goes into mrkdwn, and such text objects are marked `verbatim` so Slack does not
auto-link it either. Plain text and table `raw_text` cells are not parsed, so they need neither.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def usergroup(group_id: str) -> str:
    """A mention of a Slack user group by its id: Slack shows its handle and notifies it."""
    if not group_id.isalnum():
        return escape(group_id)
    return f"<!subteam^{group_id}>"


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, marking a cut with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def when(moment: datetime) -> str:
    """A moment each reader sees in their own time zone (Slack's date formatting); clients that
    cannot format it show the fallback, in UTC."""
    at = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    fallback = f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def duration(span: timedelta) -> str:
    """A span as a person says it: 45 min, 4 h, 2 days."""
    minutes = max(0, round(span.total_seconds() / 60))
    if minutes < 90:
        return f"{minutes} min"
    hours = round(minutes / 60)
    return f"{hours} h" if hours < 48 else f"{round(hours / 24)} days"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """A count with its noun as a person says it: 1 incident, 12 incidents, 1,204 rows."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def frequency(every: timedelta) -> str:
    """A frequency as a person says it: 15 min, 1 h, 3 h, 1 day, 2 days."""
    minutes = int(every.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days} day{'s' * (days != 1)}"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"
