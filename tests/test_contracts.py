"""Ledger loading: every bad-input kind lands in quarantine or raises a one-line LedgerFileError."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_contracts import LedgerFileError, LoadedLedger, load_ledger, validate_tables
from data_contracts.load import DTYPES
from data_contracts.schema import TABLES

GOOD = {
    "customers.csv": (
        "customer_id,name,segment,country,currency,payment_terms_days,credit_limit\n"
        "C1,Acme,Enterprise,US,USD,30,10000\n"
        "C2,Beta,SMB,DE,EUR,45,\n"
    ),
    "invoices.csv": (
        "invoice_id,customer_id,issue_date,due_date,amount,currency,disputed\n"
        "I1,C1,2024-01-01,2024-01-31,100.50,USD,false\n"
        "I2,C2,2024-01-05,2024-02-04,200,EUR,Yes\n"
        "I3,C1,2024-02-01,2024-03-02,50,,0\n"
    ),
    "payments.csv": (
        "payment_id,invoice_id,customer_id,payment_date,amount\n"
        "P1,I1,C1,2024-01-30,100.50\n"
        "P2,I2,,2024-02-10,150\n"
        "P3,I2,C2,2024-02-20,50\n"
    ),
    "disputes.csv": (
        "invoice_id,opened_date,resolved_date,reason\n"
        "I2,2024-01-20,2024-02-01,wrong quantity\n"
        "I3,2024-02-10,,pricing\n"
    ),
    "fx_rates.csv": "date,currency,rate_to_base\n2024-01-01,EUR,1.10\n2024-02-01,EUR,1.08\n",
}
NEXT_LINE = {name: text.count("\n") + 1 for name, text in GOOD.items()}
NO_PAYMENTS = {"payments.csv": "payment_id,invoice_id,payment_date,amount\n"}


def write_ledger(folder: Path, changes: dict[str, str | bytes | None] | None = None) -> Path:
    """Write GOOD with some files replaced; a None content leaves that file out."""
    files: dict[str, str | bytes | None] = {**GOOD, **(changes or {})}
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if content is not None:
            data = content.encode() if isinstance(content, str) else content
            (folder / name).write_bytes(data)
    return folder


def assert_accounting(ledger: LoadedLedger) -> None:
    counts = ledger.quarantine.groupby("file").size()
    for table, path in ledger.files.items():
        acc = ledger.accounting[path.name]
        assert acc["rows_in"] == acc["accepted"] + acc["quarantined"]
        assert acc["quarantined"] == counts.get(path.name, 0)
        assert len(ledger.tables[table]) == acc["accepted"]


def test_good_ledger_loads_typed_with_zero_quarantine(tmp_path: Path) -> None:
    ledger = load_ledger(write_ledger(tmp_path))
    assert ledger.quarantine.empty
    assert list(ledger.quarantine.columns) == [
        *("file", "row", "column", "reason", "value"),
        *("table", "currency", "amount"),
    ]
    assert ledger.warnings == []
    assert ledger.accounting["invoices.csv"] == {"rows_in": 3, "accepted": 3, "quarantined": 0}
    assert_accounting(ledger)
    for table in TABLES:
        df = ledger.tables[table.name]
        assert list(df.columns) == table.column_names
        assert {c: str(df[c].dtype) for c in df} == {
            c.name: str(pd.Series(dtype=DTYPES[c.type]).dtype) for c in table.columns
        }
    invoices = ledger.tables["invoices"]
    assert invoices["currency"].tolist() == ["USD", "EUR", "USD"]  # empty cell -> base currency
    assert invoices["disputed"].tolist() == [False, True, False]
    assert invoices["issue_date"].iloc[0] == pd.Timestamp("2024-01-01")
    assert ledger.tables["payments"]["customer_id"].tolist() == ["C1", "C2", "C2"]  # filled
    assert ledger.tables["customers"]["payment_terms_days"].tolist() == [30, 45]
    assert ledger.tables["disputes"]["resolved_date"].isna().tolist() == [False, True]
    assert ledger.files["invoices"] == tmp_path / "invoices.csv"
    assert all(r["success"] for r in validate_tables(ledger.tables).values())


ROW_CASES = [
    # (id, file, appended line, column, reason fragment, value)
    ("bad-date", "invoices.csv", "I9,C1,2024-13-45,2024-02-01,10,USD,false", "issue_date",
     "unparseable date '2024-13-45'", "2024-13-45"),
    ("due-before-issue", "invoices.csv", "I9,C1,2024-02-01,2024-01-01,10,USD,false", "due_date",
     "due_date is before issue_date", "2024-01-01"),
    ("zero-amount", "invoices.csv", "I9,C1,2024-01-01,2024-01-31,0,USD,false", "amount",
     "greater than 0", "0"),
    ("negative-amount", "invoices.csv", "I9,C1,2024-01-01,2024-01-31,-5,USD,false", "amount",
     "greater than 0", "-5"),
    ("non-numeric-amount", "invoices.csv", "I9,C1,2024-01-01,2024-01-31,1.000$,USD,false",
     "amount", "not a number '1.000$'", "1.000$"),
    ("infinite-amount", "invoices.csv", "I9,C1,2024-01-01,2024-01-31,inf,USD,false", "amount",
     "not a number", "inf"),
    ("missing-required", "invoices.csv", "I9,,2024-01-01,2024-01-31,10,USD,false", "customer_id",
     "missing required value", ""),
    ("duplicate-invoice", "invoices.csv", "I1,C1,2024-01-01,2024-01-31,10,USD,false",
     "invoice_id", "duplicate invoice_id (first on line 2)", "I1"),
    ("bad-currency", "invoices.csv", "I9,C1,2024-01-01,2024-01-31,10,US$,false", "currency",
     "ISO 4217", "US$"),
    ("currency-without-rate", "invoices.csv", "I9,C1,2024-01-01,2024-01-31,10,GBP,false",
     "currency", "currency GBP has no rate in fx_rates.csv", "GBP"),
    ("unknown-customer", "invoices.csv", "I9,C9,2024-01-01,2024-01-31,10,USD,false",
     "customer_id", "customer_id 'C9' not in customers.csv", "C9"),
    ("bad-flag", "invoices.csv", "I9,C1,2024-01-01,2024-01-31,10,USD,maybe", "disputed",
     "not a yes/no flag", "maybe"),
    ("date-out-of-range", "invoices.csv", "I9,C1,2024-01-01,9999-12-31,10,USD,false", "due_date",
     "date outside 1900-2199", "9999-12-31"),
    ("unknown-invoice", "payments.csv", "P9,I9,,2024-01-30,10", "invoice_id",
     "invoice_id 'I9' not in invoices.csv", "I9"),
    ("customer-mismatch", "payments.csv", "P9,I1,C2,2024-01-30,10", "customer_id",
     "is not the invoice's customer 'C1'", "C2"),
    ("duplicate-payment", "payments.csv", "P1,I1,C1,2024-01-30,10", "payment_id,invoice_id",
     "duplicate payment_id for the same invoice_id (first on line 2)", "P1,I1"),
    ("zero-payment", "payments.csv", "P9,I1,C1,2024-01-30,0", "amount", "greater than 0", "0"),
    ("bad-payment-date", "payments.csv", "P9,I1,C1,30/01/2024,5", "payment_date",
     "unparseable date", "30/01/2024"),
    ("paid-before-issued", "payments.csv", "P9,I3,C1,2024-01-15,5", "payment_date",
     "payment_date is before invoice I3 was issued (2024-02-01)", "2024-01-15"),
    ("dispute-unknown-invoice", "disputes.csv", "I9,2024-01-01,,x", "invoice_id",
     "not in invoices.csv", "I9"),
    ("resolved-before-opened", "disputes.csv", "I1,2024-02-01,2024-01-01,x", "resolved_date",
     "resolved_date is before opened_date", "2024-01-01"),
    ("non-positive-rate", "fx_rates.csv", "2024-03-01,EUR,0", "rate_to_base", "greater than 0",
     "0"),
    ("duplicate-rate", "fx_rates.csv", "2024-01-01,EUR,1.2", "date,currency",
     "duplicate rate", "2024-01-01,EUR"),
    ("duplicate-customer", "customers.csv", "C1,Again,,,,,", "customer_id",
     "duplicate customer_id", "C1"),
    ("fractional-terms", "customers.csv", "C9,X,,,USD,30.5,", "payment_terms_days",
     "not a whole number", "30.5"),
    ("negative-credit-limit", "customers.csv", "C9,X,,,USD,30,-1", "credit_limit",
     "must not be negative", "-1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("file", "line", "column", "reason", "value"),
    [case[1:] for case in ROW_CASES],
    ids=[case[0] for case in ROW_CASES],
)
def test_bad_row_is_quarantined(
    tmp_path: Path, file: str, line: str, column: str, reason: str, value: str
) -> None:
    folder = write_ledger(tmp_path, {file: GOOD[file] + line + "\n"})
    ledger = load_ledger(folder)
    assert len(ledger.quarantine) == 1, ledger.quarantine.to_dict("records")
    row = ledger.quarantine.iloc[0]
    assert (row["file"], row["row"], row["column"]) == (file, NEXT_LINE[file], column)
    assert reason in row["reason"]
    assert row["value"] == value
    assert ledger.accounting[file]["quarantined"] == 1
    assert_accounting(ledger)


def test_one_payment_over_several_invoices_is_a_row_each(tmp_path: Path) -> None:
    """A clearing document (SAP) or a received payment (QuickBooks) settles several invoices
    under one payment id, a row each: every row is the money of its own invoice."""
    payments = GOOD["payments.csv"] + "P1,I3,C1,2024-03-01,50\n"
    ledger = load_ledger(write_ledger(tmp_path, {"payments.csv": payments}))
    assert ledger.quarantine.empty
    paid = ledger.tables["payments"].query("payment_id == 'P1'")
    assert sorted(paid["invoice_id"]) == ["I1", "I3"]
    assert_accounting(ledger)


def test_row_with_several_problems_is_quarantined_once(tmp_path: Path) -> None:
    line = "I9,C9,2024-13-45,2024-01-01,-1,usd,maybe\n"
    ledger = load_ledger(write_ledger(tmp_path, {"invoices.csv": GOOD["invoices.csv"] + line}))
    assert ledger.quarantine[["row", "column"]].values.tolist() == [[5, "issue_date"]]
    assert ledger.accounting["invoices.csv"] == {"rows_in": 4, "accepted": 3, "quarantined": 1}


LEFT_OUT = {
    "invoices.csv": GOOD["invoices.csv"]
    + "I4,C1,2024-02-01,2024-03-02,100000,JPY,false\n"  # no JPY rate
    + "I5,C1,2024-02-01,2024-03-02,-500,USD,false\n"
    + "I6,C2,2024-02-01,2024-03-02,70,XYZ,false\n"
    + "I7,C2,2024-02-01,2024-01-02,1000,EUR,false\n"  # due before issue
    + "I8,C2,2024-02-01,2024-03-02,12x,EUR,false\n",
    "payments.csv": GOOD["payments.csv"]
    + "P4,I4,C1,2024-02-10,1000\n"  # of a quarantined JPY invoice
    + "P5,I9,C1,2024-02-10,30\n"  # of no invoice at all
    + "P6,I7,C2,2024-02-10,200\n"
    + "P1,I1,C1,2024-01-30,5\n",  # a duplicated payment of the same invoice
    "fx_rates.csv": GOOD["fx_rates.csv"] + "2024-02-02,GBP,abc\n2024-06-01,EUR,1.50\n",
}
"""A ledger whose quarantine takes money out of the forecast: 5 invoices and 4 payments (some
in a currency without a rate, without an amount, or of no invoice), and a rate."""


def test_quarantined_invoices_and_payments_keep_their_money(tmp_path: Path) -> None:
    """What a refused row carried, in its currency, for the report to value: a payment's is
    its invoice's, refused or not; a row of another table carries none."""
    quarantine = load_ledger(write_ledger(tmp_path, LEFT_OUT)).quarantine
    money = quarantine[["table", "value", "currency", "amount"]].astype(object)
    assert money.where(money.notna(), None).values.tolist() == [
        ["invoices", "JPY", "JPY", 100000.0],
        ["invoices", "-500", "USD", -500.0],
        ["invoices", "XYZ", "XYZ", 70.0],
        ["invoices", "2024-01-02", "EUR", 1000.0],
        ["invoices", "12x", "EUR", None],
        ["payments", "I4", "JPY", 1000.0],
        ["payments", "I9", None, 30.0],
        ["payments", "I7", "EUR", 200.0],
        ["payments", "P1,I1", "USD", 5.0],
        ["fx_rates", "abc", None, None],
    ]


