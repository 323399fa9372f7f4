"""Cash backtest: actual weekly cash, the due-date and collection-curve baselines (point in time),
and the copula correlation estimated from pay-date surprises."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

from data_contracts.schema import TABLES
from features.warehouse import (
    AGING_BUCKETS,
    MONTH_DAY_SHARES,
    WEEKDAY_SHARES,
    aging_bucket,
    to_day,
)
from models.cash_backtest import (
    cash_metrics,
    collection_curve_cash,
    collection_curves,
    curve_snapshots,
    due_date_cash,
    open_receivables,
    weekly_collections,
)
from models.paydate import (
    RUN_MIN_PAID,
    PayDatePrediction,
    censored_pit_scores,
    estimate_cash_rho,
    fit_run_rho,
    pays_in_runs,
)
from tests.conftest import open_warehouse

CUTOFF = date(2024, 3, 31)


def _frame(name: str, rows: list[dict]) -> pd.DataFrame:
    table = next(t for t in TABLES if t.name == name)
    return pd.DataFrame(rows, columns=table.column_names)


def _tiny_warehouse() -> duckdb.DuckDBPyConnection:
    """Three invoices open at CUTOFF (one in EUR, whose rate moves after the cutoff)."""
    d = date.fromisoformat
    invoices = [
        ("A", "2024-03-01", "2024-03-31", 1000.0, "USD"),
        ("B", "2024-02-01", "2024-03-02", 500.0, "EUR"),
        ("C", "2024-03-20", "2024-04-19", 300.0, "USD"),
        ("D", "2024-01-05", "2024-02-04", 200.0, "USD"),  # paid before the cutoff
    ]
    payments = [
        ("P1", "A", "2024-03-15", 400.0),  # before the cutoff: 600 open
        ("P2", "A", "2024-04-01", 100.0),  # week 1 (day 1)
        ("P3", "A", "2024-04-08", 200.0),  # week 2 (day 8)
        ("P4", "A", "2024-04-20", 500.0),  # week 3: only 300 still open, 200 overpaid
        ("P5", "B", "2024-04-07", 500.0),  # week 1 (day 7) at the cutoff rate 1.10
        ("P6", "C", "2024-06-30", 300.0),  # day 91: week 13
        ("P7", "C", "2024-07-01", 1.0),  # day 92: after the horizon
        ("P8", "D", "2024-02-01", 200.0),
    ]
    tables = {
        "customers": _frame("customers", [{"customer_id": "K", "payment_terms_days": 30}]),
        "invoices": _frame(
            "invoices",
            [
                {
                    "invoice_id": i,
                    "customer_id": "K",
                    "issue_date": d(issued),
                    "due_date": d(due),
                    "amount": amount,
                    "currency": currency,
                }
                for i, issued, due, amount, currency in invoices
            ],
        ),
        "payments": _frame(
            "payments",
            [
                {"payment_id": p, "invoice_id": i, "payment_date": d(day), "amount": amount}
                for p, i, day, amount in payments
            ],
        ),
        "fx_rates": _frame(
            "fx_rates",
            [
                {"date": d("2024-01-01"), "currency": "EUR", "rate_to_base": 1.05},
                {"date": d("2024-03-29"), "currency": "EUR", "rate_to_base": 1.10},
                {"date": d("2024-04-02"), "currency": "EUR", "rate_to_base": 1.50},
            ],
        ),
    }
    return open_warehouse(tables)


def test_actual_weekly_cash_by_hand() -> None:
    con = _tiny_warehouse()
    ar = open_receivables(con, CUTOFF, "USD")
    assert list(ar.index) == ["A", "B", "C"]
    np.testing.assert_allclose(ar["amount_open_base"], [600.0, 550.0, 300.0])
    cash = weekly_collections(con, CUTOFF, ar)
    expected = np.zeros((3, 13))
    expected[0, :3] = [100.0, 200.0, 300.0]  # capped at what was open
    expected[1, 0] = 550.0  # 500 EUR at the as-of rate, not the later 1.50
    expected[2, 12] = 300.0
    np.testing.assert_allclose(cash, expected)
    con.close()


def test_due_date_baseline_puts_overdue_amounts_in_week_one() -> None:
    c = to_day(CUTOFF)
    due = np.array([c - 40, c, c + 1, c + 7, c + 8, c + 91, c + 92])
    weekly = due_date_cash(np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]), due, CUTOFF)
    assert weekly.shape == (13,)
    assert weekly[0] == 1 + 2 + 4 + 8  # overdue, due today, days 1 and 7
    assert weekly[1] == 16 and weekly[12] == 32  # day 92 is outside the horizon
    assert weekly.sum() == 63


def test_pooled_cash_rows_count_the_cutoffs_the_model_was_ahead_at() -> None:
    """A baseline that wins the pooled WAPE on one lucky cutoff is behind at the others: the
    pooled row says at how many cutoffs the model's WAPE was the lower."""
    actual = [100.0, 100.0]
    expected = {
        ("2024-06-30", "model"): [150.0, 50.0],  # WAPE 0.5
        ("2024-06-30", "collection_curve"): [100.0, 100.0],  # 0.0
        ("2024-07-31", "model"): [110.0, 90.0],  # 0.1
        ("2024-07-31", "collection_curve"): [130.0, 70.0],  # 0.3
    }
    rows = pd.DataFrame(
        [
            {"cutoff": c, "method": m, "expected": e, "p10": e, "p90": e, "actual": a}
            for (c, m), values in expected.items()
            for e, a in zip(values, actual, strict=True)
        ]
    )
    pooled = cash_metrics(rows).set_index(["cutoff", "method"]).loc["pooled"]
    assert pooled.loc["collection_curve", "cash_wape"] < pooled.loc["model", "cash_wape"]
    assert pooled.loc["collection_curve", "model_ahead_cutoffs"] == 1
    assert np.isnan(pooled.loc["model", "model_ahead_cutoffs"])


