"""Chat text to arguments: name=value pairs, quotes allowed, and clear refusals."""

import pytest

from bot.errors import BadArgument
from bot.hunts import load_catalog
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
        ("=3d", "not of the form name=value"),
    ],
)
def test_malformed_arguments_are_refused_with_usage(text, says):
    with pytest.raises(BadArgument, match=says) as caught:
        split_arguments(text)
    assert caught.value.hint


def test_an_argument_given_twice_is_said_once_without_a_hint_repeating_it():
    with pytest.raises(BadArgument) as caught:
        split_arguments("lookback=3d lookback=4d")
    assert caught.value.message == "`lookback` is given twice; give it once."
    assert caught.value.hint is None


def test_a_bare_value_goes_to_the_hunts_one_required_parameter():
    catalog = load_catalog(check_builtins=False)
    rendered = catalog.get("emails-from").render(split_arguments("alex@contoso.com lookback=3d"))
    assert rendered.describe_values()["sender"] == "alex@contoso.com"


def test_a_bare_value_where_it_could_mean_several_parameters_says_what_the_hunt_takes():
    catalog = load_catalog(check_builtins=False)
    with pytest.raises(BadArgument) as refused:
        catalog.get("zap-misses").render(split_arguments("3d"))
    assert "not of the form name=value" in refused.value.message
    assert "lookback=" in (refused.value.hint or "")
    with pytest.raises(BadArgument, match="not of the form"):
        split_arguments("one two")


@pytest.mark.parametrize(
    "text",
    [
        "lookback=3d",
        "  lookback=3d\twindow=1h\r\n",
        "subject=a\u00a0b",  # a no-break space is part of the value for shlex, as typed
        "a=1\x0bb=2",  # so are the blanks shlex does not split on
        "a=1\x0cb=2\u2028c=3",
        "alex@contoso.com lookback=3d",
        'subject="two words"',
        "sender='a@b.com' x=\\y",
    ],
)
def test_text_splits_as_shell_quoting_would_have_it(text):
    import shlex

    from bot.hunts.arguments import pair_arguments

    assert split_arguments(text) == pair_arguments(shlex.split(text, posix=True))
