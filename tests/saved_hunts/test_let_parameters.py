"""What a saved hunt is made of: parameters from leading literal lets, columns and entities from
what a query returns, names in the catalog's pattern."""

from __future__ import annotations

from datetime import timedelta

from bot.hunts.adhoc import declare_parameters, derive_columns, normalise_name, projected_columns
from bot.hunts.params import ParamType


def test_leading_literal_lets_become_typed_parameters_with_their_default():
    declared = declare_parameters(
        "// recent sign-ins\n"
        "let lookback = 7d;\n"
        "let most = 50;\n"
        'let who = "alex \\"the\\" admin";\n'
        "let since = datetime(2026-01-02);\n"
        "let failed = true;\n"
        "let Mixed = 3;\n"
        "let unused = 4;\n"
        "IdentityLogonEvents | where Timestamp > ago(lookback) and Timestamp > since\n"
        "| where AccountName == who and (ActionType == 'LogonFailed') == failed\n"
        "| take most | extend n = Mixed\n"
    )
    types = {p.name: (p.type, p.default) for p in declared.parameters}
    assert types == {
        "lookback": (ParamType.TIMESPAN, "7d"),
        "most": (ParamType.INT, "50"),
        "who": (ParamType.STRING, 'alex "the" admin'),
        "since": (ParamType.DATETIME, "2026-01-02"),
        "failed": (ParamType.BOOL, "true"),
    }
    # Not a parameter (a name a parameter may not have; not used): the let stays as written.
    assert "let Mixed = 3;" in declared.query and "let unused = 4;" in declared.query
    assert "let lookback" not in declared.query
    hunt_values = {p.name: p.default_value() for p in declared.parameters}
    assert hunt_values["lookback"] == timedelta(days=7)


def test_a_let_that_is_not_a_literal_stays_in_the_query():
    query = "let mails = EmailEvents | take 5;\nmails | project NetworkMessageId\n"
    declared = declare_parameters(query)
    assert declared.parameters == () and declared.query == query


def test_entities_follow_the_wizards_column_contract():
    columns, entities = derive_columns(
        ["Timestamp", "NetworkMessageId", "RecipientEmailAddress", "SenderFromAddress"]
    )
    assert entities.email == ("NetworkMessageId", "RecipientEmailAddress")  # sender needs both
    _, entities = derive_columns(["DeviceId", "SHA256", "FileName"])
    assert entities.device == ("DeviceId",) and entities.file == ("DeviceId", "SHA256")
    columns, entities = derive_columns([f"C{n}" for n in range(30)])
    assert len(columns) == 20 and not entities.kinds


def test_names_and_projected_columns():
    assert normalise_name("Email from rare sender (ASIM)") == "email-from-rare-sender-asim"
    assert len(normalise_name("word " * 40)) <= 60
    assert projected_columns(
        'EmailEvents | where Subject has "a | project X" | project Timestamp, N = count(), S'
    ) == ["Timestamp", "N", "S"]
