"""Backtests: how good the pay-date forecasts were at past cutoffs, against what, and why.

Rolling origin. For each cutoff c the ledger is seen as of the end of c: the hazard model is
trained on what was known then (`train_pay_date_model` is point-in-time by construction), every
invoice open at c is scored, and the forecasts are compared with what happened afterwards
(completion days from every payment in the file). An invoice still unpaid at the end of the data
is right-censored: it is never treated as "paid at the end"; it only enters the metrics whose
label it does determine (not paid by due + 30 = late, once due + 30 is inside the data).

At issue (the IBM sample's public protocol): train once at ``train_until``, then score every
invoice issued from ``test_from`` on at knowledge day k = its issue day.

Methods, scored on the same invoices:

* ``model``: the hazard model's distribution;
* ``due_date``: pays on max(due, c + 1); p_late_30 = 1 if already 30 days overdue at c, else 0;
* ``customer_mean`` / ``customer_median``: due + the customer's mean / median days late over
  its invoices completed by c (all customers' if it has none), floored at c + 1. p_late_30 = the
  customer's share of invoices not paid by due + 30 among those whose due + 30 had passed by c
  (all customers' if none), or 1 if the invoice is already 30 days overdue;
* ``oracle`` (generated ledgers): samples from the true generating process conditional on what
  is observable at c, i.e. the best any model could do. p50 = the sample median (the lower one;
  anything between the two middle samples minimises the expected absolute error).

Point baselines have no interval and no distribution: their coverage and PIT are NaN.

Metrics, per cutoff and pooled over cutoffs, for ``all``, ``overdue`` (due < c) and
``not_yet_due`` invoices:

* ``mae_p50``, ``bias_p50`` (p50 - actual): invoices paid within the data. A p50 beyond the
  model horizon H, or never, is scored as c + H + 1, for every method alike;
* ``mae_p50_censored``: over every invoice, the least p50 error the data allows
  (`censored_p50_errors`): an invoice unpaid at the data's end E counts the days a p50 fell
  short of E + 1. ``mae_p50`` scores only the invoices that got paid, so a forecast that old
  debts will be paid tomorrow is never charged for the many that are not, and a median that
  rightly says "not within H" is charged in full for the few that are; this one charges both;
* ``coverage_p10_p90``: share of those with p10 <= actual <= p90 (a p90 beyond the horizon is
  open-ended). Pay dates cluster on payment-run weekdays and month ends, so ties inflate it;
* ``pit_coverage``: randomised PIT, F(y-1) + u (F(y) - F(y-1)) with seeded u ~ U(0, 1), share in
  [0.1, 0.9] (0.8 when calibrated). Censoring: only payments up to W = min(data end, c + H) are
  observed, so F is the forecast conditioned on payment by W, F(d) / F(W). Under a correct
  forecast this PIT is exactly uniform on the invoices it is computed on; the unconditional PIT
  of paid-only invoices would be biased low;
* ``*_late30`` (AUC, Brier, ECE over 10 equal-width bins): label = not fully paid by due + 30
  (never paid is late), where due + 30 <= data end. ``*_late30_fresh``: the subset less than 30
  days overdue at c, whose answer was not already known then.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from data_contracts.load import load_ledger
from features.matrix import Calendar, holiday_calendar, key_matrix, knowledge_features
from features.warehouse import (
    AGING_BUCKETS,
    aging_bucket,
    build_fact_tables,
    completion_days,
    from_day,
    load_tables,
    month_end,
    to_day,
)
from models.cash import band_frame, cash_forecast
from models.cash_backtest import (
    CASH_SIMS,
    cash_metrics,
    cash_rows,
    cash_summary,
    collection_curve_cash,
    collection_curves,
    curve_snapshots,
    due_date_cash,
    open_receivables,
    point_frame,
    sample_weekly_cash,
    weekly_collections,
)
from models.cash_backtest import WEEKS as CASH_WEEKS
from models.paydate import (
    LATE_THRESHOLD_DAYS,
    NoPaymentHistoryError,
    PayDatePrediction,
    TrainingConfig,
    calibrate_p_late,
    hazard_pmf,
    is_late,
    pit_uniforms,
    predict_open_invoices,
    randomised_pit,
    train_pay_date_model,
)

SEGMENTS = ("all", "overdue", "not_yet_due")
MIN_OUTCOME_DAYS = 91
"""13 weeks: the latest cutoff's whole cash-forecast horizon has happened by the data's end."""
ORACLE_SAMPLES = 200
PIT_INTERVAL = (0.1, 0.9)
ECE_BINS = 10
RATIO_TO_ORACLE = ("mae_p50", "brier_late30", "brier_late30_fresh")
DIFFERENCE_TO_ORACLE = ("auc_late30", "auc_late30_fresh", "ece_late30", "ece_late30_fresh")
PAIRED_METRICS = ("mae_p50", "mae_p50_censored", "brier_late30")
"""Means of per-invoice losses (`invoice_losses`), so a method's gap to the model on the same
invoices has a standard error (`paired_se`): what says whether a window tells two methods apart."""

OracleSampler = Callable[[pd.DataFrame, date, int, int], np.ndarray]
"""``(invoices with invoice_id, cutoff, n_samples, seed) -> completion-day samples``, i.e.
`arcast.generate.oracle_sample_pay_dates` with the truth bound. Passed in by the caller because
``models/`` must not import the demo generator."""

Progress = Callable[[int, int, date, str], None]
"""``(cutoffs done, cutoffs in total, current cutoff, stage)``; stages: train, score, baselines,
oracle, done."""


@dataclass(frozen=True)
class CutoffRule:
    """Cutoffs derived from the data's end date; see `choose_cutoffs`."""

    every: str = "1M"
    last: int = 6
    min_outcome_days: int = MIN_OUTCOME_DAYS

    def __post_init__(self) -> None:
        _months(self.every)
        if self.last < 1:
            raise ValueError("last must be at least 1")

    def cutoffs(self, end: date) -> list[date]:
        return choose_cutoffs(end, self.every, self.last, self.min_outcome_days)


