"""KQL as hunters write it, made into KQL the lab's engine (duckdb-kql) runs.

Defender accepts deprecated spellings (`makeset`, `parsejson`, `mvexpand`), functions and
operators duckdb-kql has no translation for yet (`extractjson`, three-argument `indexof` and
`split`, `project-reorder`, `make-series`, `top-nested`, `partition`), and its own functions
(`FileProfile`, `DeviceFromIP`, ...). Each is rewritten here into an equivalent the engine
does run, on the text, before the engine sees it; the engine itself is not changed. Where a
rewrite is only close (a series without its empty bins), `Prepared.notes` says so.

Rewrites that need the columns flowing into an operator (`project-reorder`, `make-series`,
`FileProfile`) ask the `columns` callback, which binds the pipeline so far on the lab.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from bot.defender.lab.functions import rewrite_functions
from bot.defender.lab.kql_text import (
    Columns,
    Prepared,
    calls,
    identifiers,
    mask,
    matching,
    pipeline_before,
    split_top,
    statement_lets,
)

INTERNET = (
    "This query reads data from the internet (externaldata), and the lab tenant has no "
    "internet access: run it on Microsoft Defender."
)


class CannotRunHere(Exception):
    """The query is fine for Defender, but this construct cannot run in the lab at all."""


# Deprecated names Defender still accepts, and their current spelling.
FUNCTION_ALIASES = {
    "makeset": "make_set",
    "makelist": "make_list",
    "argmax": "arg_max",
    "argmin": "arg_min",
    "parsejson": "parse_json",
    "toobject": "todynamic",
    "todecimal": "todouble",
    "array_strcat": "strcat_array",
    "make_dictionary": "make_bag",
    "extractjson": "extract_json",
    "notempty": "isnotempty",
    "notnull": "isnotnull",
    "base64_encodestring": "base64_encode_tostring",
    "base64_decodestring": "base64_decode_tostring",
}
OPERATOR_ALIASES = {"mvexpand": "mv-expand", "mvapply": "mv-apply"}

_CASTS = {
    "string": "tostring",
    "long": "tolong",
    "int": "toint",
    "real": "todouble",
    "double": "todouble",
    "bool": "tobool",
    "boolean": "tobool",
    "datetime": "todatetime",
    "timespan": "totimespan",
    "guid": "tostring",
    "dynamic": "",
}


def prepare(kql: str, columns: Columns | None = None) -> Prepared:
    """`kql` rewritten for the lab's engine. Raises CannotRunHere for what cannot run here."""
    out = Prepared(kql)
    if re.search(r"(?<![\w-])externaldata\b", mask(kql)):
        raise CannotRunHere(INTERNET)
    for step in _STEPS:
        step(out, columns)
    return out


def _edit(out: Prepared, start: int, end: int, replacement: str) -> None:
    out.text = out.text[:start] + replacement + out.text[end:]


# -- spellings --------------------------------------------------------------------------------


def _aliases(out: Prepared, _: Columns | None) -> None:
    masked = mask(out.text)
    edits = []
    for old, new in FUNCTION_ALIASES.items():
        if old == new:
            continue
        for match in re.finditer(rf"(?<![\w.$\-]){old}(?=\s*\()", masked):
            edits.append((match.start(), match.end(), new))
    for old, new in OPERATOR_ALIASES.items():
        for match in re.finditer(rf"(?<=\|)(\s*){old}\b", masked):
            edits.append((match.start() + len(match.group(1)), match.end(), new))
    # `serialize` alone only promises row order, which the lab's results keep anyway.
    for match in re.finditer(r"\|\s*serialize\s*(?=\||;|\)|$)", masked):
        edits.append((match.start(), match.end(), ""))
    for start, end, new in sorted(edits, reverse=True):
        _edit(out, start, end, new)


def _extract_json(out: Prepared, _: Columns | None) -> None:
    for name_at, open_at, close_at in calls(mask(out.text), "extract_json"):
        masked = mask(out.text)
        args = [out.text[a:b].strip() for a, b in split_top(masked, open_at + 1, close_at)]
        if len(args) not in (2, 3):
            continue
        path = _json_path(args[0])
        if path is None:
            continue
        cast = "tostring"
        if len(args) == 3:
            kind = re.fullmatch(r"typeof\s*\(\s*(\w+)\s*\)", args[2])
            if kind is None or kind[1] not in _CASTS:
                continue
            cast = _CASTS[kind[1]]
        value = f"parse_json({args[1]}){path}"
        _edit(out, name_at, close_at + 1, f"{cast}({value})" if cast else value)


