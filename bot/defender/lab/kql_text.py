"""Reading KQL text well enough to rewrite it: strings and comments masked, brackets matched.

`mask` returns a copy of the text, the same length, with every string literal and comment
blanked out, so a search for `makeset(` or `| partition` never looks inside a string a hunter
wrote, and a position found in the mask is the same position in the original.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

_STRING_FILL = "\x01"

# Asked by a rewrite for the columns a pipeline returns (None if it cannot be bound).
Columns = Callable[[str], "list[str] | None"]


@dataclass
class Prepared:
    """A query being rewritten for the lab's engine, and what the rewrites could only
    approximate."""

    text: str
    notes: list[str] = field(default_factory=list)


_OPENERS = {"(": ")", "[": "]", "{": "}"}


def mask(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("```", i):
            end = text.find("```", i + 3)
            end = n if end < 0 else end + 3
            out.append(_literal(end - i))
            i = end
        elif c in "\"'" or (
            c in "@hH" and i + 1 < n and text[i + 1] in "\"'" and not _word_before(text, i)
        ):
            end = _string_end(text, i)
            out.append(_literal(end - i))
            i = end
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _literal(length: int) -> str:
    # Keeps the literal a single token to the rewriters: quote, filler, quote.
    if length < 2:
        return _STRING_FILL * length
    return '"' + _STRING_FILL * (length - 2) + '"'


def _word_before(text: str, i: int) -> bool:
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def _string_end(text: str, i: int) -> int:
    verbatim = text[i] == "@"
    if text[i] in "@hH":
        i += 1
        if text[i] == "@":  # h@"..."
            verbatim, i = True, i + 1
    quote, j, n = text[i], i + 1, len(text)
    while j < n:
        ch = text[j]
        if verbatim:
            if ch == quote:
                if j + 1 < n and text[j + 1] == quote:
                    j += 2
                    continue
                return j + 1
        elif ch == "\\":
            j += 2
            continue
        elif ch == quote:
            return j + 1
        elif ch == "\n":
            return j  # an unterminated string: the parser will say so
        j += 1
    return n


def matching(masked: str, open_at: int) -> int | None:
    """The index of the bracket closing the one at `open_at`, or None."""
    stack: list[str] = []
    for j in range(open_at, len(masked)):
        ch = masked[j]
        if ch in _OPENERS:
            stack.append(_OPENERS[ch])
        elif ch in ")]}":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return j
    return None


def split_top(masked: str, start: int, end: int, separator: str = ",") -> list[tuple[int, int]]:
    """Spans of `masked[start:end]` split at `separator` outside brackets."""
    spans, depth, begin = [], 0, start
    for j in range(start, end):
        ch = masked[j]
        if ch in _OPENERS:
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == separator and depth == 0:
            spans.append((begin, j))
            begin = j + 1
    spans.append((begin, end))
    return spans


def calls(masked: str, name: str) -> Iterator[tuple[int, int, int]]:
    """(name start, open paren, close paren) of each call of `name`, last first, so a caller
    can rewrite them in place without moving the ones still to come."""
    found = []
    for match in re.finditer(rf"(?<![\w.\-$]){re.escape(name)}\s*\(", masked):
        close = matching(masked, match.end() - 1)
        if close is not None:
            found.append((match.start(), match.end() - 1, close))
    return reversed(found)


def enclosing_start(masked: str, at: int) -> int:
    """Where the pipeline holding position `at` begins: after the innermost unclosed bracket,
    a `;`, or `let Name =` at that level."""
    depth = 0
    j = at - 1
    while j >= 0:
        ch = masked[j]
        if ch in ")]}":
            depth += 1
        elif ch in "([{":
            if depth == 0:
                break
            depth -= 1
        elif ch == ";" and depth == 0:
            break
        j -= 1
    begin = j + 1
    head = re.match(r"\s*let\s+[\w$]+\s*=\s*", masked[begin:at])
    return begin + head.end() if head else begin


def statement_lets(masked: str, at: int) -> list[tuple[int, int]]:
    """Spans of the complete top-level statements before `at` (the `let`s a pipeline there
    may use)."""
    spans, depth, begin = [], 0, 0
    for j in range(at):
        ch = masked[j]
        if ch in _OPENERS:
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ";" and depth == 0:
            spans.append((begin, j + 1))
            begin = j + 1
    return spans


def pipeline_before(text: str, masked: str, pipe: int) -> str:
    """The runnable query whose output flows into the operator at `pipe`: its pipeline so
    far, after the top-level `let`s before it."""
    begin = enclosing_start(masked, pipe)
    lets = "".join(
        text[a:b]
        for a, b in statement_lets(masked, begin)
        if re.match(r"\s*(let|set|declare)\b", masked[a:b])
    )
    return lets + text[begin:pipe]


def identifiers(masked: str) -> list[str]:
    """Names in an expression that are not calls, keywords or member names."""
    names = []
    for match in re.finditer(r"(?<![\w.$'\"\x01])([A-Za-z_][\w]*)\b(?!\s*\()", masked):
        word = match.group(1)
        if word.lower() in _KEYWORDS:
            continue
        names.append(word)
    return names


_KEYWORDS = {
    "and",
    "or",
    "not",
    "true",
    "false",
    "null",
    "dynamic",
    "typeof",
    "to",
    "in",
    "has",
    "contains",
    "startswith",
    "endswith",
    "between",
    "matches",
    "regex",
    "like",
    "with",
    "string",
    "long",
    "int",
    "real",
    "double",
    "bool",
    "datetime",
    "timespan",
    "guid",
}
