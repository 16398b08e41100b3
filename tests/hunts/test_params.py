"""Parameter values: parsed by type, refused with the expected form, rendered as inert literals."""

from datetime import UTC, datetime, timedelta

import duckdb_kql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.hunts.params import Param, kql_string, kql_timespan


def param(type_: str, **extra) -> Param:
    return Param(name="p", type=type_, description="test", **extra)


def round_trip(literal: str):
    """What KQL makes of a literal: `let v = <literal>; print v`, evaluated by duckdb-kql."""
    con = duckdb_kql.connect()
    return duckdb_kql.kql(con, f"let v = {literal};\nprint v").fetchall()[0][0]


@pytest.mark.parametrize(
    ("type_", "text", "value"),
    [
        ("timespan", "7d", timedelta(days=7)),
        ("timespan", "36H", timedelta(hours=36)),
        ("timespan", "1.5h", timedelta(minutes=90)),
        ("timespan", "250ms", timedelta(milliseconds=250)),
        ("int", "-12", -12),
        ("bool", "Yes", True),
        ("bool", "0", False),
        ("datetime", "2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("datetime", "2026-11-01T10:00+02:00", datetime(2026, 11, 1, 8, tzinfo=UTC)),
        ("email", "Alex.W@contoso.com", "Alex.W@contoso.com"),
        (
            "sha1",
            "3395856CE81F2B7382DEE72602F798B642F14140",
            "3395856ce81f2b7382dee72602f798b642f14140",
        ),
        ("guid", "74BE27DE-1E4E-49D9-B579-FE0B331D3642", "74be27de-1e4e-49d9-b579-fe0b331d3642"),
        ("device_id", "A" * 40, "a" * 40),
        (
            "file_hash",
            "3395856CE81F2B7382DEE72602F798B642F14140",
            "3395856ce81f2b7382dee72602f798b642f14140",
        ),
        ("file_hash", "AB" * 32, "ab" * 32),
    ],
)
def test_values_parse_by_type(type_, text, value):
    assert param(type_).parse(text) == value


@pytest.mark.parametrize(
    ("type_", "text", "says"),
    [
        ("timespan", "7 days", "7d"),
        ("timespan", "0h", "longer than zero"),
        ("timespan", "400d", "365d"),
        ("int", "12abc", "whole number"),
        ("bool", "maybe", "true or false"),
        ("datetime", "yesterday", "ISO 8601"),
        ("email", "not-an-address", "email address"),
        ("email", 'x"@y.com', "email address"),
        ("sha1", "abc", "40 hex"),
        ("sha256", "g" * 64, "64 hex"),
        ("file_hash", "a" * 32, "SHA-1 or SHA-256"),  # an MD5: Defender acts on neither
        ("guid", "1234", "GUID"),
        ("device_id", "ws-042.contoso.local", "device id"),
        ("string", "", "empty"),
        ("string", "a\x00b", r"U\+0000"),
        ("string", "x" * 1001, "1000"),
    ],
)
def test_bad_values_say_what_was_expected(type_, text, says):
    with pytest.raises(ValueError, match=says):
        param(type_).parse(text)


def test_enum_matches_case_insensitively_and_lists_choices():
    threat = param("enum", values=["Spam", "Phish", "Malware"])
    assert threat.parse("phish") == "Phish"
    with pytest.raises(ValueError, match="Spam, Phish, Malware"):
        threat.parse("virus")


def test_int_bounds():
    top = param("int", min=1, max=100)
    assert top.parse("100") == 100
    with pytest.raises(ValueError, match="at most 100"):
        top.parse("101")


@pytest.mark.parametrize(
    ("field", "kwargs", "says"),
    [
        ("values", {"type": "enum"}, "needs 'values'"),
        ("values", {"type": "string", "values": ["a"]}, "only for enum"),
        ("min", {"type": "string", "min": 1}, "only for int"),
        ("default", {"type": "timespan", "default": "a week"}, "default 'a week' is not valid"),
        ("name", {"type": "string", "name": "Bad-Name"}, "pattern"),
    ],
)
def test_invalid_declarations_are_refused(field, kwargs, says):
    arguments = {"name": "p", "description": "d", **kwargs}
    with pytest.raises(ValueError, match=says):
        Param(**arguments)


@pytest.mark.parametrize(
    ("type_", "text"),
    [
        ("timespan", "7d"),
        ("timespan", "90m"),
        ("timespan", "1500ms"),
        ("int", "42"),
        ("bool", "true"),
        ("datetime", "2026-01-02T03:04:05Z"),
        ("email", "a.b@contoso.com"),
        ("sha256", "ab" * 32),
        ("guid", "74be27de-1e4e-49d9-b579-fe0b331d3642"),
    ],
)
def test_rendered_literals_mean_the_parsed_value(type_, text):
    p = param(type_)
    value = p.parse(text)
    result = round_trip(p.render(value))
    if isinstance(value, datetime):
        result = result.replace(tzinfo=UTC)
    assert result == value


def test_timespan_literal_is_the_shortest_exact_unit():
    assert kql_timespan(timedelta(days=7)) == "7d"
    assert kql_timespan(timedelta(hours=36)) == "36h"
    assert kql_timespan(timedelta(seconds=90)) == "90s"
    assert kql_timespan(timedelta(milliseconds=1500)) == "1500ms"


HOSTILE = [
    'invoice" | take 1 //',
    "it's \\ a 'quote' \"mix\"",
    'x\\" ; EmailEvents | project *',
    "line one\nline two\r\n\tindented",
    "// not a comment",
    "emoji 🎣 and ünïcödé and 中文",
    '@"verbatim" and h"obfuscated"',
    "\\",
    '"',
    "'",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_come_back_unchanged(text):
    p = param("string")
    assert round_trip(p.render(p.parse(text))) == text


# Any text a person can type: every Unicode character but other control characters and surrogates.
typed_text = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs"), include_characters="\t\n\r"),
    min_size=1,
    max_size=200,
)


@settings(max_examples=150, deadline=None)
@given(typed_text)
def test_any_string_value_parses_and_stays_data(text):
    literal = kql_string(text)
    # Parses as KQL, and the one statement after the let is still the one we wrote.
    query = f"let v = {literal};\nprint v"
    assert duckdb_kql.parse(query).ok
    assert round_trip(literal) == text


def test_a_kql_keyword_cannot_be_a_parameter_name():
    with pytest.raises(ValueError, match="'limit' is a KQL keyword"):
        Param(name="limit", type="int", description="d")
