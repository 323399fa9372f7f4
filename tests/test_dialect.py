"""An export's own dialect (ledger.yaml): file and column names, date and number formats, and
the separator, read into the same tables as the canonical contract, or one line that says
which setting to add."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from data_contracts import LedgerFileError, load_ledger
from data_contracts.schema import INVOICES
from features.matrix import FEATURES
from tests.test_contracts import GOOD, assert_accounting, write_ledger

ERP_INVOICES = (
    "Invoice No;Customer;Invoice Date;Due Date;Amount;Currency;Disputed\n"
    "I1;C1;01.01.2024;31.01.2024;100,50;USD;false\n"
    "I2;C2;05.01.2024;04.02.2024;200;EUR;Yes\n"
    "I3;C1;01.02.2024;02.03.2024;50;;0\n"
)
ERP_PAYMENTS = (
    "Receipt;Invoice No;Customer;Date;Amount\n"
    "P1;I1;C1;30.01.2024;100,50\n"
    "P2;I2;;10.02.2024;150\n"
    "P3;I2;C2;20.02.2024;50\n"
)
ERP_MAP = """\
files:
  invoices: AR_Open_Items.csv
  payments: Receipts.csv
columns:
  invoices: {Invoice No: invoice_id, Customer: customer_id, Invoice Date: issue_date,
             Due Date: due_date}
  payments: {receipt: payment_id, INVOICE NO: invoice_id, customer: customer_id,
             Date: payment_date}
