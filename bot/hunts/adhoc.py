"""KQL someone typed, made into a hunt: ad-hoc queries, and the pieces a saved hunt is made of.

- An ad-hoc query is a `Hunt` named `adhoc-<id>` whose display and entity columns come from what
  it returns (`derive_columns`, by the Take-actions wizard's column contract).
- Saving one declares typed parameters from its leading `let name = <literal>;` statements: the
  literal's form gives the type (7d a timespan, 10 an int, "x" a string, datetime(...) a
  datetime, true a bool) and becomes the default; the `let` is removed so `Hunt.render` binds it.
- `normalise_name` turns a title such as Microsoft's "Email from rare sender" into a catalog name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from bot.hunts.model import (
    DEVICE_COLUMN,
    EMAIL_KEY_COLUMNS,
    EMAIL_SENDER_COLUMNS,
    FILE_HASH_COLUMNS,
    MAX_DISPLAY_COLUMNS,
    Entities,
    Hunt,
    identifiers_in,
)
from bot.hunts.params import Param, ParamType

ADHOC_PREFIX = "adhoc-"
ADHOC_TITLE = "Ad-hoc query"
# A modal's plain_text_input holds at most 3,000 characters (Slack's limit).
QUERY_MAX_CHARS = 3000
NAME_MAX = 60
# Before the first run tells us what comes back: replaced by `fit_to_result`.
UNKNOWN_COLUMNS = ("Timestamp",)


def is_adhoc(name: str) -> bool:
    return name.startswith(ADHOC_PREFIX)


def derive_columns(returned: Sequence[str]) -> tuple[tuple[str, ...], Entities]:
    """Display columns (the first 20 returned) and the entities the wizard can act on."""
    names = list(dict.fromkeys(returned))
    have = set(names)
    email = None
    if set(EMAIL_KEY_COLUMNS) <= have:
        sender = EMAIL_SENDER_COLUMNS if set(EMAIL_SENDER_COLUMNS) <= have else ()
        email = (*EMAIL_KEY_COLUMNS, *sender)
    device = (DEVICE_COLUMN,) if DEVICE_COLUMN in have else None
    hashes = tuple(c for c in FILE_HASH_COLUMNS if c in have)
    file = (DEVICE_COLUMN, *hashes) if hashes and DEVICE_COLUMN in have else None
    display = tuple(names[:MAX_DISPLAY_COLUMNS]) or UNKNOWN_COLUMNS
    return display, Entities(email=email, device=device, file=file)


def adhoc_hunt(request_id: str, query: str, returned: Sequence[str] | None) -> Hunt:
    """The hunt an ad-hoc query runs as; `returned` are its columns when the check knew them."""
    display, entities = derive_columns(returned or ())
    return Hunt(
        name=f"{ADHOC_PREFIX}{request_id[:12]}",
        title=ADHOC_TITLE,
        description="KQL typed in Slack with /hunt kql.",
        query=query,
        columns=display,
        entities=entities,
    )


def fit_to_result(hunt: Hunt, returned: Sequence[str]) -> Hunt:
    """An ad-hoc hunt's columns and entities as its result has them; any other hunt unchanged."""
    if not is_adhoc(hunt.name) or not returned:
        return hunt
    display, entities = derive_columns(returned)
    return hunt.model_copy(update={"columns": display, "entities": entities})


# -- parameters from `let` statements -----------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """A query with its leading literal `let`s made into parameters."""

    query: str
    parameters: tuple[Param, ...]