def _months(every: str) -> int:
    match = re.fullmatch(r"([1-9]\d*)M", every.strip())
    if not match:
        raise ValueError(f"every must look like '1M' (n month-ends apart), got {every!r}")
    return int(match.group(1))


def choose_cutoffs(
    end: date, every: str = "1M", last: int = 6, min_outcome_days: int = MIN_OUTCOME_DAYS
) -> list[date]:
    """Month-end cutoffs for a rolling-origin backtest, oldest first.

    The latest is the last month-end c with c + ``min_outcome_days`` <= ``end``; the others step
    back ``every`` (n months) until there are ``last``. The gap matters: without it most invoices
    open at c would still be unpaid at the end of the data, and the scores would only describe
    the quick payers.
    """
    step = _months(every)
    latest = end - timedelta(days=min_outcome_days)
    index = latest.year * 12 + latest.month - 1
    if month_end(index) > latest:
        index -= 1
    return [month_end(index - step * j) for j in reversed(range(last))]


# --- forecasts ---------------------------------------------------------------------------------


@dataclass
class Forecast:
    """One method's forecast of the completion day of each invoice (arrays aligned).

    Days are day numbers (days since 1970-01-01), floats so that point baselines may fall between
    days; ``inf`` = a quantile beyond the horizon. ``cdf[i, j]`` = P(paid by day origin_i + 1 + j)
    exists only for methods that forecast a distribution.
    """

    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    p_late: np.ndarray
    cdf: np.ndarray | None = None

    @classmethod
    def from_cdf(
        cls,
        origin: np.ndarray,
        cdf: np.ndarray,
        due_day: np.ndarray,
        p_late: np.ndarray | None = None,
    ) -> Forecast:
        """Quantiles and (unless given) p_late_30 from the CDF, as `PayDatePrediction` does."""
        if p_late is None:
            p_late = 1.0 - cdf_at(origin, cdf, np.asarray(due_day) + LATE_THRESHOLD_DAYS)
        p10, p50, p90 = (_quantile_days(origin, cdf, q) for q in (0.1, 0.5, 0.9))
        return cls(p10, p50, p90, np.asarray(p_late, dtype=np.float64), cdf)

    @classmethod
    def point(cls, p50: np.ndarray, p_late: np.ndarray) -> Forecast:
        missing = np.full(len(p50), np.nan)
        return cls(missing, np.asarray(p50, np.float64), missing, np.asarray(p_late, np.float64))


def _quantile_days(origin: np.ndarray, cdf: np.ndarray, q: float) -> np.ndarray:
    reached = cdf >= q
    first = reached.argmax(axis=1) + 1
    return np.where(reached.any(axis=1), np.asarray(origin) + first, np.inf)


def cdf_at(origin: np.ndarray, cdf: np.ndarray, day: np.ndarray) -> np.ndarray:
    """F(day) per row: 0 up to the origin, the last horizon value beyond the horizon."""
    offset = np.asarray(day, dtype=np.int64) - np.asarray(origin, dtype=np.int64)
    padded = np.concatenate([np.zeros((len(cdf), 1)), cdf], axis=1)
    return padded[np.arange(len(cdf)), np.clip(offset, 0, cdf.shape[1])]


