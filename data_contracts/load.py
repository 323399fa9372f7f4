"""Read and validate a ledger folder: typed accepted tables, quarantined rows, exact accounting.

Two kinds of problems, two behaviours:

* file-level (required file or column missing, not UTF-8, garbled CSV, several currencies and no
  fx_rates, a column written in another dialect than ``ledger.yaml`` says, a wrong
  ``ledger.yaml``): :class:`LedgerFileError` with a one-line message, because nothing in the
  file can be trusted;
* row-level: the row goes to quarantine (``file, row, column, reason, value``, and the money an
  invoice or payment row carries: ``table, currency, amount``) and the run goes on.
  A row is quarantined once, for its first problem in this order: type parsing, the GX suite
  rules (in suite order), a currency sign or code that is not the row's currency, an FX rate far
  from its currency's neighbouring rates, references to other tables (a payment's currency is its
  invoice's, so it is checked after that reference).

For every file read, ``rows_in == accepted + quarantined`` holds exactly; blank lines are not rows
and are reported in ``warnings``. ``row`` is the 1-based record number + 1 (the header is line 1),
which equals the line number unless a quoted value spans lines.
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from data_contracts.dialect import (
    IGNORE,
    ISO_4217,
    ISO_DATE,
    MAP_FILE,
    Dialect,
    checkable_currency,
    column_key,
    currency_codes,
    date_hint,
    did_you_mean,
    header_currency,
    looks_like_currency,
    number_hint,
    parse_dates,
    read_dialect,
    split_amounts,
)
from data_contracts.schema import (
    CONTACT_OUTCOMES,
    DEFAULT_BASE_CURRENCY,
    MONEY_DIGITS,
    PAID_DATE,
    PAYMENT_TOLERANCE,
    PAYMENTS,
    TABLES,
    Column,
    Table,
)
from data_contracts.suites import (
    PAIR_RULES,
    UNIQUENESS_RULES,
    allowed_values,
    failed_rows,
    rule_columns,
)

DATE_DTYPE = "datetime64[us]"
DTYPES = {"str": "str", "date": DATE_DTYPE, "float": "float64", "int": "Int64", "bool": "bool"}
QUARANTINE_COLUMNS = ["file", "row", "column", "reason", "value", "table", "currency", "amount"]
FIRST_DATA_LINE = 2
MIN_DATE, MAX_DATE = pd.Timestamp("1900-01-01"), pd.Timestamp("2199-12-31")
"""Plausible ledger dates (catches '0224-01-31' typos and '9999-12-31' sentinels) that also stay
inside pandas' nanosecond range for downstream code."""

_BOOLEANS = {
    **dict.fromkeys(("true", "yes", "y", "1", "x", "wahr", "ja", "vrai", "oui"), True),
    **dict.fromkeys(("false", "no", "n", "0", "falsch", "nein", "faux", "non"), False),
}
"""Flags as exports write them: SAP marks a set flag X (and leaves it blank), German Excel
writes WAHR / FALSCH; an empty cell is False."""
HIGH_QUARANTINE_SHARE, HIGH_QUARANTINE_ROWS = 0.05, 10
"""A file that loses more than this share of its rows (and at least this many) is warned of by
every command: a run on what is left can look healthy (a fifth of the ledger's cash, exit 0)."""
NAMED_CUSTOMERS = 5
"""Customers of quarantined contact-log entries named in the loader's warning."""
QUARANTINE_FILE = "quarantine.csv"
"""The rows refused and why; written before anything else, so that it also explains a run that
stops on the ledger."""
_PARSE_REASON = {
    "date": "unparseable date",
    "float": "not a number",
    "int": "not a whole number",
    "bool": "not a yes/no flag (true/false, yes/no, 1/0, X)",
}


class LedgerFileError(Exception):
    """A whole file is unusable; ``str()`` is one line naming the file and the problem."""


@dataclass
class LoadedLedger:
    """Accepted typed rows of all five tables, plus everything that was set aside and why."""

    tables: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    accounting: dict[str, dict[str, int]]
    base_currency: str
    warnings: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    """table -> the file its rows were read from (the payments': the invoices' when derived
    from their paid dates)."""
    sources: dict[str, str] = field(default_factory=dict)
    """table -> the name ``accounting`` gives its rows: its file's, or ``payments from
    invoices.csv 'Clearing Date'`` for payments derived from paid dates."""


def empty_table(table: Table) -> pd.DataFrame:
    """A zero-row frame with the table's canonical columns and dtypes (for absent files)."""
    return pd.DataFrame({c.name: pd.Series(dtype=DTYPES[c.type]) for c in table.columns})


def empty_quarantine() -> pd.DataFrame:
    """A zero-row quarantine frame with typed columns."""
    dtypes = {"file": "str", "row": "int64", "column": "str", "reason": "str", "value": "str"}
    dtypes |= {"table": "str", "currency": "str", "amount": "float64"}
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in dtypes.items()})


# --- reading ------------------------------------------------------------------------------------


EXPORT_SUFFIXES = (".csv", ".parquet", ".txt", ".tsv")
"""What an export's files may be called, for the list a missing file's message gives."""


def find_files(data_dir: Path, dialect: Dialect) -> dict[str, Path]:
    """table -> its file in the folder: the one ``ledger.yaml`` names, else ``<table>.csv``
    or ``<table>.parquet``, in any case (``Customers.csv``, ``INVOICES.CSV``: an export's
    ``Customers.csv`` passed over would leave every draft without its address). Tables without
    a file are left out (the sensor waits for them). The payments' file is the invoices' when
    it gives their paid dates instead (`_payments_in_invoices`)."""
    by_name: dict[str, list[Path]] = {}
    for path in sorted(data_dir.iterdir()):
        if path.is_file():
            by_name.setdefault(path.name.lower(), []).append(path)
    files = {}
    for table in TABLES:
        named = dialect.files.get(table.name)
        wanted = [named] if named else [f"{table.name}.{ext}" for ext in ("csv", "parquet")]
        found = [p for name in wanted for p in by_name.get(name.lower(), [])]
        if len(found) > 1:
            raise LedgerFileError(
                f"{found[0].name}: {found[1].name} exists too; keep only one of them"
            )
        if found:
            files[table.name] = found[0]
    if "invoices" in files and _payments_in_invoices(files, dialect):
        files["payments"] = files["invoices"]
    return files


def _payments_in_invoices(files: dict[str, Path], dialect: Dialect) -> bool:
    """Whether the payments are derived from the invoices file's paid dates (`PAID_DATE`, by
    the map or by that name): it has such a column and the folder no payments file.

    Both at once stop the load, naming the two ways out, rather than reading the payments file
    and warning that the column is ignored: they are two accounts of the same payments that may
    disagree (a file of one month's receipts beside every invoice's clearing date), only whoever
    made the export knows which one is whole, and a warning scrolls past a scheduled run that
    read the wrong one; and no other ``ledger.yaml`` entry is left without effect either."""
    column = _paid_date_column(files["invoices"], dialect)
    if column is None:
        return False
    named = dialect.files.get("payments")
    if "payments" in files or named:
        payments = named or files["payments"].name
        other, drop = f"{payments} holds payments too", f"take {payments} out of the folder"
        if named:  # even if it is not there: ledger.yaml says the payments are in it
            other = f"{MAP_FILE} names {payments} as the payments file"
            drop = f"drop files.payments from {MAP_FILE}"
        setting = f"columns: {{invoices: {{{_yaml_key(column)}: {IGNORE}}}}}"
        raise LedgerFileError(
            f"{files['invoices'].name}: column '{column}' is read as paid_date, to derive the "
            f"payments from, but {other}; keep one: set {setting} in {MAP_FILE} to read "
            f"{payments}, or {drop} to derive them from '{column}'"
        )
    return True


