import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from arcast.kpis import collection_effectiveness, compute_kpis, credit_balances, forecast_kpis
from data_contracts.load import load_ledger
from features.warehouse import receivables
from tests.conftest import open_warehouse
from tests.test_contracts import GOOD, write_ledger

AS_OF = date(2024, 3, 31)  # 90-day period: issue dates 2024-01-02 .. 2024-03-31


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=[
            "invoice_id",
            "customer_id",
            "issue_date",
            "due_date",
            "amount_base",
            "amount_open_base",
        ],
    ).astype({"issue_date": "datetime64[ns]", "due_date": "datetime64[ns]"})


FIVE = frame(
    [
        ("A", "c1", "2024-03-25", "2024-04-24", 1000.0, 1000.0),  # current (-24 d)
        ("B", "c1", "2024-03-01", "2024-03-16", 2000.0, 500.0),  # 15 d overdue, part paid
        ("C", "c2", "2024-02-01", "2024-02-15", 3000.0, 3000.0),  # 45 d overdue
        ("D", "c2", "2024-01-10", "2024-01-20", 4000.0, 0.0),  # 71 d, fully paid
        ("E", "c3", "2023-11-01", "2023-12-01", 500.0, 500.0),  # 121 d, before the period
    ]
)


def test_hand_computed_example() -> None:
    k = compute_kpis(FIVE, AS_OF)
    assert k["as_of"] == "2024-03-31"
    assert (k["open_count"], k["open_amount"]) == (4, 5000.0)
    assert (k["overdue_count"], k["overdue_amount"]) == (3, 4000.0)
    assert k["billed_last_period"] == 10000.0  # A-D; E is older than 90 days
    assert k["dso"] == pytest.approx(45.0)  # 5000 / 10000 × 90
    assert k["best_possible_dso"] == pytest.approx(9.0)  # 1000 / 10000 × 90
    assert k["average_days_delinquent"] == pytest.approx(36.0)
    # Days 0-58 back hold A (1000) and B (2000); C on day 59 covers the other 2000 of 3000.
    assert k["dso_countback"] == pytest.approx(59 + 2 / 3)
    assert k["aging"] == {
        "current": {"count": 1, "amount": 1000.0, "share": 0.2},
        "1-30": {"count": 1, "amount": 500.0, "share": 0.1},
        "31-60": {"count": 1, "amount": 3000.0, "share": 0.6},
        "61-90": {"count": 0, "amount": 0.0, "share": 0.0},
        "90+": {"count": 1, "amount": 500.0, "share": 0.1},
    }
    json.dumps(k, allow_nan=False)


def test_bucket_edges() -> None:
    due = ["2024-04-01", "2024-03-31", "2024-03-30", "2024-03-01", "2024-02-29", "2024-01-01"]
    rows = [(str(i), "c", "2023-12-01", d, 1.0, 1.0) for i, d in enumerate(due)]
    k = compute_kpis(frame(rows), AS_OF)
    # days overdue: -1, 0, 1, 30, 31, 90; due today is not overdue yet
    assert [k["aging"][b]["count"] for b in k["aging"]] == [2, 2, 1, 1, 0]
    assert k["overdue_count"] == 4
    rows.append(("x", "c", "2023-12-01", "2023-12-31", 1.0, 1.0))  # 91 days
    assert compute_kpis(frame(rows), AS_OF)["aging"]["90+"]["count"] == 1


def test_countback_exact_boundary_and_custom_period() -> None:
    # AR equals the sales of the last 7 days exactly: countback = 7 days.
    rows = [("A", "c", "2024-03-25", "2024-04-30", 700.0, 700.0)]
    rows.append(("B", "c", "2024-03-24", "2024-03-31", 900.0, 0.0))  # 7 days back: outside
    k = compute_kpis(frame(rows), AS_OF, period_days=7)
    assert k["dso_countback"] == pytest.approx(7.0)
    assert k["billed_last_period"] == 700.0
    assert k["dso"] == pytest.approx(7.0)


def test_zero_sales_gives_null_ratios() -> None:
    rows = [("E", "c3", "2023-11-01", "2023-12-01", 500.0, 200.0)]
    k = compute_kpis(frame(rows), AS_OF)
    assert k["billed_last_period"] == 0.0
    assert k["dso"] is None
    assert k["best_possible_dso"] is None
    assert k["average_days_delinquent"] is None
    assert k["dso_countback"] == pytest.approx(151 + 0.4)  # issued 151 days before as-of
    json.dumps(k, allow_nan=False)


def test_empty_ledger() -> None:
    k = compute_kpis(frame([]), AS_OF)
    assert (k["open_count"], k["open_amount"], k["dso"]) == (0, 0.0, None)
    assert all(b["share"] is None for b in k["aging"].values())
    json.dumps(k, allow_nan=False)


def test_invoices_issued_after_as_of_are_ignored() -> None:
    late = frame([("F", "c1", "2024-04-02", "2024-05-02", 9000.0, 9000.0)])
    assert compute_kpis(pd.concat([FIVE, late]), AS_OF) == compute_kpis(FIVE, AS_OF)


def test_missing_column_raises() -> None:
    with pytest.raises(ValueError, match="amount_open_base"):
        compute_kpis(FIVE.drop(columns="amount_open_base"), AS_OF)


