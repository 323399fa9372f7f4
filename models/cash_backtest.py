"""Backtest of the 13-week cash-in forecast: weekly receipts from the AR open at a cutoff.

Actual cash in week w (days c+1+7w .. c+7+7w) is what was paid on the invoices open at the
cutoff c, in base currency at the same as-of-c rate that values their open amount (FX moves are
not forecast error), capped at the amount open (an overpayment is not collected AR). Methods,
all from what was known at c:

* ``model``: the joint copula simulation (`models.cash.cash_forecast`) on the model's pmf, with
  the ``rho`` the model estimated on its own calibration fold (`PayDateModel.invoice_rho`);
* ``due_date``: each open amount arrives on its due date, overdue ones in week 1; no spread;
* ``collection_curve``: the treasury method. At month-end snapshots s of the 12 months before c
  whose 13 weeks were over by c (s + 91 <= c), the share of each aging bucket's open AR collected
  in each week; forecast = Σ bucket open amount × mean share; bands = p10/p90 of the forecasts
  each single snapshot's curve would give;
* ``oracle`` (generated ledgers): weekly totals per joint sample column of the true process.

Metrics per cutoff and method and pooled over cutoffs (sums over all cutoff-weeks, not means of
ratios): ``cash_wape`` = Σ|expected − actual| / Σ actual, ``cash_bias`` = (Σ expected − Σ
actual) / Σ actual, ``cash_coverage`` = share of weeks with p10 <= actual <= p90.
"""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd

from features.warehouse import (
    AGING_BUCKETS,
    aging_bucket,
    month_end,
    payments_after,
    receivables,
    to_day,
)
from models.cash import band_frame

WEEKS = 13
CASH_SIMS = 1000
CURVE_MONTHS = 12
CASH_COLUMNS = ("cutoff", "week_start", "method", "expected", "p10", "p50", "p90", "actual")
CASH_METHODS = ("model", "due_date", "collection_curve", "oracle")


def open_receivables(
    con: duckdb.DuckDBPyConnection, as_of: date, base_currency: str
) -> pd.DataFrame:
    """Invoices open at the end of ``as_of`` (`receivables` with an open amount), indexed by
    invoice_id, with ``days_overdue`` and the as-of ``rate`` to base currency."""
    ar = receivables(con, as_of, base_currency)
    ar = ar[ar["amount_open"] > 0].set_index("invoice_id")
    ar["days_overdue"] = (pd.Timestamp(as_of) - pd.to_datetime(ar["due_date"])).dt.days
    ar["rate"] = ar["amount_open_base"] / ar["amount_open"]
    return ar


def weekly_collections(
    con: duckdb.DuckDBPyConnection, as_of: date, open_ar: pd.DataFrame, weeks: int = WEEKS
) -> np.ndarray:
    """``(len(open_ar), weeks)`` cash received on each open invoice in each week after ``as_of``.

    ``open_ar`` is indexed by invoice_id with ``amount_open`` and ``rate`` (as of ``as_of``).
    Payments count in payment order until the open amount is reached; the rest is overpayment.
    """
    pay = payments_after(con, as_of, 7 * weeks)
    row = open_ar.index.get_indexer(pay["invoice_id"])
    pay, row = pay[row >= 0], row[row >= 0]
    capped = np.minimum(
        pay.groupby(row)["amount"].cumsum().to_numpy(),
        open_ar["amount_open"].to_numpy()[row],
    )
    received = pd.Series(capped).groupby(row).diff().fillna(pd.Series(capped)).to_numpy()
    cash = np.zeros((len(open_ar), weeks))
    week = (pay["ahead"].to_numpy() - 1) // 7
    np.add.at(cash, (row, week), received * open_ar["rate"].to_numpy()[row])
    return cash


def due_date_cash(
    amounts: np.ndarray, due_day: np.ndarray, as_of: date, weeks: int = WEEKS
) -> np.ndarray:
    """Weekly totals if every open amount arrives on its due date (overdue: the day after as-of)."""
    ahead = np.maximum(np.asarray(due_day), to_day(as_of) + 1) - to_day(as_of) - 1
    week = ahead // 7
    inside = week < weeks
    return np.bincount(week[inside], weights=np.asarray(amounts)[inside], minlength=weeks)


def curve_snapshots(cutoff: date, months: int = CURVE_MONTHS, weeks: int = WEEKS) -> list[date]:
    """Month-ends of the ``months`` months before ``cutoff`` whose ``weeks`` weeks of
    collections were over by ``cutoff``, oldest first."""
    month = cutoff.year * 12 + cutoff.month - 1
    ends = [month_end(i) for i in range(month - months, month)]
    return [s for s in ends if to_day(s) + 7 * weeks <= to_day(cutoff)]


def collection_curves(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], base_currency: str, weeks: int = WEEKS
) -> np.ndarray:
    """``(snapshots, buckets, weeks)`` share of each aging bucket's open AR at a snapshot that was
    collected in each following week; NaN where a bucket held nothing."""
    curves = np.full((len(snapshots), len(AGING_BUCKETS), weeks), np.nan)
    for j, snapshot in enumerate(snapshots):
        ar = open_receivables(con, snapshot, base_currency)
        if ar.empty:
            continue
        bucket = aging_bucket(ar["days_overdue"].to_numpy())
        collected = weekly_collections(con, snapshot, ar, weeks)
        opened = np.bincount(bucket, weights=ar["amount_open_base"], minlength=len(AGING_BUCKETS))
        by_bucket = np.zeros((len(opened), weeks))
        np.add.at(by_bucket, bucket, collected)
        held = opened > 0
        curves[j, held] = by_bucket[held] / opened[held, None]
    return curves