def _paid_date_column(invoices: Path, dialect: Dialect) -> str | None:
    """The invoices file's column of paid dates as its header writes it (as ``ledger.yaml`` does
    if the header lacks it: reading the file then says so), or None."""
    mapped = [k for k, v in dialect.columns.get("invoices", {}).items() if v == PAID_DATE.name]
    if invoices.suffix.lower() == ".parquet":
        try:
            names = pq.read_schema(invoices).names
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable_parquet(invoices, exc) from None
    else:
        names = _read_header(invoices, "invoices", dialect.text_encoding("invoices"))[0]
    wanted = mapped or [PAID_DATE.name]
    found = [
        n.strip() for n in names if column_key(n) in wanted and not dialect.ignores("invoices", n)
    ]
    return next(iter(found + mapped), None)


def _locate(data_dir: Path, dialect: Dialect) -> dict[str, Path]:
    """`find_files`, and a one-line error for a required file missing or a file ``ledger.yaml``
    names (a typo in its name would otherwise drop a table in silence)."""
    files = find_files(data_dir, dialect)
    for table in TABLES:
        named = dialect.files.get(table.name)
        if table.name in files or not (table.required or named):
            continue
        where = f"{named} ({MAP_FILE} files.{table.name})" if named else f"{table.name}.csv"
        others = sorted(
            p.name
            for p in data_dir.iterdir()
            if p.suffix.lower() in EXPORT_SUFFIXES and p not in files.values()
        )
        hint = f" (it holds {', '.join(others[:6])}" if others else ""
        if hint and not named:
            hint += f": name the {table.name} file in {MAP_FILE}"
        missing = "required file not found" if table.required else "not found"
        paid = ""
        if table is PAYMENTS and "invoices" in files:
            paid = (
                f"; if {files['invoices'].name} gives the day each invoice was paid instead, "
                f"read that column as {PAID_DATE.name} (columns: in {MAP_FILE})"
            )
        raise LedgerFileError(f"{where}: {missing} in {data_dir}{hint + ')' if hint else ''}{paid}")
    return files


def folder_dialect(data_dir: Path) -> Dialect:
    """The folder's ``ledger.yaml`` (the canonical contract without one), or a one-line
    :class:`LedgerFileError` naming the entry that is wrong."""
    try:
        return read_dialect(data_dir)
    except ValueError as exc:
        raise LedgerFileError(f"{MAP_FILE}: {exc}") from None


def _select_columns(
    file: str, names: list[str], table: Table, dialect: Dialect, warnings: list[str]
) -> list[str]:
    """Canonical name for each header name (trimmed, case-insensitive, renamed by the
    dialect); '' for unknown ones."""
    given = {column_key(n) for n in names}
    absent = [c for c in dialect.columns.get(table.name, {}) if c not in given]
    if absent:
        raise LedgerFileError(
            f"{MAP_FILE}: columns.{table.name} renames {absent[0]!r}, which {file}'s header "
            f"lacks (header has: {', '.join(names[:15])})"
        )
    mapped = dialect.columns.get(table.name, {})
    canonical: list[str] = []
    for key in map(column_key, names):
        name = mapped.get(key, key)
        known = name if name in table.read_names else ""
        if key not in mapped and known in mapped.values():
            known = ""  # the map reads another column as this one ('Document Currency')
        if known and known in canonical:
            raise LedgerFileError(f"{file}: column '{known}' appears twice in the header")
        canonical.append(known)
    missing = [c for c in table.required_columns if c not in canonical]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        message = f"{file}: missing required column{plural} {', '.join(map(repr, missing))}"
        message += (
            f" (header has: {', '.join(names[:15])}; name the export's own columns under "
            f"columns: in {MAP_FILE})"
        )
        raise LedgerFileError(message)
    unknown = [
        n.strip() or "(blank)"
        for n, c in zip(names, canonical, strict=True)
        if not (c or dialect.ignores(table.name, n))
    ]
    if unknown:
        absent = [c for c in table.column_names if c not in canonical]
        named = []
        for name in unknown:
            key = re.sub(r"[\s-]+", "_", name.lower())
            close = difflib.get_close_matches(key, absent, n=1, cutoff=0.6)
            named.append(f"'{name}' (did you mean '{close[0]}'?)" if close else f"'{name}'")
        warnings.append(f"{file}: ignored unknown column(s) {', '.join(named)}")
    return canonical


class _Read(NamedTuple):
    """A file as read: its canonical columns as text (or Parquet's types), indexed by record
    number, the rows refused before their values are read (record number -> column and why:
    rows with too few fields, `_short_rows`; payments of quarantined invoices,
    `_paid_payments`), each canonical column's name in the file, and `_unread_currencies`."""

    frame: pd.DataFrame
    refused: dict[int, tuple[str, str]]
    headers: dict[str, str]
    unread: pd.DataFrame


def _scans_currencies(table: Table) -> bool:
    """Whether a table's unread columns are looked at for currencies: those of amounts."""
    return "amount" in table.column_names


def _unread_currencies(
    table: Table, names: list[str], canonical: list[str], frame: pd.DataFrame, dialect: Dialect
) -> pd.DataFrame:
    """The file's columns no map reads that hold currencies (`looks_like_currency`), as text by
    their names, for a table of amounts: its amounts would otherwise be read in a currency the
    file does not give them (invoices in the base currency, payments in their invoice's, or
    invoices in the company's currency a read column holds beside the document's) without a
    word. A column the map says to ignore is none. ``frame`` holds the file's columns as
    ``names``, at least those no map reads."""
    if not _scans_currencies(table):
        return pd.DataFrame(index=frame.index)
    found = {
        name: _text(frame.iloc[:, i])
        for i, (name, known) in enumerate(zip(names, canonical, strict=True))
        if not (known or dialect.ignores(table.name, name))
        and pd.api.types.is_string_dtype(frame.iloc[:, i])
        and looks_like_currency(name, frame.iloc[:, i])
    }
    return pd.DataFrame(found, index=frame.index)


