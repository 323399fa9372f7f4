"""Model matrices for the pay-date hazard model.

A row is (invoice, day d, knowledge day k): what was known about the invoice and its customer at
the end of day k (from ``knowledge_features.sql``) plus calendar facts about d. Training and
scoring build their rows through the same two functions, so a feature cannot mean one thing when
the model learns it and another when it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import holidays
import numpy as np
import pandas as pd

from features.warehouse import EPOCH, from_day, read_sql, to_day

CATEGORICAL = ("segment", "country", "currency")

NUMERIC = (
    "lead_days",
    "age_days",
    "days_overdue",
    "days_overdue_at_knowledge",
    "terms_days",
    "customer_terms_days",
    "log_amount_base",
    "amount_vs_customer_median",
    "customer_prior_invoices",
    "hist_n",
    "hist_mean_late",
    "hist_std_late",
    "hist_share_late",
    "hist_share_late30",
    "hist_mean_days_to_pay",
    "last_late",
    "last3_mean_late",
    "last6_mean_late",
    "last10_median_late",
    "last10_p90_late",
    "trend_late_per_30d",
    "ewm_late",
    "gap_to_mean_late",
    "gap_to_median_late",
    "gap_to_last3_late",
    "gap_to_ewm_late",
    "weekday_share",
    "month_end_share",
    "days_since_customer_payment",
    "customer_open_count",
    "log_customer_open_amount",
    "customer_overdue_count",
    "log_customer_overdue_amount",
    "paid_share",
    "partial_payments",
    "days_since_partial_payment",
    "dispute_open",
    "disputes_total",
    "days_since_dispute_opened",
    "weekday",
    "day_of_month",
    "days_to_month_end",
    "month",
    "business_day",
)

FEATURES: tuple[str, ...] = NUMERIC + CATEGORICAL


@dataclass
class Vocabulary:
    """Category codes learnt at training time; unseen values map to missing (-1)."""

    values: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> Vocabulary:
        return cls(
            {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in CATEGORICAL}
        )

    def encode(self, frame: pd.DataFrame, column: str) -> np.ndarray:
        codes = pd.Categorical(frame[column].astype("string"), categories=self.values[column])
        return np.asarray(codes.codes, dtype=np.float32)


class HolidayCalendar:
    """Business-day lookup per customer country; unknown countries get weekends only."""

    def __init__(self, countries: list[str], first_day: int, last_day: int) -> None:
        self.first_day = first_day
        n = last_day - first_day + 1
        days = np.arange(first_day, last_day + 1)
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday (weekday 3)
        self.codes = {c: i for i, c in enumerate(sorted(set(countries)))}
        self.table = np.repeat((weekday < 5)[None, :], len(self.codes) + 1, axis=0)
        years = range(from_day(first_day).year, from_day(last_day).year + 1)
        for country, idx in self.codes.items():
            try:
                cal = holidays.country_holidays(country, years=years)
            except NotImplementedError:
                continue
            for hol in cal:
                pos = to_day(hol) - first_day
                if 0 <= pos < n:
                    self.table[idx, pos] = False

    def business_day(self, country: pd.Series, day: np.ndarray) -> np.ndarray:
        idx = country.map(self.codes).fillna(len(self.codes)).to_numpy(dtype=np.int64)
        pos = np.clip(day - self.first_day, 0, self.table.shape[1] - 1)
        return self.table[idx, pos]


def knowledge_features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Features for every key in the temp table ``feature_keys`` (ordered by row_id)."""
    return con.execute(read_sql("knowledge_features")).df()


def holiday_calendar(
    con: duckdb.DuckDBPyConnection, first_day: int, last_day: int
) -> HolidayCalendar:
    countries = [r[0] for r in con.execute(
        "SELECT DISTINCT country FROM invoice_facts WHERE country IS NOT NULL"
    ).fetchall()]
    return HolidayCalendar(countries, first_day, last_day)


def _f32(series: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(series), errors="coerce"), dtype=np.float32)