def test_payment_of_quarantined_invoice_is_quarantined(tmp_path: Path) -> None:
    bad_invoice = "I9,C1,2024-01-01,2024-01-31,-1,USD,false\n"
    folder = write_ledger(
        tmp_path,
        {
            "invoices.csv": GOOD["invoices.csv"] + bad_invoice,
            "payments.csv": GOOD["payments.csv"] + "P9,I9,,2024-01-30,10\n",
        },
    )
    ledger = load_ledger(folder)
    payment = ledger.quarantine[ledger.quarantine["file"] == "payments.csv"].iloc[0]
    assert (payment["row"], payment["column"]) == (5, "invoice_id")
    assert payment["reason"] == "invoice_id 'I9' is quarantined in invoices.csv"
    assert_accounting(ledger)


def test_blank_lines_and_extra_columns_are_reported_not_counted(tmp_path: Path) -> None:
    invoices = (
        "invoice_id,customer_id,issue_date,due_date,amount,note\n"
        "I1,C1,2024-01-01,2024-01-31,100,a\n"
        "\n"
        "I2,C1,2024-01-01,2023-01-31,100,b\n"
    )
    ledger = load_ledger(write_ledger(tmp_path, {"invoices.csv": invoices}))
    assert ledger.accounting["invoices.csv"] == {"rows_in": 2, "accepted": 1, "quarantined": 1}
    invoice_rows = ledger.quarantine.loc[ledger.quarantine["file"] == "invoices.csv", "row"]
    assert invoice_rows.tolist() == [4]  # the real line number, after the blank line
    assert "note" not in ledger.tables["invoices"].columns
    assert any("note" in w for w in ledger.warnings)
    assert any("blank line" in w for w in ledger.warnings)