def window_pit(
    origin: np.ndarray, cdf: np.ndarray, y: np.ndarray, window_end: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Randomised PIT under the forecast conditioned on payment by ``window_end``.

    NaN where y was not observed in the window (censored); 1 where the forecast gave the window
    no probability at all (the outcome lies outside its support).
    """
    seen = ~np.isnan(y) & (y <= window_end)
    day = np.where(seen, y, origin).astype(np.int64)
    mass = cdf_at(origin, cdf, window_end)
    scale = np.where(mass > 0, mass, 1.0)
    before = cdf_at(origin, cdf, day - 1) / scale
    at = cdf_at(origin, cdf, day) / scale
    pit = np.where(mass > 0, randomised_pit(before, at, u), 1.0)
    return np.where(seen, pit, np.nan)


LATE_STATS_AT_K = """
        avg(h.completion_day - h.due_day) FILTER (WHERE h.completion_day <= k.k) AS mean_late,
        median(h.completion_day - h.due_day) FILTER (WHERE h.completion_day <= k.k)
            AS median_late,
        avg((h.completion_day IS NULL OR h.completion_day > h.due_day + $late)::DOUBLE)
            FILTER (WHERE h.due_day + $late <= k.k
                    AND (h.completion_day IS NULL OR h.completion_day - h.due_day > k.d))
            AS share_late"""
"""Delay statistics of the invoices ``h`` known by the end of day ``k.k``: one customer's or
everyone's, the same definitions for both. The late-30 share is conditioned as the model's
p_late_30 and the baselines' dates are: among the invoices decided by k that were still unpaid
``k.d`` days past their due date, as the invoice scored is (a paid date after k is past due +
30, so past due + d, which is below 30: nothing later than k is read)."""

BASELINE_SQL = f"""
WITH keys AS (
    SELECT b.row_id, b.k, f.customer_id, f.due_day, LEAST(b.k - f.due_day, $late - 1) AS d
    FROM _baseline_keys AS b JOIN invoice_facts AS f USING (invoice_id)
),
known AS (  -- what the customer's other invoices showed by the end of day k
    SELECT k.row_id, {LATE_STATS_AT_K}
    FROM keys AS k
    JOIN invoice_facts AS h ON h.customer_id = k.customer_id AND h.issue_day <= k.k
    GROUP BY k.row_id
),
everyone AS (
    SELECT k.k, k.d, {LATE_STATS_AT_K}
    FROM (SELECT DISTINCT k, d FROM keys) AS k
    JOIN invoice_facts AS h ON h.issue_day <= k.k
    GROUP BY k.k, k.d
)
SELECT
    k.row_id,
    k.k,
    k.due_day,
    COALESCE(c.mean_late, e.mean_late, 0) AS mean_late,
    COALESCE(c.median_late, e.median_late, 0) AS median_late,
    COALESCE(c.share_late, e.share_late, 0) AS share_late
FROM keys AS k
LEFT JOIN known AS c USING (row_id)
LEFT JOIN everyone AS e USING (k, d)
ORDER BY k.row_id
"""


def baselines(con: duckdb.DuckDBPyConnection, keys: pd.DataFrame) -> dict[str, Forecast]:
    """Due-date and customer mean/median forecasts for ``keys`` (invoice_id, knowledge day k).

    Only invoices completed by the end of day k (and late-30 outcomes decided by then) are used,
    the same point-in-time rule as the model's features.
    """
    frame = pd.DataFrame(
        {
            "row_id": np.arange(len(keys)),
            "invoice_id": keys["invoice_id"].to_numpy(),
            "k": keys["k"].to_numpy(dtype=np.int64),
        }
    )
    cursor = con.cursor()  # own connection: a result the caller left unfetched cannot block it
    try:
        cursor.register("_baseline_keys", frame)
        rows = cursor.execute(BASELINE_SQL, {"late": LATE_THRESHOLD_DAYS}).df()
    finally:
        cursor.close()
    if len(rows) != len(keys):
        raise ValueError("some baseline keys are not in invoice_facts")
    k = rows["k"].to_numpy(dtype=np.float64)
    due = rows["due_day"].to_numpy(dtype=np.float64)
    already_late = (k - due >= LATE_THRESHOLD_DAYS).astype(np.float64)
    share = np.where(already_late > 0, 1.0, rows["share_late"].to_numpy(dtype=np.float64))
    return {
        "due_date": Forecast.point(np.maximum(due, k + 1), already_late),
        "customer_mean": Forecast.point(np.maximum(due + rows["mean_late"], k + 1), share),
        "customer_median": Forecast.point(np.maximum(due + rows["median_late"], k + 1), share),
    }


def oracle_predictions(
    samples: np.ndarray, invoices: pd.DataFrame, cutoff: date, horizon: int
) -> Forecast:
    """The true process's forecast for ``invoices`` (due_day) open at ``cutoff``, from its
    completion-day ``samples`` (one row per invoice, one column per draw).

    The CDF over the model's horizon comes from the sample counts; p_late_30 is the share of
    samples after due + 30, never-paid samples included.
    """
    origin = to_day(cutoff)
    n, n_samples = samples.shape
    ahead = samples - origin
    row, col = np.nonzero((ahead >= 1) & (ahead <= horizon))
    flat = row * horizon + ahead[row, col] - 1
    counts = np.bincount(flat, minlength=n * horizon).reshape(n, horizon)
    cdf = np.cumsum(counts, axis=1) / n_samples
    due = invoices["due_day"].to_numpy(dtype=np.int64)
    p_late = (samples > (due + LATE_THRESHOLD_DAYS)[:, None]).mean(axis=1)
    return Forecast.from_cdf(np.full(n, origin), cdf, due, p_late)


# --- scoring -----------------------------------------------------------------------------------


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over equal-width bins of (bin share) x |mean forecast - observed rate|."""
    if len(p) == 0:
        return float("nan")
    b = np.minimum((np.asarray(p) * bins).astype(np.int64), bins - 1)
    gap = np.bincount(b, weights=p, minlength=bins) - np.bincount(b, weights=y, minlength=bins)
    return float(np.abs(gap).sum() / len(p))


def _late_metrics(p: np.ndarray, late: np.ndarray, suffix: str) -> dict[str, float]:
    both_classes = 0 < late.sum() < len(late)
    return {
        f"n_late30{suffix}": float(len(late)),
        f"late30_rate{suffix}": float(late.mean()) if len(late) else np.nan,
        f"auc_late30{suffix}": float(roc_auc_score(late, p)) if both_classes else np.nan,
        f"brier_late30{suffix}": float(np.mean((p - late) ** 2)) if len(late) else np.nan,
        f"ece_late30{suffix}": expected_calibration_error(p, late),
    }


def scored_p50(frame: pd.DataFrame) -> np.ndarray:
    """p50 as MAE scores it: a median beyond the horizon ("not within it") counts as the day
    after the horizon, so never-paid forecasts get a finite error."""
    return np.minimum(frame["p50"].to_numpy(np.float64), frame["horizon_end"].to_numpy() + 1.0)


def censored_p50_errors(frame: pd.DataFrame) -> np.ndarray:
    """Each invoice's least p50 error consistent with the data (``mae_p50_censored``).

    Paid on day y: |p50 - y|, where a p50 beyond the horizon end h (scored as h + 1) claims only
    "after h", so it errs by the days a payment came before h + 1. Unpaid at the data's end E:
    the payment is after E, so a p50 errs by the days it fell short of E + 1, and one beyond
    the horizon not at all."""
    y = frame["completion_day"].to_numpy(dtype=np.float64)
    p50 = scored_p50(frame)
    after = frame["horizon_end"].to_numpy(dtype=np.float64) + 1.0
    beyond = p50 >= after
    paid = np.where(beyond, np.maximum(after - y, 0.0), np.abs(p50 - y))
    unpaid = np.where(beyond, 0.0, np.maximum(frame["end_day"].to_numpy() + 1.0 - p50, 0.0))
    return np.where(np.isnan(y), unpaid, paid)


def _late_outcomes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``known``: invoices whose late-30 label the data decides (due + 30 within it); ``late``:
    that label."""
    due = frame["due_day"].to_numpy(dtype=np.int64)
    known = due + LATE_THRESHOLD_DAYS <= frame["end_day"].to_numpy()
    return known, is_late(frame["completion_day"].to_numpy(dtype=np.float64), due)


def invoice_losses(frame: pd.DataFrame) -> pd.DataFrame:
    """Each invoice's own term of the paired metrics (`PAIRED_METRICS`): its absolute p50 error
    (NaN unless paid within the data) and its late-30 squared error (NaN unless the label is
    known). Two methods' losses on the same invoices difference into a paired comparison."""
    y = frame["completion_day"].to_numpy(dtype=np.float64)
    known, late = _late_outcomes(frame)
    p_late = frame["p_late"].to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "mae_p50": np.abs(scored_p50(frame) - y),
            "mae_p50_censored": censored_p50_errors(frame),
            "brier_late30": np.where(known, (p_late - late) ** 2, np.nan),
        },
        index=frame.index,
    )