def test_curve_snapshots_are_month_ends_whose_13_weeks_are_over() -> None:
    snapshots = curve_snapshots(date(2025, 4, 30))
    assert snapshots[0] == date(2024, 4, 30) and snapshots[-1] == date(2024, 12, 31)
    assert len(snapshots) == 9
    assert all(to_day(s) + 91 <= to_day(date(2025, 4, 30)) for s in snapshots)


def _curve_forecast(tables: dict, cutoff: date) -> tuple[np.ndarray, np.ndarray]:
    con = open_warehouse(tables)
    ar = open_receivables(con, cutoff, "USD")
    bucket = aging_bucket(ar["days_overdue"].to_numpy())
    open_by_bucket = np.bincount(
        bucket, weights=ar["amount_open_base"], minlength=len(AGING_BUCKETS)
    )
    curves = collection_curves(con, curve_snapshots(cutoff), "USD")
    con.close()
    return collection_curve_cash(open_by_bucket, curves)


def test_collection_curve_reads_no_payment_after_the_cutoff(small_tables: dict) -> None:
    cutoff = date(2024, 11, 30)
    expected, per_snapshot = _curve_forecast(small_tables, cutoff)
    assert expected.sum() > 0 and len(per_snapshot) == len(curve_snapshots(cutoff))
    assert np.allclose(per_snapshot.mean(axis=0), expected)

    def moved(when: pd.Series) -> dict:
        """The payments dated by ``when`` moved two weeks earlier (not before the cutoff)."""
        payments = small_tables["payments"].copy()
        dates = pd.to_datetime(payments["payment_date"])
        shifted = (dates - pd.Timedelta(days=14)).dt.date
        payments.loc[when, "payment_date"] = shifted[when]
        return {**small_tables, "payments": payments}

    dates = pd.to_datetime(small_tables["payments"]["payment_date"])
    after = dates > pd.Timestamp(cutoff + timedelta(days=14))
    same, _ = _curve_forecast(moved(after), cutoff)
    np.testing.assert_array_equal(same, expected)

    # The test has power: moving payments inside a snapshot's 13 weeks changes the curve.
    inside = (dates > pd.Timestamp("2024-07-01")) & (dates <= pd.Timestamp("2024-08-31"))
    changed, _ = _curve_forecast(moved(inside), cutoff)
    assert not np.allclose(changed, expected)


