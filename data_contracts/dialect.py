"""An export's own dialect, described once in ``ledger.yaml`` beside its files.

ERP and spreadsheet exports rarely speak the canonical contract: their files are called
``AR_Open_Items.csv``, their columns ``Invoice No``, their dates ``14/03/2025`` and their
amounts ``1.234,56``. Renaming and reformatting them by hand before every run is where exports
get damaged, so the folder may carry a small map instead, read by every path that reads the
ledger (CLI, Dagster, sensor, backtest), and the rows themselves keep the export's own
spelling. Without the file an export is read as the canonical contract.

Without a map, values that fail to parse but all fit one common dialect are a file-level error
that names the setting to add (:func:`date_hint`, :func:`number_hint`): a column the contract
quarantined row by row would otherwise end in "no row was accepted", with the reason spread over
50,000 quarantine lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from data_contracts.schema import TABLES_BY_NAME

MAP_FILE = "ledger.yaml"
ISO_DATE = "%Y-%m-%d"
KEYS = ("files", "columns", "dates", "decimal", "thousands")

DATE_DIALECTS = {
    ISO_DATE: "year-month-day (ISO)",
    "%d/%m/%Y": "day/month/year",
    "%m/%d/%Y": "month/day/year",
    "%d.%m.%Y": "day.month.year",
    "%d-%m-%Y": "day-month-year",
    "%m-%d-%Y": "month-day-year",
    "%Y/%m/%d": "year/month/day",
    "%d/%m/%y": "day/month/two-digit year",
    "%m/%d/%y": "month/day/two-digit year",
    "%d.%m.%y": "day.month.two-digit year",
    "%Y%m%d": "yearmonthday",
    "%d-%b-%Y": "day-month name-year",
    "%d %b %Y": "day month name year",
}
"""Date formats common in exports, tried (in this order) only to name the one a file uses."""
_DATE_TIME = r"^(.+?)[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp][Mm])?$"
"""A date followed by a time of day (spreadsheet exports write '2024-01-31 00:00:00')."""
NUMBER_DIALECTS = (
    (re.compile(r"-?\d{1,3}(,\d{3})+(\.\d+)?"), {"thousands": ","}),
    (re.compile(r"-?\d{1,3}(\.\d{3})+(,\d+)?|-?\d+,\d+"), {"decimal": ",", "thousands": "."}),
    (re.compile(r"-?\d+(\.\d+)?"), {}),
)
"""Grouped or comma-decimal numbers ('1,234.56'; '1.234,56', '12,5'), or plain ones (in a table
given other marks), and the settings that read them."""
MARKS = {"decimal": (".", ","), "thousands": (",", ".", " ", "'")}
SPACES = r"[\s\u00a0\u202f]"
"""A thousands separator given as a space also matches the (narrow) no-break spaces that
French and Swiss locales write."""


@dataclass(frozen=True)
class Dialect:
    """How one export writes the contract's files, columns, dates and numbers."""

    files: dict[str, str] = field(default_factory=dict)
    """table -> file name in the folder, e.g. ``{"invoices": "AR_Open_Items.csv"}``."""
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    """table -> {the file's column (trimmed, lower case): the contract's column}."""
    dates: dict[str, str] = field(default_factory=dict)
    """table -> strftime format of its date cells; tables not named are ISO (YYYY-MM-DD)."""
    decimal: dict[str, str] = field(default_factory=dict)
    """table -> decimal mark of its numbers; '.' for tables not named."""
    thousands: dict[str, str] = field(default_factory=dict)
    """table -> thousands separator of its numbers; none for tables not named."""

    def rename(self, table: str, name: str) -> str:
        """The contract's name for one of the file's column names (trimmed, case-insensitive)."""
        key = name.strip().lower()
        return self.columns.get(table, {}).get(key, key)

    def date_format(self, table: str) -> str:
        return self.dates.get(table, ISO_DATE)

    def parse_numbers(self, text: pd.Series, table: str) -> pd.Series:
        """Numbers written with the table's marks as plain ones ('1.234,56' -> '1234.56'),
        NaN for a value that does not follow them: with thousands '.', '1.10' is no grouped
        number, and reading it as 110 would be a silent error."""
        decimal, thousands = self.decimal.get(table, "."), self.thousands.get(table)
        if decimal == "." and thousands is None:
            return text
        point = re.escape(decimal)
        group = SPACES if thousands == " " else re.escape(thousands or "")
        pattern = rf"-?\d+({point}\d+)?"
        if thousands:
            pattern += rf"|-?\d{{1,3}}({group}\d{{3}})+({point}\d+)?"
        text = text.where(text.str.fullmatch(pattern).fillna(False).astype(bool))
        if thousands:
            text = text.str.replace(group, "", regex=True)
        return text.str.replace(decimal, ".", regex=False)