def score(frame: pd.DataFrame) -> dict[str, float]:
    """Metrics of one method on one set of invoices (see the module docstring).

    ``frame`` has one row per invoice: origin (knowledge day), due_day, completion_day (NaN if not
    paid within the data), end_day (last day of the data), horizon_end, p10, p50, p90, p_late,
    pit (NaN where not computed).
    """
    y = frame["completion_day"].to_numpy(dtype=np.float64)
    paid = ~np.isnan(y)
    p50 = scored_p50(frame)
    error = p50[paid] - y[paid]
    p10 = frame["p10"].to_numpy(np.float64)[paid]
    p90 = frame["p90"].to_numpy(np.float64)[paid]
    has_interval = paid.any() and not np.isnan(p10).all()
    pit = frame["pit"].dropna().to_numpy()
    low, high = PIT_INTERVAL
    metrics = {
        "n_open": float(len(frame)),
        "n_paid": float(paid.sum()),
        "mae_p50": float(np.abs(error).mean()) if paid.any() else np.nan,
        "mae_p50_censored": float(censored_p50_errors(frame).mean()) if len(frame) else np.nan,
        "bias_p50": float(error.mean()) if paid.any() else np.nan,
        "coverage_p10_p90": float(((p10 <= y[paid]) & (y[paid] <= p90)).mean())
        if has_interval
        else np.nan,
        "n_pit": float(len(pit)),
        "pit_coverage": float(((pit >= low) & (pit <= high)).mean()) if len(pit) else np.nan,
    }
    known, late = _late_outcomes(frame)
    overdue_days = frame["origin"].to_numpy() - frame["due_day"].to_numpy(dtype=np.int64)
    fresh = known & (overdue_days < LATE_THRESHOLD_DAYS)
    p_late = frame["p_late"].to_numpy(dtype=np.float64)
    metrics |= _late_metrics(p_late[known], late[known].astype(np.float64), "")
    metrics |= _late_metrics(p_late[fresh], late[fresh].astype(np.float64), "_fresh")
    return metrics


def evaluation_rows(
    invoices: pd.DataFrame, forecasts: dict[str, Forecast], u: np.ndarray
) -> pd.DataFrame:
    """One row per (method, invoice): the forecast summary next to the outcome, with its PIT.

    ``u`` (one uniform per invoice) is shared by all methods, so PIT differences between methods
    are not noise from the randomisation.
    """
    origin = invoices["origin"].to_numpy(dtype=np.int64)
    y = invoices["completion_day"].to_numpy(dtype=np.float64)
    window_end = np.minimum(invoices["end_day"], invoices["horizon_end"]).to_numpy()
    parts = []
    for method, f in forecasts.items():
        pit = (
            window_pit(origin, f.cdf, y, window_end, u)
            if f.cdf is not None
            else np.full(len(invoices), np.nan)
        )
        summary = {"p10": f.p10, "p50": f.p50, "p90": f.p90, "p_late": f.p_late, "pit": pit}
        parts.append(invoices.assign(method=method, **summary))
    return pd.concat(parts, ignore_index=True)


