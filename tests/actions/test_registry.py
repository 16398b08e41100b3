"""One registry row and one executor row per action: adding an action is exactly those two."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.actions.model import ActionKind
from bot.actions.registry import ACTIONS, REGISTRY
from bot.defender.actions.operations import (
    EXECUTORS,
    GRAPH_EMAIL_ACTIONS,
    MACHINE_OPERATIONS,
    GraphEmailAction,
    capability_for,
)
from bot.defender.lab.email_actions import EMAIL_MOVES

EVERY_KIND = Counter(ActionKind)


def test_every_action_has_exactly_one_registry_row():
    assert Counter(info.kind for info in REGISTRY) == EVERY_KIND


def test_every_action_has_exactly_one_executor_row():
    assert Counter(row.kind for row in EXECUTORS) == EVERY_KIND


def test_emails_go_to_graph_and_devices_and_files_to_machine_actions():
    for row in EXECUTORS:
        assert isinstance(row, GraphEmailAction) == (row.kind.entity == "email"), row
    assert set(GRAPH_EMAIL_ACTIONS) | set(MACHINE_OPERATIONS) == set(ActionKind)


@pytest.mark.parametrize("kind", list(ActionKind), ids=str)
def test_every_action_needs_a_known_permission(kind):
    assert capability_for(kind).permission


def test_the_lab_knows_every_email_move_graph_is_asked_for():
    assert set(GRAPH_EMAIL_ACTIONS.values()) == set(EMAIL_MOVES)


def test_hard_to_undo_actions_need_two_people_by_default():
    two = {kind for kind, info in ACTIONS.items() if info.quorum == 2}
    assert two == {
        ActionKind.EMAIL_HARD_DELETE,
        ActionKind.DEVICE_ISOLATE,
        ActionKind.DEVICE_RESTRICT_APPS,
        ActionKind.FILE_STOP_AND_QUARANTINE,
    }
    assert all(info.quorum in (1, 2) for info in REGISTRY)