def test_a_row_cut_short_is_quarantined_not_read_with_empty_cells(tmp_path: Path) -> None:
    """A file copied while still being written: I2 lost its currency and disputed flag, and
    would have been read as a USD invoice; its last line has no line ending either."""
    invoices = GOOD["invoices.csv"].replace("200,EUR,Yes\n", "200\n") + "I4,C1,2024-03-01,2024-0"
    ledger = load_ledger(write_ledger(tmp_path, {"invoices.csv": invoices}))
    assert_accounting(ledger)
    rows = ledger.quarantine[ledger.quarantine["file"] == "invoices.csv"]
    assert rows[["row", "column", "reason"]].values.tolist() == [
        [3, "currency", "line has 5 of the header's 7 fields (cut short?)"],
        [5, "amount", "line has 4 of the header's 7 fields (cut short?)"],
    ]
    assert ledger.tables["invoices"]["invoice_id"].tolist() == ["I1", "I3"]
    assert "invoices.csv: its last line has no line ending" in " ".join(ledger.warnings)
    assert not any("line ending" in w for w in load_ledger(write_ledger(tmp_path / "ok")).warnings)


def test_optional_files_absent_give_empty_canonical_tables(tmp_path: Path) -> None:
    invoices = "invoice_id,customer_id,issue_date,due_date,amount\nI1,C9,2024-01-01,2024-01-31,5\n"
    folder = write_ledger(
        tmp_path, {**dict.fromkeys(GOOD), "invoices.csv": invoices, **NO_PAYMENTS}
    )
    ledger = load_ledger(folder)
    assert set(ledger.accounting) == {"invoices.csv", "payments.csv"}
    assert ledger.quarantine.empty  # no customers.csv: any customer_id is accepted
    for name in ("customers", "disputes", "fx_rates", "payments"):
        assert ledger.tables[name].empty
        assert list(ledger.tables[name].columns) == next(
            t.column_names for t in TABLES if t.name == name
        )
    assert ledger.tables["invoices"]["disputed"].tolist() == [False]


