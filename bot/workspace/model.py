"""The console workspace's state: who is in it, and everything posted, opened or uploaded.

The Web API stand-in changes it the way Slack's servers would; the console reads it to render
what a person would see and to find the buttons they press. Shapes follow Slack's objects
(message, view, file, user) closely enough that a payload built from them is what Slack sends.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

TEAM_ID = "T0CONSOLE"
TEAM_DOMAIN = "console"
API_APP_ID = "A0HUNTBOT"
BOT_USER_ID = "U0HUNTBOT"
BOT_ID = "B0HUNTBOT"
VERIFICATION_TOKEN = "console-verification-token"  # the deprecated token Slack still sends


@dataclass(frozen=True)
class User:
    id: str
    name: str
    real_name: str
    title: str = ""
    is_bot: bool = False
    bot_id: str | None = None

    def to_slack(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "display_name": self.name,
            "title": self.title,
            "team": TEAM_ID,
        }
        if self.bot_id:
            profile["bot_id"] = self.bot_id
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "is_admin": False,
            "is_owner": False,
            "tz": "Etc/UTC",
            "tz_offset": 0,
            "profile": profile,
        }


@dataclass(frozen=True)
class UserGroup:
    id: str
    handle: str
    name: str
    users: tuple[str, ...]


@dataclass
class Channel:
    id: str
    name: str
    members: list[str]

    def to_slack(self, created: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_private": False,
            "is_archived": False,
            "is_general": False,
            "is_member": BOT_USER_ID in self.members,
            "created": created,
            "creator": self.members[0] if self.members else "",
            "context_team_id": TEAM_ID,
            "name_normalized": self.name,
            "num_members": len(self.members),
        }


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str
    bot_id: str | None = None
    thread_ts: str | None = None  # the root's ts, for replies
    files: list[dict[str, Any]] = field(default_factory=list)
    reply_count: int = 0
    latest_reply: str | None = None
    edits: int = 0
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # metadata, unfurl flags...

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_slack(self) -> dict[str, Any]:
        """The message object as Slack returns it and puts it in interaction payloads."""
        data: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "team": TEAM_ID,
        }
        if self.bot_id:
            data |= {"bot_id": self.bot_id, "app_id": API_APP_ID}
        if self.blocks:
            data["blocks"] = self.blocks
        if self.files:
            data["files"] = self.files
            data["upload"] = False
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.reply_count:
            data |= {"reply_count": self.reply_count, "latest_reply": self.latest_reply}
        if self.edits and not self.bot_id:
            data["edited"] = {"user": self.user, "ts": self.ts}
        if "metadata" in self.extra:
            data["metadata"] = self.extra["metadata"]
        return data


@dataclass
class Ephemeral:
    """A message one person sees until they reload; only response URLs can change it."""

    channel: str
    user: str  # who sees it
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    deleted: bool = False


@dataclass
class View:
    id: str
    user: str
    spec: dict[str, Any]  # the view as the app sent it
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    # What the person has typed or picked: {block_id: {action_id: value object}}.
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # from response_action: errors

    def to_slack(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "type": spec.get("type", "modal"),
            "blocks": spec.get("blocks", []),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": self.values},
            "hash": self.hash,
            "title": spec.get("title"),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": spec.get("close"),
            "submit": spec.get("submit"),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": API_APP_ID,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    content: bytes | None = None  # None until the upload URL received it
    title: str = ""
    shared_in: list[tuple[str, str | None]] = field(default_factory=list)  # (channel, thread)

    def to_slack(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": int(time.time()),
            "name": self.filename,
            "title": self.title or self.filename,
            "mimetype": _mimetype(self.filename),
            "filetype": self.filename.rsplit(".", 1)[-1] if "." in self.filename else "text",
            "user": BOT_USER_ID,
            "size": len(self.content or b""),
            "mode": "hosted",
            "is_external": False,
            "is_public": bool(self.shared_in),
            "url_private": f"{base_url}/files/{self.id}/{self.filename}",
            "permalink": f"{base_url}/files/{self.id}",
            "channels": sorted({channel for channel, _ in self.shared_in}),
        }


def _mimetype(filename: str) -> str:
    if filename.endswith(".csv"):
        return "text/csv"
    if filename.endswith(".json"):
        return "application/json"
    return "text/plain"


@dataclass
class Workspace:
    """One team, its people and channels, and what has happened in it."""

    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, UserGroup] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    # channel -> ts -> message, replies included
    messages: dict[str, dict[str, Message]] = field(default_factory=dict)
    ephemerals: list[Ephemeral] = field(default_factory=list)
    views: dict[str, list[View]] = field(default_factory=dict)  # user -> open stack, root first
    files: dict[str, UploadedFile] = field(default_factory=dict)
    created: int = field(default_factory=lambda: int(time.time()))
    _last_ts_micros: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # -- ids -----------------------------------------------------------------------------------

    def next_ts(self) -> str:
        """A message timestamp: the time now, and strictly after every earlier one."""
        micros = max(int(time.time() * 1_000_000), self._last_ts_micros + 100)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):06d}{secrets.token_hex(2).upper()}"

    # -- people --------------------------------------------------------------------------------

    def user_by_name(self, name: str) -> User | None:
        name = name.removeprefix("@")
        return next((u for u in self.users.values() if u.name == name), None)

    def channel_by_ref(self, ref: str) -> Channel | None:
        """A channel by id, by name, or by #name, as chat.postMessage accepts them; a person's
        user id is their DM with the bot (the app's Messages tab), opened on first use."""
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.users and ref != BOT_USER_ID:
            dm = Channel(f"D{ref}", f"dm-{self.users[ref].name}", [ref, BOT_USER_ID])
            return self.channels.setdefault(dm.id, dm)
        name = ref.removeprefix("#")
        return next((c for c in self.channels.values() if c.name == name), None)

    # -- messages ------------------------------------------------------------------------------

    def message(self, channel: str, ts: str) -> Message | None:
        found = self.messages.get(channel, {}).get(ts)
        return None if found is None or found.deleted else found

    def add_message(self, message: Message) -> Message:
        self.messages.setdefault(message.channel, {})[message.ts] = message
        if message.is_reply and message.thread_ts:
            root = self.message(message.channel, message.thread_ts)
            if root is not None:
                root.thread_ts = root.ts
                root.reply_count += 1
                root.latest_reply = message.ts
        return message

    def channel_history(self, channel: str) -> list[Message]:
        """Every live message in the channel, replies included, oldest first."""
        found = [m for m in self.messages.get(channel, {}).values() if not m.deleted]
        return sorted(found, key=lambda m: float(m.ts))

    def thread(self, channel: str, root_ts: str) -> list[Message]:
        return [
            m for m in self.channel_history(channel) if m.ts == root_ts or m.thread_ts == root_ts
        ]

    def ephemerals_for(self, user: str) -> list[Ephemeral]:
        return [e for e in self.ephemerals if e.user == user and not e.deleted]

    def ephemeral(self, ts: str) -> Ephemeral | None:
        return next((e for e in self.ephemerals if e.ts == ts and not e.deleted), None)

    # -- views ---------------------------------------------------------------------------------

    def top_view(self, user: str) -> View | None:
        stack = self.views.get(user)
        return stack[-1] if stack else None

    def find_view(self, view_id: str | None = None, external_id: str | None = None) -> View | None:
        for stack in self.views.values():
            for view in stack:
                if view_id and view.id == view_id:
                    return view
                if external_id and view.spec.get("external_id") == external_id:
                    return view
        return None


def console_workspace() -> Workspace:
    """The console's workspace: #soc with an analyst, two approvers and the bot (not dave)."""
    workspace = Workspace()
    for user in (
        User("U0ALICE", "alice", "Alice Analyst", title="SOC analyst"),
        User("U0BOB", "bob", "Bob Approver", title="SOC lead"),
        User("U0CAROL", "carol", "Carol Approver", title="Incident manager"),
        # In the workspace but not in #soc: what a handoff to an outsider looks like.
        User("U0DAVE", "dave", "Dave Elsewhere", title="Finance"),
        User(BOT_USER_ID, "hunt-bot", "hunt-bot", is_bot=True, bot_id=BOT_ID),
    ):
        workspace.users[user.id] = user
    workspace.groups["S0APPROVERS"] = UserGroup(
        "S0APPROVERS", "approvers", "SOC approvers", ("U0BOB", "U0CAROL")
    )
    workspace.channels["C0SOC"] = Channel(
        "C0SOC", "soc", ["U0ALICE", "U0BOB", "U0CAROL", BOT_USER_ID]
    )
    return workspace
