"""IBM AR sample -> canonical ledger, on a tiny synthetic file in the source's format."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from arcast.ibm import convert_ibm
from data_contracts import load_ledger

HEADER = (
    "countryCode,customerID,PaperlessDate,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,"
    "Disputed,SettledDate,PaperlessBill,DaysToSettle,DaysLate"
)
ROWS = [
    "391,0379-NEVHP,4/6/2013,0000611365,1/2/2013,2/1/2013,55.94,No,1/15/2013,Paper,13,0",
    "406,8976-AMJEO,3/3/2012,0007900770,1/26/2013,2/25/2013,61.74,Yes,3/3/2013,Electronic,36,6",
    "391,0379-NEVHP,4/6/2013,0009231909,7/3/2013,8/2/2013,65.88,No,7/8/2013,Electronic,5,0",
    "770,2820-XGXSB,1/26/2012,0009888306,12/10/2012,1/9/2013,105.92,No,,Electronic,,",
]
REAL_SAMPLE = Path("/work/shared/data/ibm_ar/WA_Fn-UseC_-Accounts-Receivable.csv")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "ibm.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n")
    return path


def test_convert_writes_a_canonical_ledger_that_loads_cleanly(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "ledger"
    counts = convert_ibm(source, out)
    assert counts == {"customers": 3, "invoices": 4, "payments": 3}  # the last one is open

    ledger = load_ledger(out)
    assert ledger.quarantine.empty
    assert ledger.warnings == []
    invoices = ledger.tables["invoices"]
    assert invoices["invoice_id"].tolist() == [
        "0000611365",
        "0007900770",
        "0009231909",
        "0009888306",
    ]  # leading zeros kept
    assert invoices["issue_date"].iloc[0] == pd.Timestamp("2013-01-02")
    assert invoices["due_date"].iloc[1] == pd.Timestamp("2013-02-25")
    assert invoices["amount"].tolist() == [55.94, 61.74, 65.88, 105.92]
    assert set(invoices["currency"]) == {"USD"}
    assert invoices["disputed"].tolist() == [False, True, False, False]

    payments = ledger.tables["payments"]
    assert payments["invoice_id"].tolist() == invoices["invoice_id"].tolist()[:3]
    assert (
        payments["payment_date"].tolist()
        == pd.to_datetime(["2013-01-15", "2013-03-03", "2013-07-08"]).tolist()
    )
    assert payments["amount"].tolist() == invoices["amount"].tolist()[:3]
    assert payments["customer_id"].tolist() == ["0379-NEVHP", "8976-AMJEO", "0379-NEVHP"]

    customers = ledger.tables["customers"].set_index("customer_id")
    assert customers.loc["0379-NEVHP", "segment"] == "391"  # countryCode as given
    assert customers["country"].isna().all()
    assert customers["payment_terms_days"].tolist() == [30, 30, 30]


def test_only_canonical_columns_are_written(source: Path, tmp_path: Path) -> None:
    """DaysToSettle / DaysLate are the outcome (leakage); PaperlessBill is the end-of-data mode."""
    out = tmp_path / "ledger"
    convert_ibm(source, out)
    headers = {f.name: f.read_text().splitlines()[0].split(",") for f in sorted(out.iterdir())}
    assert headers == {
        "customers.csv": ["customer_id", "segment", "currency", "payment_terms_days"],
        "invoices.csv": [
            "invoice_id", "customer_id", "issue_date", "due_date", "amount", "currency",
            "delivery_channel", "disputed",
        ],
        "payments.csv": ["payment_id", "invoice_id", "customer_id", "payment_date", "amount"],
    }  # fmt: skip


def test_delivery_channel_is_the_billing_mode_at_issue(source: Path, tmp_path: Path) -> None:
    """Paperless from PaperlessDate on: 0379-NEVHP switched on 6 April 2013, between invoices."""
    convert_ibm(source, tmp_path)
    invoices = pd.read_csv(tmp_path / "invoices.csv", dtype=str).set_index("invoice_id")
    assert invoices["delivery_channel"].to_dict() == {
        "0000611365": "paper",
        "0007900770": "electronic",
        "0009231909": "electronic",
        "0009888306": "electronic",
    }


def test_a_file_that_is_not_the_ibm_sample_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("invoice_id,amount\nI1,5\n")
    with pytest.raises(ValueError, match="not the IBM AR sample"):
        convert_ibm(path, tmp_path / "ledger")


@pytest.mark.skipif(not REAL_SAMPLE.exists(), reason="IBM sample not available")
def test_real_sample_converts_without_quarantine(tmp_path: Path) -> None:
    counts = convert_ibm(REAL_SAMPLE, tmp_path)
    assert counts == {"customers": 100, "invoices": 2466, "payments": 2466}
    assert load_ledger(tmp_path).quarantine.empty