def test_collection_effectiveness_index() -> None:
    # beginning 6000 + sales 10000 − ending 5000 = 11000 collected of 15000 collectible
    # (everything but the 1000 of current AR)
    k = compute_kpis(FIVE, AS_OF, beginning_ar=6000.0)
    assert k["collection_effectiveness_index"] == pytest.approx(11000 / 15000 * 100)
    assert compute_kpis(FIVE, AS_OF)["collection_effectiveness_index"] is None
    assert collection_effectiveness(0.0, 0.0, 0.0, 0.0) is None
    assert collection_effectiveness(100.0, 0.0, 0.0, 0.0) == pytest.approx(100.0)


def projected(rows: list[tuple]) -> pd.DataFrame:
    return frame([(f"P{i}", "projected", *r) for i, r in enumerate(rows)])


def test_kpi_forecast_hand_computed() -> None:
    still_open = np.ones((5, 3))
    still_open[0] = [1.0, 0.5, 0.0]  # A: half paid by week 1, paid by week 2
    still_open[2] = [1.0, 0.0, 0.0]  # C: paid in week 1
    weeks = [
        projected([]),
        projected([("2024-04-03", "2024-05-03", 700.0, 700.0)]),
        projected(
            [
                ("2024-04-03", "2024-05-03", 700.0, 350.0),
                ("2024-04-10", "2024-05-10", 700.0, 700.0),
            ]
        ),
    ]
    path = forecast_kpis(FIVE, still_open, AS_OF, weeks)
    today = compute_kpis(FIVE, AS_OF)
    now = path.iloc[0]
    for key in ("open_amount", "dso", "dso_countback", "best_possible_dso"):
        assert now[key] == today[key], key
    assert now["aging_31-60"] == today["aging"]["31-60"]["amount"]
    assert pd.isna(now["cei_since_as_of"])

    week1 = path.iloc[1]
    assert week1["date"] == pd.Timestamp("2024-04-07")
    # A 500 + B 500 + E 500 + the projected 700; sales since 2024-01-08: A-D + 700
    assert week1["open_amount"] == pytest.approx(2200.0)
    assert week1["billed_last_period"] == pytest.approx(10700.0)
    assert week1["dso"] == pytest.approx(2200 / 10700 * 90)
    # current (not yet due on 04-07): A 500 and the projected 700
    assert week1["best_possible_dso"] == pytest.approx(1200 / 10700 * 90)
    assert week1["average_days_delinquent"] == pytest.approx(1000 / 10700 * 90)
    assert week1["aging_90+"] == pytest.approx(500.0)
    # CEI since as-of: (5000 + 700 − 2200) / (5000 + 700 − 1200)
    assert week1["cei_since_as_of"] == pytest.approx(3500 / 4500 * 100)
    assert path.iloc[2]["open_amount"] == pytest.approx(500 + 500 + 350 + 700)
    assert path.iloc[2]["projected_billing_open"] == pytest.approx(1050.0)


def test_an_overpayment_is_a_credit_balance_valued_at_the_as_of_rate(tmp_path) -> None:
    """Paid beyond their amounts: I1 by 20 USD, I2 by 100 EUR (at March's 1.08, not the issue
    day's 1.10 or June's 1.50). Neither is open AR; both are kept as a credit balance."""
    overpaid = {
        "payments.csv": GOOD["payments.csv"] + "P4,I2,C2,2024-03-01,100\nP5,I1,C1,2024-03-01,20\n",
        "fx_rates.csv": GOOD["fx_rates.csv"] + "2024-06-01,EUR,1.50\n",
    }
    loaded = load_ledger(write_ledger(tmp_path, overpaid))
    assert loaded.quarantine.empty  # an overpayment is money, not a bad row
    with open_warehouse(loaded.tables) as con:
        ledger = receivables(con, AS_OF, "USD")
    assert ledger.loc[ledger["overpaid"], "amount_open_base"].tolist() == [0.0, 0.0]
    balances = credit_balances(ledger)
    assert balances["overpaid_invoices"] == 2
    assert balances["overpaid_amount_base"] == pytest.approx(20 + 100 * 1.08)
    assert compute_kpis(ledger, AS_OF)["open_amount"] == pytest.approx(50.0)  # I3 only


def test_a_cent_either_way_is_settled_despite_binary_floating_point(tmp_path) -> None:
    """226.49 − 226.48 is 0.01000000000002 in floating point: a payment a cent short still
    settles its invoice, and a cent over is no credit balance (the 0.01 tolerance holds)."""
    ledger_files = {
        "invoices.csv": GOOD["invoices.csv"] + "I4,C1,2024-02-01,2024-03-02,226.49,USD,false\n",
        "payments.csv": GOOD["payments.csv"]
        + "P4,I4,C1,2024-02-20,226.48\nP5,I3,C1,2024-02-20,50.01\n",
    }
    loaded = load_ledger(write_ledger(tmp_path, ledger_files))
    with open_warehouse(loaded.tables) as con:
        ledger = receivables(con, AS_OF, "USD").set_index("invoice_id")
    assert ledger.loc[["I3", "I4"], "paid"].all()
    assert ledger.loc[["I3", "I4"], "amount_open"].tolist() == [0.0, 0.0]
    assert not ledger["overpaid"].any()
