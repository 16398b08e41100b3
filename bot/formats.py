"""Hunt results as text: cell values, CSV and JSON. Shared by the CLI and (later) Slack export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.defender.results import HuntResult


def cell_text(value: Any) -> str:
    """A value as a person reads it: datetimes in UTC, no `None`, JSON for dynamic values."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return f"{text}Z"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


# A spreadsheet runs a cell that starts with one of these as a formula; query results are
# attacker-controlled (an email subject can be `=HYPERLINK(...)`).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def to_csv(result: HuntResult, *, for_spreadsheets: bool = False) -> str:
    """Every column and row, datetimes in ISO 8601.

    `for_spreadsheets` defuses cells a spreadsheet would run as formulas (a leading quote), for
    files people open; scripts want the values as they are.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.column_names)
    for row in result.rows:
        writer.writerow(_csv_cell(row.get(name), for_spreadsheets) for name in result.column_names)
    return buffer.getvalue()


def _csv_cell(value: Any, for_spreadsheets: bool) -> str:
    text = str(_json_default(value)) if isinstance(value, datetime) else cell_text(value)
    if for_spreadsheets and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def to_json(result: HuntResult, **context: Any) -> str:
    document = {
        **context,
        "columns": [c.model_dump() for c in result.columns],
        "rows": result.rows,
        "row_count": result.row_count,
        "truncated": result.truncated,
    }
    return json.dumps(document, default=_json_default, ensure_ascii=False, indent=2)