def test_parquet_input(tmp_path: Path) -> None:
    folder = write_ledger(
        tmp_path, {"invoices.csv": None, "payments.csv": None, "disputes.csv": None}
    )
    invoices = pd.DataFrame(
        {
            "invoice_id": ["0001", "0002", "0003"],
            "customer_id": ["C1", "C2", "C1"],
            "issue_date": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-02-01"]),
            "due_date": ["2024-01-31", "2024-02-04", "2024-01-01"],  # text dates work too
            "amount": [100.5, 200.0, 50.0],
            "currency": ["USD", "EUR", None],
            "disputed": [False, True, False],
        }
    )
    invoices.to_parquet(folder / "invoices.parquet", index=False)
    payments = pd.DataFrame(
        {
            "payment_id": [1, 2],  # numeric ids become text
            "invoice_id": ["0001", "0002"],
            "payment_date": pd.to_datetime(["2024-01-30", "2024-02-10"]),
            "amount": [100.5, 0.0],
        }
    )
    payments.to_parquet(folder / "payments.parquet", index=False)
    ledger = load_ledger(folder)
    assert ledger.quarantine[["file", "row", "column"]].values.tolist() == [
        ["invoices.parquet", 4, "due_date"],
        ["payments.parquet", 3, "amount"],
    ]
    assert ledger.tables["invoices"]["invoice_id"].tolist() == ["0001", "0002"]
    assert ledger.tables["payments"]["payment_id"].tolist() == ["1"]
    assert ledger.files["invoices"].name == "invoices.parquet"
    assert_accounting(ledger)


