"""Hunt results as text: cell values, CSV and JSON. Shared by the CLI and the Slack export."""

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
    return csv_header(result.column_names) + csv_rows(
        result.column_names, result.rows, for_spreadsheets=for_spreadsheets
    )


def csv_header(column_names: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(column_names)
    return buffer.getvalue()


def csv_rows(
    column_names: list[str], rows: list[dict[str, Any]], *, for_spreadsheets: bool = False
) -> str:
    """Rows as CSV lines (no header), as `to_csv` writes them."""
    columns = [[row.get(name) for row in rows] for name in column_names]
    return csv_columns(columns, for_spreadsheets=for_spreadsheets)


def csv_columns(columns: list[list[Any]], *, for_spreadsheets: bool = False) -> str:
    """Rows given column by column (each list one column's values, in row order) as CSV lines,
    as `to_csv` writes them: a big result is written a chunk at a time. The common cells (text,
    numbers) pass to the C writer as they are; only the rest go through `cell_text`."""
    cells = [_csv_column(values, for_spreadsheets) for values in columns]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(zip(*cells, strict=True))
    return buffer.getvalue()


def _csv_column(values: list[Any], for_spreadsheets: bool) -> list[Any]:
    kinds = set(map(type, values))
    kinds.discard(type(None))  # the writer writes None as an empty cell, as cell_text does
    if kinds <= {str} and not (for_spreadsheets and _any_formula(values)):
        return values
    if kinds <= {int, float} and not (for_spreadsheets and _any_negative(values)):
        return values  # the writer writes str(value), as cell_text does
    return [_csv_cell(value, for_spreadsheets) for value in values]


def _any_formula(values: list[str | None]) -> bool:
    """Might a cell start like a formula? (A line break inside a value may say yes wrongly,
    which only sends the column the careful way.)"""
    text = "\n" + "\n".join(v for v in values if v)
    return any("\n" + start in text for start in _FORMULA_STARTS)


def _any_negative(values: list[int | float | None]) -> bool:
    return any(v < 0 for v in values if v is not None)


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