def _encoding_problem(path: Path, table: str) -> str:
    """Explain why a file is not UTF-8, pointing at the first bad line (error path only)."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return f"{path.name}: file is UTF-16 encoded; save it as UTF-8 CSV"
    if data.startswith(b"PK\x03\x04"):
        return f"{path.name}: this is an Excel/ZIP file, not CSV; export it as CSV UTF-8"
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return (
                f"{path.name}: line {number} is not valid UTF-8 (byte 0x{line[exc.start]:02x}); "
                f"save the file as UTF-8, or name its encoding in {MAP_FILE} (encoding: "
                f"{{{table}: cp1252}})"
            )
    return f"{path.name}: not valid text in its encoding; save the file as UTF-8"


SEPARATORS = (",", ";", "\t", "|")
"""Field separators an export may use; the one that splits a file's header into the most
fields is the file's (commas when none does): spreadsheets in many locales save CSV with
semicolons, and one export may mix sources."""


def _read_header(path: Path, table: str, encoding: str) -> tuple[list[str], str]:
    """The header's names and the file's field separator (`SEPARATORS`)."""
    try:
        with path.open(encoding=encoding, newline="") as fh:
            line = fh.readline()
        headers = [next(csv.reader([line], delimiter=sep), []) for sep in SEPARATORS]
    except UnicodeDecodeError:
        raise LedgerFileError(_encoding_problem(path, table)) from None
    except OSError as exc:
        raise LedgerFileError(f"{path.name}: cannot read the file ({exc.strerror})") from None
    except csv.Error as exc:
        raise LedgerFileError(f"{path.name}: garbled header line ({exc})") from None
    header, separator = max(zip(headers, SEPARATORS, strict=True), key=lambda h: len(h[0]))
    if not any(name.strip() for name in header):
        raise LedgerFileError(f"{path.name}: empty file (no header line)")
    if any(ch in name for name in header for ch in '\n\r"\x00'):
        raise LedgerFileError(f"{path.name}: garbled header line (unbalanced quote or binary data)")
    return header, separator


def _text(s: pd.Series) -> pd.Series:
    """Stripped strings with NaN for empty cells, whatever the source dtype."""
    text = s if pd.api.types.is_string_dtype(s) else s.astype("str")
    return text.str.strip().replace("", np.nan)


def _read_csv(path: Path, table: Table, dialect: Dialect, warnings: list[str]) -> _Read:
    """Canonical columns as stripped strings (empty -> NaN), and the rest of `_Read`.

    Every column is read, not just the known ones, so a line with extra fields is an error
    instead of being silently cut. Blank lines keep their record number and are then dropped,
    so the index still gives each row's line number.
    """
    encoding = dialect.text_encoding(table.name)
    header, separator = _read_header(path, table.name, encoding)
    columns = _select_columns(path.name, header, table, dialect, warnings)
    try:
        df = pd.read_csv(
            path,
            sep=separator,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            index_col=False,
            encoding=encoding,
        )
    except UnicodeDecodeError:
        raise LedgerFileError(_encoding_problem(path, table.name)) from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[0].replace("Error tokenizing data. C error: ", "")
        if match := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", detail):
            expected, line, saw = match.groups()
            detail = f"line {line} has {saw} fields but the header has {expected}"
        elif match := re.search(r"EOF inside string starting at row (\d+)", detail):
            detail = f"unclosed quote starting on line {int(match.group(1)) + 1}"
        raise LedgerFileError(f"{path.name}: garbled CSV, {detail}") from None
    unread = _unread_currencies(table, header, columns, df, dialect)
    df.columns = columns
    df = pd.DataFrame({c: _text(df[c]) for c in table.read_names if c in columns})
    blank = df.isna().all(axis=1)
    if blank.any():
        warnings.append(f"{path.name}: skipped {int(blank.sum())} blank line(s)")
        df, unread = df[~blank], unread[~blank]
    if _unterminated(path):
        warnings.append(
            f"{path.name}: its last line has no line ending; if the file was copied while still "
            "being written, its last row may be cut short"
        )
    short = {
        row: (
            next((c for c in columns[fields:] if c), header[fields].strip()),
            f"line has {fields} of the header's {len(header)} fields (cut short?)",
        )
        for row, fields in _short_rows(path, header, separator, encoding, warnings).items()
        if row in df.index
    }
    return _Read(df, short, _headers(header, columns), unread)


def _headers(names: list[str], canonical: list[str]) -> dict[str, str]:
    return {known: name.strip() for name, known in zip(names, canonical, strict=True) if known}


def _unterminated(path: Path) -> bool:
    """Whether the file's last byte is not a line ending (an empty tail is fine)."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return False
        fh.seek(-1, 2)
        return fh.read(1) not in (b"\n", b"\r")


def _short_rows(
    path: Path, header: list[str], separator: str, encoding: str, warnings: list[str]
) -> dict[int, int]:
    """Record number -> fields, for the lines with fewer fields than the header: a row cut
    short (a file copied while still being written) would otherwise be read with its last
    cells empty, e.g. an invoice's currency as the base currency. Pandas fills them in without
    a word, so the file is scanned once more by Arrow, which counts them (0.7 s a million
    rows). A file Arrow cannot parse (pandas has read it) goes unchecked, and is warned of."""
    short: dict[int, int] = {}

    def note(row: pa_csv.InvalidRow) -> str:
        if row.actual_columns < row.expected_columns and row.number is not None:
            short[row.number - FIRST_DATA_LINE] = row.actual_columns
        return "skip"

    column = header[0]
    try:
        pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(
                use_threads=False, encoding="utf8" if encoding == "utf-8-sig" else encoding
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=separator,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=note,
            ),
            convert_options=pa_csv.ConvertOptions(
                include_columns=[column], column_types={column: pa.string()}
            ),
        )
    except pa.ArrowInvalid as exc:
        detail = (str(exc).strip().splitlines() or ["unreadable"])[0]
        warnings.append(f"{path.name}: could not check for rows cut short ({detail})")
        return {}
    return short


def _read_parquet(path: Path, table: Table, dialect: Dialect, warnings: list[str]) -> _Read:
    """Canonical columns with their Parquet types; text columns normalised like CSV cells."""
    try:
        names = pq.read_schema(path).names
        columns = _select_columns(path.name, names, table, dialect, warnings)
        scan = _scans_currencies(table)  # the others only then
        read = [i for i, c in enumerate(columns) if c or scan]
        df = pq.read_table(path, columns=[names[i] for i in read]).to_pandas(date_as_object=False)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable_parquet(path, exc) from None
    df = df.reset_index(drop=True)
    unread = _unread_currencies(
        table, [names[i] for i in read], [columns[i] for i in read], df, dialect
    )
    df = df.iloc[:, [j for j, i in enumerate(read) if columns[i]]]
    df.columns = [c for c in columns if c]
    for column in df.columns:
        if df[column].dtype == object or pd.api.types.is_string_dtype(df[column]):
            df[column] = _text(df[column])
    return _Read(df, {}, _headers(names, columns), unread)  # Parquet rows cannot be cut short


def _unreadable_parquet(path: Path, exc: Exception) -> LedgerFileError:
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return LedgerFileError(f"{path.name}: not a readable Parquet file ({detail})")


def _read(path: Path, table: Table, dialect: Dialect, warnings: list[str]) -> _Read:
    read = _read_parquet if path.suffix.lower() == ".parquet" else _read_csv
    return read(path, table, dialect, warnings)


# --- type parsing -------------------------------------------------------------------------------