def read_dialect(data_dir: Path) -> Dialect:
    """The folder's ``ledger.yaml``, checked whole; ``ValueError`` says which entry is wrong."""
    path = data_dir / MAP_FILE
    if not path.is_file():
        return Dialect()
    try:
        # every scalar as text: a column called No or On is not a boolean, nor 30 a number
        spec = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"not readable YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(spec, dict):
        raise ValueError("expected keys such as 'columns:' and 'dates:' at the top level")
    unknown = sorted(str(k) for k in spec if k not in KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(KEYS)})")
    files = _table_entries(spec.get("files"), "files")
    for table, name in files.items():
        if not isinstance(name, str) or Path(name).name != name:
            raise ValueError(f"files.{table} must be a file name in the folder, got {name!r}")
    columns = {}
    for table, renames in _table_entries(spec.get("columns"), "columns").items():
        if not isinstance(renames, dict):
            raise ValueError(f"columns.{table} must map the file's column names to arcast's")
        known = TABLES_BY_NAME[table].column_names
        targets = {str(k).strip().lower(): str(v).strip().lower() for k, v in renames.items()}
        for source, target in targets.items():
            if target not in known:
                raise ValueError(
                    f"columns.{table} maps {source!r} to {target!r}, which is not one of "
                    f"{table}' columns ({', '.join(known)})"
                )
        doubled = sorted({t for t in targets.values() if list(targets.values()).count(t) > 1})
        if doubled:
            raise ValueError(f"columns.{table} maps two columns to {doubled[0]!r}")
        columns[table] = targets
    decimal, thousands = (_per_table(spec, key, _mark) for key in ("decimal", "thousands"))
    for table, mark in decimal.items():
        if thousands.get(table) == mark:
            raise ValueError(f"decimal and thousands are both {mark!r} for {table}")
    return Dialect(
        files=files,
        columns=columns,
        dates=_per_table(spec, "dates", _date_format),
        decimal=decimal,
        thousands=thousands,
    )


def _table_entries(value: object, key: str) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{key} must map table names ({', '.join(TABLES_BY_NAME)}) to entries")
    unknown = [str(t) for t in value if t not in TABLES_BY_NAME]
    if unknown:
        raise ValueError(f"{key}.{unknown[0]}: no such table (tables: {', '.join(TABLES_BY_NAME)})")
    return dict(value)


def _per_table(spec: dict, key: str, check: Callable[[object, str], str]) -> dict[str, str]:
    """A setting given once for every table, or per table (``dates: {invoices: "%d/%m/%Y"}``),
    so that a file from another source (rates from a bank) can keep its own."""
    value = spec.get(key)
    if value is None:
        return {}
    if isinstance(value, dict):
        return {t: check(v, f"{key}.{t}") for t, v in _table_entries(value, key).items()}
    return dict.fromkeys(TABLES_BY_NAME, check(value, key))


def _date_format(value: object, key: str) -> str:
    """A strftime format that writes and reads back a whole date."""
    probe = date(2024, 3, 14)
    try:
        fmt = str(value)
        back = pd.to_datetime(pd.Series([probe.strftime(fmt)]), format=fmt, errors="coerce")[0]
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None
    if pd.isna(back) or back.date() != probe:
        raise ValueError(f"{key}: {value!r} does not hold a whole date (e.g. '%d/%m/%Y')")
    return fmt


def _mark(value: object, key: str) -> str:
    allowed = MARKS[key.split(".")[0]]
    if value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return str(value)


def parse_dates(text: pd.Series, fmt: str) -> pd.Series:
    """Dates written as ``fmt``, with or without a time of day after them; NaT where not."""
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    retry = parsed.isna() & text.notna()
    if retry.any():
        date_part = text[retry].str.extract(_DATE_TIME)[0]
        parsed = parsed.mask(retry, pd.to_datetime(date_part, format=fmt, errors="coerce"))
    return parsed


def _setting(key: str, value: str, table: str | None) -> str:
    return f"{key}: {{{table}: {value!r}}}" if table else f"{key}: {value!r}"


def date_hint(values: pd.Series, table: str, per_table: bool) -> str | None:
    """The ``dates`` setting that reads every one of ``values`` (text that did not parse as
    dates), or None; given for ``table`` alone when the map already sets other tables' dates.
    Formats that read them all alike (14/03 only fits day/month, 03/04 fits both) are named
    together, since only the writer of the file can tell them apart."""
    sample = values.drop_duplicates().head(2000)
    fits = [fmt for fmt in DATE_DIALECTS if parse_dates(sample, fmt).notna().all()][:2]
    if not fits:
        return None
    settings = " or ".join(_setting("dates", f, table if per_table else None) for f in fits)
    return f"they read as {' or '.join(DATE_DIALECTS[f] for f in fits)}: set {settings}"


def number_hint(values: pd.Series, table: str, per_table: bool) -> str | None:
    """The ``decimal``/``thousands`` settings that read every one of ``values``, or None."""
    sample = values.drop_duplicates().head(2000)
    for pattern, marks in NUMBER_DIALECTS:
        if not sample.map(lambda v, p=pattern: p.fullmatch(v) is not None).all():
            continue
        if not marks:
            return (
                f"they read as plain numbers: give decimal and thousands per table, leaving "
                f"{table} out (e.g. decimal: {{invoices: ','}})"
            )
        where = table if per_table else None
        return "set " + " and ".join(_setting(k, v, where) for k, v in marks.items())
    return None