def _json_path(literal: str) -> str | None:
    text = re.fullmatch(r"@?(['\"])(.*)\1", literal.strip(), re.S)
    if text is None or not text[2].startswith("$"):
        return None
    parts = []
    for match in re.finditer(r"\.([A-Za-z_]\w*)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]", text[2][1:]):
        if match[1] is not None:
            parts.append(f'["{match[1]}"]')
        elif match[2] is not None:
            parts.append(f"[{match[2]}]")
        else:
            parts.append(f'["{match[3]}"]')
    rebuilt = "".join(parts)
    return rebuilt or None


def _indexof(out: Prepared, _: Columns | None) -> None:
    for name_at, open_at, close_at in calls(mask(out.text), "indexof"):
        masked = mask(out.text)
        args = [out.text[a:b].strip() for a, b in split_top(masked, open_at + 1, close_at)]
        if len(args) < 3 or len(args) > 4:
            continue
        if len(args) == 4 and args[3].strip() != "-1":
            continue
        source, lookup, start = args[0], args[1], args[2]
        found = f"indexof(substring({source}, {start}), {lookup})"
        _edit(out, name_at, close_at + 1, f"iff({found} < 0, -1, {found} + ({start}))")


def _split(out: Prepared, _: Columns | None) -> None:
    for name_at, open_at, close_at in calls(mask(out.text), "split"):
        masked = mask(out.text)
        args = [out.text[a:b].strip() for a, b in split_top(masked, open_at + 1, close_at)]
        if len(args) != 3:
            continue
        _edit(
            out,
            name_at,
            close_at + 1,
            f"pack_array(tostring(split({args[0]}, {args[1]})[{args[2]}]))",
        )


def _make_string(out: Prepared, _: Columns | None) -> None:
    # The one use seen in published hunts: decoding base64 to text.
    for name_at, open_at, close_at in calls(mask(out.text), "make_string"):
        inner = out.text[open_at + 1 : close_at].strip()
        match = re.fullmatch(r"base64_decode_toarray\s*\((.*)\)", inner, re.S)
        if match:
            _edit(out, name_at, close_at + 1, f"base64_decode_tostring({match[1]})")


_LITERAL = re.compile(r"""-?\d+(\.\d+)?|(['"])((?:(?!\2)[^\\\n])*)\2""")


def _pack_array(out: Prepared, _: Columns | None) -> None:
    # `pack_array` of literals is a constant the engine re-evaluates on every row (seconds on
    # the default lab when a `has_any` reads it); `dynamic([...])` is the same array, once.
    for name_at, open_at, close_at in calls(mask(out.text), "pack_array"):
        masked = mask(out.text)
        items = []
        for a, b in split_top(masked, open_at + 1, close_at):
            match = _LITERAL.fullmatch(out.text[a:b].strip())
            if match is None:
                break
            items.append(json.dumps(match[3]) if match[2] else match[0])
        else:
            if items:
                _edit(out, name_at, close_at + 1, f"dynamic([{', '.join(items)}])")


_TIMESPAN = re.compile(
    r"\d+(\.\d+)?\s*(d|h|m|s|ms|microsecond|tick|days?|hours?|minutes?|"
    r"seconds?|min|sec)|time(span)?\s*\(.*\)",
    re.S,
)


def _between_timespan(out: Prepared, _: Columns | None) -> None:
    # `between (start .. 2h)`: Defender reads a timespan upper bound as "start plus that".
    masked = mask(out.text)
    spans = {m[1]: m[2].strip() for m in re.finditer(r"\blet\s+([\w$]+)\s*=\s*([^;]+);", masked)}
    for match in reversed(list(re.finditer(r"\bbetween\s*\(", masked))):
        close = matching(masked, match.end() - 1)
        if close is None:
            continue
        inner = masked[match.end() : close]
        parts = inner.split("..")
        if len(parts) != 2:
            continue
        right = parts[1].strip()
        if not (_TIMESPAN.fullmatch(right) or _TIMESPAN.fullmatch(spans.get(right, ""))):
            continue
        left_text = out.text[match.end() : match.end() + len(parts[0])].strip()
        right_text = out.text[match.end() + len(parts[0]) + 2 : close].strip()
        _edit(out, match.end(), close, f"({left_text}) .. (({left_text}) + ({right_text}))")


def _abs(out: Prepared, _: Columns | None) -> None:
    # The engine's abs() is numeric only; Defender's also takes a timespan (a time distance).
    for name_at, open_at, close_at in calls(mask(out.text), "abs"):
        inner = out.text[open_at + 1 : close_at]
        _edit(out, name_at, close_at + 1, f"max_of(({inner}), -({inner}))")


def _count_of_column(out: Prepared, _: Columns | None) -> None:
    # `count(Column)`: Defender counts the rows where it is not null, as `count_Column`.
    for name_at, open_at, close_at in calls(mask(out.text), "count"):
        inner = out.text[open_at + 1 : close_at].strip()
        if not inner:
            continue
        named = re.search(r"=\s*$", mask(out.text)[:name_at])
        alias = "" if named or not re.fullmatch(r"\w+", inner) else f"count_{inner} = "
        _edit(out, name_at, close_at + 1, f"{alias}countif(isnotnull({inner}))")