dates: "%d.%m.%Y"
decimal: {invoices: ",", payments: ","}
thousands: {invoices: ".", payments: "."}
"""


def stopped(folder: Path) -> str:
    """The one line a load that must stop gives (a `LedgerFileError`, never a traceback)."""
    with pytest.raises(LedgerFileError) as raised:
        load_ledger(folder)
    return str(raised.value)


def erp_ledger(folder: Path, payments: str = ERP_PAYMENTS) -> Path:
    """GOOD as an ERP writes it: its own file and column names, day.month.year dates, comma
    decimals, semicolons; the rates (from a bank) with plain numbers and commas."""
    return write_ledger(
        folder,
        {
            "invoices.csv": None,
            "payments.csv": None,
            "AR_Open_Items.csv": ERP_INVOICES,
            "Receipts.csv": payments,
            "ledger.yaml": ERP_MAP,
            "disputes.csv": "invoice_id,opened_date,resolved_date,reason\n"
            "I2,20.01.2024,01.02.2024,wrong quantity\nI3,10.02.2024,,pricing\n",
            "fx_rates.csv": "date,currency,rate_to_base\n"
            "01.01.2024,EUR,1.10\n01.02.2024,EUR,1.08\n",
        },
    )


def test_an_erp_export_with_its_map_reads_as_the_canonical_ledger(tmp_path: Path) -> None:
    canonical = load_ledger(write_ledger(tmp_path / "canonical"))
    loaded = load_ledger(erp_ledger(tmp_path / "erp"))
    for name, table in canonical.tables.items():
        pd.testing.assert_frame_equal(loaded.tables[name], table)
    assert loaded.quarantine.empty and loaded.warnings == []
    assert loaded.files["invoices"].name == "AR_Open_Items.csv"
    assert loaded.accounting["Receipts.csv"] == {"rows_in": 3, "accepted": 3, "quarantined": 0}


def test_the_map_keeps_row_level_problems_row_level(tmp_path: Path) -> None:
    bad = ERP_PAYMENTS + "P4;I3;C1;31.02.2024;1.000,00\nP5;I3;C1;2024-02-21;50\nP6;I3;C1\n"
    bad += "P7;I3;C1;21.02.2024;1.10\n"
    loaded = load_ledger(erp_ledger(tmp_path, bad))
    q = loaded.quarantine.set_index("row")
    assert q.loc[5, "reason"] == "unparseable date '31.02.2024'"
    assert q.loc[6, "reason"] == "unparseable date '2024-02-21'"  # not the file's format
    assert q.loc[7, "reason"] == "line has 3 of the header's 5 fields (cut short?)"
    assert q.loc[8, "reason"] == "not a number '1.10'"  # not 110: '.' groups thousands here
    assert set(q["file"]) == {"Receipts.csv"}
    assert_accounting(loaded)


def test_each_file_may_use_its_own_separator(tmp_path: Path) -> None:
    semicolons = GOOD["disputes.csv"].replace(",", ";")
    tabs = GOOD["fx_rates.csv"].replace(",", "\t")
    loaded = load_ledger(write_ledger(tmp_path, {"disputes.csv": semicolons, "fx_rates.csv": tabs}))
    assert loaded.quarantine.empty
    assert loaded.tables["disputes"]["reason"].tolist() == ["wrong quantity", "pricing"]
    assert loaded.tables["fx_rates"]["rate_to_base"].tolist() == [1.10, 1.08]


DIALECT_CASES = [
    # (id, changed files, expected one-line error)
    ("day-first", {"invoices.csv": GOOD["invoices.csv"].replace("2024-01-05", "05/01/2024")
                   .replace("2024-01-01", "13/01/2024").replace("2024-02-01", "01/02/2024")},
     "invoices.csv: issue_date holds dates like '13/01/2024' (line 2; 3 of 3), not ISO "
     "(YYYY-MM-DD); they read as day/month/year: set dates: {{invoices: '%d/%m/%Y'}} in "
     "ledger.yaml"),
    ("ambiguous", {"payments.csv": "payment_id,invoice_id,payment_date,amount\n"
                                   "P1,I1,03/04/2024,100.5\n"},
     "payments.csv: payment_date holds dates like '03/04/2024' (line 2; 1 of 1), not ISO "
     "(YYYY-MM-DD); they read as day/month/year or month/day/year: set "
     "dates: {{payments: '%d/%m/%Y'}} or dates: {{payments: '%m/%d/%Y'}}"),
    ("date-times", {"payments.csv": "payment_id,invoice_id,payment_date,amount\n"
                                    "P1,I1,1/30/2024 12:00:00 AM,100.5\n"},
     "they read as month/day/year: set dates: {{payments: '%m/%d/%Y'}}"),
    ("grouped", {"invoices.csv": GOOD["invoices.csv"].replace("100.50", '"1,100.50"')
                 .replace(",200,", ',"2,000",').replace(",50,", ',"5,000",')},
     "invoices.csv: amount holds numbers like '1,100.50' (line 2; 3 of 3), not numbers with "
     "the decimal mark '.'; set thousands: {{invoices: ','}} in ledger.yaml"),
    ("partly-grouped", {"invoices.csv": GOOD["invoices.csv"].replace("100.50", '"1,100.50"')},
     "amount holds numbers like '1,100.50' (line 2; 1 of 3), not numbers with the decimal mark "
     "'.'; set thousands: {{invoices: ','}}"),  # not a run on the 2 that read
    ("grouped-integers", {"invoices.csv": GOOD["invoices.csv"].replace("100.50", "2.279.841")
                          .replace(",200,", ",23.073,")},
     "amount holds numbers like '2.279.841' (line 2; 1 of 3), not numbers with the decimal mark "
     "'.'; set decimal: {{invoices: ','}} and thousands: {{invoices: '.'}} ('23.073', read now "
     "as 23.073, is then 23073: check which is meant)"),
    ("swapped", {"ledger.yaml": 'dates: {payments: "%d.%m.%Y"}\n', "payments.csv": (
        "payment_id,invoice_id,payment_date,amount\nP1,I1,01.30.2024,100.5\n"
        "P2,I2,02.10.2024,150\n")},
     "payment_date holds dates like '01.30.2024' (line 2; 1 of 2), not '%d.%m.%Y'; they read as "
     "month.day.year: set dates: {{payments: '%m.%d.%Y'}} ('02.10.2024', read now as "
     "2024-10-02, is then 2024-02-10)"),
    ("no-files", {"invoices.csv": None, "AR.csv": GOOD["invoices.csv"]},
     "invoices.csv: required file not found in {dir} (it holds AR.csv: name the invoices file "
     "in ledger.yaml)"),
    ("unknown-key", {"ledger.yaml": "colums: {}\n"},
     "ledger.yaml: unknown key(s) colums (did you mean 'columns'?) (known: files, columns, "
     "dates, decimal, thousands, encoding)"),
    ("unknown-table", {"ledger.yaml": "columns: {invoice: {No: invoice_id}}\n"},
     "ledger.yaml: columns.invoice: no such table (did you mean 'invoices'?)"),
    ("not-a-column", {"ledger.yaml": "columns: {invoices: {No: invoice_nr}}\n"},  # 'No', not False
     "ledger.yaml: columns.invoices maps 'no' to 'invoice_nr' (did you mean 'invoice_id'?), "
     "which is not one of invoices' columns"),
    ("ignore-typo", {"ledger.yaml": "columns: {invoices: {Scope: ingore}}\n"},
     "ledger.yaml: columns.invoices maps 'scope' to 'ingore' (did you mean 'ignore'?), which is "
     "not one of invoices' columns (invoice_id, customer_id, issue_date, due_date, amount, "
     "currency, delivery_channel, disputed, paid_date) nor ignore"),
    ("absent-column", {"ledger.yaml": "columns: {invoices: {Invoice No: invoice_id}}\n"},
     "ledger.yaml: columns.invoices renames 'invoice_no', which invoices.csv's header lacks"),
    ("bad-format", {"ledger.yaml": 'dates: "%d/%m"\n'},
     "ledger.yaml: dates: '%d/%m' does not hold a whole date"),
    ("missing-mapped-file", {"ledger.yaml": "files: {payments: Receipts.csv}\n"},
     "Receipts.csv (ledger.yaml files.payments): required file not found"),
    ("same-marks", {"ledger.yaml": 'decimal: ","\nthousands: ","\n'},
     "ledger.yaml: decimal and thousands are both ',' for customers"),
    ("marks-elsewhere", {"ledger.yaml": 'decimal: ","\nthousands: "."\n'},
     "invoices.csv: amount holds numbers like '100.50' (line 2; 1 of 3), not numbers with the "
     "decimal mark ',' and thousands '.'; they read as plain numbers: give decimal and "
     "thousands per table, leaving invoices out"),
    ("dates-elsewhere", {"ledger.yaml": 'dates: {invoices: "%Y-%m-%d", payments: "%d/%m/%Y"}\n'},
     "payments.csv: payment_date holds dates like '2024-01-30' (line 2; 3 of 3), not "
     "'%d/%m/%Y'; they read as year-month-day (ISO): set dates: {{payments: '%Y-%m-%d'}}"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [case[1:] for case in DIALECT_CASES],
    ids=[case[0] for case in DIALECT_CASES],
)
def test_a_dialect_problem_is_one_line_that_names_the_setting(
    tmp_path: Path, changes: dict[str, str | None], message: str
) -> None:
    folder = write_ledger(tmp_path, changes)
    text = stopped(folder)
    assert message.format(dir=folder) in text
    assert "\n" not in text


def test_a_few_odd_dates_are_quarantined_not_read_as_a_dialect(tmp_path: Path) -> None:
    invoices = GOOD["invoices.csv"].replace("2024-01-05", "05/01/2024")
    loaded = load_ledger(write_ledger(tmp_path, {"invoices.csv": invoices}))
    assert loaded.quarantine["reason"].iloc[0] == "unparseable date '05/01/2024'"
    assert loaded.accounting["invoices.csv"]["quarantined"] == 1


def test_exports_as_systems_write_them(tmp_path: Path) -> None:
    """File names in any case, flags as SAP writes them, currencies in lower case, a cp1252
    file named in ledger.yaml (or ledger.yml)."""
    invoices = GOOD["invoices.csv"].replace(",false", ",").replace(",Yes", ",X")
    customers = (
        GOOD["customers.csv"]
        .replace("Beta", "Bäckerei")
        .replace(",EUR,", ",eur,")
        .replace("customer_id,", "Customer ID,")
        .replace("10000", "10’000")  # the apostrophe Windows writes for de-CH
    )
    folder = write_ledger(
        tmp_path,
        {
            "invoices.csv": None,
            "INVOICES.CSV": invoices.replace(",EUR,", ",eur,"),
            "customers.csv": None,
            "Customers.csv": customers.encode("cp1252"),
            "ledger.yml": 'encoding: {customers: cp1252}\nthousands: {customers: "\'"}\n',
        },
    )
    loaded = load_ledger(folder)
    assert loaded.quarantine.empty and loaded.files["invoices"].name == "INVOICES.CSV"
    assert loaded.tables["invoices"]["disputed"].tolist() == [False, True, False]
    assert loaded.tables["invoices"]["currency"].tolist() == ["USD", "EUR", "USD"]
    assert loaded.tables["customers"]["name"].tolist() == ["Acme", "Bäckerei"]
    assert loaded.tables["customers"]["credit_limit"].iloc[0] == 10_000
    (folder / "ledger.yml").unlink()
    with pytest.raises(LedgerFileError, match=r"line 2 is not valid UTF-8 .*\{customers: cp1252"):
        load_ledger(folder)


def test_a_file_losing_many_rows_is_warned_of(tmp_path: Path) -> None:
    rows = "".join(f"P{i},I1,C1,2024-01-30,-1\n" for i in range(4, 16))
    loaded = load_ledger(write_ledger(tmp_path, {"payments.csv": GOOD["payments.csv"] + rows}))
    assert loaded.warnings == [
        "payments.csv: 12 of 15 rows (80%) quarantined: the run goes on without them "
        "(quarantine.csv says why)"
    ]


MAP_MISTAKES = [
    # (id, ledger.yaml, expected one-line error)
    ("yaml-position", "columns: {invoices: {Receipt #: invoice_id}\n",
     "ledger.yaml: not readable YAML (line 2, column 1: "),
    ("windows-path", "files: {invoices: 'C:\\SAP\\OP_Liste.csv'}\n",
     "files.invoices must name a file in the ledger folder itself (no folder or drive)"),
    ("named-optional", "files: {disputes: Reklamation.csv}\n",
     "Reklamation.csv (ledger.yaml files.disputes): not found in {dir} (it holds "),
    ("bad-encoding", "encoding: ansi-ish\n", "encoding: 'ansi-ish' is not a text encoding"),
    ("thousands-dot-alone", 'thousands: {payments: "."}\n',
     "ledger.yaml: decimal and thousands are both '.' for payments"),  # 1.5 is no 15
    ("twice", 'dates: "%d.%m.%Y"\ndecimal: ","\ndates: "%Y-%m-%d"\n',
     "ledger.yaml: not readable YAML (line 3, column 1: 'dates' is given twice)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "message"), [c[1:] for c in MAP_MISTAKES], ids=[c[0] for c in MAP_MISTAKES]
)
def test_a_mistake_in_the_map_is_one_line(tmp_path: Path, spec: str, message: str) -> None:
    folder = write_ledger(tmp_path, {"ledger.yaml": spec})
    said = stopped(folder)
    assert message.format(dir=folder) in said and "\n" not in said


# --- currencies the contract does not name ------------------------------------------------------


def with_cells(text: str, column: int, values: tuple[str, ...]) -> str:
    """A GOOD file with one column's values of its first rows replaced (quoted, as a
    spreadsheet writes '1,234.56')."""
    lines = text.splitlines()
    for i, value in enumerate(values, start=1):
        cells = lines[i].split(",")
        cells[column] = f'"{value}"' if value else ""
        lines[i] = ",".join(cells)
    return "\n".join(lines) + "\n"


UNREAD_CURRENCY_CASES = [
    # (id, the invoices' currency column as the export names it, its values, the map's entry)
    ("currency-code", "Currency Code", ("USD", "EUR", ""), "{Currency Code: currency}"),
    ("curr", "Curr", ("USD", "EUR", ""), "{Curr: currency}"),
    ("iso", "Currency_ISO", ("USD", "EUR", "USD"), "{Currency_ISO: currency}"),
    ("german", "Währung", ("USD", "EUR", ""), "{Währung: currency}"),
    ("french-names", "Devise", ("Dollar US", "Euro", ""), "{Devise: currency}"),
    ("by-values", "WKZ", ("usd", "eur", "usd"), "{WKZ: currency}"),  # SAP's currency key
]


@pytest.mark.parametrize(
    ("name", "values", "setting"),
    [c[1:] for c in UNREAD_CURRENCY_CASES],
    ids=[c[0] for c in UNREAD_CURRENCY_CASES],
)
def test_an_unread_currency_column_stops_the_load(
    tmp_path: Path, name: str, values: tuple[str, ...], setting: str
) -> None:
    """Ignored with a warning, it would have every invoice read in the base currency (a
    13-week cash 14.7% wrong, exit code 0)."""
    invoices = with_cells(GOOD["invoices.csv"].replace(",currency,", f",{name},"), 5, values)
    folder = write_ledger(tmp_path, {"invoices.csv": invoices})
    text = stopped(folder)
    assert text.startswith(f"invoices.csv: column '{name}' looks like the invoices' currency")
    assert "every invoice would be read in USD" in text and "\n" not in text
    assert f"set columns: {{invoices: {setting}}} in ledger.yaml" in text
    (folder / "ledger.yaml").write_text(f"columns: {{invoices: {setting}}}\n", encoding="utf-8")
    loaded = load_ledger(folder)  # read now: 'Euro' is quarantined as no ISO code, not as USD
    assert not loaded.warnings and loaded.accounting["invoices.csv"]["rows_in"] == 3
    assert "EUR" in loaded.tables["invoices"]["currency"].tolist() or (
        loaded.quarantine.query("file == 'invoices.csv'")["value"].tolist() == ["Dollar US", "Euro"]
    )


def test_a_column_that_only_looks_like_a_currency_is_still_ignored(tmp_path: Path) -> None:
    """All in the base currency, a rate, a country code: nothing would be misread."""
    invoices = (
        "invoice_id,customer_id,issue_date,due_date,amount,Currency Code,Currency Rate,Land\n"
        "I1,C1,2024-01-01,2024-01-31,100.50,USD,1.0,USA\n"
        "I2,C1,2024-01-05,2024-02-04,200,usd,1.1,DEU\n"
    )
    loaded = load_ledger(write_ledger(tmp_path, {"invoices.csv": invoices}))
    assert loaded.tables["invoices"]["currency"].tolist() == ["USD", "USD"]
    assert "ignored unknown column(s) 'Currency Code'" in loaded.warnings[0]


def test_a_column_that_is_not_a_currency_is_left_alone_when_the_map_says_so(
    tmp_path: Path,
) -> None:
    """A 'Scope' of ALL and TOP is all ISO 4217 codes (lek, pa'anga): the load stops, and its
    message names the setting that says it is no currency, which then reads the file."""
    invoices = GOOD["invoices.csv"].replace(",currency,", ",Scope,")
    invoices = with_cells(invoices, 5, ("ALL", "TOP", "ALL")).replace('"', "")
    folder = write_ledger(tmp_path, {"invoices.csv": invoices})
    said = stopped(folder)
    assert said == (
        "invoices.csv: column 'Scope' looks like the invoices' currency ('ALL' on line 2), but "
        "no column is read as their currency, so every invoice would be read in USD; if it is "
        "theirs, set columns: {invoices: {Scope: currency}} in ledger.yaml; if it is not a "
        "currency, set columns: {invoices: {Scope: ignore}} in ledger.yaml"
    )
    (folder / "ledger.yaml").write_text("columns: {invoices: {Scope: ignore}}\n", encoding="utf-8")
    loaded = load_ledger(folder)
    assert loaded.tables["invoices"]["currency"].tolist() == ["USD"] * 3
    assert loaded.quarantine.empty and loaded.warnings == []
    payments = with_column(GOOD["payments.csv"], "Pay Ccy", ("Euro", "Euro"))
    spec = "columns: {invoices: {Scope: ignore}, payments: {Pay Ccy: ignore}}\n"
    changes = {"invoices.csv": invoices, "payments.csv": payments, "ledger.yaml": spec}
    loaded = load_ledger(write_ledger(tmp_path, changes))
    assert loaded.quarantine.empty and len(loaded.tables["payments"]) == 3


@pytest.mark.parametrize("name", ["Country", "Land", "country_code", "LAND1", "Pays"])
def test_a_country_column_is_no_currency_by_its_codes(tmp_path: Path, name: str) -> None:
    """CHE is Switzerland and the WIR euro: a Swiss company's customers' countries are all
    ISO 4217 codes, and would stop every load."""
    invoices = GOOD["invoices.csv"].replace(",disputed\n", f",disputed,{name}\n")
    invoices = invoices.replace("false\n", "false,CHE\n").replace("Yes\n", "Yes,CHE\n")
    loaded = load_ledger(
        write_ledger(tmp_path, {"invoices.csv": invoices.replace(",0\n", ",0,BTN\n")})
    )
    assert loaded.quarantine.empty and loaded.tables["invoices"]["currency"].tolist() == [
        "USD",
        "EUR",
        "USD",
    ]
    assert loaded.warnings == [f"invoices.csv: ignored unknown column(s) '{name}'"]


def test_a_payment_in_another_currency_than_its_invoice_is_quarantined(tmp_path: Path) -> None:
    """Payments are read in their invoice's currency (the contract gives them none): one the
    export says is in another would be read wrong by the exchange rate."""
    payments = (
        "payment_id,invoice_id,customer_id,payment_date,amount,Currency\n"
        "P1,I1,C1,2024-01-30,100.50,usd\n"
        "P2,I2,,2024-02-10,150,EUR\n"
        "P3,I2,C2,2024-02-20,50,USD\n"
        "P4,I3,C1,2024-02-20,50,\n"
    )
    loaded = load_ledger(write_ledger(tmp_path, {"payments.csv": payments}))
    q = loaded.quarantine
    assert q[["file", "row", "column"]].values.tolist() == [["payments.csv", 4, "Currency"]]
    assert q["reason"].iloc[0] == "Currency is USD, not its invoice's currency EUR"
    assert q["value"].iloc[0] == "USD"
    assert loaded.tables["payments"]["payment_id"].tolist() == ["P1", "P2", "P4"]
    assert_accounting(loaded)


def with_column(text: str, name: str, values: tuple[str, ...]) -> str:
    """A GOOD file with one more column, of the given values in its first rows."""
    lines = text.splitlines()
    cells = [name, *values, *[""] * (len(lines) - 1 - len(values))]
    return "\n".join(f"{line},{cell}" for line, cell in zip(lines, cells, strict=True)) + "\n"


@pytest.mark.parametrize(
    ("name", "values"),
    [("Zahlungswährung", ("Euro", "Euro", "Euro")), ("Pay Ccy", ("US Dollar", "Euro"))],
)
def test_a_payments_currency_column_of_names_stops_the_load(
    tmp_path: Path, name: str, values: tuple[str, ...]
) -> None:
    """'Euro' cannot be checked against an invoice's EUR: taken as another currency, every
    payment would be quarantined, and taken as fitting, a payment in dollars of a EUR invoice
    would be read in euros."""
    payments = with_column(GOOD["payments.csv"], name, values)
    said = stopped(write_ledger(tmp_path, {"payments.csv": payments}))
    assert said == (
        f"payments.csv: column '{name}' looks like the payments' currency ({values[0]!r} on line "
        "2), but holds no ISO 4217 code or currency sign (such as EUR or €), so no payment can "
        "be checked against its invoice's currency; export it as codes, or if it is not a "
        f"currency, set columns: {{payments: {{{name}: ignore}}}} in ledger.yaml"
    )
    payments = with_column(GOOD["payments.csv"], name, ("$", "€", "EUE"))  # a stray typo
    loaded = load_ledger(write_ledger(tmp_path, {"payments.csv": payments}))
    assert loaded.quarantine[["row", "column", "reason"]].values.tolist() == [
        [4, name, f"{name} is 'EUE', no ISO 4217 code or currency sign to check against its "
         "invoice's currency EUR"]
    ]  # fmt: skip


def test_an_amount_column_named_for_another_currency_stops_the_load(tmp_path: Path) -> None:
    invoices = GOOD["invoices.csv"].replace(",amount,currency,", ",Amount (EUR),Land,")
    invoices = invoices.replace(",USD,", ",US,").replace(",EUR,", ",DE,")
    spec = "columns: {invoices: {Amount (EUR): amount}}\n"
    said = stopped(write_ledger(tmp_path, {"invoices.csv": invoices, "ledger.yaml": spec}))
    assert said.startswith(
        "invoices.csv: amount is read from 'Amount (EUR)', which names EUR, but the invoice on "
        "line 2 is in USD, the base currency, as invoices.csv gives invoices none; read their "
        "currency column too (columns: in ledger.yaml), or run with --base-currency EUR"
    )
    named = GOOD["invoices.csv"].replace(",amount,", ",Amount USD,").replace(",EUR,", ",USD,")
    changes = {"invoices.csv": named, "ledger.yaml": "columns: {invoices: {Amount USD: amount}}\n"}
    assert load_ledger(write_ledger(tmp_path, changes)).quarantine.empty
    with pytest.raises(LedgerFileError, match="but the invoice on line 3 is in EUR; read "):
        load_ledger(
            write_ledger(tmp_path, {**changes, "invoices.csv": named.replace("200,USD", "200,EUR")})
        )


HEADER_CURRENCY_CASES = [
    # (id, file, the money column as the export names it, start of the message)
    ("lower-case", "invoices.csv", "amount (eur)", "invoices.csv: amount is read from 'amount "
     "(eur)', which names EUR, but the invoice on line 2 is in USD; read amount from the file's "
     "column in each row's own currency"),
    ("snake-case", "invoices.csv", "amount_eur", "invoices.csv: amount is read from 'amount_eur'"),
    ("german", "invoices.csv", "Betrag [Eur]", "invoices.csv: amount is read from 'Betrag [Eur]'"),
    ("payments", "payments.csv", "Zahlbetrag (eur)", "payments.csv: amount is read from "
     "'Zahlbetrag (eur)', which names EUR, but the invoice of the payment on line 2 is in USD; "
     "read amount from the file's column in each row's own currency"),
    ("credit-limit", "customers.csv", "Credit Limit (EUR)", "customers.csv: credit_limit is read "
     "from 'Credit Limit (EUR)', which names EUR, but the credit limit on line 2 is in USD, the "
     "base currency, in which credit limits are read; convert them to USD, or run with "
     "--base-currency EUR if it is the ledger's"),
]  # fmt: skip
MONEY_COLUMN = {"invoices.csv": "amount", "payments.csv": "amount", "customers.csv": "credit_limit"}


@pytest.mark.parametrize(
    ("file", "header", "message"),
    [c[1:] for c in HEADER_CURRENCY_CASES],
    ids=[c[0] for c in HEADER_CURRENCY_CASES],
)
def test_every_money_column_named_for_another_currency_stops_the_load(
    tmp_path: Path, file: str, header: str, message: str
) -> None:
    column, table = MONEY_COLUMN[file], file.removesuffix(".csv")
    changes = {
        file: GOOD[file].replace(f",{column}", f",{header}", 1),
        "ledger.yaml": f"columns: {{{table}: {{'{header}': {column}}}}}\n",
    }
    said = stopped(write_ledger(tmp_path, changes))
    assert said.startswith(message) and "\n" not in said


@pytest.mark.parametrize(
    "header", ["Amount Due", "Total Amount", "Net Amount", "Amount (all)", "top_amount", "Betrag"]
)
def test_a_money_column_named_with_ordinary_words_names_no_currency(
    tmp_path: Path, header: str
) -> None:
    changes = {
        "invoices.csv": GOOD["invoices.csv"].replace(",amount,", f",{header},"),
        "customers.csv": GOOD["customers.csv"].replace(",credit_limit", f",Credit Limit {header}"),
        "ledger.yaml": f"columns: {{invoices: {{{header}: amount}}, customers: "
        f"{{Credit Limit {header}: credit_limit}}}}\n",
    }
    loaded = load_ledger(write_ledger(tmp_path, changes))
    assert loaded.quarantine.empty and loaded.tables["invoices"]["amount"].tolist() == [
        100.5,
        200,
        50,
    ]


# --- amounts as exports decorate them -----------------------------------------------------------


def amounts(invoice: tuple[str, ...], payment: tuple[str, ...] = ()) -> dict[str, str]:
    """GOOD with its first invoices' and payments' amounts written as given."""
    return {
        "invoices.csv": with_cells(GOOD["invoices.csv"], 4, invoice),
        "payments.csv": with_cells(GOOD["payments.csv"], 4, payment),
    }


SYMBOL_CASES = [
    # (id, invoice amounts (USD, EUR, USD), payment amounts (of USD, EUR, EUR), ledger.yaml)
    ("signs", ("$100.50", "€200", "US$ 50"), ("$ 100.50", "150 €", "EUR50"), None),
    ("codes", ("USD 100.50", "200 EUR", "50.00 usd"), ("100.50USD", "EUR 150", "50 EUR"), None),
    ("spaced", ("100,50 $", "200,00 €", "50 USD"), ("100,50", "1\u202f150,00\u00a0€", "50 €"),
     'decimal: {invoices: ",", payments: ","}\nthousands: {invoices: " ", payments: " "}\n'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("invoice", "payment", "spec"),
    [c[1:] for c in SYMBOL_CASES],
    ids=[c[0] for c in SYMBOL_CASES],
)
def test_amounts_with_a_currency_sign_or_code_are_read(
    tmp_path: Path, invoice: tuple[str, ...], payment: tuple[str, ...], spec: str | None
) -> None:
    loaded = load_ledger(write_ledger(tmp_path, {**amounts(invoice, payment), "ledger.yaml": spec}))
    assert loaded.quarantine.empty, loaded.quarantine.to_dict("records")
    assert loaded.tables["invoices"]["amount"].tolist() == [100.5, 200, 50]
    paid = loaded.tables["payments"]["amount"].tolist()
    assert paid == [100.5, 1150 if spec else 150, 50]


def test_a_swiss_amount_reads_with_its_thousands_mark(tmp_path: Path) -> None:
    invoices = GOOD["invoices.csv"].replace(",200,EUR,", ",CHF 1'234.50,CHF,")
    folder = write_ledger(
        tmp_path,
        {
            "invoices.csv": invoices,
            "fx_rates.csv": GOOD["fx_rates.csv"] + "2024-01-01,CHF,1.15\n",
            "ledger.yaml": 'thousands: {invoices: "\'"}\n',
        },
    )
    assert load_ledger(folder).tables["invoices"]["amount"].tolist() == [100.5, 1234.5, 50]


def test_a_sign_that_contradicts_the_row_currency_is_quarantined(tmp_path: Path) -> None:
    """'€' on a USD invoice, '$' on a EUR one, 'GBP' on a payment of a USD invoice: read as
    the row's currency they would be wrong by the exchange rate."""
    loaded = load_ledger(write_ledger(tmp_path, amounts(("€100.50", "$200", "50 USD"))))
    q = loaded.quarantine.set_index(["file", "row"])
    assert q.loc[("invoices.csv", 2), "reason"] == (
        "amount is in EUR ('€100.50'), not in the invoice's currency USD"
    )
    assert q.loc[("invoices.csv", 3), "reason"] == (
        "amount is in $ ('$200'), not in the invoice's currency EUR"
    )
    assert q.loc[("invoices.csv", 2), "column"] == "amount"
    assert q.loc[("payments.csv", 2), "reason"] == "invoice_id 'I1' is quarantined in invoices.csv"
    assert loaded.tables["invoices"]["invoice_id"].tolist() == ["I3"]
    assert_accounting(loaded)
    q = load_ledger(write_ledger(tmp_path, amounts((), ("GBP 100.50", "150 €")))).quarantine
    assert q["reason"].tolist() == [
        "amount is in GBP ('GBP 100.50'), not in its invoice's currency USD"
    ]


@pytest.mark.parametrize(
    ("written", "failing", "setting"),
    [
        (("$1,100.50", "€ 2,000", "USD 5,000"), 3, "thousands: {invoices: ','}"),
        (
            ("1 234,56 €", "2\u00a0000,10", "5"),
            2,
            "decimal: {invoices: ','} and thousands: {invoices: ' '}",
        ),
        (("CHF 1'234.50", "2\u2019000", "5.5"), 2, 'thousands: {invoices: "\'"}'),
    ],
)
def test_decorated_amounts_in_another_dialect_name_the_setting(
    tmp_path: Path, written: tuple[str, ...], failing: int, setting: str
) -> None:
    """US, French and Swiss exports: one line naming the setting, not 'no row was accepted'."""
    said = stopped(write_ledger(tmp_path, amounts(written)))
    assert (
        f"invoices.csv: amount holds numbers like {written[0]!r} (line 2; {failing} of 3), not "
        f"numbers with the decimal mark '.'; set {setting} in ledger.yaml"
    ) in said


def test_decorated_amounts_that_one_would_group_are_not_read_in_silence(tmp_path: Path) -> None:
    """'23.073 €' is 23,073 euros where it was written; the table's marks would make it 23.073."""
    said = stopped(write_ledger(tmp_path, amounts(("1.000 €", "23.073 €", "5 €"))))
    assert (
        "amount holds numbers like '1.000 €' (line 2; 2 of 3), not numbers with the decimal mark "
        "'.'; set decimal: {invoices: ','} and thousands: {invoices: '.'}"
    ) in said
    loaded = load_ledger(write_ledger(tmp_path, amounts(("100.50", "200", "1.000 $"))))
    assert loaded.quarantine["reason"].iloc[0] == "not a number '1.000 $'"  # and I3's dispute


NEGATIVE_CASES = [
    # (id, the invoices' amounts as written (the last one a credit note), ledger.yaml)
    ("sap-trailing-minus", ("100,50", "200", "50", "1.234,56-"),
     'decimal: {invoices: ","}\nthousands: {invoices: "."}\n'),
    ("excel-parentheses", ("100.50", "200", "50", "(1,234.56)"), "thousands: {invoices: ','}\n"),
    ("parentheses-and-sign", ("100.50", "200", "50", "($1,234.56)"),
     "thousands: {invoices: ','}\n"),
    ("minus-before-sign", ("100.50", "200", "50", "-$1234.56"), None),
    ("minus-after-code", ("100.50", "200", "50", "USD -1234.56"), None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("written", "spec"), [c[1:] for c in NEGATIVE_CASES], ids=[c[0] for c in NEGATIVE_CASES]
)
def test_a_credit_note_is_read_as_negative_and_quarantined_as_one(
    tmp_path: Path, written: tuple[str, ...], spec: str | None
) -> None:
    """Credit notes have no place among the invoices (amount > 0): one is quarantined for
    that, with its value as written, not as an unreadable number."""
    invoices = GOOD["invoices.csv"] + "I9,C1,2024-01-01,2024-01-31,0,USD,false\n"
    changes = {"invoices.csv": with_cells(invoices, 4, written), "ledger.yaml": spec}
    loaded = load_ledger(write_ledger(tmp_path, changes))
    assert loaded.quarantine[["row", "column", "reason", "value"]].values.tolist() == [
        [5, "amount", "must be greater than 0", written[-1]]
    ]
    assert_accounting(loaded)


def test_two_minus_signs_are_not_a_number(tmp_path: Path) -> None:
    invoices = GOOD["invoices.csv"] + 'I9,C1,2024-01-01,2024-01-31,"(-5)",USD,false\n'
    loaded = load_ledger(write_ledger(tmp_path, {"invoices.csv": invoices}))
    assert loaded.quarantine["reason"].tolist() == ["not a number '(-5)'"]


# --- whole amounts grouped by '.', and a second currency column ---------------------------------

GROUPED = ("998", "2.498", "23.073", "412.500")
GROUPED_INVOICES = with_cells(
    GOOD["invoices.csv"] + "I4,C1,2024-02-01,2024-03-02,50,USD,no\n", 4, GROUPED
)


def test_whole_amounts_grouped_by_dots_stop_the_load(tmp_path: Path) -> None:
    """'2.498' is 2,498 where it was written: read as 2.498, every amount of 1,000 or more
    would be 1,000 times too small, with nothing quarantined."""
    folder = write_ledger(tmp_path, {"invoices.csv": GROUPED_INVOICES})
    said = stopped(folder)
    assert said == (
        "invoices.csv: amount holds numbers like '2.498' (line 3; 3 of 4), each with three "
        "digits after '.': if '.' groups thousands they are 1,000 × larger; set decimal: "
        "{invoices: ','} and thousands: {invoices: '.'} in ledger.yaml, or decimal: "
        "{invoices: '.'} if they are decimals"
    )
    (folder / "ledger.yaml").write_text(
        "decimal: {invoices: ','}\nthousands: {invoices: '.'}\n", encoding="utf-8"
    )
    amount = load_ledger(folder).tables["invoices"]["amount"].tolist()
    assert amount == [998, 2498, 23073, 412500]
    (folder / "ledger.yaml").write_text("decimal: {invoices: '.'}\n", encoding="utf-8")
    assert load_ledger(folder).tables["invoices"]["amount"].tolist() == [998, 2.498, 23.073, 412.5]


def test_grouped_credit_limits_stop_the_load_and_rates_do_not(tmp_path: Path) -> None:
    customers = GOOD["customers.csv"].replace(",10000\n", ",10.000\n").replace(",\n", ",25.000\n")
    rates = GOOD["fx_rates.csv"].replace("1.10", "1.084").replace("1.08", "1.102")
    folder = write_ledger(tmp_path, {"customers.csv": customers, "fx_rates.csv": rates})
    with pytest.raises(LedgerFileError, match=r"^customers.csv: credit_limit holds numbers like "):
        load_ledger(folder)
    loaded = load_ledger(write_ledger(tmp_path, {"customers.csv": GOOD["customers.csv"]}))
    assert loaded.quarantine.empty


def test_three_decimal_currencies_are_no_grouped_amounts(tmp_path: Path) -> None:
    """A Kuwaiti dinar has 1,000 fils: '2.498' KWD is two dinars and 498 fils."""
    invoices = GROUPED_INVOICES.replace(",EUR,", ",KWD,").replace(",,0", ",KWD,0")
    invoices = invoices.replace('"412.500",USD', '"412.500",KWD')
    payments = with_cells(GOOD["payments.csv"], 4, ("100.50", "1.250", "0.750"))
    rates = GOOD["fx_rates.csv"] + "2024-01-01,KWD,3.25\n"
    changes = {"invoices.csv": invoices, "payments.csv": payments, "fx_rates.csv": rates}
    loaded = load_ledger(write_ledger(tmp_path, changes))
    assert loaded.tables["invoices"]["amount"].tolist() == [998, 2.498, 23.073, 412.5]
    assert loaded.tables["payments"]["amount"].tolist()[:2] == [100.5, 1.25]


def test_a_few_grouped_amounts_in_a_small_file_stop_it_but_not_decimals(tmp_path: Path) -> None:
    with pytest.raises(
        LedgerFileError, match=r"amount holds numbers like '1\.250' \(line 3; 1 of 3\)"
    ):
        load_ledger(write_ledger(tmp_path, amounts(("100", "1.250", "50"))))
    loaded = load_ledger(write_ledger(tmp_path, amounts(("100.50", "1.250", "50.125"))))
    assert loaded.tables["invoices"]["amount"].tolist() == [100.5, 1.25, 50.125]


def test_a_currency_column_that_disagrees_with_the_read_one_stops_the_load(
    tmp_path: Path,
) -> None:
    """'Currency' holds the company's currency, 'Document Currency' the one each amount is in:
    reading the first would have every invoice in USD, exit code 0."""
    invoices = (
        "invoice_id,customer_id,issue_date,due_date,amount,Currency,Document Currency,disputed\n"
        "I1,C1,2024-01-01,2024-01-31,100.50,USD,USD,false\n"
        "I2,C2,2024-01-05,2024-02-04,200,USD,EUR,Yes\n"
        "I3,C1,2024-02-01,2024-03-02,50,USD,usd,0\n"
    )
    folder = write_ledger(tmp_path, {"invoices.csv": invoices})
    said = stopped(folder)
    assert said == (
        "invoices.csv: columns 'Currency' (read as currency) and 'Document Currency' disagree "
        "(line 3: USD and EUR); read the one amount is written in: columns: {invoices: "
        "{Document Currency: currency}} in ledger.yaml if it is 'Document Currency', columns: "
        "{invoices: {Document Currency: ignore}} if it is 'Currency'"
    )
    spec = "columns: {invoices: {Document Currency: currency}}\n"
    (folder / "ledger.yaml").write_text(spec, encoding="utf-8")
    loaded = load_ledger(folder)  # the mapped column is read, the other one ignored
    assert loaded.tables["invoices"]["currency"].tolist() == ["USD", "EUR", "USD"]
    assert loaded.quarantine.empty and "ignored unknown column(s) 'Currency'" in loaded.warnings[0]


def test_a_currency_column_that_repeats_the_read_one_is_ignored(tmp_path: Path) -> None:
    invoices = GOOD["invoices.csv"].replace(",currency,", ",currency,Currency Code,")
    invoices = invoices.replace(",USD,", ",USD,usd,").replace(",EUR,", ",EUR,EUR,")
    invoices = invoices.replace(",,0", ",,,0")
    loaded = load_ledger(write_ledger(tmp_path, {"invoices.csv": invoices}))
    assert loaded.tables["invoices"]["currency"].tolist() == ["USD", "EUR", "USD"]
    assert "ignored unknown column(s) 'Currency Code'" in loaded.warnings[0]


# --- paid dates instead of a payments file ------------------------------------------------------

PAID_EXPORT = (  # GOOD's invoices with the day each was paid in full, as an ERP writes them
    "Invoice No,Customer,Invoice Date,Due Date,Amount,Currency,Disputed,Clearing Date\n"
    "I1,C1,01/01/2024,01/31/2024,100.50,USD,false,01/30/2024\n"
    "I2,C2,01/05/2024,02/04/2024,200,EUR,Yes,02/20/2024\n"
    "I3,C1,02/01/2024,03/02/2024,50,,0,\n"
)
PAID_MAP = """\
files: {invoices: AR.csv}
columns:
  invoices: {Invoice No: invoice_id, Customer: customer_id, Invoice Date: issue_date,
             Due Date: due_date, Clearing Date: paid_date}
dates: {invoices: "%m/%d/%Y"}
"""
PAID_SOURCE = "payments from AR.csv 'Clearing Date'"


def paid_export(folder: Path, invoices: str = PAID_EXPORT, **changes: str | None) -> Path:
    """GOOD with one invoices file that gives paid dates (mapped) and no payments file."""
    files = {
        "invoices.csv": None,
        "payments.csv": None,
        "AR.csv": invoices,
        "ledger.yaml": PAID_MAP,
    }
    return write_ledger(folder, {**files, **changes})


def as_parquet(folder: Path) -> Path:
    """GOOD's invoices with a paid_date column of dates, as Parquet."""
    invoices = pd.read_csv(io.StringIO(GOOD["invoices.csv"]), dtype=str)
    invoices["paid_date"] = pd.to_datetime(["2024-01-30", "2024-02-20", None])
    write_ledger(folder, {"invoices.csv": None, "payments.csv": None})
    invoices.to_parquet(folder / "invoices.parquet")
    return folder


@pytest.mark.parametrize("export", ["mapped", "named", "parquet"])
def test_an_export_with_paid_dates_loads_as_the_ledger_with_its_payments_file(
    tmp_path: Path, export: str
) -> None:
    """One full payment of each paid invoice on its paid date, an empty date an open invoice,
    whether the column is mapped (dates in the invoices' format), so named, or in Parquet."""
    payments = "payment_id,invoice_id,customer_id,payment_date,amount\n"
    payments += "P1,I1,C1,2024-01-30,100.50\nP2,I2,C2,2024-02-20,200\n"
    two_files = load_ledger(write_ledger(tmp_path / "two", {"payments.csv": payments}))
    named = GOOD["invoices.csv"].replace("disputed\n", "disputed,paid_date\n")
    named = named.replace("false\n", "false,2024-01-30\n").replace("Yes\n", "Yes,2024-02-20\n")
    folder = {
        "mapped": lambda: paid_export(tmp_path / "one"),
        "named": lambda: write_ledger(
            tmp_path / "one", {"invoices.csv": named.replace(",0\n", ",0,\n"), "payments.csv": None}
        ),
        "parquet": lambda: as_parquet(tmp_path / "one"),
    }[export]()
    one_file = load_ledger(folder)
    for name, table in two_files.tables.items():
        loaded = one_file.tables[name]
        if name == "payments":
            assert loaded["payment_id"].tolist() == ["paid:I1", "paid:I2"]  # the invoice's id
            loaded, table = loaded.drop(columns="payment_id"), table.drop(columns="payment_id")
        pd.testing.assert_frame_equal(loaded, table)
    assert one_file.quarantine.empty and one_file.warnings == []
    invoices = one_file.files["invoices"]
    assert one_file.files["payments"] == invoices
    column = "Clearing Date" if export == "mapped" else "paid_date"
    source = f"payments from {invoices.name} '{column}'"
    assert one_file.sources["payments"] == source
    assert one_file.accounting[source] == {"rows_in": 2, "accepted": 2, "quarantined": 0}


def test_the_paid_date_is_never_an_invoice_column_nor_a_feature(tmp_path: Path) -> None:
    """It is the target: a model that saw it would learn the answer."""
    loaded = load_ledger(paid_export(tmp_path))
    assert "paid_date" not in loaded.tables["invoices"].columns
    assert "paid_date" not in INVOICES.column_names and "paid_date" not in FEATURES


def test_a_bad_paid_date_is_quarantined_on_the_invoices_line_and_column(tmp_path: Path) -> None:
    """A paid date that does not read quarantines the payment, named by the invoices file, its
    line and the column as written, and leaves the invoice open; the payment of a quarantined
    invoice (a duplicated row, an amount below zero) is quarantined as such, so that a
    duplicated row cannot pay the accepted invoice twice. Rows in = accepted + quarantined."""
    invoices = PAID_EXPORT.replace("02/20/2024", "02/31/2024")
    invoices += "I3,C1,02/01/2024,03/02/2024,50,,0,02/05/2024\n"  # line 5: I3 again, paid
    invoices += "I4,C1,02/01/2024,03/02/2024,-5,,0,02/05/2024\n"
    loaded = load_ledger(paid_export(tmp_path, invoices))
    q = loaded.quarantine
    paid = q[q["column"] == "Clearing Date"].set_index("row")
    assert set(q["file"]) == {"AR.csv"}
    assert paid["reason"].to_dict() == {
        3: "unparseable date '02/31/2024'",
        5: "the invoice on this line is quarantined",
        6: "the invoice on this line is quarantined",
    }
    assert paid.loc[3, "value"] == "02/31/2024"
    assert loaded.tables["invoices"]["invoice_id"].tolist() == ["I1", "I2", "I3"]  # I2 open
    assert loaded.tables["payments"]["invoice_id"].tolist() == ["I1"]
    assert loaded.accounting["AR.csv"] == {"rows_in": 5, "accepted": 3, "quarantined": 2}
    assert loaded.accounting[PAID_SOURCE] == {"rows_in": 4, "accepted": 1, "quarantined": 3}
    for table, source in loaded.sources.items():
        counts = loaded.accounting[source]
        assert counts["rows_in"] == counts["accepted"] + counts["quarantined"]
        assert len(loaded.tables[table]) == counts["accepted"]
    assert len(q) == sum(counts["quarantined"] for counts in loaded.accounting.values())


def test_paid_dates_in_another_dialect_name_the_invoices_setting(tmp_path: Path) -> None:
    """They are read as the invoices' dates: the setting to name is the invoices'."""
    invoices = PAID_EXPORT.replace("01/05/2024", "01/12/2024").replace("02/04/2024", "02/11/2024")
    invoices = invoices.replace("01/30/2024", "30/01/2024").replace("02/20/2024", "20/02/2024")
    said = stopped(paid_export(tmp_path, invoices))
    assert said.startswith(
        "AR.csv: column 'Clearing Date' holds dates like '30/01/2024' (line 2; 2 of 2), not "
        "'%m/%d/%Y'; they read as day/month/year: set dates: {invoices: '%d/%m/%Y'} in "
        "ledger.yaml"
    )


def test_paid_dates_and_a_payments_file_are_one_too_many(tmp_path: Path) -> None:
    """Two accounts of the same payments that may disagree: the user says which one is whole."""
    folder = paid_export(tmp_path, **{"payments.csv": GOOD["payments.csv"]})
    said = stopped(folder)
    assert said == (
        "AR.csv: column 'Clearing Date' is read as paid_date, to derive the payments from, but "
        "payments.csv holds payments too; keep one: set columns: {invoices: {Clearing Date: "
        "ignore}} in ledger.yaml to read payments.csv, or take payments.csv out of the folder "
        "to derive them from 'Clearing Date'"
    )
    (folder / "ledger.yaml").write_text(
        PAID_MAP.replace("Clearing Date: paid_date", "Clearing Date: ignore")
    )
    assert load_ledger(folder).accounting["payments.csv"]["accepted"] == 3
    (folder / "payments.csv").unlink()  # a payments file the map names is meant, even if absent
    named = "files: {invoices: AR.csv, payments: Receipts.csv}"
    (folder / "ledger.yaml").write_text(PAID_MAP.replace("files: {invoices: AR.csv}", named))
    with pytest.raises(
        LedgerFileError, match=r"but ledger\.yaml names Receipts\.csv as the payments file"
    ):
        load_ledger(folder)


def test_without_payments_nor_paid_dates_the_error_names_both(tmp_path: Path) -> None:
    said = stopped(write_ledger(tmp_path, {"payments.csv": None}))
    assert said == (
        f"payments.csv: required file not found in {tmp_path}; if invoices.csv gives the day "
        "each invoice was paid instead, read that column as paid_date (columns: in ledger.yaml)"
    )