def _parse_dates(s: pd.Series, fmt: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        if s.dt.tz is not None:
            s = s.dt.tz_localize(None)  # keep the local calendar date
        return s.dt.normalize()
    return parse_dates(s.astype("str"), fmt)


def _parse_numbers(s: pd.Series, table: str, dialect: Dialect) -> pd.Series:
    if pd.api.types.is_string_dtype(s) or s.dtype == object:
        s = dialect.parse_numbers(s.astype("str"), table)
    numbers = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(np.where(np.isfinite(numbers), numbers, np.nan), index=s.index)


def _parse_amounts(s: pd.Series, table: str, dialect: Dialect) -> tuple[pd.Series, pd.Series]:
    """Amounts, and the currency sign or code written beside them (`split_amounts`). Only the
    values that do not read as plain numbers are looked at again, so a canonical file reads as
    fast as before. Without a thousands mark, a decorated amount that one would group
    ('1.000 €') is not read: a European export's '23.073 €' would be 23.073 in silence."""
    numbers = _parse_numbers(s, table, dialect)
    retry = numbers.isna() & s.notna()
    if not retry.any() or not pd.api.types.is_string_dtype(s):
        return numbers, pd.Series(dtype="str")
    number, mark = split_amounts(s[retry])
    if table not in dialect.thousands:  # '1.000 €': 1 in these marks, but 1000 where written
        point = re.escape(dialect.decimal.get(table, "."))
        number = number.mask(number.str.fullmatch(rf"-?\d{{1,3}}{point}\d{{3}}"))
    numbers[retry] = _parse_numbers(number, table, dialect)
    return numbers, mark[numbers[retry].notna()].dropna()


def _parse_column(
    s: pd.Series, column: Column, table: str, dialect: Dialect
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Typed values, the mask of values present in the file that failed to parse, and the
    currency signs or codes written beside amounts (rows that have one)."""
    marks = pd.Series(dtype="str")
    if column.type == "str":
        typed = s if pd.api.types.is_string_dtype(s) else s.astype("str")
    elif column.type == "date":
        typed = _parse_dates(s, dialect.date_format(table))
    elif column.type == "float":
        typed, marks = _parse_amounts(s, table, dialect)
    elif column.type == "int":
        numbers = _parse_numbers(s, table, dialect)
        typed = numbers.where(numbers == np.round(numbers))
    elif pd.api.types.is_bool_dtype(s):
        typed = s
    else:
        typed = s.astype("str").str.lower().map(_BOOLEANS)
    bad = s.notna() & typed.isna()
    if column.type == "bool":
        typed = typed.fillna(False)  # an empty flag means not disputed
    return typed.astype(DTYPES[column.type]), bad, marks


def _dialect_problem(
    load: _TableLoad, column: Column, bad: pd.Series, dialect: Dialect
) -> LedgerFileError | None:
    """A column of which some values do not parse, but which one common dialect reads whole, is
    written in that dialect: one line that names the setting, instead of those rows quarantined
    and the run going on with the rest (8,948 of 11,403 amounts grouped as '1,234.56' once left
    a run on the others, exit code 0). A stray value no dialect reads with the rest stays a
    quarantined row."""
    if not bad.any() or column.type not in ("date", "float", "int"):
        return None
    raw, table = load.raw[column.name], load.settings
    present = raw.notna()
    values = raw[present].astype("str").drop_duplicates().reset_index(drop=True)
    first = raw[bad].astype("str")
    failed = first.drop_duplicates().reset_index(drop=True)
    if column.type == "date":
        fmt = dialect.date_format(table)
        expected = "ISO (YYYY-MM-DD)" if fmt == ISO_DATE else repr(fmt)
        kind, hint = "dates", date_hint(values, failed, table, fmt)
    else:
        expected = f"numbers with the decimal mark {dialect.decimal.get(table, '.')!r}"
        if thousands := dialect.thousands.get(table):
            expected += f" and thousands {thousands!r}"
        if column.type == "float":  # '$1,100.50' is a matter of marks like '1,100.50'
            values, failed = split_amounts(values)[0], split_amounts(failed)[0]
        hint = number_hint(values, failed, table, dialect, whole=column.type == "int")
        kind = "numbers"
    if hint is None:
        return None
    label = load.labels.get(column.name)
    name = f"column '{label}'" if label else column.name
    return LedgerFileError(
        f"{load.file}: {name} holds {kind} like {first.iloc[0]!r} (line "
        f"{first.index[0] + FIRST_DATA_LINE}; {int(bad.sum()):,} of {int(present.sum()):,}), "
        f"not {expected}; {hint} in {MAP_FILE} beside the files (README, \"Another export's "
        'dialect")'
    )


def _isin(values: pd.Series, allowed: pd.Series) -> pd.Series:
    """``values.isin(allowed)`` via Arrow: pandas 3's isin on str columns loops in Python
    (8 s for 1.2M payments against 1M invoices; this takes 0.3 s)."""
    found = pc.is_in(pa.array(values), value_set=pa.array(allowed.dropna()))
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


# --- one table ----------------------------------------------------------------------------------


class _TableLoad:
    """One file on its way through type parsing, GX rules and reference checks.

    Row labels are record numbers (0 = first data row), so a row's line is ``label + 2``.
    Rows derived from another file's (`_paid_payments`) keep that file's ``file`` and lines,
    are read by the ``ledger.yaml`` entries of its table (``settings``), name their columns as
    its header does (``labels``: canonical column -> header) and are counted as ``source``.
    """

    def __init__(
        self,
        table: Table,
        file: str,
        read: _Read,
        dialect: Dialect,
        *,
        settings: str = "",
        source: str = "",
        labels: dict[str, str] | None = None,
    ) -> None:
        self.table = table
        self.file = file
        self.settings = settings or table.name
        self.source = source or file
        self.labels = labels or {}
        raw, refused, self.headers, self.unread = read
        self.raw = raw.reindex(columns=table.column_names)
        self.derives = raw[[c.name for c in table.derives if c.name in raw]]  # `Table.derives`
        self._problems: list[pd.DataFrame] = []
        self._flagged = pd.Series(False, index=self.raw.index)
        for (column, reason), rows in pd.Series(refused, dtype=object).groupby(
            lambda row: refused[row]
        ):
            self.flag(rows.index, column, reason)
        typed = {}
        self.marks: dict[str, pd.Series] = {}
        for column in table.columns:
            values, bad, marks = _parse_column(
                self.raw[column.name], column, self.settings, dialect
            )
            if not marks.empty:
                self.marks[column.name] = marks
            problem = _dialect_problem(self, column, bad, dialect)
            if problem:
                raise problem
            self._flag_values(bad, column.name, _PARSE_REASON.get(column.type, ""))
            if column.type == "date":
                outside = values.notna() & ~values.between(MIN_DATE, MAX_DATE)
                self._flag_values(outside, column.name, "date outside 1900-2199")
                values = values.mask(outside)
            typed[column.name] = values
        self.typed = pd.DataFrame(typed, index=self.raw.index)
        if "currency" in self.typed:  # 'usd' is USD: ISO codes are written in capitals
            self.typed["currency"] = self.typed["currency"].str.upper()

    def _flag_values(self, rows: pd.Series, column: str, reason: str) -> None:
        """Flag ``rows`` with a reason that quotes the raw value, e.g. "unparseable date 'x'"."""
        if rows.any():
            self.flag(rows, column, f"{reason} '" + self.raw.loc[rows, column].astype("str") + "'")

    @property
    def states_currency(self) -> bool:
        """Whether the file says in what currency any amount is: beside it, in a column the
        contract does not read, or in its column's name."""
        named = header_currency(self.headers.get("amount", "")) is not None
        return bool(self.marks) or not self.unread.columns.empty or named

    @property
    def ok(self) -> pd.Series:
        """Rows without any problem so far."""
        return ~self._flagged

    def flag(self, rows: pd.Series | pd.Index, column: str, reason: str | pd.Series) -> None:
        """Record a problem for ``rows`` (boolean mask or labels); a row keeps its first one.

        ``reason`` is one string or a Series holding a reason for (at least) those rows.
        """
        labels = rows[rows].index if isinstance(rows, pd.Series) else rows
        if len(labels) == 0:
            return
        reasons = reason.loc[labels].to_numpy() if isinstance(reason, pd.Series) else reason
        self._problems.append(pd.DataFrame({"label": labels, "column": column, "reason": reasons}))
        self._flagged.loc[labels] = True

    def apply_rules(self) -> None:
        """Quarantine the rows GX lists as unexpected, rule by rule in suite order."""
        for expectation, labels in failed_rows(self.table.name, self.typed):
            columns = rule_columns(expectation)
            reason = expectation.meta["reason"]
            allowed = allowed_values(expectation)
            if allowed is not None:  # 'promis': say it was probably 'promise'
                refused = self.typed.loc[labels, columns[0]].astype("str")
                hints = [did_you_mean(value, allowed) for value in refused]
                reason = reason + pd.Series(hints, index=refused.index)
            elif isinstance(expectation, PAIR_RULES):  # either date may be the mistyped one
                other = self.raw.loc[labels, columns[1]].astype("str")
                reason = reason + f" ({columns[1]} " + other + ")"
            if not isinstance(expectation, UNIQUENESS_RULES):
                self.flag(pd.Index(labels), columns[0], reason)
                continue
            keys = self.typed.loc[np.sort(labels), columns]
            line = pd.Series(keys.index + FIRST_DATA_LINE, index=keys.index)
            first = line.groupby([keys[c] for c in columns], sort=False).transform("min")
            later = keys.duplicated(keep="first")
            self.flag(
                later, ",".join(columns), f"{reason} (first on line " + first.astype("str") + ")"
            )

    def check_reference(self, column: str, parent: _TableLoad, parent_column: str) -> None:
        """Quarantine rows whose ``column`` is not among the parent's accepted values."""
        values = self.typed.loc[self.ok, column].dropna()
        unknown = values[~_isin(values, parent.typed.loc[parent.ok, parent_column])]
        set_aside = _isin(unknown, parent.typed[parent_column])
        for mask, why in ((~set_aside, "not in"), (set_aside, "is quarantined in")):
            rows = unknown[mask]
            self.flag(rows.index, column, f"{column} '" + rows + f"' {why} {parent.file}")

    def accepted(self) -> pd.DataFrame:
        return self.typed[self.ok].reset_index(drop=True)

    def quarantine(self, currency: pd.Series | None = None) -> pd.DataFrame:
        """The refused rows and why; with ``currency`` (each refused row's, by label), also
        their amount in it: the money a refused invoice or payment takes out of the forecast,
        which the CFO report values."""
        if not self._problems:
            return empty_quarantine()
        problems = pd.concat(self._problems, ignore_index=True).drop_duplicates("label")
        problems["value"] = ""
        for column, group in problems.groupby("column", sort=False):
            unread = column in self.unread  # a payment's currency, by the file's name
            source, names = (self.unread, [column]) if unread else (self.raw, column.split(","))
            first, *others = (
                source[c].reindex(group["label"]).astype("str").fillna("") for c in names
            )
            value = first.str.cat(others, sep=",") if others else first
            problems.loc[group.index, "value"] = value.to_numpy()
        problems["row"] = problems["label"] + FIRST_DATA_LINE
        problems["file"] = self.file
        problems["column"] = problems["column"].replace(self.labels)
        problems["table"] = self.table.name
        problems["currency"], problems["amount"] = None, np.nan
        if currency is not None:
            problems["currency"] = currency.reindex(problems["label"]).to_numpy()
            problems["amount"] = self.typed["amount"].reindex(problems["label"]).to_numpy()
        return problems.sort_values("row")[QUARANTINE_COLUMNS].reset_index(drop=True)

    def accounting(self) -> dict[str, int]:
        """Rows in = accepted + quarantined, for ``source``."""
        quarantined = int(self._flagged.sum())
        return {
            "rows_in": len(self.raw),
            "accepted": len(self.raw) - quarantined,
            "quarantined": quarantined,
        }


# --- the ledger ---------------------------------------------------------------------------------


PAID_PAYMENT_ID = "paid:"
"""The id of a payment derived from an invoice's paid date: this + the invoice's id. One per
invoice, whose id is unique, and no payments file beside it, so no two can clash; and it
follows the invoice, not its line, so that the same export read again, or sorted otherwise,
gives the same ids."""


def _paid_payments(invoices: _TableLoad, dialect: Dialect) -> _TableLoad:
    """The payments an invoices file gives as paid dates (`PAID_DATE`): one full payment of
    each invoice's amount on its paid date, none where the date is empty (the invoice is open),
    with the invoice's customer and `PAID_PAYMENT_ID`. They go through the payments contract as
    a file's would, their dates read as the invoices' (``dates: {invoices: …}``), on the
    invoice's line, so that a refusal names the invoices file, the line and the paid-date
    column as written. An invoice quarantined (once all its checks are done) quarantines its
    payment first: it is no invoice to pay, and a duplicated invoice row must not pay the
    accepted one twice."""
    header = invoices.headers[PAID_DATE.name]
    paid = invoices.derives[PAID_DATE.name].dropna()
    typed = invoices.typed.loc[paid.index]
    frame = pd.DataFrame(
        {
            "payment_id": PAID_PAYMENT_ID + typed["invoice_id"],
            "invoice_id": typed["invoice_id"],
            "customer_id": typed["customer_id"],
            "payment_date": paid,
            "amount": typed["amount"],
        }
    )
    ok = invoices.ok.loc[paid.index]
    refused = dict.fromkeys(
        ok.index[~ok], ("payment_date", "the invoice on this line is quarantined")
    )
    return _TableLoad(
        PAYMENTS,
        invoices.file,
        _Read(frame, refused, {"payment_date": header}, pd.DataFrame(index=frame.index)),
        dialect,
        settings=invoices.table.name,
        source=f"payments from {invoices.file} '{header}'",
        labels={"payment_date": header},
    )


RATE_JUMP, RATE_NEIGHBOURS, RATE_COMPANY = 5.0, 5, 3
"""A rate this many times above or below the median of its currency's RATE_NEIGHBOURS rates
either side is a mistyped one (a decimal slip, an inverted rate) unless RATE_COMPANY of those
neighbours are within the same factor of it: no traded currency moves 5× in a day, and one such
rate multiplied a demo ledger's open AR by 13 with exit 0, while a real step brings its own
company (the rates after it) — except on a ledger's last few days, too soon to tell."""


def _check_rate_jumps(fx: _TableLoad) -> None:
    """Quarantine rates far from their currency's neighbouring rates (`RATE_JUMP`)."""
    rates = fx.typed.loc[fx.ok, ["date", "currency", "rate_to_base"]].sort_values(
        ["currency", "date"], kind="stable"
    )
    limit, k = np.log(RATE_JUMP), RATE_NEIGHBOURS
    reference = pd.Series(np.nan, index=rates.index)
    for _, series in rates.groupby("currency", sort=False)["rate_to_base"]:
        log_rate = np.log(series.to_numpy())
        padded = np.pad(log_rate, k, constant_values=np.nan)
        window = np.lib.stride_tricks.sliding_window_view(padded, 2 * k + 1)
        neighbours = np.delete(window, k, axis=1)
        known = (~np.isnan(neighbours)).sum(axis=1) >= RATE_COMPANY
        middle = np.full(len(log_rate), np.nan)
        middle[known] = np.nanmedian(neighbours[known], axis=1)
        company = (np.abs(neighbours - log_rate[:, None]) <= limit).sum(axis=1)
        jump = known & (np.abs(log_rate - middle) > limit) & (company < RATE_COMPANY)
        reference.loc[series.index[jump]] = np.exp(middle[jump])
    jumps = reference.dropna()
    if jumps.empty:
        return
    given = rates.loc[jumps.index, "rate_to_base"]
    factor = given / jumps
    times = np.where(
        factor >= 1, factor.map("{:,.0f}×".format), (1 / factor).map("1/{:,.0f} of".format)
    )
    fx.flag(
        jumps.index,
        "rate_to_base",
        "rate "
        + given.map("{:.10g}".format)
        + " is "
        + pd.Series(times, index=jumps.index)
        + " the "
        + rates.loc[jumps.index, "currency"]
        + " rates around it ("
        + jumps.map("{:.6g}".format)
        + "): a decimal slip or an inverted rate?",
    )


def _at_one(rates: pd.Series) -> bool:
    return bool(rates.sub(1.0).abs().le(1e-9).all())


def _rebase_rates(fx: _TableLoad, base: str, warnings: list[str]) -> None:
    """Rates given to another currency are divided by ``base``'s own rate to it on each date
    (the latest one on or before, else the first), when the file names that currency by
    listing it at 1: a ledger exported in USD can be reported in EUR. Without that anchor the
    file's currency is unknown, and `_check_currencies` refuses it."""
    rates = fx.typed.loc[fx.ok, ["date", "currency", "rate_to_base"]]
    own = rates[rates["currency"] == base]
    if own.empty or _at_one(own["rate_to_base"]):
        return
    anchors = [c for c, r in rates.groupby("currency")["rate_to_base"] if _at_one(r)]
    if len(anchors) != 1:
        return
    keyed = rates.reset_index().sort_values("date", kind="stable")
    base_rates = own.sort_values("date")[["date", "rate_to_base"]]
    divisor = pd.merge_asof(keyed, base_rates, on="date", suffixes=("", "_base"))
    first = base_rates["rate_to_base"].iloc[0]
    divisor = divisor.set_index("index")["rate_to_base_base"].fillna(first)
    fx.typed.loc[divisor.index, "rate_to_base"] = rates["rate_to_base"] / divisor
    warnings.append(
        f"{fx.file}: its rates are to {anchors[0]} (listed at 1); read as rates to {base} "
        f"through {base}'s own rate on each date"
    )


def _check_currencies(invoices: _TableLoad, fx: _TableLoad | None, base: str) -> None:
    """Never sum unlike money: every non-base currency needs a rate in fx_rates."""
    currency = invoices.typed.loc[invoices.ok, "currency"]
    used = sorted(currency.unique())
    if fx is None:
        if set(used) - {base}:
            raise LedgerFileError(
                f"{invoices.file}: invoices are in {', '.join(used)} but there is no "
                f"fx_rates.csv to convert them to the base currency {base}"
            )
        return
    rates = fx.typed.loc[fx.ok]
    own = rates.loc[rates["currency"] == base, "rate_to_base"]
    other = own[own.sub(1.0).abs() > 1e-9]
    if len(other):
        raise LedgerFileError(
            f"{fx.file}: gives {base}, the base currency, rates other than 1 (e.g. "
            f"{other.iloc[0]:g}), so its rates are to another currency; list that one at rate "
            f"1 to have them read as rates to {base}, or run with it as --base-currency"
        )
    rated = pd.concat([rates["currency"], pd.Series([base], dtype="str")])
    unrated = currency[~_isin(currency, rated)]
    invoices.flag(unrated.index, "currency", "currency " + unrated + f" has no rate in {fx.file}")


def _of_invoice(load: _TableLoad, invoices: _TableLoad, column: str) -> pd.Series:
    """Each row's accepted invoice's ``column``, in its type (missing where its invoice is not
    accepted)."""
    accepted = invoices.typed[invoices.ok]
    invoice_id = load.typed["invoice_id"]
    # Arrow lookup: Series.map on 1M str keys takes ~1.3 s, this ~0.4 s.
    position = pc.index_in(pa.array(invoice_id), value_set=pa.array(accepted["invoice_id"]))
    found = pa.array(accepted[column]).take(position)
    return pd.Series(found, index=invoice_id.index, dtype=accepted[column].dtype)


def _check_invoice_customers(load: _TableLoad, invoices: _TableLoad) -> None:
    """A payment's (or a contact's) customer, when given, must be its invoice's; when missing,
    it is filled in."""
    invoice_customer = _of_invoice(load, invoices, "customer_id")
    given = load.typed["customer_id"]
    mismatch = load.ok & given.notna() & invoice_customer.notna() & (given != invoice_customer)
    load.flag(
        mismatch,
        "customer_id",
        "customer_id '"
        + given[mismatch]
        + "' is not the invoice's customer '"
        + invoice_customer[mismatch]
        + "'",
    )
    load.typed["customer_id"] = given.fillna(invoice_customer)


def _contradicted(load: _TableLoad, stated: pd.Series, currency: pd.Series) -> pd.Series:
    """The rows still accepted whose stated currency (a sign or code, `currency_codes`) is not
    theirs, with their ``currency``."""
    stated = stated[load.ok.loc[stated.index]]
    expected = currency.reindex(stated.index)
    fits = pd.Series(True, index=stated.index)
    for mark in stated.unique():
        rows = stated == mark
        fits[rows] = expected[rows].isin(currency_codes(mark))
    return expected[~fits & expected.notna()]


def _check_marks(load: _TableLoad, currency: pd.Series, whose: str) -> None:
    """Quarantine the amounts written with a currency sign or code that is not the row's
    (``whose``: "the invoice's currency"): read as the row's currency, a '€' amount on a USD
    invoice would be wrong by the exchange rate."""
    for column, marks in load.marks.items():
        wrong = _contradicted(load, marks, currency)
        said = marks[wrong.index].map(lambda m: c[0] if len(c := currency_codes(m)) == 1 else m)
        load.flag(
            wrong.index,
            column,
            f"{column} is in "
            + said
            + " ('"
            + load.raw.loc[wrong.index, column]
            + f"'), not in {whose} "
            + wrong,
        )


def _check_unread_currencies(load: _TableLoad, currency: pd.Series, whose: str) -> None:
    """Quarantine the rows whose own currency column (one the contract has no place for, such
    as a payment's) says another currency than the one they are read in, or one that cannot be
    compared with it (`checkable_currency`: 'Euro' is neither the EUR of its invoice nor
    another). A column that holds no code or sign at all ('Euro', 'US Dollar') is no matter of
    rows: the load stops with one line that names it, and the setting to leave it alone if it
    is not a currency."""
    for name, given in load.unread.items():
        given = given.dropna()
        codes = pd.Series([v for v in given.unique() if checkable_currency(v)], dtype="str")
        checkable = _isin(given, codes)
        if not given.empty and not checkable.any():
            setting = f"columns: {{{load.table.name}: {{{_yaml_key(name)}: {IGNORE}}}}}"
            raise LedgerFileError(
                f"{load.file}: column '{name}' looks like the {load.table.name}' currency "
                f"({given.iloc[0]!r} on line {given.index[0] + FIRST_DATA_LINE}), but holds no "
                f"ISO 4217 code or currency sign (such as EUR or €), so no "
                f"{load.table.name[:-1]} can be checked against {whose}; export it as codes, "
                f"or if it is not a currency, set {setting} in {MAP_FILE}"
            )
        wrong = _contradicted(load, given[checkable], currency)
        load.flag(wrong.index, name, f"{name} is " + given[wrong.index] + f", not {whose} " + wrong)
        unknown = given[~checkable & load.ok.loc[given.index] & currency[given.index].notna()]
        load.flag(
            unknown.index,
            name,
            f"{name} is '"
            + unknown
            + f"', no ISO 4217 code or currency sign to check against {whose} "
            + currency[unknown.index],
        )


def _check_header_currency(
    load: _TableLoad, currency: pd.Series, row: str, why: str = "", fix: str = ""
) -> None:
    """A money column (`MONEY_COLUMNS`) named for a currency ('Amount (EUR)', 'amount_chf',
    'Credit Limit [GBP]', `header_currency`) holds amounts in that one: read in another row's
    currency they would all be wrong by the exchange rate, so one such row is a file-level
    error (the amounts in each row's own currency are in another column, or the currency is
    unread). ``why`` explains the row's currency, and then changes the fix; ``fix`` replaces
    it ('{code}' the header's currency)."""
    column = MONEY_COLUMNS[load.table.name]
    header = load.headers.get(column, "")
    code = header_currency(header)
    other = currency[load.ok & currency.notna() & (currency != code)]
    if code is None or other.empty:
        return
    if not fix:
        fix = (
            f"read their currency column too (columns: in {MAP_FILE}), or run with "
            "--base-currency {code}"
            if why
            else f"read {column} from the file's column in each row's own currency (columns: "
            f"in {MAP_FILE})"
        )
    raise LedgerFileError(
        f"{load.file}: {column} is read from '{header}', which names {code}, but {row} on line "
        f"{other.index[0] + FIRST_DATA_LINE} is in {other.iloc[0]}{why}; {fix.format(code=code)}"
    )


def _yaml_key(name: str) -> str:
    """A column name as ``ledger.yaml`` takes it in a flow mapping, quoted only if need be."""
    plain = re.fullmatch(r"[^\W\d][\w .()/-]*", name) and not name.endswith(" ")
    return name if plain else "'" + name.replace("'", "''") + "'"


def _check_unread_invoice_currency(invoices: _TableLoad, base: str) -> None:
    """An invoices file whose currency column no map reads would have every invoice read in
    the base currency (a 13-week cash 14.7% wrong, exit code 0): one line that names the
    column and the ``ledger.yaml`` entry that reads it."""
    if "currency" in invoices.headers:
        return  # `_check_second_invoice_currency`
    for name, given in invoices.unread.items():
        other = given.dropna()
        other = other[other.str.upper() != base]
        if not other.empty:
            setting = f"columns: {{invoices: {{{_yaml_key(name)}: "
            raise LedgerFileError(
                f"{invoices.file}: column '{name}' looks like the invoices' currency "
                f"({other.iloc[0]!r} on line {other.index[0] + FIRST_DATA_LINE}), but no column "
                f"is read as their currency, so every invoice would be read in {base}; if it "
                f"is theirs, set {setting}currency}}}} in {MAP_FILE}; if it is not a currency, "
                f"set {setting}{IGNORE}}}}} in {MAP_FILE}"
            )


def _check_second_invoice_currency(invoices: _TableLoad, dialect: Dialect) -> None:
    """An invoices file whose read currency column (by its own name, not through the map)
    disagrees with another column that holds currencies has one of them give the company's
    currency ('Currency': USD) and the other the one each amount is in ('Document Currency':
    EUR): which one is meant cannot be told, and the wrong one reads every invoice in USD
    without a word. A column that repeats it is no doubt; nor are values that are no ISO code
    ('Euro'), which cannot be compared."""
    mapped = dialect.columns.get("invoices", {}).values()
    if "currency" not in invoices.headers or "currency" in mapped:
        return
    read = invoices.typed["currency"]
    codes = pd.Series(sorted(ISO_4217), dtype="str")
    for name, given in invoices.unread.items():
        given = given.dropna().str.upper()
        given = given[_isin(given, codes)]
        other = given[given != read.reindex(given.index)]
        if other.empty:
            continue
        row, header = other.index[0], invoices.headers["currency"]
        setting = f"columns: {{invoices: {{{_yaml_key(name)}: "
        raise LedgerFileError(
            f"{invoices.file}: columns '{header}' (read as currency) and '{name}' disagree "
            f"(line {row + FIRST_DATA_LINE}: {read[row]} and {other.iloc[0]}); read the one "
            f"amount is written in: {setting}currency}}}} in {MAP_FILE} if it is '{name}', "
            f"{setting}{IGNORE}}}}} if it is '{header}'"
        )


THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
"""Currencies of 1,000 minor units, whose amounts legitimately have three decimals."""
MONEY_COLUMNS = {"invoices": "amount", "payments": "amount", "customers": "credit_limit"}
"""Amounts, which in two-decimal currencies never have three decimals (fx rates may)."""
MIN_GROUPED = 20
"""How many values grouped like '2.498' (and none with one, two or four decimals) make no
accident in a column that has more; a smaller column's are all the evidence there is."""
_GROUPED = r"-?\d{1,3}\.\d{3}"


def _check_grouped_amounts(load: _TableLoad, dialect: Dialect, counted: pd.Series) -> None:
    """Whole amounts written with '.' as thousands mark ('998', '2.498', '23.073') read as
    decimals with the default marks, every one of 1,000 or more 1,000 times too small and
    nothing quarantined: without ``decimal`` or ``thousands`` set for the table, an amount
    column whose every value with a '.' has one to three digits before it and three after it
    (`MIN_GROUPED` of them, or all of a small file's) stops the load with one line naming
    both readings' settings. ``counted`` masks the rows that count (not those in a
    three-decimal currency). Only values with a '.' are looked at, the first 100 first."""
    table, column = load.table.name, MONEY_COLUMNS[load.table.name]
    raw = load.raw[column]
    if table in dialect.decimal or table in dialect.thousands:
        return
    if not pd.api.types.is_string_dtype(raw):
        return  # Parquet numbers carry no marks
    present = raw[counted & load.typed[column].notna()]
    marked = present[present.str.contains(".", regex=False).fillna(False).astype(bool)]
    if marked.empty or not marked.head(100).str.fullmatch(_GROUPED).all():
        return  # a quick no for most files, before every value
    if not marked.str.fullmatch(_GROUPED).all():
        return
    if len(marked) < MIN_GROUPED and len(present) >= MIN_GROUPED:
        return
    setting = f"set decimal: {{{table}: ','}} and thousands: {{{table}: '.'}} in {MAP_FILE}"
    raise LedgerFileError(
        f"{load.file}: {column} holds numbers like {marked.iloc[0]!r} (line "
        f"{marked.index[0] + FIRST_DATA_LINE}; {len(marked):,} of {len(present):,}), each with "
        f"three digits after '.': if '.' groups thousands they are 1,000 × larger; {setting}, "
        f"or decimal: {{{table}: '.'}} if they are decimals"
    )


def _check_after_issue(load: _TableLoad, invoices: _TableLoad, column: str) -> None:
    """A payment or a contact about an invoice, dated before that invoice was issued, names the
    wrong one (a mistyped id or date). Such a payment would be a negative delay in the
    customer's history and no training row at all; such a contact would put a promise on an
    invoice nobody promised to pay. (A prepayment is applied to its invoice once issued.)"""
    rows = load.typed[load.ok & load.typed["invoice_id"].notna()]
    invoice_issued = _of_invoice(load, invoices, "issue_date")[rows.index]
    early = rows[column] < invoice_issued
    load.flag(
        early[early].index,
        column,
        f"{column} is before invoice "
        + rows.loc[early, "invoice_id"]
        + " was issued ("
        + invoice_issued[early].dt.strftime("%Y-%m-%d")
        + ")",
    )


def _check_promised_amounts(contacts: _TableLoad, invoices: _TableLoad) -> None:
    """A promised amount is in the currency of the invoices it is about. A promise about all
    the customer's invoices covers those issued by its date and due by its ``until`` (as the
    worklist reads it); if they are in several currencies, the amount is in none of them for
    sure and the payments that keep it cannot be summed: quarantined, to be logged per invoice
    (requiring a currency to be named would add a column for a case a log per invoice already
    says exactly). An amount written with a sign or code ('5.000 €') must be in that currency.
    A promise about one invoice for more than the invoice could only be kept by paying it in
    full: a mistyped figure (50,000 for 5,000) that would hide a kept promise.
    """
    rows = contacts.typed[contacts.ok & contacts.typed["amount"].notna()]
    if rows.empty:
        return
    currency = _of_invoice(contacts, invoices, "currency")
    wide = rows[rows["invoice_id"].isna()].rename_axis("_row").reset_index()
    accepted = invoices.typed[invoices.ok]
    covered = wide[["_row", "customer_id", "contact_date", "until"]].merge(
        accepted[["customer_id", "issue_date", "due_date", "currency"]], on="customer_id"
    )
    covered = covered[
        (covered["issue_date"] <= covered["contact_date"])
        & (covered["due_date"] <= covered["until"])
    ]
    currencies = covered.groupby("_row")["currency"].agg(lambda c: ", ".join(sorted(set(c))))
    mixed = currencies.str.contains(",", regex=False)
    contacts.flag(
        currencies.index[mixed],
        "amount",
        "amount promised for all of customer "
        + rows.loc[currencies.index[mixed], "customer_id"]
        + "'s invoices due by until, which are in "
        + currencies[mixed]
        + ": log the promise per invoice",
    )
    currency = currency.fillna(currencies[~mixed].reindex(currency.index))
    _check_marks(contacts, currency, "the currency of the invoices it is about")
    own = rows[rows["invoice_id"].notna()]
    billed = _of_invoice(contacts, invoices, "amount")[own.index]
    over = contacts.ok[own.index] & (
        (own["amount"] - billed).round(MONEY_DIGITS) > PAYMENT_TOLERANCE
    )
    if not over.any():
        return
    contacts.flag(
        own.index[over],
        "amount",
        "amount promised is more than invoice "
        + own.loc[over, "invoice_id"]
        + "'s whole amount ("
        + billed[over].map("{:,.2f}".format)
        + "): a mistyped figure, or a promise about more invoices (log it per invoice, or for "
        "the customer)",
    )


def _currency_of(payments: _TableLoad, invoices: _TableLoad) -> pd.Series:
    """The currency of each refused payment: its invoice's, accepted or refused (paying a refused
    invoice takes money in its currency out of the forecast too; of an id given twice, the first
    row's, the one accepted if any is); missing when the ledger has no such invoice."""
    refused = payments.typed.loc[~payments.ok, "invoice_id"]
    if refused.empty:
        return refused
    rows = invoices.typed[["invoice_id", "currency"]].drop_duplicates("invoice_id")
    return refused.map(rows.set_index("invoice_id")["currency"])


def customers_named(ids: pd.Series) -> str:
    """ "customer C1" or "customers C1, C2 and 3 more": the first `NAMED_CUSTOMERS` distinct
    ids, for a warning that says whom it concerns ("" when none is named)."""
    named = list(dict.fromkeys(c.strip() for c in ids.dropna().astype("str") if c.strip()))
    if not named:
        return ""
    who = ", ".join(named[:NAMED_CUSTOMERS])
    if len(named) > NAMED_CUSTOMERS:
        who += f" and {len(named) - NAMED_CUSTOMERS} more"
    return f"customer{'s' if len(named) > 1 else ''} {who}"


def _unlogged_contacts(contacts: _TableLoad) -> list[str]:
    """The customers of the quarantined contact-log entries (the first `NAMED_CUSTOMERS`): the
    worklist schedules them as if nothing had been logged, so it may ask for a call the
    customer already had, or chase a promise it was given; a count alone does not say whom."""
    rows = contacts.raw.loc[~contacts.ok, "customer_id"]
    if rows.empty:
        return []
    entries = f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} quarantined"
    who = customers_named(rows)
    of = f", of {who}" if who else ""
    return [
        f"{contacts.file}: {entries}{of}: the worklist counts none of those calls, promises "
        "and holds until they are corrected"
    ]


def load_ledger(data_dir: str | Path, base_currency: str = DEFAULT_BASE_CURRENCY) -> LoadedLedger:
    """Read, type and validate a ledger folder (CSV or Parquet per table).

    Raises :class:`LedgerFileError` for file-level problems; row-level problems go to
    ``quarantine``. References are checked against the parent's accepted rows only, so a
    payment of a quarantined invoice is quarantined too (with a reason that says so). Without a
    payments file, the payments are derived from the invoices' paid dates (`_paid_payments`)
    once the invoices are checked.
    """
    if not re.fullmatch(r"[A-Z]{3}", base_currency):
        raise ValueError(f"base currency must be an ISO 4217 code, got {base_currency!r}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise LedgerFileError(f"{data_dir}: ledger folder not found")
    dialect = folder_dialect(data_dir)
    files = _locate(data_dir, dialect)
    warnings: list[str] = []
    loads = {}
    for table in TABLES:
        path = files.get(table.name)
        if path is not None and not (table is PAYMENTS and path == files["invoices"]):
            loads[table.name] = _TableLoad(
                table, path.name, _read(path, table, dialect, warnings), dialect
            )
    customers, fx = loads.get("customers"), loads.get("fx_rates")
    invoices, payments, disputes = loads["invoices"], loads.get("payments"), loads.get("disputes")
    contacts = loads.get("contacts")

    _check_unread_invoice_currency(invoices, base_currency)
    invoices.typed["currency"] = invoices.typed["currency"].fillna(base_currency)
    _check_second_invoice_currency(invoices, dialect)
    fils = pd.Series(sorted(THREE_DECIMAL_CURRENCIES), dtype="str")
    three_decimal = _isin(invoices.typed["currency"], fils)
    _check_grouped_amounts(invoices, dialect, ~three_decimal)
    if payments is not None and not three_decimal.any():  # a payment is in its invoice's currency
        _check_grouped_amounts(payments, dialect, pd.Series(True, index=payments.raw.index))
    if customers is not None and base_currency not in THREE_DECIMAL_CURRENCIES:
        _check_grouped_amounts(customers, dialect, pd.Series(True, index=customers.raw.index))
    why = f", the base currency, as {invoices.file} gives invoices none"
    why = "" if "currency" in invoices.headers else why
    _check_header_currency(invoices, invoices.typed["currency"], "the invoice", why)
    if customers is not None:
        limited = pd.Series(base_currency, index=customers.raw.index)
        _check_header_currency(
            customers,
            limited.where(customers.typed["credit_limit"].notna()),
            "the credit limit",
            ", the base currency, in which credit limits are read",
            f"convert them to {base_currency}, or run with --base-currency {{code}} if it is the "
            "ledger's",
        )
    if contacts is not None:
        outcome = contacts.typed["outcome"].str.strip().str.lower()
        contacts.typed["outcome"] = outcome.fillna(CONTACT_OUTCOMES[0])
    for load in loads.values():
        load.apply_rules()
    _check_marks(invoices, invoices.typed["currency"], "the invoice's currency")
    for load in (customers, fx):
        if load is not None:
            _check_marks(load, pd.Series(base_currency, index=load.raw.index), "the base currency")
    if customers is not None:
        invoices.check_reference("customer_id", customers, "customer_id")
    if fx is not None:
        _check_rate_jumps(fx)
        _rebase_rates(fx, base_currency, warnings)
    _check_currencies(invoices, fx, base_currency)
    if payments is None:
        payments = loads["payments"] = _paid_payments(invoices, dialect)
        payments.apply_rules()
    payments.check_reference("invoice_id", invoices, "invoice_id")
    if payments.states_currency:  # the invoices' currencies looked up only then (0.4 s)
        paid_in = _of_invoice(payments, invoices, "currency")
        _check_header_currency(payments, paid_in, "the invoice of the payment")
        _check_marks(payments, paid_in, "its invoice's currency")
        _check_unread_currencies(payments, paid_in, "its invoice's currency")
    _check_invoice_customers(payments, invoices)
    _check_after_issue(payments, invoices, "payment_date")
    if disputes is not None:
        disputes.check_reference("invoice_id", invoices, "invoice_id")
    if contacts is not None:
        contacts.check_reference("customer_id", invoices, "customer_id")
        contacts.check_reference("invoice_id", invoices, "invoice_id")
        _check_invoice_customers(contacts, invoices)
        _check_after_issue(contacts, invoices, "contact_date")
        _check_promised_amounts(contacts, invoices)
        warnings.extend(_unlogged_contacts(contacts))

    accounting = {load.source: load.accounting() for load in loads.values()}
    for file, counts in accounting.items():
        if counts["quarantined"] >= HIGH_QUARANTINE_ROWS and (
            counts["quarantined"] > HIGH_QUARANTINE_SHARE * counts["rows_in"]
        ):
            warnings.append(
                f"{file}: {counts['quarantined']:,} of {counts['rows_in']:,} rows "
                f"({counts['quarantined'] / counts['rows_in']:.0%}) quarantined: the run goes on "
                f"without them ({QUARANTINE_FILE} says why)"
            )
    currency = {"invoices": invoices.typed["currency"]}
    currency["payments"] = _currency_of(payments, invoices)
    quarantine = pd.concat(
        [empty_quarantine(), *(load.quarantine(currency.get(name)) for name, load in loads.items())]
    )
    return LoadedLedger(
        tables={
            t.name: loads[t.name].accepted() if t.name in loads else empty_table(t) for t in TABLES
        },
        quarantine=quarantine.astype(empty_quarantine().dtypes.to_dict()).reset_index(drop=True),
        accounting=accounting,
        base_currency=base_currency,
        warnings=warnings,
        files=files,
        sources={name: load.source for name, load in loads.items()},
    )
