"""The lab runs KQL as hunters write it: deprecated spellings, functions and operators its engine
lacks, Defender's own functions, every documented table; and stops what runs too long."""

from __future__ import annotations

import pytest

from bot.defender.lab import load_schema
from bot.defender.lab.kql_rewrite import INTERNET, prepare
from bot.defender.lab.run import run_kql
from bot.defender.lab.store import opened
from bot.errors import LabError


def test_strings_and_comments_are_never_rewritten():
    text = 'print x = "makeset(a) | serialize" // makelist(b)\n| extend y = 1'
    assert prepare(text).text == text


async def test_every_documented_table_has_rows(lab):
    for table in load_schema():
        result = await lab.run_query(f"{table} | take 1")
        assert result.row_count == 1, table


@pytest.mark.parametrize(
    ("kql", "expected"),
    [
        # deprecated aliases
        (
            "DeviceInfo | summarize s = makeset(OSPlatform) | extend n = array_length(s)"
            " | project n",
            [(3,)],
        ),
        ("print x = tostring(parsejson('{\"a\": 7}').a)", [("7",)]),
        ('print n = array_length(split("a,b,c", ",", 1))', [(1,)]),
        # extractjson, indexof with a start, make_string of decoded base64
        ('print v = extractjson("$.a.b", \'{"a": {"b": 5}}\', typeof(long))', [(5,)]),
        ('print i = indexof("abcabc", "b", 2)', [(4,)]),
        ('print s = make_string(base64_decode_toarray("aGk="))', [("hi",)]),
        # operators
        ("print a = 1, b = 2, c = 3 | project-reorder c, a", None),
        ("DeviceProcessEvents | top-nested 2 of FileName by n = count() desc", None),
        (
            "DeviceProcessEvents | partition by DeviceId (top 1 by Timestamp desc)"
            " | summarize dcount(DeviceId) == count()",
            [(True,)],
        ),
        (
            "DeviceInfo | make-series n = count() on Timestamp from ago(7d) to now() step 1d"
            " by OSPlatform | project OSPlatform, days = array_length(n)",
            None,
        ),
        (
            "DeviceNetworkInfo | mv-expand parse_json(IPAddresses) | take 1 | project IPAddresses",
            None,
        ),
        ("(union isfuzzy=true (DeviceInfo | take 1), (DeviceEvents | take 1)) | count", [(2,)]),
        ("DeviceProcessEvents | serialize | take 1 | count", [(1,)]),
    ],
)
def test_constructs_hunters_write_run_on_the_lab(default_lab, kql, expected):
    with opened(default_lab.path, write=False) as con:
        names, _, rows = run_kql(con, kql)
    assert rows, kql
    if expected is not None:
        assert rows == expected
    if "project-reorder" in kql:
        assert names == ["c", "a", "b"]
    if "top-nested" in kql:
        assert names == ["FileName", "n"] and len(rows) == 2
    if "make-series" in kql:
        assert {days for _, days in rows} <= set(range(1, 9))


def test_defenders_own_functions_answer_from_the_lab(default_lab):
    with opened(default_lab.path, write=False) as con:
        _, _, device = run_kql(
            con,
            "DeviceNetworkInfo | take 1 | project DeviceId, DeviceName,"
            " ip = tostring(parse_json(IPAddresses)[0].IPAddress)",
        )
        device_id, device_name, ip = device[0]
        names, _, rows = run_kql(con, f'AssignedIPAddresses("{device_name}")')
        assert names[:2] == ["Timestamp", "IPAddress"] and rows[0][1] == ip
        _, _, rows = run_kql(con, f'print IP = "{ip}" | invoke DeviceFromIP() | project DeviceId')
        assert rows == [(device_id,)]
        names, _, rows = run_kql(
            con,
            "DeviceProcessEvents | take 3 | invoke FileProfile()"
            " | where isnotempty(GlobalPrevalence)",
        )
        assert "GlobalPrevalence" in names and "Signer" in names and len(rows) == 3
        names, _, rows = run_kql(con, "DeviceInfo | take 1 | invoke SeenBy()")
        assert "SeenBy" in names and rows[0][names.index("SeenBy")]


def test_externaldata_is_refused_in_one_sentence(default_lab):
    query = 'externaldata(h: string)[@"https://example.com/feed.csv"] with (format="csv") | take 1'
    with opened(default_lab.path, write=False) as con, pytest.raises(LabError) as caught:
        run_kql(con, query)
    assert caught.value.message == INTERNET


async def test_a_query_that_runs_too_long_is_stopped_with_a_clear_message(lab):
    lab.query_seconds = 0.5
    # Billions of rows: five thousand processes, squared, times the file events.
    endless = (
        "DeviceProcessEvents | extend k = 1 | join kind=inner (DeviceProcessEvents"
        " | extend k = 1) on k | join kind=inner (DeviceFileEvents | extend k = 1) on k"
        " | count"
    )
    with pytest.raises(LabError, match=r"stopped this query after 0.5 seconds"):
        await lab.run_query(endless)
    # The lab answers the next query as usual.
    assert (await lab.run_query("DeviceInfo | count")).row_count == 1