_LET = re.compile(r"\s*let\s+(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<literal>[^;\n]+?)\s*;", re.DOTALL)
_COMMENT = re.compile(r"\s*//[^\n]*")
_LITERALS: list[tuple[re.Pattern[str], ParamType]] = [
    (
        re.compile(r"(?:time\()?(\d{1,9}(?:\.\d+)?(?:ms|d|h|m|s))\)?", re.IGNORECASE),
        ParamType.TIMESPAN,
    ),
    (re.compile(r"(?:int|long)?\(?([+-]?\d{1,18})\)?"), ParamType.INT),
    (re.compile(r"(?:bool\()?(true|false)\)?", re.IGNORECASE), ParamType.BOOL),
    (re.compile(r"datetime\(\s*[\"']?([0-9][0-9:TZ.+ -]*?)[\"']?\s*\)"), ParamType.DATETIME),
    (re.compile(r'"((?:[^"\\\n]|\\.)*)"'), ParamType.STRING),
    (re.compile(r"'((?:[^'\\\n]|\\.)*)'"), ParamType.STRING),
    (re.compile(r'@"([^"\n]*)"'), ParamType.STRING),
]
_UNESCAPE = re.compile(r"\\(.)")


def literal_value(literal: str) -> tuple[ParamType, str] | None:
    """The type and value text of a KQL literal we can make a parameter of, else None."""
    for pattern, kind in _LITERALS:
        match = pattern.fullmatch(literal.strip())
        if match:
            value = match[1]
            if kind is ParamType.STRING and not literal.startswith("@"):
                value = _UNESCAPE.sub(r"\1", value)
            return kind, value
    return None


def declare_parameters(query: str, keep: frozenset[str] = frozenset()) -> Declared:
    """Leading `let name = <literal>;` statements become typed parameters with that default.

    A `let` that is not a plain literal (a table, a function, a list), a name a parameter may
    not have, one in `keep`, or one the rest of the query does not use, stays as written."""
    rest = query
    parameters: list[Param] = []
    kept: list[str] = []  # comments and statements that stay, in order
    while True:
        comment = _COMMENT.match(rest)
        if comment:
            kept.append(comment[0])
            rest = rest[comment.end() :]
            continue
        match = _LET.match(rest)
        if match is None:
            break
        statement, rest = match[0], rest[match.end() :]
        found = literal_value(match["literal"])
        param = _param(match["name"], match["literal"], found) if found else None
        if param is None or param.name in keep or param.name in {p.name for p in parameters}:
            kept.append(statement)
        else:
            parameters.append(param)
    body = ("".join(kept) + rest).strip("\n").lstrip() + "\n"
    unused = frozenset(p.name for p in parameters if p.name not in identifiers_in(body))
    if unused:
        return declare_parameters(query, keep | unused)
    return Declared(query=body, parameters=tuple(parameters))


def _param(name: str, literal: str, found: tuple[ParamType, str]) -> Param | None:
    kind, value = found
    try:
        return Param(
            name=name,
            type=kind,
            default=value,
            description=f"Declared in the query as let {name} = {literal.strip()}.",
        )
    except ValidationError:  # a name or value a parameter may not have: the let stays
        return None


def normalise_name(text: str) -> str:
    """A catalog name (lower-case words joined by hyphens, at most 60 characters)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    name = ""
    for word in words:
        longer = f"{name}-{word}" if name else word
        if len(longer) > NAME_MAX:
            break
        name = longer
    return name or (words[0][:NAME_MAX] if words else "")


def with_declared(hunt: Hunt, query: str) -> Hunt:
    """`hunt` with `query`'s leading literal lets as its parameters."""
    declared = declare_parameters(query)
    return hunt.model_copy(update={"query": declared.query, "parameters": declared.parameters})


def hunt_tables(hunt: Hunt, tables: set[str]) -> set[str]:
    """Which of `tables` the hunt's query mentions."""
    return identifiers_in(hunt.query) & tables


def projected_columns(query: str) -> list[str] | None:
    """The columns the query's last `| project` or `| distinct` names (`A, B = expr, C`), or None:
    what a query returns, read from its text when it cannot be run."""
    from bot.defender.lab.kql_text import mask

    code = mask(query)
    found = list(re.finditer(r"\|\s*(?:project|distinct)(?=\s)", code))
    if not found:
        return None
    tail = code[found[-1].end() :]
    end = tail.find("|")
    clause = tail if end < 0 else tail[:end]
    columns, depth, part = [], 0, ""
    for char in clause + ",":
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            name = re.match(r"\s*([A-Za-z_]\w*)", part)
            if name:
                columns.append(name[1])
            part = ""
        else:
            part += char
    return columns or None