INVOICES, PAYMENTS = GOOD["invoices.csv"], GOOD["payments.csv"]
FILE_CASES = [
    # (id, file name, content (None = delete), expected message fragment)
    ("missing-file", "payments.csv", None, "payments.csv: required file not found"),
    ("missing-column", "invoices.csv", INVOICES.replace("due_date,", "due,"),
     "invoices.csv: missing required column 'due_date'"),
    ("utf16", "invoices.csv", INVOICES.encode("utf-16"), "invoices.csv: file is UTF-16"),
    ("latin1", "customers.csv", (GOOD["customers.csv"] + "C3,Café,,,,,\n").encode("latin-1"),
     "customers.csv: line 4 is not valid UTF-8"),
    ("garbled-header", "invoices.csv", 'invoice_id,"customer_id,issue_date,due_date,amount\nI1\n',
     "invoices.csv: garbled header line"),
    ("duplicate-column", "payments.csv", "payment_id,invoice_id,payment_date,amount,Amount\n",
     "payments.csv: column 'amount' appears twice"),
    ("empty-file", "invoices.csv", "", "invoices.csv: empty file"),
    ("extra-fields", "invoices.csv", INVOICES + "I9,C1,2024-01-01,2024-01-31,1,000,USD,no\n",
     "invoices.csv: garbled CSV, line 5 has 8 fields but the header has 7"),
    ("unclosed-quote", "payments.csv", PAYMENTS + 'P9,"I1,C1,2024-01-30,1\n',
     "payments.csv: garbled CSV, unclosed quote starting on line 5"),
    ("not-parquet", "fx_rates.parquet", b"PAR1 but not really",
     "fx_rates.parquet: not a readable Parquet file"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [case[1:] for case in FILE_CASES],
    ids=[case[0] for case in FILE_CASES],
)
def test_file_level_problem_raises_one_line_error(
    tmp_path: Path, name: str, content: str | bytes | None, message: str
) -> None:
    folder = write_ledger(tmp_path, {name: content})
    if name == "fx_rates.parquet":
        (folder / "fx_rates.csv").unlink()
    with pytest.raises(LedgerFileError) as error:
        load_ledger(folder)
    text = str(error.value)
    assert message in text
    assert text.startswith(name)
    assert "\n" not in text


def test_several_currencies_without_fx_rates_is_a_file_error(tmp_path: Path) -> None:
    folder = write_ledger(tmp_path, {"fx_rates.csv": None})
    with pytest.raises(LedgerFileError, match=r"^invoices.csv: invoices are in EUR, USD but"):
        load_ledger(folder)


def test_rates_to_another_base_are_a_file_error_not_a_quarantine(tmp_path: Path) -> None:
    """GOOD's rates are to USD; read with EUR as the base they would turn every USD invoice
    into a quarantined row "without a rate" and the rest into wrong money."""
    folder = write_ledger(tmp_path)
    with pytest.raises(LedgerFileError, match=r"^fx_rates.csv: gives EUR, the base currency, rat"):
        load_ledger(folder, base_currency="EUR")
    ones = "date,currency,rate_to_base\n2024-01-01,EUR,1\n2024-01-01,USD,0.9\n"
    loaded = load_ledger(write_ledger(tmp_path / "ones", {"fx_rates.csv": ones}), "EUR")
    assert loaded.accounting["invoices.csv"]["quarantined"] == 0  # a base listed at 1 is fine


def _daily_rates(currency: str, rates: list[float]) -> str:
    days = pd.date_range("2024-01-01", periods=len(rates)).strftime("%Y-%m-%d")
    return "".join(f"{day},{currency},{rate}\n" for day, rate in zip(days, rates, strict=True))


@pytest.mark.parametrize(
    ("rates", "quarantined"),
    [
        ([1.10] * 6 + [110.0] + [1.10] * 6, {8: "rate 110 is 100× the EUR rates around it (1.1)"}),
        ([1.10] * 12 + [11.0], {14: "rate 11 is 10× the EUR"}),  # the last day: nothing after it
        ([0.11] + [1.10] * 12, {2: "rate 0.11 is 1/10 of the EUR rates around it (1.1)"}),
        ([1.10] * 6 + [0.9091] * 3 + [1.10] * 4, {}),  # an inverted EUR rate is no jump
        ([1.10] * 6 + [6.0] * 7, {}),  # a step that the rates after it confirm
        ([1.10] * 9 + [6.0] * 4, {}),  # ... four days of them, even at the end
        ([1.10] * 10 + [6.0] * 3, {r: "rate 6 is 5×" for r in (12, 13, 14)}),  # too few yet
    ],
)
def test_a_rate_far_from_its_neighbours_is_quarantined(
    tmp_path: Path, rates: list[float], quarantined: dict[int, str]
) -> None:
    """A decimal slip in one day's rate multiplied every figure of a run by 13 with exit 0; a
    currency that really steps keeps its new rates once later ones confirm them."""
    fx = "date,currency,rate_to_base\n" + _daily_rates("EUR", rates)
    loaded = load_ledger(write_ledger(tmp_path, {"fx_rates.csv": fx}))
    assert_accounting(loaded)
    reasons = dict(zip(loaded.quarantine["row"], loaded.quarantine["reason"], strict=True))
    assert sorted(reasons) == sorted(quarantined)
    for row, reason in quarantined.items():
        assert reasons[row].startswith(reason)
        assert reasons[row].endswith("a decimal slip or an inverted rate?")


def test_rates_to_a_currency_listed_at_one_are_read_as_rates_to_the_base(tmp_path: Path) -> None:
    """A USD ledger reported in EUR: each rate is divided by EUR's own rate to USD, the latest
    on or before its date (the first one before EUR has any)."""
    rates = (
        "date,currency,rate_to_base\n"
        "2023-12-01,GBP,1.25\n"
        "2024-01-01,EUR,1.10\n2024-01-01,USD,1\n2024-01-01,GBP,1.27\n"
        "2024-02-01,EUR,1.08\n2024-02-15,GBP,1.26\n"
    )
    loaded = load_ledger(write_ledger(tmp_path, {"fx_rates.csv": rates}), "EUR")
    fx = loaded.tables["fx_rates"]
    assert fx["rate_to_base"].tolist() == pytest.approx(
        [1.25 / 1.10, 1.0, 1 / 1.10, 1.27 / 1.10, 1.0, 1.26 / 1.08]
    )
    assert loaded.quarantine.empty
    assert loaded.warnings == [
        "fx_rates.csv: its rates are to USD (listed at 1); read as rates to EUR through EUR's "
        "own rate on each date"
    ]
    assert (
        load_ledger(loaded.files["fx_rates"].parent)
        .tables["fx_rates"]
        .equals(
            pd.read_csv(loaded.files["fx_rates"], parse_dates=["date"]).astype(fx.dtypes.to_dict())
        )
    )  # read with USD as the base, the file is taken as it is


def test_single_foreign_currency_needs_rates_unless_it_is_the_base(tmp_path: Path) -> None:
    invoices = (
        "invoice_id,customer_id,issue_date,due_date,amount,currency\n"
        "I1,C1,2024-01-01,2024-01-31,5,EUR\n"
    )
    folder = write_ledger(
        tmp_path, {**dict.fromkeys(GOOD), "invoices.csv": invoices, **NO_PAYMENTS}
    )
    with pytest.raises(LedgerFileError, match=r"invoices are in EUR .* base currency USD"):
        load_ledger(folder)
    ledger = load_ledger(folder, base_currency="EUR")
    assert ledger.base_currency == "EUR"
    assert ledger.quarantine.empty


def test_both_csv_and_parquet_is_ambiguous(tmp_path: Path) -> None:
    folder = write_ledger(tmp_path)
    pd.DataFrame({"payment_id": ["P1"]}).to_parquet(folder / "payments.parquet")
    with pytest.raises(LedgerFileError, match=r"payments\.parquet exists too"):
        load_ledger(folder)


def test_validate_tables_reports_failed_rules_with_counts() -> None:
    invoices = pd.DataFrame(
        {
            "invoice_id": ["I1", "I1", "I2"],
            "customer_id": ["C1", None, "C1"],
            "issue_date": pd.to_datetime(["2024-01-01"] * 3),
            "due_date": pd.to_datetime(["2024-01-31", "2023-12-31", "2024-01-31"]),
            "amount": [10.0, -1.0, -2.0],
            "currency": ["USD", "USD", "usd"],
            "delivery_channel": ["email", None, "paper"],
            "disputed": [False, False, True],
        }
    )
    payments = pd.DataFrame({"payment_id": ["P1"]})  # columns missing: reported, not raised
    result = validate_tables({"invoices": invoices, "payments": payments})
    assert result["invoices"]["success"] is False
    assert result["invoices"]["rows"] == 3
    failed = {
        (f["column"], f["expectation"]): f["unexpected_count"] for f in result["invoices"]["failed"]
    }
    assert failed == {
        ("customer_id", "expect_column_values_to_not_be_null"): 1,
        ("invoice_id", "expect_column_values_to_be_unique"): 2,
        ("amount", "expect_column_values_to_be_between"): 2,
        ("currency", "expect_column_values_to_match_regex"): 1,
        ("due_date,issue_date", "expect_column_pair_values_a_to_be_greater_than_b"): 1,
    }
    assert result["invoices"]["expectations"] > len(failed)
    assert result["payments"]["success"] is False
    assert any(f["reason"].startswith("error:") for f in result["payments"]["failed"])


def test_customer_email_is_optional_and_checked(tmp_path: Path) -> None:
    customers = (
        "customer_id,name,segment,country,currency,payment_terms_days,credit_limit,email\n"
        "C1,Acme,Enterprise,US,USD,30,10000,ap@acme.example\n"
        "C2,Beta,SMB,DE,EUR,45,,\n"
        "C9,Gamma,SMB,DE,EUR,45,,accounts at gamma\n"
    )
    ledger = load_ledger(write_ledger(tmp_path, {"customers.csv": customers}))
    assert ledger.quarantine[["row", "column", "value"]].to_dict("records") == [
        {"row": 4, "column": "email", "value": "accounts at gamma"}
    ]
    assert "not an email address" in ledger.quarantine["reason"].iloc[0]
    emails = ledger.tables["customers"].set_index("customer_id")["email"]
    assert emails["C1"] == "ap@acme.example" and pd.isna(emails["C2"])
    assert_accounting(ledger)


def test_the_contact_log_is_checked_against_the_invoices(tmp_path: Path) -> None:
    contacts = (
        "customer_id,contact_date,outcome,invoice_id,until,note\n"
        "C1,2024-02-05,,,,left a voicemail\n"
        "C2,2024-02-06, Promise ,I2,2024-02-20,\n"
        "C1,2024-02-07,promise,,,\n"
        "C1,2024-02-07,hold,,2024-02-01,\n"
        "C1,2024-02-07,called,,,\n"
        "C9,2024-02-07,,,,\n"
        "C1,2024-02-07,,I2,,\n"
        "C1,2023-12-30,promise,I1,2024-02-01,\n"
        "C2,2024-02-07,Promised,I2,2024-02-20,\n"
        "C1,2024-02-07,promis,,2024-02-20,\n"
    )
    ledger = load_ledger(write_ledger(tmp_path, {"contacts.csv": contacts}))
    accepted = ledger.tables["contacts"]
    assert accepted["outcome"].tolist() == ["contacted", "promise"]
    reasons = ledger.quarantine.set_index("row")["reason"].to_dict()
    assert reasons == {
        4: "a promise or a hold needs its until date",
        5: "until is before contact_date (contact_date 2024-02-07)",
        6: "outcome is not one of contacted, promise, hold",
        7: "customer_id 'C9' not in invoices.csv",
        8: "customer_id 'C1' is not the invoice's customer 'C2'",
        9: "contact_date is before invoice I1 was issued (2024-01-01)",
        10: "outcome is not one of contacted, promise, hold (did you mean 'promise'?)",
        11: "outcome is not one of contacted, promise, hold (did you mean 'promise'?)",
    }
    assert ledger.quarantine.set_index("row").loc[10, "value"] == "Promised"  # as written
    # the worklist goes on without them: the collector learns whose entries did not count
    assert (
        "contacts.csv: 8 entries quarantined, of customers C1, C9, C2: the worklist counts "
        "none of those calls, promises and holds until they are corrected"
    ) in ledger.warnings
    assert_accounting(ledger)


def test_the_quarantined_contacts_warning_names_the_first_few_customers(tmp_path: Path) -> None:
    rows = "".join(f"C{i},2024-02-07,call,,,\n" for i in range(1, 9))
    contacts = "customer_id,contact_date,outcome,invoice_id,until,note\n" + rows
    ledger = load_ledger(write_ledger(tmp_path, {"contacts.csv": contacts}))
    (warning,) = [w for w in ledger.warnings if w.startswith("contacts.csv: 8 entries")]
    assert "of customers C1, C2, C3, C4, C5 and 3 more:" in warning


def test_promised_amounts_within_their_invoices_load(tmp_path: Path) -> None:
    """The usual case, with no amount to quarantine (an empty selection once crashed the
    check's message)."""
    contacts = (
        "customer_id,contact_date,outcome,invoice_id,until,amount,note\n"
        "C2,2024-02-06,promise,I2,2024-02-20,150,\n"
    )
    ledger = load_ledger(write_ledger(tmp_path, {"contacts.csv": contacts}))
    assert ledger.tables["contacts"]["amount"].tolist() == [150.0]
    assert ledger.quarantine.empty


def test_a_promised_amount_is_checked(tmp_path: Path) -> None:
    """Positive, only on a promise (an amount on a call is a promise logged as one), in the
    currency of what it is about (a customer-wide promise over invoices in two currencies is
    in none of them for sure), and for no more than its invoice."""
    invoices = GOOD["invoices.csv"] + "I4,C1,2024-01-10,2024-02-09,70,EUR,false\n"
    contacts = (
        "customer_id,contact_date,outcome,invoice_id,until,amount,note\n"
        "C2,2024-02-06,promise,I2,2024-02-20,150,\n"
        "C1,2024-02-07,promise,I1,2024-02-20,0,\n"
        "C1,2024-02-07,promise,I1,2024-02-20,-5,\n"
        "C1,2024-02-07,,I1,2024-02-20,50,\n"
        "C1,2024-02-07,hold,,2024-02-20,50,\n"
        "C1,2024-02-07,promise,,2024-02-20,60,\n"
        "C1,2024-02-01,promise,,2024-02-05,60,\n"
        "C2,2024-02-07,promise,I2,2024-02-20,€50,\n"
        "C1,2024-02-07,promise,I1,2024-02-20,€50,\n"
        "C1,2024-02-07,promise,I1,2024-02-20,lots,\n"
        "C1,2024-02-07,promise,I1,2024-02-20,1005,\n"
    )
    ledger = load_ledger(
        write_ledger(tmp_path, {"invoices.csv": invoices, "contacts.csv": contacts})
    )
    accepted = ledger.tables["contacts"]
    assert accepted["amount"].tolist() == [150.0, 60.0, 50.0]  # only I1 (USD) due by 5 Feb
    quarantined = ledger.quarantine[ledger.quarantine["file"] == "contacts.csv"]
    assert quarantined.set_index("row")[["column", "reason"]].to_dict("index") == {
        3: {"column": "amount", "reason": "must be greater than 0"},
        4: {"column": "amount", "reason": "must be greater than 0"},
        5: {"column": "amount", "reason": "an amount is only for a promise (outcome promise)"},
        6: {"column": "amount", "reason": "an amount is only for a promise (outcome promise)"},
        7: {
            "column": "amount",
            "reason": "amount promised for all of customer C1's invoices due by until, which "
            "are in EUR, USD: log the promise per invoice",
        },
        10: {"column": "amount", "reason": "amount is in EUR ('€50'), not in the currency of "
             "the invoices it is about USD"},
        11: {"column": "amount", "reason": "not a number 'lots'"},
        12: {"column": "amount", "reason": "amount promised is more than invoice I1's whole "
             "amount (100.50): a mistyped figure, or a promise about more invoices (log it per "
             "invoice, or for the customer)"},
    }  # fmt: skip
    assert_accounting(ledger)