def _distinct_all(out: Prepared, columns: Columns | None) -> None:
    if columns is None:
        return
    masked = mask(out.text)
    for pipe, _word_end, end in _operators(masked, r"distinct\s+\*"):
        names = columns(pipeline_before(out.text, masked, pipe))
        if names:
            _edit(out, pipe, end, f"| summarize by {', '.join(f'[{n!r}]' for n in names)} ")


# -- pipeline shapes ------------------------------------------------------------------------


def _operators(masked: str, name: str) -> list[tuple[int, int, int]]:
    """(pipe, operator word end, clause end) for each `| name`, last first."""
    found = []
    for match in re.finditer(rf"\|\s*{name}(?![\w-])", masked):
        found.append((match.start(), match.end(), _clause_end(masked, match.end())))
    return list(reversed(found))


def _clause_end(masked: str, start: int) -> int:
    depth = 0
    for j in range(start, len(masked)):
        ch = masked[j]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return j
            depth -= 1
        elif ch in "|;" and depth == 0:
            return j
    return len(masked)


def _parenthesized_source(out: Prepared, _: Columns | None) -> None:
    # `(T | where ...) | ...` at the head of a statement: the brackets change nothing.
    masked = mask(out.text)
    starts = [0] + [b for _, b in statement_lets(masked, len(masked))]
    for start in reversed(starts):
        head = re.match(r"\s*(let\s+[\w$]+\s*=\s*)?\(", masked[start:])
        if head is None:
            continue
        open_at = start + head.end() - 1
        close_at = matching(masked, open_at)
        if close_at is None:
            continue
        after = masked[close_at + 1 :].lstrip()
        if after and after[0] not in "|;":
            continue
        inner = masked[open_at + 1 : close_at].lstrip()
        if head.group(1) and not inner.startswith("union"):
            continue  # `let x = (T | ...)` runs as it is
        _edit(out, close_at, close_at + 1, " ")
        _edit(out, open_at, open_at + 1, " ")


def _mv_expand(out: Prepared, _: Columns | None) -> None:
    """Name an unnamed computed expression the way Kusto does: after the one column it reads."""
    masked = mask(out.text)
    for _pipe, word_end, end in _operators(masked, "mv-expand"):
        edits = []
        body_start = word_end
        params = re.match(
            r"(\s*(kind|bagexpansion|with_itemindex)\s*=\s*\w+)*", masked[word_end:end]
        )
        if params:
            body_start += params.end()
        for a, b in split_top(masked, body_start, end):
            item = masked[a:b]
            item_core = re.sub(r"\s+limit\s+\d+\s*$", "", item)
            item_core = re.sub(r"\s+to\s+typeof\s*\(\s*\w+\s*\)\s*$", "", item_core)
            expr = item_core.strip()
            if not expr or re.fullmatch(r"[\w$]+", expr) or re.match(r"[\w$]+\s*=[^=]", expr):
                continue
            names = set(identifiers(expr))
            if len(names) == 1:
                offset = a + (len(item) - len(item.lstrip()))
                edits.append((offset, f"{names.pop()} = "))
        for offset, text in reversed(edits):
            _edit(out, offset, offset, text)
        masked = mask(out.text)


def _partition(out: Prepared, _: Columns | None) -> None:
    masked = mask(out.text)
    for pipe, word_end, end in _operators(masked, "partition"):
        clause = out.text[word_end:end]
        match = re.fullmatch(
            r"\s*(?:hint\.\w+\s*=\s*\w+\s*)*by\s+([\w$]+)\s*\((.*)\)\s*", clause, re.S
        )
        if match is None:
            continue
        key, sub = match[1], match[2].strip()
        top = re.fullmatch(r"(?:top|limit|take)\s+1\s+by\s+(.+?)(\s+(asc|desc))?\s*", sub, re.S)
        summarize = re.fullmatch(r"summarize\s+(.*?)(\s+by\s+(.*))?", sub, re.S)
        if top:
            pick = "arg_min" if (top[3] or "desc") == "asc" else "arg_max"
            replacement = f"| summarize {pick}({top[1]}, *) by {key} "
        elif summarize:
            keys = f"{key}, {summarize[3]}" if summarize[3] else key
            replacement = f"| summarize {summarize[1]} by {keys} "
        else:
            continue
        _edit(out, pipe, end, replacement)


