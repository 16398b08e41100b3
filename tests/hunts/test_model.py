"""Rendering a hunt: arguments bound by type as `let` statements, defaults, clear refusals."""

from pathlib import Path

import pytest

from bot.errors import BadArgument
from bot.hunts.arguments import BARE
from bot.hunts.catalog import load_hunt_file
from bot.hunts.model import identifiers_in

FILES = Path(__file__).parent / "files"


@pytest.fixture
def logons():
    return load_hunt_file(FILES / "valid" / "recent-logons.yaml")


def test_arguments_become_typed_lets_ahead_of_the_query(logons):
    rendered = logons.render({"account": "alex@contoso.com", "lookback": "3d"})
    lines = rendered.kql.splitlines()
    assert lines[:3] == [
        'let account = "alex@contoso.com";',
        "let lookback = 3d;",
        "let max_rows = 50;",
    ]
    assert "\n".join(lines[3:]) == logons.query.strip()
    assert rendered.describe_values() == {
        "account": "alex@contoso.com",
        "lookback": "3d",
        "max_rows": "50",
    }


def test_missing_required_argument_names_it_with_an_example(logons):
    with pytest.raises(BadArgument, match="needs `account` \\(an email address\\)") as caught:
        logons.render({})
    assert caught.value.hint == "For example: /hunt recent-logons account=alex@contoso.com"


def test_unknown_argument_suggests_the_closest_names(logons):
    with pytest.raises(BadArgument, match="has no parameter `lookbak`") as caught:
        logons.render({"account": "a@b.co", "lookbak": "3d"})
    assert "Did you mean lookback?" in caught.value.hint


def test_bad_value_gives_the_type_and_an_example(logons):
    with pytest.raises(
        BadArgument, match="`max_rows` is not valid: must be at most 1000"
    ) as caught:
        logons.render({"account": "a@b.co", "max_rows": "5000"})
    assert "max_rows=50" in caught.value.hint


def test_a_bad_value_is_said_once_and_the_example_is_what_to_type_in_slack(logons):
    with pytest.raises(BadArgument) as caught:
        logons.render({"account": "a@b.co", "lookback": "forever"})
    assert "expected a number and a unit" in caught.value.message
    # The hint adds an example to type, rather than saying what was expected again.
    assert caught.value.hint == "For example: /hunt recent-logons lookback=1d"


def test_identifiers_ignore_strings_and_comments():
    kql = (
        'T | where Url == "http://x//lookback" // lookback here\n'
        "| where a == @'window' and b == w"
    )
    assert identifiers_in(kql) == {"T", "where", "Url", "a", "and", "b", "w"}


WHERE_SEEN = """
name: where-seen
title: Where a file was seen
description: By either hash.
parameters:
  - name: file_hash
    aliases: [{alias}]
    type: file_hash
    description: The file's hash.
  - name: lookback
    type: timespan
    default: 7d
    description: How far back to look.
query: |
  DeviceFileEvents
  | where Timestamp > ago(lookback) and (SHA1 == file_hash or SHA256 == file_hash)
  | project Timestamp, DeviceName, SHA1
columns: [Timestamp, DeviceName, SHA1]
"""


def where_seen(tmp_path: Path, alias: str):
    path = tmp_path / "where-seen.yaml"
    path.write_text(WHERE_SEEN.format(alias=alias))
    return load_hunt_file(path)


def test_a_renamed_parameter_still_answers_to_its_old_name(tmp_path):
    hunt = where_seen(tmp_path, alias="sha1")
    sha1 = "3395856ce81f2b7382dee72602f798b642f14140"
    for arguments in ({"sha1": sha1}, {"file_hash": sha1}, {BARE: sha1}):
        assert hunt.render(arguments).kql.startswith(f'let file_hash = "{sha1}";')
    assert hunt.param("sha1") is hunt.param("file_hash")
    with pytest.raises(BadArgument, match="`file_hash` is given twice"):
        hunt.render({"sha1": sha1, "file_hash": sha1})


def test_an_alias_may_not_take_another_parameters_name(tmp_path):
    with pytest.raises(Exception, match="declared twice: lookback"):
        where_seen(tmp_path, alias="lookback")
