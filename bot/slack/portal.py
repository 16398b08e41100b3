"""Links from Slack to each entity's page in the Microsoft Defender portal, the way the portal's own
entity panels link to them. Ids come from query results, so every part is percent-encoded and the
link text is escaped: a value can never become markup or another address."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from bot.slack.mrkdwn import escape

PORTAL = "https://security.microsoft.com"
ACTION_CENTER = f"{PORTAL}/action-center/history"


def _with_tenant(url: str, tenant: str | None) -> str:
    """`tid` makes the portal open the right tenant for people who can see several."""
    if not tenant:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode({'tid': tenant})}"


def device_url(device_id: str, tenant: str | None = None) -> str:
    return _with_tenant(f"{PORTAL}/machines/v2/{quote(device_id, safe='')}/overview", tenant)


def file_url(digest: str, tenant: str | None = None) -> str:
    """A file's page by its SHA-1 or SHA-256."""
    return _with_tenant(f"{PORTAL}/file/{quote(digest, safe='')}/overview", tenant)


def email_url(network_message_id: str, recipient: str, tenant: str | None = None) -> str:
    """The email entity page of one message in one mailbox."""
    query = urlencode({"f": "summary", "id": network_message_id, "recipient": recipient})
    return _with_tenant(f"{PORTAL}/emailentity?{query}", tenant)


def action_center_url(tenant: str | None = None) -> str:
    return _with_tenant(ACTION_CENTER, tenant)


def link(url: str, text: str) -> str:
    """An mrkdwn link whose text is shown escaped; `|` would end the address part early."""
    return f"<{escape(url).replace('|', '%7C')}|{escape(text)}>"
