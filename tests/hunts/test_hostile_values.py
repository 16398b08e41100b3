"""No parameter value can change a query's structure: run on the lab's KQL engine, a hostile
subject finds exactly the emails whose subject really contains it, and nothing else."""

import uuid
from datetime import UTC, datetime

import duckdb_kql
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.defender.lab.schema import empty_schema_connection
from bot.hunts import load_catalog

DECOYS = ("Quarterly report", "Lunch on Friday?", "Your parcel is waiting")

INJECTIONS = [
    '" or Subject != "',
    '" | take 100 //',
    "\\\" or 1 == 1 or Subject contains \\\"",
    "'; EmailEvents | project *; //",
    '"\n| union EmailEvents\n| where "" == "',
    "@\"x\" or true",
]


@pytest.fixture(scope="module")
def hunt():
    return load_catalog().get("emails-by-subject")


@pytest.fixture
def mailbox():
    con = empty_schema_connection()
    yield con
    con.close()


def deliver(con, subject: str) -> str:
    message_id = str(uuid.uuid4())
    con.execute(
        'INSERT INTO EmailEvents ("Timestamp", "NetworkMessageId", "RecipientEmailAddress", '
        '"Subject") VALUES (?, ?, ?, ?)',
        [datetime.now(UTC), message_id, "alex@contoso.com", subject],
    )
    return message_id


def found(con, hunt, text: str) -> set[str]:
    kql = hunt.render({"subject": text}).kql
    relation = duckdb_kql.kql(con, kql)
    index = relation.columns.index("NetworkMessageId")
    return {row[index] for row in relation.fetchall()}


def check(con, hunt, text: str) -> None:
    planted = deliver(con, f"RE: {text} (forwarded)")
    decoys = {deliver(con, decoy) for decoy in DECOYS}
    result = found(con, hunt, text)
    assert planted in result
    assert not result & decoys


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_attempts_are_searched_for_not_run(mailbox, hunt, text):
    check(mailbox, hunt, text)


typed_text = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs"), include_characters="\t\n\r\"'\\|/"),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(typed_text)
def test_any_subject_matches_only_what_contains_it(hunt, text):
    assume(not any(text.lower() in decoy.lower() for decoy in DECOYS))
    # The property is about escaping, not Unicode case folding: letters whose case changes
    # length ('İ' lowers to 'i' plus a dot) fold differently in every engine.
    assume(all(len(ch.lower()) == 1 and len(ch.upper()) == 1 for ch in text))
    con = empty_schema_connection()
    try:
        check(con, hunt, text)
    finally:
        con.close()
