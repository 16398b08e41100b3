"""Ad-hoc KQL and saved hunts as people in #soc use them: a query typed in a form runs like any
hunt, is saved for the team, and is run by name from another process; only the KQL list may write
queries; only the author or an approver may change or delete a saved hunt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.config import Settings
from bot.flows.hunt_lookup import find_hunt
from bot.slack.ids import INPUT_ELEMENT, SavedHuntBlock, SavedHuntView
from bot.state.saved_hunts import ADHOC_RAN, HUNT_DELETED, HUNT_SAVED, SavedHunts
from bot.workspace.model import TEAM_ID
from tests.slack.bot_under_test import soc_bot

HUNT_BOT = str(Path(sys.executable).parent / "hunt-bot")

PHISH = (
    "let lookback = 7d; EmailEvents | where Timestamp > ago(lookback) "
    '| where ThreatTypes has "Phish" | project Timestamp, NetworkMessageId, '
    "RecipientEmailAddress, SenderFromAddress, EmailDirection, Subject"
)
SAVE_IT = [
    "click Save as hunt",
    "fill Name=recent-phish",
    "fill Title=Phishing mail of late",
    "fill Description=Mail with a phishing verdict.",
    "fill MITRE tactics and techniques=InitialAccess, T1566",
    "submit",
]


def _query_form(query: str, user: str = "U0ALICE") -> tuple[dict[str, object], dict[str, object]]:
    metadata = {"shown_to": user, "channel": "C0SOC", "team": TEAM_ID}
    values = {SavedHuntBlock.QUERY: {INPUT_ELEMENT: {"value": query}}}
    return metadata, values


async def test_an_adhoc_query_runs_like_a_hunt_offers_take_actions_and_is_audited(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt kql", f"fill Query={PHISH}", "submit")
        (results,) = bot.messages_with("Ad-hoc query")
        shown = json.dumps(results.blocks)
        # Email entity columns came back: Take actions is offered, and Save as hunt.
        assert "Take actions" in shown and "Save as hunt" in shown and "Export CSV" in shown
        assert "NetworkMessageId" in shown
        entries = await bot.services.approvals.audit.recent(20)
        ran = [e for e in entries if e.event == ADHOC_RAN]
        assert len(ran) == 1 and ran[0].user_id == "U0ALICE" and ran[0].detail == PHISH
        # Its thread is an incident, as for any hunt that found something.
        assert await bot.services.incidents.get(TEAM_ID, "C0SOC", results.ts) is not None
        # Bob runs Alice's query again: that run is audited as his, with the query's text.
        await bot.run("as @bob", "click Re-run")
        ran = [e for e in await bot.services.approvals.audit.recent(40) if e.event == ADHOC_RAN]
        assert [e.user_id for e in ran] == ["U0ALICE", "U0BOB"] and ran[1].detail == PHISH


async def test_a_wrong_query_is_answered_beside_the_field_and_a_lab_gap_with_a_note(settings):
    async with soc_bot(settings) as bot:
        for query, says in [
            ("EmailEvnts | take 5", "not a table of Defender"),
            ("EmailEvents | wher x", "not valid KQL"),
            ("", "Type a query"),
        ]:
            answer = await bot.submit_view("alice", SavedHuntView.KQL, *_query_form(query))
            body = answer.json()
            assert body["response_action"] == "errors", query
            assert says in body["errors"][SavedHuntBlock.QUERY], (query, body)
        assert not bot.messages_with("Ad-hoc query")
        # Valid for Defender, beyond the lab's engine: accepted, and the person is told so.
        await bot.run(
            "/hunt kql",
            "fill Query=DeviceEvents | evaluate bag_unpack(AdditionalFields) | take 5",
            "submit",
        )
        told = [e for e in bot.slack.workspace.ephemerals_for("U0ALICE") if "Running" in e.text]
        assert told and "lab" in json.dumps(told[-1].blocks)


async def test_only_people_on_the_kql_list_may_write_queries(settings):
    async with soc_bot(settings) as bot:
        before = len(bot.calls)
        await bot.run("as @dave", "/hunt kql")
        told = await bot.told("dave", before)
        assert "not on the list of people who may run their own KQL" in told
        assert not [c for c in bot.calls[before:] if c.method == "views.open"]
        # A forged submission of the form is refused too, and runs nothing.
        answer = await bot.submit_view("dave", SavedHuntView.KQL, *_query_form(PHISH, "U0DAVE"))
        assert "not on the list of people who may run their own KQL" in answer.text
        assert not bot.messages_with("Ad-hoc query")


async def test_a_saved_hunt_runs_by_name_in_another_process(settings: Settings, tmp_path: Path):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt kql", f"fill Query={PHISH}", "submit", *SAVE_IT)
        # The bot's own process: anyone who may hunt runs it by name, with its typed parameter.
        await bot.run("as @bob", "/hunt recent-phish lookback=3d")
        assert bot.messages_with("recent-phish")
        # A second process on the same Redis (start_services) finds it at once.
        hunt = await find_hunt(bot.services, "recent-phish")
        assert [p.name for p in hunt.parameters] == ["lookback"]
        assert hunt.tactics == ("InitialAccess",) and hunt.techniques == ("T1566",)
        assert "let lookback" not in hunt.query and hunt.entities.email
        saved = await SavedHunts(bot.services.redis.client).get("recent-phish")
        assert saved is not None and saved.author == "U0ALICE" and saved.version == 1
    # And the command line, a process of its own, runs it by name from Redis.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HUNT", "AZURE_"))}
    env |= {
        "REDIS_URL": settings.redis_url.get_secret_value() if settings.redis_url else "",
        "LAB_DB": str(settings.lab_db),
        "HUNT_BACKEND": "lab",
        "XDG_DATA_HOME": str(tmp_path),
    }
    done = subprocess.run(
        [HUNT_BOT, "hunt", "recent-phish", "lookback=30d", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["hunt"] == "recent-phish" and printed["rows"]


async def test_edits_are_versions_and_only_the_author_or_an_approver_changes_or_deletes(settings):
    async with soc_bot(settings) as bot:
        await bot.run("/hunt kql", f"fill Query={PHISH}", "submit", *SAVE_IT)
        # Dave may hunt but it is not his: he can neither edit nor delete it.
        before = len(bot.calls)
        await bot.run("as @dave", "/hunt save recent-phish")
        assert "only its author or an approver" in await bot.told("dave", before)
        before = len(bot.calls)
        await bot.run("/hunt delete recent-phish")
        assert "only its author or an approver" in await bot.told("dave", before)
        # Alice edits it: the form opens filled in (the parameter back as a let).
        await bot.run("as @alice", "/hunt save recent-phish")
        form = bot.slack.workspace.top_view("U0ALICE")
        assert form is not None and "let lookback = 7d;" in json.dumps(form.spec)
        await bot.run("fill Title=Phishing mail, newest first", "submit")
        store = SavedHunts(bot.services.redis.client)
        saved = await store.get("recent-phish")
        assert saved is not None and saved.version == 2
        assert saved.hunt.title == "Phishing mail, newest first"
        assert [v.version for v in await store.versions("recent-phish")] == [1, 2]
        # Bob, an approver, deletes it after saying yes.
        await bot.run("as @bob", "/hunt delete recent-phish", "click Delete it")
        assert await store.get("recent-phish") is None
        await bot.run("/hunt recent-phish")
        answered = bot.slack.workspace.ephemerals_for("U0BOB")[-1]
        assert "There is no hunt called" in json.dumps(answered.blocks)
        events = [e.event for e in await bot.services.approvals.audit.recent(50)]
        assert events.count(HUNT_SAVED) == 2 and events.count(HUNT_DELETED) == 1


async def test_a_saved_hunt_never_takes_a_builtin_or_existing_name(settings):
    async with soc_bot(settings) as bot:
        metadata = {"shown_to": "U0ALICE", "channel": "C0SOC", "team": TEAM_ID}
        values = {
            SavedHuntBlock.NAME: {INPUT_ELEMENT: {"value": "zap-misses"}},
            SavedHuntBlock.TITLE: {INPUT_ELEMENT: {"value": "Mine"}},
            SavedHuntBlock.DESCRIPTION: {INPUT_ELEMENT: {"value": "Mine"}},
            SavedHuntBlock.QUERY: {INPUT_ELEMENT: {"value": "EmailEvents | take 5"}},
        }
        answer = await bot.submit_view("alice", SavedHuntView.SAVE, metadata, values)
        assert "There is a built-in hunt called zap-misses" in answer.text
        values[SavedHuntBlock.NAME] = {INPUT_ELEMENT: {"value": "mine"}}
        answer = await bot.submit_view("alice", SavedHuntView.SAVE, metadata, values)
        assert answer.json() is None or answer.json().get("response_action") == "clear"
        answer = await bot.submit_view("alice", SavedHuntView.SAVE, metadata, values)
        assert "There is already a saved hunt called `mine`" in answer.text
        saved = await SavedHunts(bot.services.redis.client).get("mine")
        assert saved is not None and saved.version == 1
