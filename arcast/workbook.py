"""The worklist as a formatted Excel workbook: what collectors open, filter and sort every morning.

Each sheet gets a bold, frozen header row with an autofilter, number formats by column (money
with thousands separators, probabilities as percentages, ISO dates), widths fitted to the
content (capped; long text wraps) and the action tier colour-coded, from green (friendly
reminder) to red (escalate).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from arcast.io import write_atomic

TIER_COLOURS = {
    "write off small balance": "F7F7F7",
    "monitor": "EDEDED",
    "friendly reminder": "C6EFCE",
    "firm reminder": "FFEB9C",
    "call": "FFC78E",
    "escalate to finance manager": "FFB3B3",
    "resolve dispute": "D9D2E9",
}
HEADER_FILL = "DDEBF7"
ABOUT_SHEET = "About"
"""The sheet that says which ledger and which model produced the workbook (item, value)."""
MONEY = "#,##0.00"
PERCENT = "0.0%"
DATE = "yyyy-mm-dd"
WRAP_COLUMNS = {"reasons", "body", "subject", "invoices", "dispute_reason", "value"}
PERCENT_COLUMNS = {"p_late_30", "max_p_late_30", "share_of_open_ar", "share_paid_30_late"}
MAX_WIDTH = 48
WRAP_WIDTH = 70
EXCEL_CELL_LIMIT = 32_767
EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _number_format(name: str, series: pd.Series) -> str | None:
    if pd.api.types.is_datetime64_any_dtype(series):
        return DATE
    if name.removesuffix("_before") in PERCENT_COLUMNS:  # the Changes sheet's earlier values
        return PERCENT
    if pd.api.types.is_float_dtype(series):
        return "0.0" if name == "mean_days_late" else MONEY
    return None


def _cell(value):
    """A value XlsxWriter writes natively; missing values become empty cells."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str) and len(value) > EXCEL_CELL_LIMIT:
        return value[: EXCEL_CELL_LIMIT - 40] + "\n… (truncated; see the .eml file)"
    return value


def _excel_days(series: pd.Series) -> list[float | None]:
    """Dates as Excel serial days (the column's date format shows them as dates)."""
    days = (pd.to_datetime(series) - EXCEL_EPOCH) / pd.Timedelta(days=1)
    return [None if math.isnan(d) else d for d in days.tolist()]


def _typed_dates(series: pd.Series) -> pd.Series:
    """A column of date objects as datetime64, so that it gets the date format: written as they
    are, Excel shows them as serial numbers (the Drafts sheet's next contact read 46015)."""
    if series.dtype == object:
        present = series.dropna()
        if len(present) and all(isinstance(v, date) for v in present):
            return pd.to_datetime(series)
    return series


def _column(ws, series: pd.Series) -> tuple[Callable, list]:
    """The typed write method and the cell values of one column.

    Typed writes skip `write`'s per-cell type dispatch and string sniffing (regexes for numbers,
    URLs and formulas), which dominated writing a 100k-row sheet.
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        return ws.write_number, _excel_days(series)
    if pd.api.types.is_bool_dtype(series):
        return ws.write_boolean, [_cell(v) for v in series.tolist()]
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype("float64").tolist()
        return ws.write_number, [None if math.isnan(v) else v for v in values]
    values = [_cell(v) for v in series.tolist()]
    if all(v is None or isinstance(v, str) for v in values):
        return ws.write_string, [v or None for v in values]  # "" as an empty cell, as `write` does
    return ws.write, values


def _add_sheet(wb: xlsxwriter.Workbook, title: str, frame: pd.DataFrame) -> None:
    """Stream one sheet row by row (constant-memory mode).

    Number formats sit on the columns, which XlsxWriter applies to every cell written without
    one, so only the action cell carries a format of its own (its tier colour): per-cell format
    lookups dominate the cost of a 100k-row sheet.
    """
    ws = wb.add_worksheet(title)
    frame = pd.DataFrame({name: _typed_dates(frame[name]) for name in frame.columns})
    columns = list(frame.columns)
    for j, name in enumerate(columns):
        series = frame[name]
        number_format = _number_format(name, series)
        spec: dict = {"num_format": number_format} if number_format else {}
        if name in WRAP_COLUMNS:
            spec |= {"text_wrap": True, "valign": "top"}
        if number_format == DATE:
            sample = [len("yyyy-mm-dd")]
        else:
            sample = [len(str(v)) for v in series.head(200) if _cell(v) is not None]
        longest = max([len(name), *sample])
        width = WRAP_WIDTH if name in WRAP_COLUMNS else min(longest + 2, MAX_WIDTH)
        ws.set_column(j, j, width, wb.add_format(spec) if spec else None)
    ws.freeze_panes(1, 2 if len(columns) > 2 else 0)
    ws.autofilter(0, 0, len(frame), max(len(columns) - 1, 0))
    ws.write_row(0, 0, columns, wb.add_format({"bold": True, "bg_color": f"#{HEADER_FILL}"}))
    tiers = {tier: wb.add_format({"bg_color": f"#{c}"}) for tier, c in TIER_COLOURS.items()}
    action = columns.index("action") if "action" in columns else -1
    typed = [_column(ws, frame[name]) for name in columns]
    writers = [write for write, _ in typed]
    for i, row in enumerate(zip(*(values for _, values in typed), strict=True), start=1):
        for j, value in enumerate(row):
            if value is not None:
                writers[j](i, j, value, tiers.get(value) if j == action else None)


def write_workbook(
    sheets: dict[str, pd.DataFrame], path: str | Path, created: date | None = None
) -> Path:
    """Write one formatted sheet per frame, in the given order, atomically. The file records
    ``created`` (midnight UTC; the as-of date for a worklist) as its creation time instead of
    the clock's, so that the same worklist is the same file, byte for byte."""

    def write(tmp: Path) -> None:
        options = {"constant_memory": True, "strings_to_numbers": False, "strings_to_urls": False}
        with xlsxwriter.Workbook(str(tmp), options) as wb:
            if created is not None:
                wb.set_properties({"created": datetime.combine(created, time(), UTC)})
            for title, frame in sheets.items():
                _add_sheet(wb, title, frame)

    return write_atomic(path, write)