def _correlated_z(rho: float, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shared = rng.standard_normal(groups.max() + 1)
    return np.sqrt(rho) * shared[groups] + np.sqrt(1 - rho) * rng.standard_normal(len(groups))


@pytest.mark.parametrize("rho", [0.0, 0.4])
def test_rho_estimator_recovers_a_known_correlation(rho: float) -> None:
    rng = np.random.default_rng(11)
    groups = np.repeat(np.arange(1500), rng.integers(1, 9, 1500))  # unbalanced, singletons too
    estimate = estimate_cash_rho(_correlated_z(rho, groups, rng), groups)
    assert estimate == pytest.approx(rho, abs=0.04)
    assert estimate_cash_rho(np.zeros(3), np.array([1, 2, 3])) == 0.0  # no within-group pairs


def test_rho_from_censored_pay_days_recovers_the_copula() -> None:
    """Pay days drawn with the copula, seen for 91 days only: the randomised PIT with the
    "after the window" atom still gives z-scores whose ICC is the copula's rho."""
    rng = np.random.default_rng(12)
    rho, as_of, horizon, window = 0.4, date(2024, 6, 30), 182, 91
    groups = np.repeat(np.arange(1200), rng.integers(2, 8, 1200))
    n = len(groups)
    rate = rng.uniform(0.005, 0.05, n)[:, None]
    pmf = rate * (1 - rate) ** np.arange(horizon)  # geometric, much of it after the window
    u = ndtr(_correlated_z(rho, groups, rng))
    day = (np.cumsum(pmf, axis=1) < u[:, None]).sum(axis=1) + 1  # horizon + 1 = not within
    completion = np.where(day <= window, to_day(as_of) + day, np.nan)
    prediction = PayDatePrediction(as_of, pd.DataFrame({"due_day": np.zeros(n)}), pmf)
    z = censored_pit_scores(prediction, completion, to_day(as_of) + window, rng.random(n))
    assert abs(z.mean()) < 0.05 and z.std() == pytest.approx(1.0, abs=0.05)
    assert estimate_cash_rho(z, groups) == pytest.approx(rho, abs=0.06)
    independent = np.arange(n)
    assert estimate_cash_rho(z, independent) == 0.0


def _run_payer_fold(lockstep: bool, runs: bool = True) -> tuple[PayDatePrediction, np.ndarray]:
    """300 customers with 4 invoices each, forecast to go out in one of two weekly runs a week
    apart (half each); really paid all in the same run (``lockstep``) or each on its own."""
    rng = np.random.default_rng(21)
    as_of, customers = date(2024, 6, 30), np.repeat(np.arange(300), 4)
    n = len(customers)
    first = 7 * rng.integers(0, 11, 300)[customers] + 2  # a Wednesday run in weeks 1..11
    pmf = np.zeros((n, 182))
    pmf[np.arange(n), first] = pmf[np.arange(n), first + 7] = 0.5
    late = (rng.random(300)[customers] if lockstep else rng.random(n)) < 0.5
    completion = to_day(as_of) + 1 + first + 7 * late
    shares = {name: np.full(n, 0.9 if w == 2 else 0.025) for w, name in enumerate(WEEKDAY_SHARES)}
    known = pd.DataFrame(
        {
            "customer_id": [f"C{c:03d}" for c in customers],
            "amount_base": np.full(n, 100.0),
            "paid_share": np.zeros(n),
            "hist_n": np.full(n, RUN_MIN_PAID if runs else RUN_MIN_PAID - 1),
            "month_end_share": np.zeros(n),
            **shares,
            **{name: np.full(n, 1 / 31) for name in MONTH_DAY_SHARES},
        }
    )
    return PayDatePrediction(as_of, known, pmf), completion.astype(np.float64)


def test_customers_paying_on_two_dates_of_the_month_pay_in_runs() -> None:
    """A run on the 10th and the 25th moves all of a customer's cash at once, as a weekday run
    does; two favourite dates holding only half of the payments are no run, nor is a run seen
    in fewer than RUN_MIN_PAID payments."""
    top, second, paid = [0.4, 0.3, 0.4], [0.3, 0.2, 0.3], [RUN_MIN_PAID, RUN_MIN_PAID, 9]
    rest = (1 - np.add(top, second)) / 29
    known = pd.DataFrame(
        {
            "hist_n": paid,
            "month_end_share": np.full(3, 0.1),
            **{name: np.full(3, 1 / 7) for name in WEEKDAY_SHARES},
            **{name: rest for name in MONTH_DAY_SHARES},
        }
    ).assign(month_day10_share=top, month_day25_share=second)
    assert pays_in_runs(known).tolist() == [True, False, False]


def test_run_payers_rho_is_fitted_to_the_fold_weekly_cash() -> None:
    """Run payers whose invoices all go out in the same run need a high rho for their bands to
    hold the fold's weekly cash; the same pay-day marginals drawn independently do not."""
    end = to_day(date(2024, 6, 30)) + 91
    fold, completion = _run_payer_fold(lockstep=True)
    assert pays_in_runs(fold.known).all()
    assert fit_run_rho(fold, completion, end, 0.05, seed=1) >= 0.6
    fold, completion = _run_payer_fold(lockstep=False)
    assert fit_run_rho(fold, completion, end, 0.05, seed=1) <= 0.15
    assert fit_run_rho(fold, completion, end, 0.3, seed=1) == 0.3  # never below the portfolio's
    fold, completion = _run_payer_fold(lockstep=True, runs=False)  # too few paid invoices
    assert not pays_in_runs(fold.known).any()
    assert fit_run_rho(fold, completion, end, 0.05, seed=1) == 0.05
