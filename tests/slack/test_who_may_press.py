"""Who may press what: every action id and view callback the app registers has one rule, checked
before any flow runs; a press by someone else is refused privately and changes nothing."""

from __future__ import annotations

import json

from slack_bolt.async_app import AsyncApp

from bot.app import start_services
from bot.flows.permissions import Who
from bot.slack.ids import (
    INPUT_ELEMENT,
    ApprovalAction,
    ApprovalView,
    HandoffView,
    IncidentAction,
    ResultsAction,
    ResultsView,
    SavedHuntAction,
    SavedHuntView,
    ScheduleAction,
    TakeActionsAction,
    TakeActionsView,
)
from bot.state.approval_records import ApprovalState
from bot.workspace.model import TEAM_ID
from commands import register_all
from commands.context import BOUNDARY_MARK
from tests.slack.bot_under_test import soc_bot

# The rule each control is meant to have. A control registered without a row here fails below.
RULES: dict[str, Who] = {
    "/hunt": Who.ANYONE,
    "app_mention": Who.ANYONE,
    ResultsAction.PREVIOUS: Who.IN_CHANNEL,
    ResultsAction.NEXT: Who.IN_CHANNEL,
    ResultsAction.EXPORT: Who.IN_CHANNEL,
    ResultsAction.RERUN: Who.IN_CHANNEL,
    ResultsAction.TAKE_ACTIONS: Who.IN_CHANNEL,
    ResultsAction.FILTER: Who.IN_CHANNEL,
    ResultsAction.CLEAR_FILTER: Who.IN_CHANNEL,
    ResultsView.FILTER: Who.SHOWN_TO,
    ResultsAction.CANCEL_HUNT: Who.HUNTER,
    ResultsAction.GO_HUNT: Who.IN_CHANNEL,  # a row's follow-up hunt (a pivot)
    ApprovalAction.APPROVE: Who.APPROVER,
    ApprovalAction.REJECT: Who.APPROVER,
    ApprovalAction.RETRY_UNKNOWN: Who.APPROVER,
    ApprovalAction.WITHDRAW: Who.REQUESTER_OR_APPROVER,
    ApprovalAction.UNDO: Who.IN_CHANNEL,
    ApprovalView.REJECT: Who.APPROVER,
    IncidentAction.TAKE_OVER: Who.IN_CHANNEL,
    IncidentAction.HAND_OFF: Who.OWNER,
    IncidentAction.CLOSE_AND_CANCEL: Who.SHOWN_TO,
    IncidentAction.KEEP_OPEN: Who.SHOWN_TO,
    IncidentAction.STALE_PREVIEW: Who.IN_CHANNEL,
    IncidentAction.CLOSE_STALE: Who.SHOWN_TO,
    TakeActionsAction.BACK: Who.SHOWN_TO,
    TakeActionsView.CHOOSE: Who.SHOWN_TO,
    TakeActionsView.CONFIRM: Who.SHOWN_TO,
    HandoffView.CALLBACK: Who.SHOWN_TO,
    # The schedule flow also asks SCHEDULE_ALLOWED_* (tests/slack/test_schedules.py).
    ScheduleAction.PAUSE: Who.IN_CHANNEL,
    ScheduleAction.RESUME: Who.IN_CHANNEL,
    ScheduleAction.DELETE: Who.IN_CHANNEL,
    # The saved-hunt flows also ask KQL_ALLOWED_* and "author or approver"
    # (tests/saved_hunts/test_adhoc_journey.py).
    SavedHuntAction.SAVE_AS: Who.IN_CHANNEL,
    SavedHuntAction.DELETE: Who.SHOWN_TO,
    SavedHuntAction.KEEP: Who.SHOWN_TO,
    SavedHuntView.KQL: Who.SHOWN_TO,
    SavedHuntView.SAVE: Who.SHOWN_TO,
}


async def test_every_listener_is_inside_the_boundary_and_every_control_has_its_rule(settings):
    services = await start_services(settings)
    try:
        app = AsyncApp(token="xoxb-test", request_verification_enabled=False)
        listeners = register_all(app, services)
    finally:
        await services.aclose()
    registered = {r.control: r.who for r in listeners.registered}
    assert registered == RULES
    # Every id a Slack builder can put on a button or modal is handled.
    for ids in (
        ResultsAction,
        ResultsView,
        ApprovalAction,
        IncidentAction,
        TakeActionsAction,
        TakeActionsView,
        SavedHuntAction,
        SavedHuntView,
    ):
        assert {str(i) for i in ids} <= set(registered), ids
    assert HandoffView.CALLBACK in registered
    # Nothing reached Bolt except through the boundary.
    bolt_listeners = app._async_listeners
    assert len(bolt_listeners) == len(listeners.registered)
    for listener in bolt_listeners:
        for function in [listener.ack_function, *listener.lazy_functions]:
            assert getattr(function, BOUNDARY_MARK, False), function