def invoice_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``backtest_invoices.csv``: per cutoff, method and invoice, the dates forecast and paid
    (empty: beyond the horizon, or unpaid by the data's end), p_late_30 and the p50's errors, so
    that a user can find the invoices that carry a method's gap instead of recomputing them."""

    def dates(days: pd.Series) -> pd.Series:
        finite = days.astype(np.float64).where(np.isfinite(days.astype(np.float64)))
        return pd.to_datetime(finite, unit="D").dt.date

    return pd.DataFrame(
        {
            "cutoff": rows["cutoff"],
            "method": rows["method"],
            "invoice_id": rows["invoice_id"],
            "customer_id": rows["customer_id"],
            "due_date": dates(rows["due_day"]),
            "paid_date": dates(rows["completion_day"]),
            "p10_date": dates(rows["p10"]),
            "p50_date": dates(rows["p50"]),
            "p90_date": dates(rows["p90"]),
            "p_late_30": rows["p_late"].round(4),
            "error_p50": invoice_losses(rows)["mae_p50"],
            "error_p50_censored": censored_p50_errors(rows),
        }
    )


def _segment(frame: pd.DataFrame, segment: str) -> pd.DataFrame:
    if segment == "all":
        return frame
    overdue = frame["due_day"] < frame["origin"]
    return frame[overdue if segment == "overdue" else ~overdue]


def paired_se(gap: np.ndarray, customer: np.ndarray) -> float:
    """Standard error of the mean of per-invoice gaps between two methods, clustered by customer.

    A customer's invoices share its surprises (a slow month, a dispute), so they are not
    independent draws: the spread is taken over customers' summed deviations, which on a window
    of a few hundred invoices is what says whether a gap of a few tenths of a day is news. A
    ledger of one customer has nothing to generalise across, so its invoices count one by one;
    NaN below two invoices.
    """
    kept = ~np.isnan(gap)
    gap, customer = gap[kept], customer[kept]
    codes, uniques = pd.factorize(customer)
    clusters = uniques.size
    if clusters < 2:
        codes, clusters = np.arange(gap.size), gap.size
    if clusters < 2:
        return float("nan")
    deviations = np.bincount(codes, weights=gap - gap.mean())
    return float(np.sqrt(clusters / (clusters - 1) * np.sum(deviations**2)) / gap.size)


def _gaps_to_model(rows: pd.DataFrame) -> pd.DataFrame | None:
    """Each row's `invoice_losses` minus the model's on the same (cutoff, invoice); None without
    model rows."""
    model = rows["method"] == "model"
    if not model.any():
        return None
    losses = invoice_losses(rows)
    own = losses[model].set_axis(
        pd.MultiIndex.from_frame(rows.loc[model, ["cutoff", "invoice_id"]])
    )
    where = pd.MultiIndex.from_frame(rows[["cutoff", "invoice_id"]])
    return losses - own.reindex(where).to_numpy()


def metrics_table(rows: pd.DataFrame, segments: Sequence[str] = SEGMENTS) -> pd.DataFrame:
    """One row per cutoff x segment x method, plus ``cutoff == "pooled"`` over all cutoffs.

    Pooled metrics are computed on the union of the invoice-cutoff pairs, not averaged. Where
    the rows hold the model, every other method's `PAIRED_METRICS` also get ``<metric>_gap_se``: the
    `paired_se` of its gap to the model's on the same invoices.
    """
    gaps = _gaps_to_model(rows)
    table = []
    groups = [*rows.groupby("cutoff", sort=True), ("pooled", rows)]
    for cutoff, by_cutoff in groups:
        for method, by_method in by_cutoff.groupby("method", sort=False):
            for segment in segments:
                part = _segment(by_method, segment)
                if not len(part):
                    continue
                entry = {"cutoff": cutoff, "segment": segment, "method": method, **score(part)}
                if gaps is not None and method != "model":
                    customer = part["customer_id"].to_numpy()
                    for metric in PAIRED_METRICS:
                        gap = gaps.loc[part.index, metric].to_numpy()
                        entry[f"{metric}_gap_se"] = paired_se(gap, customer)
                table.append(entry)
    return _versus_oracle(pd.DataFrame(table))


def format_metric(value: object, count: bool = False) -> str:
    """A metric as the tables print it: counts with thousands separators, days with 2 decimals,
    rates and scores with 3, "–" where a method has no such output (a baseline's interval)."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return "–"
    if count or isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"


def _versus_oracle(table: pd.DataFrame) -> pd.DataFrame:
    """Add model/oracle ratios (errors) and differences (AUC, ECE) for the same cutoff, segment."""
    if "oracle" not in set(table["method"]):
        return table
    oracle = table[table["method"] == "oracle"].set_index(["cutoff", "segment"])
    where = pd.MultiIndex.from_frame(table[["cutoff", "segment"]])
    for name in RATIO_TO_ORACLE:
        table[f"{name}_vs_oracle"] = table[name].to_numpy() / oracle[name].reindex(where).to_numpy()
    for name in DIFFERENCE_TO_ORACLE:
        table[f"{name}_minus_oracle"] = (
            table[name].to_numpy() - oracle[name].reindex(where).to_numpy()
        )
    return table


# --- runs --------------------------------------------------------------------------------------


@dataclass
class BacktestResult:
    """``metrics``: see `metrics_table`; ``rows``: see `evaluation_rows` (plus a ``cutoff``
    column); ``summary``: settings, timings and pooled metrics, JSON-ready. Rolling-origin runs
    also score the 13-week cash forecast: ``cash`` (`cash_rows`) and ``cash_metrics``
    (`cash_metrics`); empty otherwise."""

    metrics: pd.DataFrame
    rows: pd.DataFrame
    summary: dict
    cash: pd.DataFrame = field(default_factory=pd.DataFrame)
    cash_metrics: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_warehouse(data_dir: Path, base_currency: str) -> tuple[duckdb.DuckDBPyConnection, dict]:
    """Load the ledger and build the fact tables once: they are as-of independent, and every
    lookup applies its own ``day <= k`` cut."""
    loaded = load_ledger(data_dir, base_currency)
    con = duckdb.connect()
    load_tables(con, loaded.tables)
    build_fact_tables(con, loaded.base_currency)
    latest = [
        pd.to_datetime(loaded.tables[name][col]).max()
        for name, col in (("invoices", "issue_date"), ("payments", "payment_date"))
        if len(loaded.tables[name])
    ]
    if not latest:
        raise ValueError(f"{data_dir}: no accepted invoices")
    info = {
        "data_dir": str(data_dir),
        "data_end": max(latest).date(),
        "invoices": len(loaded.tables["invoices"]),
        "quarantined_rows": len(loaded.quarantine),
    }
    return con, info


def scored_invoices(
    con: duckdb.DuckDBPyConnection, known: pd.DataFrame, horizon: int, end_day: int
) -> pd.DataFrame:
    """Who is scored (from the scoring features ``known``) and what happened to them later."""
    origin = known["k"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "invoice_id": known["invoice_id"].to_numpy(),
            "customer_id": known["customer_id"].to_numpy(),
            "origin": origin,
            "due_day": known["due_day"].to_numpy(dtype=np.int64),
            "completion_day": completion_days(con, known["invoice_id"]),
            "end_day": end_day,
            "horizon_end": origin + horizon,
        }
    )


def evaluate_window(
    con: duckdb.DuckDBPyConnection,
    prediction: PayDatePrediction,
    horizon: int,
    end_day: int,
    seed: int = 42,
) -> BacktestResult:
    """Score ``prediction`` (made by a model trained at its as-of day) and the baselines on its
    invoices, against outcomes up to ``end_day`` (later ones are treated as unknown, as if the
    data ended there). The promotion gate's window: see `models.promotion`."""
    cutoff = prediction.as_of
    invoices = scored_invoices(con, prediction.known, horizon, end_day)
    invoices["completion_day"] = invoices["completion_day"].where(
        invoices["completion_day"] <= end_day
    )
    origin, due = invoices["origin"].to_numpy(), invoices["due_day"].to_numpy()
    forecasts = {"model": Forecast.from_cdf(origin, prediction.cdf, due, prediction.p_late())}
    forecasts |= baselines(con, prediction.known)
    u = pit_uniforms(seed, to_day(cutoff), len(invoices))
    rows = evaluation_rows(invoices.assign(cutoff=cutoff.isoformat()), forecasts, u)
    metrics = metrics_table(rows)
    metrics = metrics[metrics["cutoff"] != "pooled"].reset_index(drop=True)
    return BacktestResult(metrics, rows, {"cutoff": cutoff.isoformat(), "end_day": end_day})


def model_scores(metrics: pd.DataFrame, segment: str = "all") -> dict[str, float]:
    """The model's metrics on one segment of an evaluation's metrics table."""
    chosen = (metrics["method"] == "model") & (metrics["segment"] == segment)
    (row,) = metrics[chosen].to_dict(orient="records")
    return {k: float(v) for k, v in row.items() if k not in ("cutoff", "segment", "method")}


SPREADSHEET_BASELINES = ("customer_mean", "customer_median")
"""The method arcast has to beat on every ledger: due date + the customer's usual delay."""
BASELINE_METRICS = {
    "mae_p50_censored": ("p50 MAE counting unpaid invoices", " days", ".2f"),
    "brier_late30": ("late-30 Brier", "", ".3f"),
}
"""What the verdict judges. Not ``mae_p50``: scored on paid invoices only, it charges a median
that rightly says an old debt will not be paid within the horizon in full for each of the few
that are, and a spreadsheet forecast of "tomorrow" nothing for the many that are not (on an
onboarding ledger with years-old debts, 10 such invoices carried 94% of the model's deficit)."""
PAID_ONLY_P50 = {"mae_p50": ("p50 MAE", " days", ".2f")}
"""Judged instead on a window table logged before ``mae_p50_censored`` was kept."""


NOISE_Z = 2.0
"""A model behind the best spreadsheet method by at most this many standard errors of the gap
(`paired_se`) is level with it: the window cannot tell the two apart."""


def versus_baselines(metrics: pd.DataFrame, segment: str = "all") -> dict:
    """The model against the spreadsheet methods on one evaluation (e.g. a backtest window).

    On the demo ledger the model is ahead of them, but a small or young ledger gives the
    trees little to learn from, and there the customer's own average delay can be the better
    forecast; a user should be told so rather than find out. A window of a few hundred invoices
    is a noisy judge, though, and a warning on every run that rests on a gap of a few tenths of a
    day teaches users to ignore it. So, per metric of ``BASELINE_METRICS``: ``behind`` names
    where the best baseline did better by more than ``NOISE_Z`` standard errors of the gap (or
    where the table has none: a single paid invoice, or a table from before they were kept),
    ``level`` where it did better by less, ``ahead`` where it did not; each names the figures
    and the noise. ``beats_baselines`` is True when ``behind`` is empty. ``scores`` holds each
    method's metrics and, for the baselines, the gaps' standard errors.
    """
    rows = metrics[metrics["segment"] == segment].set_index("method")
    methods = [m for m in ("model", *SPREADSHEET_BASELINES) if m in rows.index]
    if "model" not in methods:
        raise ValueError(f"no model row for segment {segment!r}")
    judged = dict(BASELINE_METRICS)
    if "mae_p50_censored" not in rows.columns:
        judged = PAID_ONLY_P50 | {k: v for k, v in judged.items() if k != "mae_p50_censored"}
    columns = [c for k in judged for c in (k, f"{k}_gap_se") if c in rows.columns]
    scores = {m: {c: float(rows.at[m, c]) for c in columns} for m in methods}
    scores["model"] = {k: scores["model"][k] for k in judged}
    found: dict[str, list[str]] = {"ahead": [], "level": [], "behind": []}
    for metric, (label, unit, spec) in judged.items():
        own = scores["model"][metric]
        known = [m for m in methods[1:] if np.isfinite(scores[m][metric])]
        if not known or not np.isfinite(own):
            continue
        best = min(known, key=lambda m: scores[m][metric])
        theirs = scores[best][metric]
        text = f"{label} {own:{spec}}{unit} against the {best.replace('_', ' ')}'s {theirs:{spec}}"
        noise = NOISE_Z * scores[best].get(f"{metric}_gap_se", np.nan)
        if np.isfinite(noise):
            side = "within" if abs(own - theirs) <= noise else "beyond"
            text = f"{text}, {side} the window's noise of ±{noise:{spec}}{unit}"
        state = "ahead" if own <= theirs else "level" if own - theirs <= noise else "behind"
        found[state].append(text)
    return {"scores": scores, **found, "beats_baselines": not found["behind"]}


def describe_versus(verdict: dict) -> str:
    """One sentence on a `versus_baselines` verdict, for the check and the CFO report."""
    for state, opening in (
        ("behind", "Behind the spreadsheet method"),
        ("level", "Level with the spreadsheet method"),
        ("ahead", "Ahead of the spreadsheet method"),
    ):
        if verdict[state]:
            return f"{opening} on the backtest window: {'; '.join(verdict[state])}."
    return "The backtest window had no outcome to compare the model with the spreadsheet method on."


def cutoffs_with_history(
    con: duckdb.DuckDBPyConnection, chosen: list[date], skip: bool
) -> tuple[list[date], list[date]]:
    """Split ``chosen`` into cutoffs with a payment by them (a model can be trained) and those
    without. Those without are skipped if ``skip`` (a rule's choice), else an error names them;
    so is a ledger where no cutoff is left."""
    first = con.execute("SELECT min(completion_day) FROM invoice_facts").fetchone()[0]
    if first is None:
        raise NoPaymentHistoryError("no invoice in the ledger was ever paid: nothing to backtest")
    early = [c for c in chosen if to_day(c) < first]
    kept = [c for c in chosen if to_day(c) >= first]
    if early and (not skip or not kept):
        names = ", ".join(c.isoformat() for c in early)
        raise NoPaymentHistoryError(
            f"no invoice was paid by cutoff(s) {names}: the first payment is on "
            f"{from_day(first)}, so a model could not be trained there"
        )
    return kept, early


def run_backtest(
    data_dir: str | Path,
    cutoffs: Sequence[date] | CutoffRule,
    config: TrainingConfig | None = None,
    progress: Progress | None = None,
    *,
    oracle: OracleSampler | None = None,
    oracle_samples: int = ORACLE_SAMPLES,
    seed: int = 42,
    base_currency: str = "USD",
) -> BacktestResult:
    """Rolling-origin backtest of the model, the baselines and (if given) the oracle.

    Explicit ``cutoffs`` are taken as given (each must lie before the data's end and after the
    first payment); a `CutoffRule` picks them from the data's end date and skips those with
    nothing paid by them (a young ledger), listing them in the summary as ``skipped_cutoffs``.
    """
    config = config or TrainingConfig()
    con, info = load_warehouse(Path(data_dir), base_currency)
    try:
        end = info["data_end"]
        chosen = cutoffs.cutoffs(end) if isinstance(cutoffs, CutoffRule) else sorted(set(cutoffs))
        if not chosen or chosen[-1] >= end:
            raise ValueError(f"every cutoff must lie before the end of the data ({end})")
        chosen, skipped = cutoffs_with_history(con, chosen, isinstance(cutoffs, CutoffRule))
        first = con.execute("SELECT min(issue_day) FROM invoice_facts").fetchone()[0]
        calendar = holiday_calendar(con, first, to_day(chosen[-1]) + config.horizon_days + 31)
        parts, cash_parts, per_cutoff = [], [], []
        for i, cutoff in enumerate(chosen):

            def stage(name: str, i: int = i, cutoff: date = cutoff) -> None:
                if progress is not None:
                    progress(i + (name == "done"), len(chosen), cutoff, name)

            rows, cash, details = _backtest_cutoff(
                con,
                cutoff,
                calendar,
                config,
                to_day(end),
                stage,
                oracle,
                oracle_samples,
                seed,
                base_currency,
            )
            parts.append(rows)
            cash_parts.append(cash)
            per_cutoff.append(details)
    finally:
        con.close()
    rows = pd.concat(parts, ignore_index=True)
    metrics = metrics_table(rows)
    cash = pd.concat(cash_parts, ignore_index=True)
    cash_table = cash_metrics(cash)
    summary = _summary("rolling_origin", info, config, seed, metrics, per_cutoff)
    summary["cutoff_rule"] = (
        asdict(cutoffs) if isinstance(cutoffs, CutoffRule) else "explicit cutoffs, taken as given"
    )
    summary["skipped_cutoffs"] = [c.isoformat() for c in skipped]
    summary["oracle_samples"] = oracle_samples if oracle is not None else 0
    rho = {d["cutoff"]: {k: d[k] for k in ("cash_rho", "cash_rho_runs")} for d in per_cutoff}
    summary["cash"] = cash_summary(cash_table, rho)
    return BacktestResult(metrics, rows, summary, cash, cash_table)


def _backtest_cutoff(
    con: duckdb.DuckDBPyConnection,
    cutoff: date,
    calendar: Calendar,
    config: TrainingConfig,
    end_day: int,
    stage: Callable[[str], None],
    oracle: OracleSampler | None,
    oracle_samples: int,
    seed: int,
    base_currency: str,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Pay-date evaluation rows, cash rows (see `models.cash_backtest`) and details of a cutoff."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 2)
        clock = now

    stage("train")
    model = train_pay_date_model(con, cutoff, calendar, config)
    lap("train")
    stage("score")
    prediction = predict_open_invoices(con, model, cutoff, calendar)
    known = prediction.known
    invoices = scored_invoices(con, known, config.horizon_days, end_day)
    origin, due = invoices["origin"].to_numpy(), invoices["due_day"].to_numpy()
    forecasts = {"model": Forecast.from_cdf(origin, prediction.cdf, due, prediction.p_late())}
    open_ar = open_receivables(con, cutoff, base_currency).reindex(known["invoice_id"])
    amounts = open_ar["amount_open_base"].to_numpy(dtype=np.float64)
    groups = known["customer_id"].to_numpy()
    cash = {
        "model": cash_forecast(
            prediction.pmf,
            amounts,
            groups,
            cutoff,
            CASH_WEEKS,
            CASH_SIMS,
            rho=model.invoice_rho(known),
            seed=seed,
        )
    }
    lap("score")
    stage("baselines")
    forecasts |= baselines(con, known)
    cash["due_date"] = point_frame(cutoff, due_date_cash(amounts, due, cutoff))
    buckets = aging_bucket(open_ar["days_overdue"].to_numpy())
    open_by_bucket = np.bincount(buckets, weights=amounts, minlength=len(AGING_BUCKETS))
    curves = collection_curves(con, curve_snapshots(cutoff), base_currency)
    cash["collection_curve"] = band_frame(cutoff, *collection_curve_cash(open_by_bucket, curves))
    lap("baselines")
    if oracle is not None:
        stage("oracle")
        samples = oracle(invoices[["invoice_id"]], cutoff, oracle_samples, seed)
        forecasts["oracle"] = oracle_predictions(samples, invoices, cutoff, config.horizon_days)
        joint = sample_weekly_cash(samples, amounts, cutoff)
        cash["oracle"] = band_frame(cutoff, joint.mean(axis=0), joint)
        lap("oracle")
    rows = evaluation_rows(
        invoices.assign(cutoff=cutoff.isoformat()),
        forecasts,
        pit_uniforms(seed, to_day(cutoff), len(invoices)),
    )
    actual = weekly_collections(con, cutoff, open_ar).sum(axis=0)
    stage("done")
    details = {
        "cutoff": cutoff.isoformat(),
        "open_invoices": len(invoices),
        "paid_later": int(invoices["completion_day"].notna().sum()),
        "cash_rho": model.cash_rho,
        "cash_rho_runs": model.cash_rho_runs,
        "seconds": seconds,
        "training": model.metrics,
    }
    return rows, cash_rows(cutoff, actual, cash), details


TEST_KEYS_SQL = """
CREATE OR REPLACE TEMP TABLE feature_keys AS
SELECT row_number() OVER (ORDER BY issue_day, invoice_id) - 1 AS row_id, invoice_id, issue_day AS k
FROM invoice_facts
WHERE issue_day >= $start AND issue_day < $stop
"""


def refit_dates(train_until: date, test_from: date, last_issue: date, months: int) -> list[date]:
    """Training dates of a walk-forward test: ``train_until``, then every ``months`` month-ends
    from the one before ``test_from`` on, while invoices remain to be scored."""
    if months <= 0:
        return [train_until]
    dates = [train_until]
    index = test_from.year * 12 + test_from.month - 2 + months
    while (cutoff := month_end(index)) < last_issue:
        if cutoff > dates[-1]:
            dates.append(cutoff)
        index += months
    return dates


def run_at_issue(
    data_dir: str | Path,
    train_until: date,
    test_from: date,
    config: TrainingConfig | None = None,
    progress: Progress | None = None,
    *,
    refit_months: int = 0,
    seed: int = 42,
    base_currency: str = "USD",
) -> BacktestResult:
    """Score each invoice issued from ``test_from`` on as of the end of its issue day (features via
    ``knowledge_features`` at k = issue day), with a model trained at ``train_until``.

    This is the protocol of the IBM sample's public reference: every test invoice is forecast
    with only what was known on its invoice date. With ``refit_months`` > 0 the test walks
    forward as arcast runs in production: the model is refit at every n-th month-end and each
    invoice is scored by the latest model trained before its issue day, still point-in-time.
    Invoices paid on their issue day stay in (their actual day lies before every forecast day),
    so the population is the reference's.
    """
    if test_from <= train_until:
        raise ValueError("test_from must be after train_until, or the model sees the test outcomes")
    config = config or TrainingConfig()
    con, info = load_warehouse(Path(data_dir), base_currency)
    try:
        first, last = con.execute(
            "SELECT min(issue_day), max(issue_day) FROM invoice_facts"
        ).fetchone()
        if last < to_day(test_from):
            raise ValueError(f"no invoice issued on or after {test_from}")
        calendar = holiday_calendar(con, first, last + config.horizon_days + 31)
        trained = refit_dates(train_until, test_from, from_day(last), refit_months)
        seconds = {"train": 0.0, "score": 0.0, "baselines": 0.0}
        parts, models = [], []
        for i, cutoff in enumerate(trained):
            if progress is not None:
                progress(i, len(trained), cutoff, "train")
            started = time.perf_counter()
            model = train_pay_date_model(con, cutoff, calendar, config)
            seconds["train"] += time.perf_counter() - started
            models.append({"trained_until": cutoff.isoformat(), **model.metrics})
            if progress is not None:
                progress(i, len(trained), cutoff, "score")
            started = time.perf_counter()
            scored_from = to_day(test_from) if i == 0 else to_day(cutoff) + 1
            stop = to_day(trained[i + 1]) + 1 if i + 1 < len(trained) else last + 1
            con.execute(TEST_KEYS_SQL, {"start": scored_from, "stop": stop})
            known = knowledge_features(con)
            if len(known):
                pmf = hazard_pmf(model, key_matrix(known, model.vocab, calendar), calendar)
                invoices = scored_invoices(
                    con, known, config.horizon_days, to_day(info["data_end"])
                )
                origin, due = invoices["origin"].to_numpy(), invoices["due_day"].to_numpy()
                cdf = np.cumsum(pmf, axis=1)
                raw = 1.0 - cdf_at(origin, cdf, due + LATE_THRESHOLD_DAYS)
                p_late = calibrate_p_late(model.late_calibration, raw, origin - due)
                forecast = Forecast.from_cdf(origin, cdf, due, p_late)
                seconds["score"] += time.perf_counter() - started
                started = time.perf_counter()
                forecasts = {"model": forecast, **baselines(con, known)}
                seconds["baselines"] += time.perf_counter() - started
                u = pit_uniforms(seed, to_day(cutoff), len(invoices))
                parts.append(evaluation_rows(invoices, forecasts, u))
    finally:
        con.close()
    rows = pd.concat(parts, ignore_index=True).assign(cutoff=train_until.isoformat())
    if progress is not None:
        progress(len(trained), len(trained), trained[-1], "done")
    metrics = metrics_table(rows, segments=("all",))
    details = {
        "cutoff": train_until.isoformat(),
        "test_from": test_from.isoformat(),
        "refit_months": refit_months,
        "test_invoices": int((rows["method"] == "model").sum()),
        "paid_later": int(rows.loc[rows["method"] == "model", "completion_day"].notna().sum()),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "models": models,
    }
    return BacktestResult(
        metrics, rows, _summary("at_issue", info, config, seed, metrics, [details])
    )


def _summary(
    mode: str,
    info: dict,
    config: TrainingConfig,
    seed: int,
    metrics: pd.DataFrame,
    per_cutoff: list[dict],
) -> dict:
    pooled = metrics[metrics["cutoff"] == "pooled"].drop(columns="cutoff")
    by_method: dict[str, dict] = {}
    for record in pooled.to_dict(orient="records"):
        method, segment = record.pop("method"), record.pop("segment")
        by_method.setdefault(method, {})[segment] = {
            k: (None if pd.isna(v) else round(float(v), 6)) for k, v in record.items()
        }
    return {
        "mode": mode,
        **{**info, "data_end": info["data_end"].isoformat()},
        "seed": seed,
        "training_config": asdict(config),
        "late_threshold_days": LATE_THRESHOLD_DAYS,
        "pit": "randomised, on invoices paid within min(data end, origin + horizon), under the "
        "forecast conditioned on payment within that window",
        "cutoffs": per_cutoff,
        "pooled": by_method,
    }