def _top_nested(out: Prepared, _: Columns | None) -> None:
    masked = mask(out.text)
    for pipe, word_end, end in _operators(masked, "top-nested"):
        clause = out.text[word_end:end]
        if re.search(r",\s*top-nested\b", mask(clause)) or "others" in clause:
            out.notes.append("top-nested with several levels is not rewritten for the lab")
            continue
        match = re.fullmatch(
            r"\s*(\d+)?\s*of\s+(.+?)\s+by\s+(?:([\w$]+)\s*=\s*)?(.+?)(\s+(asc|desc))?\s*",
            clause,
            re.S,
        )
        if match is None:
            continue
        count, of, alias, aggregate, order = match[1], match[2], match[3], match[4], match[6]
        of_name = of.split("=")[0].strip() if "=" in of else of.strip()
        alias = alias or f"aggregated_{of_name}"
        replacement = f"| summarize {alias} = {aggregate} by {of} "
        replacement += (
            f"| top {count} by {alias} {order or 'desc'} "
            if count
            else (f"| sort by {alias} {order or 'desc'} ")
        )
        _edit(out, pipe, end, replacement)


def _make_series(out: Prepared, columns: Columns | None) -> None:
    if columns is None:
        return
    masked = mask(out.text)
    for pipe, word_end, end in _operators(masked, "make-series"):
        clause, clause_mask = out.text[word_end:end], masked[word_end:end]
        on = re.search(r"\bon\s+", clause_mask)
        step = re.search(r"\bstep\s+", clause_mask)
        if on is None or step is None:
            continue
        aggregates = re.sub(r"\bdefault\s*=\s*[^,]+", "", clause[: on.start()])
        aggregates = ",".join(p for p in aggregates.split(",") if p.strip())
        middle = clause[on.end() : step.start()]
        by = re.search(r"\bby\s+", clause_mask[step.end() :])
        step_text = clause[step.end() : step.end() + by.start()] if by else clause[step.end() :]
        keys = clause[step.end() + by.end() :].strip() if by else ""
        window = re.match(r"\s*([\w$]+)\s*(?:from\s+(.+?))?\s*(?:to\s+(.+?))?\s*$", middle, re.S)
        if window is None:
            continue
        axis, start, stop = window[1], window[2], window[3]
        filters = ""
        if start:
            filters += f"| where {axis} >= {start} "
        if stop:
            filters += f"| where {axis} < {stop} "
        first = (
            f"| summarize {aggregates} by {keys + ', ' if keys else ''}{axis} = bin({axis}, "
            f"{step_text.strip()}) "
        )
        before = pipeline_before(out.text, masked, pipe)
        names = columns(before + filters + first)
        if names is None:
            continue
        # summarize puts its keys first, then the time axis, then the aggregates.
        width = _count_top(aggregates)
        key_names, series = names[: len(names) - 1 - width], names[len(names) - width :]
        lists = ", ".join(f"{n} = make_list({n})" for n in [*series, axis])
        by_keys = f" by {', '.join(key_names)}" if key_names else ""
        replacement = f"{filters}{first}| sort by {axis} asc | summarize {lists}{by_keys} "
        _edit(out, pipe, end, replacement)
        out.notes.append("make-series ran as summarize: bins with no rows are left out")


def _count_top(text: str) -> int:
    return len(split_top(mask(text), 0, len(text)))


def _project_reorder(out: Prepared, columns: Columns | None) -> None:
    if columns is None:
        return
    masked = mask(out.text)
    for pipe, word_end, end in _operators(masked, "project-reorder"):
        names = columns(pipeline_before(out.text, masked, pipe))
        if names is None:
            continue
        chosen: list[str] = []
        for a, b in split_top(masked, word_end, end):
            spec = masked[a:b].strip()  # comments blanked out
            match = re.fullmatch(r"([\w$*]+)(?:\s+(asc|desc|granny-asc|granny-desc))?", spec)
            if match is None:
                chosen = []
                break
            pattern = re.escape(match[1]).replace(r"\*", ".*")
            hits = [n for n in names if re.fullmatch(pattern, n) and n not in chosen]
            if match[2]:
                hits.sort(reverse=match[2].endswith("desc"))
            chosen += hits
        if not chosen:
            continue
        rest = [n for n in names if n not in chosen]
        listed = ", ".join(f"['{n}']" for n in [*chosen, *rest])
        _edit(out, pipe, end, f"| project {listed} ")


# -- Defender's own functions -----------------------------------------------------------------


def _defender_functions(out: Prepared, columns: Columns | None) -> None:
    rewrite_functions(out, columns)


_STEPS: list[Callable[[Prepared, Columns | None], None]] = [
    _aliases,
    _extract_json,
    _indexof,
    _split,
    _make_string,
    _pack_array,
    _between_timespan,
    _abs,
    _count_of_column,
    _defender_functions,
    _parenthesized_source,
    _mv_expand,
    _partition,
    _top_nested,
    _make_series,
    _project_reorder,
    _distinct_all,
]