async def test_a_press_by_anyone_the_control_is_not_for_is_refused_privately(settings):
    async with soc_bot(settings, hunt_allowed_users=("U0ALICE", "U0BOB", "U0CAROL")) as bot:
        await bot.run(
            "/hunt spam-emails",
            "click Take actions",
            "fill Action=Hard delete",
            "fill Rows=1",
            "fill Description=phish campaign",
            "submit",
        )
        results = bot.messages_with("Take actions")[0]
        result_id = bot.button_value(results, ResultsAction.EXPORT)
        confirm = bot.slack.workspace.top_view("U0ALICE")
        assert confirm is not None
        metadata = json.loads(confirm.spec["private_metadata"])

        # Bob presses Back on Alice's review: refused, her modal unchanged.
        answer, before = await bot.press(
            "bob", results, TakeActionsAction.BACK, json.dumps(metadata)
        )
        assert "Only <@U0ALICE> can answer this" in await bot.told("bob", before)
        assert not [c for c in bot.calls[before:] if c.method == "views.update"]
        # Bob submits Alice's confirmation: refused in the modal, and her draft is still there.
        answer = await bot.submit_view("bob", TakeActionsView.CONFIRM, metadata, {})
        assert answer.status == 200
        assert "Only <@U0ALICE> can answer this" in answer.text
        assert not await bot.services.approvals.in_thread("C0SOC", results.ts)
        answer = await bot.submit_view(
            "bob",
            TakeActionsView.CHOOSE,
            {"result": result_id, "thread": results.ts, "shown_to": "U0ALICE"},
            {},
        )
        assert "Only <@U0ALICE> can answer this" in answer.text

        await bot.run("submit", "as @carol", "@hunt-bot close contained", "@hunt-bot status")
        (approval,) = await bot.services.approvals.in_thread("C0SOC", results.ts)
        question = bot.messages_with("Close it and cancel them")[0]
        asked = bot.button_value(question, IncidentAction.CLOSE_AND_CANCEL)
        status = bot.messages_with("Take over")[-1]
        stale = json.dumps({"shown_to": "U0CAROL", "idle": 3600, "threads": [results.ts]})
        await bot.run("/hunt schedule zap-misses every 1h")
        schedule = json.dumps({"subject": "SCH-1", "shown_to": "U0DAVE"})
        saved = json.dumps({"subject": "zap-misses", "version": 1, "shown_to": "U0CAROL"})

        presses = [
            ("dave", results, ResultsAction.PREVIOUS, f"{result_id}:1", "not on the list"),
            ("dave", results, ResultsAction.NEXT, f"{result_id}:2", "not on the list"),
            ("dave", results, ResultsAction.EXPORT, result_id, "not on the list"),
            ("dave", results, ResultsAction.RERUN, result_id, "not on the list"),
            ("dave", results, ResultsAction.TAKE_ACTIONS, result_id, "not on the list"),
            ("dave", results, ResultsAction.FILTER, result_id, "not on the list"),
            ("dave", results, ResultsAction.CLEAR_FILTER, result_id, "not on the list"),
            ("dave", results, ResultsAction.GO_HUNT, f"{result_id}:1:00000000", "not on the list"),
            # The hunt's id is its result's: only Alice, who ran it, or an approver may cancel.
            ("dave", results, ResultsAction.CANCEL_HUNT, result_id, "Only <@U0ALICE>, who ran it"),
            ("dave", status, IncidentAction.TAKE_OVER, results.ts, "not on the list"),
            ("dave", status, ApprovalAction.APPROVE, approval.id, "not an approver"),
            ("alice", status, ApprovalAction.APPROVE, approval.id, "your vote cannot count"),
            ("dave", status, ApprovalAction.REJECT, approval.id, "not an approver"),
            ("dave", status, ApprovalAction.RETRY_UNKNOWN, approval.id, "not an approver"),
            ("alice", status, ApprovalAction.RETRY_UNKNOWN, approval.id, "cannot count"),
            ("dave", status, ApprovalAction.WITHDRAW, approval.id, "Only <@U0ALICE>, who asked"),
            ("dave", status, ApprovalAction.UNDO, approval.id, "not on the list"),
            ("dave", status, IncidentAction.HAND_OFF, results.ts, "Only the incident's owner"),
            ("bob", question, IncidentAction.CLOSE_AND_CANCEL, asked, "Only <@U0CAROL>"),
            ("bob", question, IncidentAction.KEEP_OPEN, asked, "Only <@U0CAROL>"),
            ("dave", status, IncidentAction.STALE_PREVIEW, "older-than=7d", "not on the list"),
            ("bob", question, IncidentAction.CLOSE_STALE, stale, "Only <@U0CAROL>"),
            ("dave", status, ScheduleAction.PAUSE, schedule, "not on the list"),
            ("dave", status, ScheduleAction.RESUME, schedule, "not on the list"),
            ("dave", status, ScheduleAction.DELETE, schedule, "not on the list"),
            ("dave", results, SavedHuntAction.SAVE_AS, result_id, "not on the list"),
            ("bob", question, SavedHuntAction.DELETE, saved, "Only <@U0CAROL>"),
            ("bob", question, SavedHuntAction.KEEP, saved, "Only <@U0CAROL>"),
        ]
        pressed = {press[2] for press in presses}
        tried_above = {
            TakeActionsAction.BACK,
            *TakeActionsView,
            HandoffView.CALLBACK,
            ApprovalView.REJECT,
            ResultsView.FILTER,
            *SavedHuntView,
        }
        assert pressed | {str(v) for v in tried_above} >= {
            c for c in RULES if c not in ("/hunt", "app_mention")
        }
        for user, message, action_id, value, says in presses:
            answer, before = await bot.press(user, message, action_id, value)
            assert answer.status == 200, action_id
            told = await bot.told(user, before)
            assert says in told, (action_id, told)
            await bot.slack.calls.quiet(period=0.3)
            changed = [
                c.method
                for c in bot.calls[before:]
                if c.method
                in ("chat.update", "views.open", "files.getUploadURLExternal", "chat.postMessage")
            ]
            assert not changed, (action_id, changed)

        answer = await bot.submit_view(
            "bob",
            HandoffView.CALLBACK,
            {"team": "T0LOCAL", "channel": "C0SOC", "thread": results.ts, "shown_to": "U0ALICE"},
            {HandoffView.TO_BLOCK: {INPUT_ELEMENT: {"selected_user": "U0BOB"}}},
        )
        assert "Only <@U0ALICE> can answer this" in answer.text
        # Dave submits a Reject form for the approval: refused in the form, nothing rejected.
        answer = await bot.submit_view(
            "dave",
            ApprovalView.REJECT,
            {"subject": approval.id, "shown_to": "U0DAVE", "channel": "C0SOC"},
            {ApprovalView.REASON_BLOCK: {INPUT_ELEMENT: {"value": "no"}}},
        )
        assert "not an approver" in answer.text

        # Bob submits a Filter form opened for Alice: refused in the form, the results unchanged.
        answer = await bot.submit_view(
            "bob",
            ResultsView.FILTER,
            {"result": result_id, "channel": "C0SOC", "message": results.ts, "shown_to": "U0ALICE"},
            {"results.filter_rows": {INPUT_ELEMENT: {"value": "Subject contains x"}}},
        )
        assert "Only <@U0ALICE> can answer this" in answer.text

        # Bob submits forms opened for Alice: refused in the form, nothing run or saved.
        for callback in SavedHuntView:
            answer = await bot.submit_view(
                "bob",
                callback,
                {"channel": "C0SOC", "team": TEAM_ID, "shown_to": "U0ALICE"},
                {"saved_hunt.query": {INPUT_ELEMENT: {"value": "EmailEvents | take 1"}}},
            )
            assert "Only <@U0ALICE> can answer this" in answer.text, callback

        # Nothing changed: the approval waits, the incident is Alice's and open.
        after = await bot.services.approvals.get(approval.id)
        assert after is not None and after.state is ApprovalState.PENDING and after.approvals == 0
        incident = await bot.services.incidents.get(TEAM_ID, "C0SOC", results.ts)
        assert incident is not None and incident.owner == "U0ALICE" and incident.is_open
        (scheduled,) = await bot.services.schedules.in_channel(TEAM_ID, "C0SOC")
        assert scheduled.id == "SCH-1" and not scheduled.paused

        # Carol answers her own question: her reason is kept, the cancel is hers.
        await bot.run("click Cancel them and close")
        incident = await bot.services.incidents.get(TEAM_ID, "C0SOC", results.ts)
        assert incident is not None and not incident.is_open
        assert incident.close_reason == "contained"
        cancelled = await bot.services.approvals.get(approval.id)
        assert cancelled is not None and cancelled.state is ApprovalState.CANCELLED
        assert cancelled.decided_by == "U0CAROL"
        refusals = [
            e for e in await bot.services.approvals.audit.recent(100) if e.event == "refused"
        ]
        assert len(refusals) >= len(presses)
