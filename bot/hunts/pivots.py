"""Pivots between hunts ("Go hunt" from a row): checked once the whole catalog is loaded, and
looked up when results are shown and when a person picks one.

A pivot names another hunt and one of its parameters. It is kept only when that hunt is in the
catalog, has that parameter, and needs nothing else a row cannot give; otherwise the pivot (not
its hunt) is dropped and the catalog says why, naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Protocol

from bot.errors import HuntFileError, UnknownHunt
from bot.hunts.model import Hunt, LoadedHunt, Pivot


class Hunts(Protocol):
    """The catalog, as far as pivots need it (bot/hunts/catalog.py imports this module)."""

    def get(self, name: str) -> Hunt: ...


def pivot_key(pivot: Pivot) -> str:
    """A short, stable name for a pivot: a menu option carries it, and it still names the same
    pivot if the hunt file's pivots are reordered."""
    text = f"{pivot.column}>{pivot.hunt}.{pivot.parameter}"
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def offered_pivots(catalog: Hunts, hunt_name: str) -> tuple[Pivot, ...]:
    """The pivots a result of `hunt_name` offers (none for a hunt the catalog no longer has)."""
    try:
        return catalog.get(hunt_name).pivots
    except UnknownHunt:
        return ()


def check_pivots(entries: dict[str, LoadedHunt], problems: list[HuntFileError]) -> None:
    """Drop every pivot whose target is missing or unfit, adding a HuntFileError for each."""
    for name, entry in list(entries.items()):
        kept: list[Pivot] = []
        for index, pivot in enumerate(entry.hunt.pivots):
            problem = _problem(entries, pivot)
            if problem is None:
                kept.append(pivot)
                continue
            field, detail = problem
            problems.append(HuntFileError(str(entry.path), f"pivots[{index}].{field}", detail))
        if len(kept) != len(entry.hunt.pivots):
            hunt = entry.hunt.model_copy(update={"pivots": tuple(kept)})
            entries[name] = dataclasses.replace(entry, hunt=hunt)


def _problem(entries: dict[str, LoadedHunt], pivot: Pivot) -> tuple[str, str] | None:
    found = entries.get(pivot.hunt)
    if found is None:
        return "hunt", f"`{pivot.hunt}` is not a hunt in the catalog"
    target: Hunt = found.hunt
    param = target.param(pivot.parameter)
    if param is None:
        names = ", ".join(p.name for p in target.parameters) or "none"
        return (
            "parameter",
            f"`{pivot.hunt}` has no parameter `{pivot.parameter}` (its parameters: {names})",
        )
    others = [p.name for p in target.parameters if p.required and p is not param]
    if others:
        return (
            "hunt",
            f"`{pivot.hunt}` also needs {', '.join(f'`{n}`' for n in others)}, which a row "
            "cannot fill; give them defaults or pivot to another hunt",
        )
    return None