def collection_curve_cash(
    open_by_bucket: np.ndarray, curves: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expected weekly cash (open amount per bucket × mean curve) and one forecast per snapshot
    (its own curve; a bucket it had no AR in takes the mean curve). Without any snapshot (a
    ledger younger than 13 weeks) nothing is forecast to arrive."""
    held = ~np.isnan(curves)
    mean = np.where(held, curves, 0.0).sum(axis=0) / np.maximum(held.sum(axis=0), 1)
    filled = np.where(held, curves, mean)
    expected = open_by_bucket @ mean
    per_snapshot = np.einsum("b,sbw->sw", open_by_bucket, filled)
    return expected, per_snapshot if len(per_snapshot) else expected[None, :]


def sample_weekly_cash(
    samples: np.ndarray, amounts: np.ndarray, as_of: date, weeks: int = WEEKS
) -> np.ndarray:
    """``(columns, weeks)`` totals from pay-day samples ``(invoices, columns)``: each column is
    one joint scenario, so its weekly totals are one draw of the joint weekly cash."""
    ahead = np.asarray(samples, dtype=np.int64) - to_day(as_of) - 1
    inside = (ahead >= 0) & (ahead < 7 * weeks)
    row, col = np.nonzero(inside)
    flat = col * weeks + ahead[row, col] // 7
    totals = np.bincount(flat, weights=np.asarray(amounts)[row], minlength=samples.shape[1] * weeks)
    return totals.reshape(samples.shape[1], weeks)


def cash_rows(cutoff: date, actual: np.ndarray, forecasts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per method and week: `band_frame` columns next to the actual weekly cash."""
    parts = [
        frame.assign(cutoff=cutoff.isoformat(), method=method, actual=actual)
        for method, frame in forecasts.items()
    ]
    rows = pd.concat(parts, ignore_index=True)
    rows["week_start"] = pd.to_datetime(rows["week_start"]).dt.date.map(date.isoformat)
    return rows[list(CASH_COLUMNS)]


def point_frame(as_of: date, expected: np.ndarray) -> pd.DataFrame:
    """A forecast with no spread: p10 = p50 = p90 = expected."""
    return band_frame(as_of, expected, np.asarray(expected)[None, :])


def _scores(part: pd.DataFrame) -> dict[str, float]:
    actual = part["actual"].to_numpy(dtype=np.float64)
    expected = part["expected"].to_numpy(dtype=np.float64)
    total = actual.sum()
    inside = (part["p10"].to_numpy() <= actual) & (actual <= part["p90"].to_numpy())
    return {
        "weeks": float(len(part)),
        "actual": float(total),
        "expected": float(expected.sum()),
        "cash_wape": float(np.abs(expected - actual).sum() / total) if total > 0 else np.nan,
        "cash_bias": float((expected.sum() - total) / total) if total > 0 else np.nan,
        "cash_coverage": float(inside.mean()) if len(part) else np.nan,
    }


def cash_metrics(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per cutoff × method plus ``cutoff == "pooled"`` over all cutoff-weeks, with the
    WAPE ratios to the oracle and the due-date baseline for the same cutoff, and, on a pooled
    row, ``model_ahead_cutoffs``: at how many cutoffs the model's WAPE was below the method's.
    A small ledger's pooled WAPE can rest on one cutoff (a lucky curve at the first), and the
    count says whether the model is behind a baseline at most cutoffs or at one."""
    groups = [*rows.groupby("cutoff", sort=True), ("pooled", rows)]
    table = pd.DataFrame(
        [
            {"cutoff": cutoff, "method": method, **_scores(part)}
            for cutoff, by_cutoff in groups
            for method, part in by_cutoff.groupby("method", sort=False)
        ]
    )
    wape = table.set_index(["cutoff", "method"])["cash_wape"]
    for reference in ("oracle", "due_date"):
        if reference in set(table["method"]):
            table[f"cash_wape_vs_{reference}"] = (
                table["cash_wape"].to_numpy()
                / wape.xs(reference, level="method").reindex(table["cutoff"]).to_numpy()
            )
    per_cutoff = wape.drop("pooled", level="cutoff").unstack("method")
    if "model" in per_cutoff:
        ahead = per_cutoff.gt(per_cutoff["model"], axis=0).sum()
        pooled = table["cutoff"] == "pooled"
        table["model_ahead_cutoffs"] = np.nan
        table.loc[pooled, "model_ahead_cutoffs"] = (
            table.loc[pooled, "method"].map(ahead).where(table["method"] != "model")
        )
    return table


def cash_summary(metrics: pd.DataFrame, rho: dict[str, dict[str, float]]) -> dict:
    """The pooled cash block of ``backtest_summary.json``."""
    pooled = metrics[metrics["cutoff"] == "pooled"].set_index("method")
    methods = {
        method: {k: round(float(v), 6) for k, v in row.items() if pd.notna(v)}
        for method, row in pooled.drop(columns="cutoff").iterrows()
    }
    model = methods.get("model", {})
    return {
        "weeks": WEEKS,
        "pooled": methods,
        "model_wape_vs_oracle": model.get("cash_wape_vs_oracle"),
        "model_wape_vs_due_date": model.get("cash_wape_vs_due_date"),
        "rho": rho,
    }
