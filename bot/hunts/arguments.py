"""Chat text -> `name=value` arguments.

`/hunt emails-by-subject subject="invoice due" lookback=3d` arrives as one string. Splitting uses
shell-like quoting (shlex), so a value may hold spaces inside quotes. Values stay text here; the
hunt's typed parameters parse them.
"""

from __future__ import annotations

import re
import shlex

from bot.errors import BadArgument

# Slack clients often turn typed quotes into typographic ones; treat them as the quotes meant.
_TYPOGRAPHIC_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})

USAGE_HINT = 'Give arguments as name=value, quoting values with spaces: subject="invoice due"'


# Text without quotes or backslashes, whose only blanks are the ones shlex splits on, splits the
# same with str.split, which is about 30 times cheaper (this is on every /hunt's ack).
_NEEDS_SHLEX = re.compile(r"[\"'\\\u2018\u2019\u201c\u201d]|[^\S \t\r\n]")


def split_arguments(text: str) -> dict[str, str]:
    """Parse chat text `a=1 b="two words"` into {"a": "1", "b": "two words"}."""
    if not _NEEDS_SHLEX.search(text):
        return pair_arguments(text.split())
    try:
        tokens = shlex.split(text.translate(_TYPOGRAPHIC_QUOTES), posix=True)
    except ValueError:
        raise BadArgument("A quote in the arguments is not closed.", hint=USAGE_HINT) from None
    return pair_arguments(tokens)


# Where a lone value without `name=` goes: the hunt gives it to its one required parameter.
BARE = ""


def pair_arguments(tokens: list[str]) -> dict[str, str]:
    """Turn `name=value` tokens (already split, as a shell does) into a mapping; one bare value
    (`/hunt emails-from alex@contoso.com`) is kept under BARE for the hunt to place."""
    arguments: dict[str, str] = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if not sep and BARE not in arguments:
            arguments[BARE] = token
            continue
        if not sep or not name:
            raise BadArgument(f"`{token}` is not of the form name=value.", hint=USAGE_HINT)
        if name in arguments:
            raise BadArgument(f"`{name}` is given twice; give it once.")
        arguments[name] = value
    return arguments
