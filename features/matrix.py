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

from features.warehouse import EPOCH, MONTH_DAY_SHARES, WEEKDAY_SHARES, from_day, read_sql, to_day

CATEGORICAL = ("segment", "country", "currency", "channel")

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
    "month_day_share",
    "month_end_share",
    "days_since_customer_payment",
    "channel_hist_n",
    "channel_mean_late",
    "channel_last10_median_late",
    "channel_adjusted_mean_late",
    "gap_to_channel_adjusted_late",
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
    "days_since_dispute_resolved",
    "weekday",
    "day_of_month",
    "days_to_last_business_day",
    "last_business_day",
    "month",
    "business_day",
)

FEATURES: tuple[str, ...] = NUMERIC + CATEGORICAL
MAX_EVENT_SHARE = 0.25


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
        encoded = np.asarray(codes.codes, dtype=np.float32)
        encoded[encoded < 0] = np.nan  # LightGBM reads NaN, not -1, as a missing category
        return encoded


class Calendar:
    """Per-day calendar facts over a day range, and business days per customer country.

    Precomputed once so that filling millions of (invoice, day) rows is array indexing.
    Countries the ``holidays`` package does not know get weekends only. The range runs on to
    the end of ``last_day``'s month, so that month's last business day is known too.
    """

    def __init__(self, countries: list[str], first_day: int, last_day: int) -> None:
        self.first_day = first_day
        last_day = to_day((pd.Timestamp(from_day(last_day)) + pd.offsets.MonthEnd(0)).date())
        days = np.arange(first_day, last_day + 1)
        dates = pd.to_datetime(days, unit="D", origin=pd.Timestamp(EPOCH))
        self.weekday = ((days + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday
        self.day_of_month = dates.day.to_numpy(dtype=np.float32)
        self.month = dates.month.to_numpy(dtype=np.float32)
        self.codes = {c: i for i, c in enumerate(sorted(set(countries)))}
        self.business = np.repeat((self.weekday < 5)[None, :], len(self.codes) + 1, axis=0)
        years = range(from_day(first_day).year, from_day(last_day).year + 1)
        for country, idx in self.codes.items():
            try:
                holiday_days = [to_day(h) for h in holidays.country_holidays(country, years=years)]
            except NotImplementedError:
                continue
            pos = np.asarray(holiday_days, dtype=np.int64) - first_day
            self.business[idx, pos[(pos >= 0) & (pos < len(days))]] = False
        # the month's last business day, per country: where month-end payment runs land when
        # the month ends on a weekend or holiday
        month_id = (dates.year * 12 + dates.month).to_numpy()
        month_last = np.searchsorted(month_id, month_id, side="right") - 1
        counted = np.cumsum(self.business, axis=1)
        self.last_business_day = self.business & (counted[:, month_last] == counted)
        # days to that day (negative on the closed days after it): a run on Friday the 29th
        # is 0 days from it, as a run on a weekday 31st is
        self.days_to_last_business_day = np.empty(self.business.shape, dtype=np.float32)
        for idx, flags in enumerate(self.last_business_day):
            run_days = np.flatnonzero(flags)
            month_run = run_days[np.searchsorted(month_id[run_days], month_id)]
            self.days_to_last_business_day[idx] = month_run - np.arange(len(days))
        # how many closed days run up to each day: a run due on any of them is paid on it
        self.closed_before = np.zeros(self.business.shape, dtype=np.int64)
        for t in range(1, len(days)):
            self.closed_before[:, t] = np.where(
                self.business[:, t - 1], 0, self.closed_before[:, t - 1] + 1
            )

    def country_index(self, country: pd.Series) -> np.ndarray:
        return country.map(self.codes).fillna(len(self.codes)).to_numpy(dtype=np.int64)

    def position(self, day: np.ndarray) -> np.ndarray:
        return np.clip(day - self.first_day, 0, len(self.weekday) - 1)


def knowledge_features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Features for every key in the temp table ``feature_keys`` (ordered by row_id)."""
    return con.execute(read_sql("knowledge_features")).df()


def holiday_calendar(con: duckdb.DuckDBPyConnection, first_day: int, last_day: int) -> Calendar:
    countries = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT country FROM invoice_facts WHERE country IS NOT NULL"
        ).fetchall()
    ]
    return Calendar(countries, first_day, last_day)


def ledger_calendar(con: duckdb.DuckDBPyConnection, through: date, horizon_days: int) -> Calendar:
    """Calendar from the ledger's first issue day to ``horizon_days`` (+ a month) after ``through``:
    every day a model fitted or scored at ``through`` can be asked about."""
    first = con.execute("SELECT min(issue_day) FROM invoice_facts").fetchone()[0]
    return holiday_calendar(con, first, to_day(through) + horizon_days + 31)


def _f32(series: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(series), errors="coerce"), dtype=np.float32)


DAY_FEATURES = (
    "lead_days",
    "age_days",
    "days_overdue",
    "gap_to_mean_late",
    "gap_to_median_late",
    "gap_to_last3_late",
    "gap_to_ewm_late",
    "gap_to_channel_adjusted_late",
    "weekday_share",
    "month_day_share",
    "days_since_dispute_opened",
    "days_since_dispute_resolved",
    "weekday",
    "day_of_month",
    "days_to_last_business_day",
    "last_business_day",
    "month",
    "business_day",
)
"""Features that depend on the target day d; everything else is fixed by the knowledge day."""

_GAP_REFERENCES = {
    "gap_to_mean_late": "hist_mean_late",
    "gap_to_median_late": "last10_median_late",
    "gap_to_last3_late": "last3_mean_late",
    "gap_to_ewm_late": "ewm_late",
    "gap_to_channel_adjusted_late": "channel_adjusted_mean_late",
}


@dataclass
class KeyMatrix:
    """Per-key features that do not depend on d, plus the arrays the day features need."""

    static: np.ndarray
    k: np.ndarray
    issue: np.ndarray
    due: np.ndarray
    country: np.ndarray
    weekday_shares: np.ndarray
    month_day_shares: np.ndarray
    dispute_opened: np.ndarray
    dispute_resolved: np.ndarray

    def __len__(self) -> int:
        return len(self.k)

    def rows(self, day: np.ndarray, calendar: Calendar, index: np.ndarray | None = None):
        """The model matrix for keys ``index`` (default: all, in order) at target days ``day``."""
        idx = np.arange(len(self)) if index is None else index
        d = np.asarray(day, dtype=np.int64)
        out = self.static[idx]
        col = {name: FEATURES.index(name) for name in DAY_FEATURES}
        days_overdue = (d - self.due[idx]).astype(np.float32)
        pos = calendar.position(d)
        weekday = calendar.weekday[pos]
        out[:, col["lead_days"]] = d - self.k[idx]
        out[:, col["age_days"]] = d - self.issue[idx]
        out[:, col["days_overdue"]] = days_overdue
        for gap, ref in _GAP_REFERENCES.items():
            out[:, col[gap]] = days_overdue - self.static[idx, FEATURES.index(ref)]
        out[:, col["weekday_share"]] = self.weekday_shares[idx, weekday]
        out[:, col["month_day_share"]] = self._month_day_share(idx, pos, calendar)
        out[:, col["days_since_dispute_opened"]] = d - self.dispute_opened[idx]
        out[:, col["days_since_dispute_resolved"]] = d - self.dispute_resolved[idx]
        out[:, col["weekday"]] = weekday
        out[:, col["day_of_month"]] = calendar.day_of_month[pos]
        country = self.country[idx]
        out[:, col["days_to_last_business_day"]] = calendar.days_to_last_business_day[country, pos]
        out[:, col["last_business_day"]] = calendar.last_business_day[country, pos]
        out[:, col["month"]] = calendar.month[pos]
        out[:, col["business_day"]] = calendar.business[country, pos]
        return out

    def _month_day_share(self, idx: np.ndarray, pos: np.ndarray, calendar: Calendar) -> np.ndarray:
        """The customer's share of payments made on day d's date of the month, or on the dates of
        the closed days just before it: a run fixed on the 10th is paid on Monday the 12th when
        the 10th is a Saturday."""
        closed = calendar.closed_before[self.country[idx], pos]
        total = np.zeros(len(idx), dtype=np.float32)
        for back in range(int(closed.max(initial=0)) + 1):
            date_of_month = calendar.day_of_month[np.maximum(pos - back, 0)].astype(np.int64)
            total += np.where(closed >= back, self.month_day_shares[idx, date_of_month - 1], 0)
        return total


def key_matrix(known: pd.DataFrame, vocab: Vocabulary, calendar: Calendar) -> KeyMatrix:
    """Encode the knowledge-time features of each key once (see ``KeyMatrix.rows``)."""
    derived = {
        "days_overdue_at_knowledge": _f32(known["k"]) - _f32(known["due_day"]),
        "log_amount_base": np.log1p(_f32(known["amount_base"]).clip(min=0)),
        "log_customer_open_amount": np.log1p(_f32(known["customer_open_amount"]).clip(min=0)),
        "log_customer_overdue_amount": np.log1p(_f32(known["customer_overdue_amount"]).clip(min=0)),
        # the customer's mean lateness with the part paid on other channels shifted by the
        # portfolio's channel offset: after a move to e-invoicing, its level on the new channel
        "channel_adjusted_mean_late": _f32(known["hist_mean_late"])
        + (1 - _f32(known["channel_hist_n"]) / _f32(known["hist_n"]))
        * _f32(known["channel_offset"]),
    }
    static = np.full((len(known), len(FEATURES)), np.nan, dtype=np.float32)
    for j, name in enumerate(FEATURES):
        if name in DAY_FEATURES:
            continue
        if name in derived:
            static[:, j] = derived[name]
        elif name in CATEGORICAL:
            static[:, j] = vocab.encode(known, name)
        else:
            static[:, j] = _f32(known[name])
    dispute_open = known["dispute_open"].to_numpy(dtype=bool)
    return KeyMatrix(
        static=static,
        k=known["k"].to_numpy(dtype=np.int64),
        issue=known["issue_day"].to_numpy(dtype=np.int64),
        due=known["due_day"].to_numpy(dtype=np.int64),
        country=calendar.country_index(known["country"]),
        weekday_shares=known[list(WEEKDAY_SHARES)].to_numpy(np.float32),
        month_day_shares=known[list(MONTH_DAY_SHARES)].to_numpy(np.float32),
        dispute_opened=np.where(dispute_open, _f32(known["last_dispute_opened_day"]), np.nan),
        # a settled dispute releases the payment it held: how long ago matters
        dispute_resolved=np.where(dispute_open, np.nan, _f32(known["last_dispute_resolved_day"])),
    )


def model_matrix(
    known: pd.DataFrame, day: np.ndarray, vocab: Vocabulary, calendar: Calendar
) -> np.ndarray:
    """One row per key of ``known`` at its target day: float32, columns in ``FEATURES`` order."""
    return key_matrix(known, vocab, calendar).rows(day, calendar)


def build_training_keys(
    con: duckdb.DuckDBPyConnection,
    cutoff: date,
    horizon_days: int,
    max_rows: int,
    max_days_late: int,
    seed: int,
) -> dict[str, float]:
    """Create ``feature_keys`` for training at ``cutoff``; returns panel size and sampling rates.

    Invoices are sampled first (so events are at most ``MAX_EVENT_SHARE`` of ``max_rows``), then
    their non-event days, which are reweighted by 1/keep_rate.
    """
    params = {"cutoff": to_day(cutoff), "max_days_late": max_days_late}
    at_risk, events, oldest, past = con.execute(read_sql("at_risk_counts"), params).fetchone()
    at_risk, events = int(at_risk), int(events)
    invoice_rate = min(1.0, MAX_EVENT_SHARE * max_rows / max(events, 1))
    negatives = max((at_risk - events) * invoice_rate, 1.0)
    keep_rate = min(1.0, max(max_rows - events * invoice_rate, 1.0) / negatives)
    invoice_ppm, keep_ppm = (max(1, round(r * 1_000_000)) for r in (invoice_rate, keep_rate))
    con.execute(
        read_sql("training_keys"),
        {
            **params,
            "horizon": horizon_days,
            "seed": seed,
            "keep_ppm": keep_ppm,
            "invoice_ppm": invoice_ppm,
        },
    )
    rows, sampled_events = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE event) FROM feature_keys"
    ).fetchone()
    return {
        "at_risk_days": at_risk,
        "paid_invoices": events,
        "oldest_paid_days_late": oldest,
        "paid_past_panel": int(past),
        "events": int(sampled_events),
        "invoice_rate": invoice_ppm / 1_000_000,
        "keep_rate": keep_ppm / 1_000_000,
        "rows": int(rows),
    }


def build_scoring_keys(con: duckdb.DuckDBPyConnection, as_of: date) -> int:
    """Create ``feature_keys`` for the invoices open at the end of ``as_of``."""
    con.execute(read_sql("scoring_keys"), {"as_of": to_day(as_of)})
    return con.execute("SELECT count(*) FROM feature_keys").fetchone()[0]
