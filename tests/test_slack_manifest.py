"""The Slack app manifest grants every scope the bot's Web API calls need, per Slack's method
reference (../shared/reference/slack-platform.md), and nothing it never uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# slack_sdk method -> the bot scopes it needs (any one of a set is enough; () = none).
NEEDS: dict[str, tuple[frozenset[str], ...]] = {
    "chat_postMessage": (frozenset({"chat:write"}),),
    "chat_update": (frozenset({"chat:write"}),),
    "chat_delete": (frozenset({"chat:write"}),),  # the bot's own progress messages
    "chat_postEphemeral": (frozenset({"chat:write"}),),
    "chat_getPermalink": (),
    "files_upload_v2": (frozenset({"files:write"}),),
    # The streamed CSV export (bot/slack/uploads.py): the two calls files_upload_v2 makes.
    "files_getUploadURLExternal": (frozenset({"files:write"}),),
    "files_completeUploadExternal": (frozenset({"files:write"}),),
    "views_open": (),
    "views_update": (),
    "users_info": (frozenset({"users:read"}),),
    # Public and private channels alike: a handoff can happen in either.
    "conversations_members": (frozenset({"channels:read"}), frozenset({"groups:read"})),
    "usergroups_users_list": (frozenset({"usergroups:read"}),),
    "auth_test": (),
}
# Scopes that come from something other than a Web API call.
NOT_CALLS = {"commands", "app_mentions:read", "chat:write.public"}
SLACK_CLIENT = re.compile(r"slack\.([a-z]+_[a-zA-Z_0-9]+)\(")


def called_methods() -> set[str]:
    found: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("commands/*.py")]:
        if "workspace" in path.parts:  # the stand-in, not the bot
            continue
        found |= set(SLACK_CLIENT.findall(path.read_text(encoding="utf-8")))
    return found - {"issue_trigger", "issue_response_url"}


def test_every_web_api_call_has_its_scope_and_every_scope_a_use():
    manifest = yaml.safe_load((ROOT / "infra" / "slack-manifest.yaml").read_text())
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    calls = called_methods()
    assert calls, "found no Web API calls: the scan is broken"
    unknown = calls - set(NEEDS)
    assert not unknown, f"add these methods and their scopes to NEEDS: {sorted(unknown)}"
    for method in sorted(calls):
        for alternatives in NEEDS[method]:
            assert alternatives <= granted, f"{method} needs {sorted(alternatives)}"
    used = {scope for method in calls for group in NEEDS[method] for scope in group}
    assert granted - NOT_CALLS <= used, f"granted but unused: {sorted(granted - NOT_CALLS - used)}"