def model_matrix(
    known: pd.DataFrame,
    day: np.ndarray,
    vocab: Vocabulary,
    calendar: HolidayCalendar,
) -> np.ndarray:
    """Rows = ``known`` (one per key, repeated as needed) paired with target days ``day``.

    Returns a float32 matrix with columns in ``FEATURES`` order (categoricals as codes).
    """
    d = np.asarray(day, dtype=np.int64)
    k = known["k"].to_numpy(dtype=np.int64)
    issue = known["issue_day"].to_numpy(dtype=np.int64)
    due = known["due_day"].to_numpy(dtype=np.int64)
    days_overdue = (d - due).astype(np.float32)
    dates = pd.to_datetime(d, unit="D", origin=pd.Timestamp(EPOCH))
    weekday = ((d + 3) % 7).astype(np.int64)
    shares = known[[f"weekday{w}_share" for w in range(7)]].to_numpy(dtype=np.float32)
    cols: dict[str, np.ndarray] = {
        "lead_days": (d - k).astype(np.float32),
        "age_days": (d - issue).astype(np.float32),
        "days_overdue": days_overdue,
        "days_overdue_at_knowledge": (k - due).astype(np.float32),
        "log_amount_base": np.log1p(_f32(known["amount_base"]).clip(min=0)),
        "log_customer_open_amount": np.log1p(_f32(known["customer_open_amount"]).clip(min=0)),
        "log_customer_overdue_amount": np.log1p(
            _f32(known["customer_overdue_amount"]).clip(min=0)
        ),
        "weekday_share": shares[np.arange(len(d)), weekday],
        "days_since_dispute_opened": np.where(
            known["dispute_open"].to_numpy(dtype=bool),
            d - _f32(known["last_dispute_opened_day"]),
            np.nan,
        ).astype(np.float32),
        "weekday": weekday.astype(np.float32),
        "day_of_month": dates.day.to_numpy(dtype=np.float32),
        "days_to_month_end": (dates.days_in_month - dates.day).to_numpy(dtype=np.float32),
        "month": dates.month.to_numpy(dtype=np.float32),
        "business_day": calendar.business_day(known["country"], d).astype(np.float32),
    }
    for ref, gap in (
        ("hist_mean_late", "gap_to_mean_late"),
        ("last10_median_late", "gap_to_median_late"),
        ("last3_mean_late", "gap_to_last3_late"),
        ("ewm_late", "gap_to_ewm_late"),
    ):
        cols[gap] = days_overdue - _f32(known[ref])
    out = np.empty((len(d), len(FEATURES)), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        if name in cols:
            out[:, j] = cols[name]
        elif name in CATEGORICAL:
            out[:, j] = vocab.encode(known, name)
        else:
            out[:, j] = _f32(known[name])
    return out


def build_training_keys(
    con: duckdb.DuckDBPyConnection,
    cutoff: date,
    horizon_days: int,
    max_rows: int,
    max_days_late: int,
    seed: int,
) -> dict[str, float]:
    """Create ``feature_keys`` for training at ``cutoff``; returns panel size and keep rate."""
    params = {"cutoff": to_day(cutoff), "max_days_late": max_days_late}
    at_risk, events = con.execute(read_sql("at_risk_counts"), params).fetchone()
    negatives = max(int(at_risk) - int(events), 1)
    keep_rate = min(1.0, max(max_rows - int(events), 1) / negatives)
    keep_ppm = max(1, round(keep_rate * 1_000_000))
    con.execute(
        read_sql("training_keys"),
        {**params, "horizon": horizon_days, "seed": seed, "keep_ppm": keep_ppm},
    )
    rows = con.execute("SELECT count(*) FROM feature_keys").fetchone()[0]
    return {
        "at_risk_days": int(at_risk),
        "events": int(events),
        "keep_rate": keep_ppm / 1_000_000,
        "rows": int(rows),
    }


def build_scoring_keys(con: duckdb.DuckDBPyConnection, as_of: date) -> int:
    """Create ``feature_keys`` for the invoices open at the end of ``as_of``."""
    con.execute(read_sql("scoring_keys"), {"as_of": to_day(as_of)})
    return con.execute("SELECT count(*) FROM feature_keys").fetchone()[0]
