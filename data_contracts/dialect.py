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

What can be told safely needs no setting: a currency sign or code beside an amount is taken off
(`split_amounts`) and checked against the row's currency, and a column that holds currencies but
is read as none is found (`looks_like_currency`, `header_currency`), so that no amount is read in
a currency its file does not give it.
"""

from __future__ import annotations

import codecs
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from data_contracts.schema import TABLES_BY_NAME

MAP_FILE = "ledger.yaml"
MAP_FILES = (MAP_FILE, "ledger.yml")
ISO_DATE = "%Y-%m-%d"
KEYS = ("files", "columns", "dates", "decimal", "thousands", "encoding")
IGNORE = "ignore"
"""What ``columns:`` maps a column to that arcast must not read nor take for anything (a
``Scope`` of ALL and TOP is no lek nor pa'anga): left out of every check, and of the warning
about unknown columns."""

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
    "%m.%d.%Y": "month.day.year",
    "%d.%m.%y": "day.month.two-digit year",
    "%Y%m%d": "yearmonthday",
    "%d-%b-%Y": "day-month name-year",
    "%d %b %Y": "day month name year",
}
"""Date formats common in exports, tried (in this order) only to name the one a file uses."""
_DATE_TIME = r"^(.+?)[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp][Mm])?$"
"""A date followed by a time of day (spreadsheet exports write '2024-01-31 00:00:00')."""
NUMBER_DIALECTS = (
    (re.compile(r"-?\d+(\.\d+)?"), {}),
    (re.compile(r"-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?"), {"thousands": ","}),
    (re.compile(r"-?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?"), {"decimal": ",", "thousands": "."}),
    (
        re.compile(r"-?(\d{1,3}([\s\u00a0\u202f]\d{3})+|\d+)(,\d+)?"),
        {"decimal": ",", "thousands": " "},
    ),
    (re.compile(r"-?(\d{1,3}(['\u2019]\d{3})+|\d+)(\.\d+)?"), {"thousands": "'"}),
)
"""Plain numbers (in a table given other marks), numbers grouped by commas ('1,234.56'), with a
decimal comma ('1.234,56', '12,5'), grouped by spaces as French exports write them ('1 234,56')
and by apostrophes as Swiss ones do ("1'234.50"), each with the settings that read it: the
first that reads a column is named."""
MARKS = {"decimal": (".", ","), "thousands": (",", ".", " ", "'")}
GROUPING = {" ": r"[\s\u00a0\u202f]", "'": r"['\u2019]"}
"""A thousands separator given as a space also matches the (narrow) no-break spaces French and
Swiss locales write, and an apostrophe the typographic one (’) Windows writes for de-CH."""

_ISO_4217 = """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV
BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR
ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT
TND TOP TRY TTD TWD TZS UAH UGX USD UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XCD XDR XOF XPD
XPF XPT YER ZAR ZMW ZWG ZWL"""
ISO_4217 = frozenset(_ISO_4217.split())
"""Currency codes in use (ISO 4217): what tells a column of currencies from one of other
three-letter codes (DEU, SMB), and a currency written beside an amount from a word."""
CURRENCY_SIGNS = {
    "$": ("USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN", "ARS", "CLP", "COP", "TWD"),
    "US$": ("USD",),
    "C$": ("CAD",),
    "CA$": ("CAD",),
    "A$": ("AUD",),
    "AU$": ("AUD",),
    "NZ$": ("NZD",),
    "HK$": ("HKD",),
    "S$": ("SGD",),
    "MX$": ("MXN",),
    "R$": ("BRL",),
    "€": ("EUR",),
    "£": ("GBP",),
    "¥": ("JPY", "CNY"),
    "₹": ("INR",),
    "₩": ("KRW",),
    "₽": ("RUB",),
    "₺": ("TRY",),
    "₪": ("ILS",),
    "₱": ("PHP",),
    "zł": ("PLN",),
    "Kč": ("CZK",),
    "kr": ("SEK", "NOK", "DKK", "ISK"),
}
"""Currency signs exports write beside amounts, with the currencies each may stand for: '$'
is no contradiction on a CAD invoice, but is one on a EUR invoice."""
_MARK = "|".join(map(re.escape, sorted(CURRENCY_SIGNS, key=len, reverse=True))) + "|[A-Za-z]{3}"
_SPACES = r"\s\x{00a0}\x{202f}"  # with the no-break spaces of French and Swiss amounts
_SPACE = rf"[{_SPACES}]*"
_DECORATED = (
    rf"^(?P<open>\()?{_SPACE}(?P<lead>-)?{_SPACE}(?:(?P<pre>{_MARK}){_SPACE})?"
    rf"(?P<number>-?\d(?:[\d.,'’{_SPACES}]*\d)?)"
    rf"{_SPACE}(?P<post>{_MARK})?{_SPACE}(?P<trail>-)?{_SPACE}(?P<close>\))?$"
)
"""An amount with a currency sign or code before or after it ('$1,234.56', '1 234,56 €',
'CHF 1'234.50'), its minus sign before or after either ('1.234,56-' from SAP), or in
parentheses ('(1,234.56)' from Excel). RE2 syntax, for Arrow: pandas' ``str.extract`` takes
5 s a million amounts."""
_CURRENCY_WORDS = re.compile(
    r"currenc\w*|curr?|ccy|crcy|waers|devises?|monedas?|valuta|divisas?|moedas?|waluta"
    r"|\w*w(?:ä|ae|a)hrung\w*",
)
"""Column names of a currency in exports (Currency Code, Curr, Ccy, SAP's WAERS, Währung,
Belegwährung, Devise, Moneda, Valuta …), matched against each word of the name."""
_COUNTRY_WORDS = re.compile(
    r"countr\w*|ctry|cntry|\w*land|l(?:ä|ae|a)nder\w*|pays|pa[ií]s|paese|nazione|kraj|staat\w*"
)
"""Column names of a country (Country Code, Ctry, Land, SAP's LAND1, Lieferland, Pays, País,
Paese …), matched against each word of the name: see `looks_like_currency`."""
_WORD_CODES = frozenset(
    {"ALL", "BAM", "BOB", "CUP", "GEL", "MAD", "MOP", "NAD", "PEN", "SOS", "TOP"}
)
"""Currency codes that are also ordinary words ('Amount all', 'top_amount'): in a column's
name they give a currency only in capitals."""


def column_key(name: str) -> str:
    """A column name as matched: trimmed, lower case, spaces and hyphens as underscores, so
    that an export's 'Customer ID' is arcast's customer_id."""
    return re.sub(r"[\s-]+", "_", name.strip().lower())


@dataclass(frozen=True)
class Dialect:
    """How one export writes the contract's files, columns, dates and numbers."""

    files: dict[str, str] = field(default_factory=dict)
    """table -> file name in the folder, e.g. ``{"invoices": "AR_Open_Items.csv"}``."""
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    """table -> {the file's column (as `column_key` matches it): the contract's column, or
    `IGNORE`}."""
    dates: dict[str, str] = field(default_factory=dict)
    """table -> strftime format of its date cells; tables not named are ISO (YYYY-MM-DD)."""
    decimal: dict[str, str] = field(default_factory=dict)
    """table -> decimal mark of its numbers; '.' for tables not named."""
    thousands: dict[str, str] = field(default_factory=dict)
    """table -> thousands separator of its numbers; none for tables not named."""
    encoding: dict[str, str] = field(default_factory=dict)
    """table -> text encoding of its file (an ERP's cp1252); UTF-8 for tables not named."""

    def rename(self, table: str, name: str) -> str:
        """The contract's name for one of the file's column names (`column_key`)."""
        key = column_key(name)
        return self.columns.get(table, {}).get(key, key)

    def ignores(self, table: str, name: str) -> bool:
        """Whether ``ledger.yaml`` says one of the file's columns is to be left alone."""
        return self.rename(table, name) == IGNORE

    def date_format(self, table: str) -> str:
        return self.dates.get(table, ISO_DATE)

    def text_encoding(self, table: str) -> str:
        """Python's name for it; UTF-8 with or without a byte-order mark by default."""
        return self.encoding.get(table, "utf-8-sig")

    def parse_numbers(self, text: pd.Series, table: str) -> pd.Series:
        """Numbers written with the table's marks as plain ones ('1.234,56' -> '1234.56'),
        NaN for a value that does not follow them: with thousands '.', '1.10' is no grouped
        number, and reading it as 110 would be a silent error."""
        decimal, thousands = self.decimal.get(table, "."), self.thousands.get(table)
        if decimal == "." and thousands is None:
            return text
        point = re.escape(decimal)
        group = GROUPING.get(thousands or "", re.escape(thousands or ""))
        pattern = rf"-?\d+({point}\d+)?"
        if thousands:
            pattern += rf"|-?\d{{1,3}}({group}\d{{3}})+({point}\d+)?"
        text = text.where(text.str.fullmatch(pattern).fillna(False).astype(bool))
        if thousands:
            text = text.str.replace(group, "", regex=True)
        return text.str.replace(decimal, ".", regex=False)


def read_dialect(data_dir: Path) -> Dialect:
    """The folder's ``ledger.yaml`` (or ``ledger.yml``), checked whole; ``ValueError`` says
    which entry is wrong."""
    paths = [data_dir / name for name in MAP_FILES if (data_dir / name).is_file()]
    if len(paths) > 1:
        raise ValueError(f"{paths[1].name} exists too; keep only one of them")
    if not paths:
        return Dialect()
    data = paths[0].read_bytes()
    try:
        spec = yaml.load(data.decode("utf-8"), Loader=_TextLoader) or {}
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"line {line} is not UTF-8 text; save the file as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"not readable YAML ({where}{problem})") from None
    if not isinstance(spec, dict):
        raise ValueError("expected keys such as 'columns:' and 'dates:' at the top level")
    unknown = sorted(str(k) for k in spec if k not in KEYS)
    if unknown:
        raise ValueError(
            f"unknown key(s) {', '.join(unknown)}{did_you_mean(unknown[0], KEYS)} (known: "
            f"{', '.join(KEYS)})"
        )
    files = _table_entries(spec.get("files"), "files")
    for table, name in files.items():
        if not isinstance(name, str) or re.search(r"[/\\:]", name) or name in ("", ".", ".."):
            raise ValueError(
                f"files.{table} must name a file in the ledger folder itself (no folder or "
                f"drive), got {name!r}"
            )
    columns = {}
    for table, renames in _table_entries(spec.get("columns"), "columns").items():
        if not isinstance(renames, dict):
            raise ValueError(f"columns.{table} must map the file's column names to arcast's")
        known = [*TABLES_BY_NAME[table].read_names, IGNORE]
        targets = {column_key(str(k)): str(v).strip().lower() for k, v in renames.items()}
        for source, target in targets.items():
            if target not in known:
                raise ValueError(
                    f"columns.{table} maps {source!r} to {target!r}{did_you_mean(target, known)}, "
                    f"which is not one of {table}' columns ({', '.join(known[:-1])}) nor "
                    f"{IGNORE}"
                )
        read = [t for t in targets.values() if t != IGNORE]
        doubled = sorted({t for t in read if read.count(t) > 1})
        if doubled:
            raise ValueError(f"columns.{table} maps two columns to {doubled[0]!r}")
        columns[table] = targets
    decimal, thousands = (_per_table(spec, key, _mark) for key in ("decimal", "thousands"))
    for table, mark in thousands.items():
        if decimal.get(table, ".") == mark:
            raise ValueError(f"decimal and thousands are both {mark!r} for {table}")
    return Dialect(
        files=files,
        columns=columns,
        dates=_per_table(spec, "dates", _date_format),
        encoding=_per_table(spec, "encoding", _encoding),
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
        raise ValueError(
            f"{key}.{unknown[0]}: no such table{did_you_mean(unknown[0], list(TABLES_BY_NAME))} "
            f"(tables: {', '.join(TABLES_BY_NAME)})"
        )
    return dict(value)


def did_you_mean(name: str, known: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'columns'?)`` for a close misspelling, else nothing: a typo named with
    its fix is corrected at once, where "unknown" sends the user to the documentation."""
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _TextLoader(yaml.BaseLoader):
    """Every scalar as text (a column called No or On is no boolean, nor 30 a number), and a
    key given twice an error: YAML would keep the second in silence, and the first ``dates:``
    the user reads would not be the one that counts."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


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


def _encoding(value: object, key: str) -> str:
    try:
        return codecs.lookup(str(value)).name
    except LookupError:
        raise ValueError(
            f"{key}: {value!r} is not a text encoding (e.g. cp1252, latin-1)"
        ) from None


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


def _all_match(values: pd.Series, pattern: re.Pattern) -> bool:
    return bool(values.map(lambda v: pattern.fullmatch(v) is not None).all())


def _per_table_setting(key: str, value: str, table: str) -> str:
    return f"{key}: {{{table}: {value!r}}}"


def date_hint(values: pd.Series, failed: pd.Series, table: str, current: str) -> str | None:
    """The ``dates`` setting under which every one of ``values`` (a column's distinct dates as
    written, ``failed`` those that do not read now) reads, or None; and what it would change
    among those that read now (a swapped day and month). Formats that read them all alike
    (14/03 only fits day/month, 03/04 fits both) are named together, since only the writer of
    the file can tell them apart. The setting is given for the one table, so that following it
    never breaks another file."""
    fits = [
        f
        for f in DATE_DIALECTS
        if f != current
        and parse_dates(failed, f).notna().all()  # a quick no for most, before every value
        and parse_dates(values, f).notna().all()
    ][:2]
    if not fits:
        return None
    settings = " or ".join(_per_table_setting("dates", f, table) for f in fits)
    hint = f"they read as {' or '.join(DATE_DIALECTS[f] for f in fits)}: set {settings}"
    now, then = parse_dates(values, current), parse_dates(values, fits[0])
    moved = now.notna() & (now != then)
    if moved.any():
        value, before, after = values[moved].iloc[0], now[moved].iloc[0], then[moved].iloc[0]
        hint += f" ('{value}', read now as {before:%Y-%m-%d}, is then {after:%Y-%m-%d})"
    return hint


def number_hint(
    values: pd.Series, failed: pd.Series, table: str, dialect: Dialect, whole: bool
) -> str | None:
    """The ``decimal``/``thousands`` settings under which every one of ``values`` (a column's
    distinct numbers as written) reads, and every one of the ``failed`` ones becomes a number
    (a ``whole`` one, for a count: 30.5 days is no matter of marks), or None; and what they
    would change among those that read now ('23.073' is 23.073 without a thousands mark, 23073
    with '.')."""
    current = (dialect.decimal.get(table, "."), dialect.thousands.get(table))
    for pattern, marks in NUMBER_DIALECTS:
        if (marks.get("decimal", "."), marks.get("thousands")) == current:
            continue  # what failed under these marks is no matter of marks (30.5 days)
        if not (_all_match(failed, pattern) and _all_match(values, pattern)):  # quick no first
            continue
        other = Dialect(
            decimal={table: marks.get("decimal", ".")},
            thousands={table: marks["thousands"]} if "thousands" in marks else {},
        )
        read = pd.to_numeric(other.parse_numbers(failed, table), errors="coerce")
        if read.isna().any() or (whole and (read % 1 != 0).any()):
            continue
        if (read == pd.to_numeric(dialect.parse_numbers(failed, table), errors="coerce")).any():
            continue  # no answer for an amount set aside as ambiguous ('1.000 €')
        if not marks:
            return (
                f"they read as plain numbers: give decimal and thousands per table, leaving "
                f"{table} out (e.g. decimal: {{invoices: ','}})"
            )
        hint = "set " + " and ".join(_per_table_setting(k, v, table) for k, v in marks.items())
        now = pd.to_numeric(dialect.parse_numbers(values, table), errors="coerce")
        then = pd.to_numeric(other.parse_numbers(values, table), errors="coerce")
        moved = now.notna() & (now != then)
        if moved.any():
            value, before, after = values[moved].iloc[0], now[moved].iloc[0], then[moved].iloc[0]
            hint += f" ('{value}', read now as {before:g}, is then {after:g}: check which is meant)"
        return hint
    return None


def currency_codes(mark: str) -> tuple[str, ...]:
    """The currencies a sign or code written beside an amount stands for ('$' several)."""
    return CURRENCY_SIGNS.get(mark, (mark.upper(),))


def split_amounts(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Amounts as exports decorate them, as signed numbers in the file's own marks, and the
    currency sign or code each carried (NaN where none): '$1,234.56' is '1,234.56' and '$',
    '(1,234.56)' and '1.234,56-' are '-1,234.56' and '-1.234,56'. A sign or code is never part
    of a number, so taking it off changes no value; what it says is checked against the row's
    currency. A value that is no such amount ('(-5)', '5 XYZ', two codes) is kept as written,
    so that it still fails as a number."""
    found = pc.extract_regex(pa.chunked_array([pa.array(text, type=pa.string())]), _DECORATED)
    found = found.combine_chunks()
    parts = pd.DataFrame(
        {name: found.field(name).to_pandas() for name in found.type.names}, dtype="str"
    ).set_axis(text.index)
    parts = parts.replace("", np.nan)  # a group that took no part, or a value that did not match
    number = parts["number"].str.removeprefix("-")
    minus = (
        (parts["open"].notna() & parts["close"].notna()).astype(int)
        + parts["lead"].notna()
        + parts["number"].str.startswith("-").fillna(False).astype(bool)
        + parts["trail"].notna()
    )
    mark = parts["pre"].fillna(parts["post"])
    code = mark.str.fullmatch("[A-Za-z]{3}").fillna(False).astype(bool)
    mark = mark.mask(code, mark.str.upper())
    valid = (
        number.notna()
        & (parts["open"].isna() == parts["close"].isna())
        & ~(parts["pre"].notna() & parts["post"].notna())
        & (minus <= 1)
        & (~code | mark.isin(ISO_4217))
    )
    signed = number.mask(minus == 1, "-" + number)
    return signed.where(valid, text), mark.where(valid)


def _words(name: str) -> list[str]:
    """The words of a column's name ('Pay Ccy', 'country_code', 'LAND1', 'Betrag (EUR)')."""
    return re.findall(r"[^\W\d_]+", name)


def looks_like_currency(name: str, values: pd.Series) -> bool:
    """Whether a column no map reads holds currencies: one named like a currency column
    (`_CURRENCY_WORDS`) whose values are text, not numbers or dates ('Currency Rate' is no
    currency), or one whose every value is an ISO 4217 code (SAP's 'WKZ') and whose name is
    not a country's (`_COUNTRY_WORDS`). A country is never taken for a currency by its values
    alone: a currency code begins with its country's two letters, so three-letter countries
    can be currency codes too (CHE is Switzerland and the WIR euro, BTN Bhutan and the
    ngultrum), and a Swiss company's customers would stop every load, while no export calls
    its currency column 'Country'."""
    words = [w.lower() for w in _words(name)]
    named = any(_CURRENCY_WORDS.fullmatch(w) for w in words)
    if not named and any(_COUNTRY_WORDS.fullmatch(w) for w in words):
        return False
    present = values.dropna()
    if not named and not present.head(100).str.strip().str.upper().isin(ISO_4217).all():
        return False  # a quick no for most columns, before every value
    distinct = pd.Series(present.unique(), dtype="str").str.strip().str.upper()
    distinct = distinct[distinct != ""]
    if distinct.empty:
        return False
    if named:
        return not distinct.str.contains(r"\d").any()
    return bool(distinct.isin(ISO_4217).all())


def checkable_currency(value: str) -> bool:
    """Whether a currency as a column writes it is an ISO 4217 code or a sign
    (`CURRENCY_SIGNS`), which can be compared with a row's currency ('Euro' cannot)."""
    return value in CURRENCY_SIGNS or value.upper() in ISO_4217


def header_currency(name: str) -> str | None:
    """The currency a column's name gives its amounts ('Amount (EUR)', 'amount (eur)', 'Betrag
    EUR', 'amount_chf', 'Credit Limit [GBP]'): an ISO 4217 code standing apart as a word of the
    name, in any case unless it is also an ordinary word (`_WORD_CODES`: 'All' or 'Top' in a
    name is no Albanian lek or pa'anga), and the only one it names. 'Amount Due' or 'Net
    Amount' name none: no word of theirs is a code."""
    codes = {
        word.upper()
        for word in _words(name)
        if word.upper() in ISO_4217 and (word.isupper() or word.upper() not in _WORD_CODES)
    }
    return codes.pop() if len(codes) == 1 else None
