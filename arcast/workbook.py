"""The worklist as a formatted Excel workbook: what collectors open, filter and sort every morning.

Each sheet gets a bold, frozen header row with an autofilter, number formats by column (money
with thousands separators, probabilities as percentages, ISO dates), widths fitted to the
content (capped; long text wraps) and the action tier colour-coded, from green (friendly
reminder) to red (escalate).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from arcast.io import write_atomic

TIER_COLOURS = {
    "monitor": "EDEDED",
    "friendly reminder": "C6EFCE",
    "firm reminder": "FFEB9C",
    "call": "FFC78E",
    "escalate to finance manager": "FFB3B3",
    "resolve dispute": "D9D2E9",
}
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
MONEY = "#,##0.00"
PERCENT = "0.0%"
DATE = "yyyy-mm-dd"
WRAP_COLUMNS = {"reasons", "body", "subject", "invoices", "dispute_reason"}
PERCENT_COLUMNS = {"p_late_30", "max_p_late_30", "share_of_open_ar", "share_paid_30_late"}
MAX_WIDTH = 48
WRAP_WIDTH = 70
EXCEL_CELL_LIMIT = 32_767


def _number_format(name: str, series: pd.Series) -> str | None:
    if pd.api.types.is_datetime64_any_dtype(series):
        return DATE
    if name in PERCENT_COLUMNS:
        return PERCENT
    if pd.api.types.is_float_dtype(series):
        return "0.0" if name == "mean_days_late" else MONEY
    return None


def _cell(value):
    """A value openpyxl writes natively; missing values become empty cells."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str) and len(value) > EXCEL_CELL_LIMIT:
        return value[: EXCEL_CELL_LIMIT - 40] + "\n… (truncated; see the .eml file)"
    return value


def _add_sheet(wb: Workbook, title: str, frame: pd.DataFrame) -> None:
    ws = wb.create_sheet(title)
    columns = list(frame.columns)
    ws.append(columns)
    for row in frame.itertuples(index=False, name=None):
        ws.append([_cell(v) for v in row])
    bold = Font(bold=True)
    for cell in ws[1]:
        cell.font = bold
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(vertical="center")
    ws.freeze_panes = "C2" if len(columns) > 2 else "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(columns), 1))}{len(frame) + 1}"
    fills = {tier: PatternFill("solid", fgColor=colour) for tier, colour in TIER_COLOURS.items()}
    wrap = Alignment(wrap_text=True, vertical="top")
    for j, name in enumerate(columns, start=1):
        letter = get_column_letter(j)
        series = frame[name]
        number_format = _number_format(name, series)
        cells = ws[f"{letter}2:{letter}{len(frame) + 1}"] if len(frame) else ()
        for (cell,) in cells:
            if number_format:
                cell.number_format = number_format
            if name in WRAP_COLUMNS:
                cell.alignment = wrap
            elif name == "action" and cell.value in fills:
                cell.fill = fills[cell.value]
        sample = [len(str(v)) for v in series.head(200) if _cell(v) is not None]
        longest = max([len(name), *sample])
        if number_format == DATE:
            longest = max(len(name), 10)
        width = WRAP_WIDTH if name in WRAP_COLUMNS else min(longest + 2, MAX_WIDTH)
        ws.column_dimensions[letter].width = width


def write_workbook(sheets: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Write one formatted sheet per frame, in the given order, atomically."""
    wb = Workbook()
    wb.remove(wb.active)
    for title, frame in sheets.items():
        _add_sheet(wb, title, frame)
    return write_atomic(path, wb.save)
