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
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
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


def _styled(ws, value, style: StyleArray) -> Cell:
    """A streamed cell (write-only mode places it by its position in the row)."""
    return Cell(ws, row=1, column=1, value=value, style_array=style)


def _style(ws, **attributes) -> StyleArray:
    """The style array of a cell with these attributes (registered with the workbook once)."""
    cell = Cell(ws, row=1, column=1)
    for name, value in attributes.items():
        setattr(cell, name, value)
    return cell._style


def _add_sheet(wb: Workbook, title: str, frame: pd.DataFrame) -> None:
    """Stream one sheet (write-only mode: layout first, then rows with per-column styles)."""
    ws = wb.create_sheet(title)
    columns = list(frame.columns)
    ws.freeze_panes = "C2" if len(columns) > 2 else "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(columns), 1))}{len(frame) + 1}"
    styles: list[StyleArray | None] = []
    for j, name in enumerate(columns, start=1):
        series = frame[name]
        number_format = _number_format(name, series)
        attributes: dict = {"number_format": number_format} if number_format else {}
        if name in WRAP_COLUMNS:
            attributes["alignment"] = Alignment(wrap_text=True, vertical="top")
        styles.append(_style(ws, **attributes) if attributes else None)
        if number_format == DATE:
            sample = [len("yyyy-mm-dd")]
        else:
            sample = [len(str(v)) for v in series.head(200) if _cell(v) is not None]
        longest = max([len(name), *sample])
        width = WRAP_WIDTH if name in WRAP_COLUMNS else min(longest + 2, MAX_WIDTH)
        ws.column_dimensions[get_column_letter(j)].width = width
    tiers = {
        tier: _style(ws, fill=PatternFill("solid", fgColor=colour))
        for tier, colour in TIER_COLOURS.items()
    }
    header = _style(ws, font=Font(bold=True), fill=HEADER_FILL)
    ws.append([_styled(ws, name, header) for name in columns])
    action = columns.index("action") if "action" in columns else -1
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for j, value in enumerate(row):
            value = _cell(value)
            style = tiers.get(value) if j == action else styles[j]
            cells.append(value if style is None else _styled(ws, value, style))
        ws.append(cells)


def write_workbook(sheets: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Write one formatted sheet per frame, in the given order, atomically."""
    wb = Workbook(write_only=True)
    for title, frame in sheets.items():
        _add_sheet(wb, title, frame)
    return write_atomic(path, wb.save)
