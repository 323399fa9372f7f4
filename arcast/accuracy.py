"""Forecast-vs-actual tracking: every run's cash forecast is kept, later runs score it.

The history is one Parquet file under the arcast home, keyed by (ledger, as_of, line, week): a
rerun for the same ledger and as-of replaces that forecast (the latest model's view counts),
and forecasts for other ledgers in the same home are never compared with this one's cash.
It is rewritten whole through a temporary file and renamed, so a crash leaves the old history,
under a lock file next to it, so that runs finishing together (a schedule and the new-export
sensor, or two ledgers sharing a home) each add their forecast instead of the last rename
winning over the other's read.

A past forecast is scored only on weeks that have fully ended by the current as-of, against the
cash that landed in those weeks (`features.warehouse.weekly_collections`), valued at the FX rates
known at the forecast's as-of, the rates it was made at (as the cash backtest does), so that an
exchange-rate move since is not counted as forecast error. Per line and horizon
(weeks ahead): WAPE = Σ|expected − actual| / Σ actual (None without cash), and coverage = the
share of weeks whose actual lies inside [p10, p90].
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from filelock import FileLock

from arcast.io import write_atomic

HISTORY_FILE = "forecast_history.parquet"
KEY = ["ledger", "as_of", "line", "week"]
HISTORY_COLUMNS = [
    *KEY,
    "run_id",
    "run_time",
    "model_version",
    "week_start",
    "week_end",
    "expected",
    "p10",
    "p50",
    "p90",
]


def append_history(path: Path, forecast: pd.DataFrame) -> pd.DataFrame:
    """Add ``forecast`` (``HISTORY_COLUMNS``) to the history at ``path``; return the history."""
    missing = [c for c in HISTORY_COLUMNS if c not in forecast.columns]
    if missing:
        raise ValueError(f"forecast is missing columns: {missing}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(path.name + ".lock")):
        frames = [pd.read_parquet(path)] if path.exists() else []
        history = pd.concat([*frames, forecast[HISTORY_COLUMNS]], ignore_index=True)
        history = history.drop_duplicates(KEY, keep="last").sort_values(KEY, ignore_index=True)
        write_atomic(path, lambda p: history.to_parquet(p, index=False))
    return history


def score_history(
    history: pd.DataFrame, actuals: pd.DataFrame, ledger: str, as_of: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the weeks of past forecasts of ``ledger`` that ended by ``as_of``.

    ``actuals`` has one row per (as_of, week) with a column per line (missing weeks = no cash).
    Returns the detail (one row per past forecast, line and week) and the summary by line and
    horizon week: forecasts, WAPE, coverage.
    """
    done = history.loc[
        (history["ledger"] == ledger)
        & (pd.to_datetime(history["as_of"]) < pd.Timestamp(as_of))
        & (pd.to_datetime(history["week_end"]) <= pd.Timestamp(as_of))
    ]
    long = actuals.melt(["as_of", "week"], var_name="line", value_name="actual")
    long["as_of"] = pd.to_datetime(long["as_of"])
    detail = done.assign(as_of=pd.to_datetime(done["as_of"])).merge(
        long, on=["as_of", "line", "week"], how="left"
    )
    detail["actual"] = detail["actual"].fillna(0.0)
    detail["abs_error"] = (detail["expected"] - detail["actual"]).abs()
    detail["inside_band"] = detail["actual"].between(detail["p10"], detail["p90"])
    detail = detail[
        [
            "as_of",
            "run_id",
            "model_version",
            "line",
            "week",
            "week_start",
            "week_end",
            "expected",
            "p10",
            "p90",
            "actual",
            "abs_error",
            "inside_band",
        ]
    ].sort_values(["as_of", "line", "week"], ignore_index=True)
    grouped = detail.groupby(["line", "week"])
    summary = grouped.agg(
        forecasts=("as_of", "size"),
        abs_error=("abs_error", "sum"),
        actual=("actual", "sum"),
        coverage=("inside_band", "mean"),
    ).reset_index()
    summary["wape"] = summary["abs_error"] / summary["actual"].where(summary["actual"] > 0)
    return detail, summary[["line", "week", "forecasts", "actual", "wape", "coverage"]]
