"""Chat text to arguments: name=value pairs, quotes allowed, and clear refusals."""

import pytest

from bot.errors import BadArgument
from bot.hunts.arguments import split_arguments


def test_name_value_pairs_with_quotes():
    assert split_arguments('subject="invoice due" lookback=3d') == {
        "subject": "invoice due",
        "lookback": "3d",
    }
    assert split_arguments("sender='a@b.com'") == {"sender": "a@b.com"}
    assert split_arguments("") == {}


def test_typographic_quotes_from_slack_clients_work_as_quotes():
    assert split_arguments("subject=\u201cinvoice due\u201d") == {"subject": "invoice due"}


def test_a_value_may_contain_equals_signs():
    assert split_arguments('subject="a=b"') == {"subject": "a=b"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('subject="invoice due', "not closed"),
        ("invoice", "not of the form name=value"),
        ("=3d", "not of the form name=value"),
        ("lookback=3d lookback=4d", "given twice"),
    ],
)
def test_malformed_arguments_are_refused_with_usage(text, says):
    with pytest.raises(BadArgument, match=says) as caught:
        split_arguments(text)
    assert caught.value.hint
