"""The promotion gate: a challenger replaces the champion only if it is not worse.

Comparing the two fitted models directly is not honest: the challenger was trained on the most
recent weeks, so scoring it on them is in-sample. The gate therefore compares the two *recipes*
(training configuration) on the most recent backtest window: both are refit with data up to the
window's start, score the same invoices open then, and are judged on what happened next. Same
data, same invoices, out of sample for both.

The window is the challenger's calibration fold (`models.paydate.predict_calibration_fold`):
training has already refit the challenger's recipe at its start and scored its invoices, so the
challenger's window backtest costs no second fit. Only a champion with another recipe is refit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import duckdb
import pandas as pd

from features.matrix import Calendar
from features.warehouse import to_day
from models.backtest import BacktestResult, evaluate_window, model_scores
from models.paydate import (
    MAX_CALIBRATION_INVOICES,
    PayDateModel,
    TrainingConfig,
    predict_open_invoices,
    train_pay_date_model,
)

TOLERANCE = 0.02
"""Relative slack: a challenger within 2% of the champion counts as not worse (noise)."""
GATE_METRICS = ("mae_p50", "brier_late30")
"""Lower is better for both: pay-date accuracy and calibrated late risk."""


@dataclass
class GateResult:
    passed: bool
    reason: str
    window_start: date
    window_end: date
    champion: dict[str, float] = field(default_factory=dict)
    challenger: dict[str, float] = field(default_factory=dict)


def challenger_window(con: duckdb.DuckDBPyConnection, model: PayDateModel) -> BacktestResult | None:
    """The model's recipe backtested on its calibration fold (model and baselines), judged on what
    happened up to the day it was trained through; None if it had no fold."""
    if model.fold is None:
        return None
    end_day = to_day(model.trained_through)
    return evaluate_window(con, model.fold, model.config.horizon_days, end_day)


def recipe_evaluation(
    con: duckdb.DuckDBPyConnection,
    calendar: Calendar,
    config: TrainingConfig,
    window_start: date,
    window_end: date,
    sample_seed: int,
) -> BacktestResult:
    """Refit ``config`` on data up to ``window_start`` and backtest it on the window, scoring the
    same seeded sample of open invoices as a calibration fold drawn with ``sample_seed``."""
    model = train_pay_date_model(con, window_start, calendar, replace(config, calibration_days=0))
    prediction = predict_open_invoices(
        con,
        model,
        window_start,
        calendar,
        max_invoices=MAX_CALIBRATION_INVOICES,
        seed=sample_seed,
    )
    return evaluate_window(con, prediction, config.horizon_days, to_day(window_end))


def promotion_gate(
    con: duckdb.DuckDBPyConnection,
    calendar: Calendar,
    champion: TrainingConfig | None,
    challenger: TrainingConfig,
    window: pd.DataFrame | None,
    as_of: date,
    tolerance: float = TOLERANCE,
) -> GateResult:
    """Judge the challenger's recipe against the champion's on the challenger's window.

    ``window`` is the metrics table of `challenger_window` for a challenger trained through
    ``as_of`` (None if it had no fold). With no champion yet the challenger passes, and so does
    the champion's own recipe refit on other data: the gate judges recipes, and a window would
    score the same recipe against itself. Without a window another recipe cannot be judged, so
    the champion stays; nor can any recipe on a window that measured nothing (no invoice of it
    paid), which is what an export missing its recent payments looks like.
    """
    start, end = as_of - timedelta(days=challenger.calibration_days), as_of
    if window is None:
        if champion is None:
            verdict = "the first model becomes champion"
        elif champion == challenger:
            verdict = "the champion's recipe, refit as of this date, replaces it"
        else:
            verdict = "another recipe cannot be judged, so the champion stays"
        reason = f"no backtest window (no calibration fold at {start}); {verdict}"
        return GateResult(champion in (None, challenger), reason, start, end)
    chall = model_scores(window)
    if champion is None:
        reason = "no champion yet: the first model becomes champion"
        return GateResult(True, reason, start, end, {}, chall)
    unmeasured = [m for m in GATE_METRICS if not math.isfinite(chall[m])]
    if unmeasured:  # no invoice of the window paid by as-of: a payments file cut short?
        reason = (
            f"the window ({start} → {end}) measured no {' or '.join(unmeasured)} (none of its "
            "invoices was paid by then, as when payments are missing): the champion stays"
        )
        return GateResult(False, reason, start, end, {}, chall)
    champ = (
        chall
        if challenger == champion
        else model_scores(
            recipe_evaluation(con, calendar, champion, start, end, challenger.seed).metrics
        )
    )
    worse = [
        f"{m} {chall[m]:.4f} vs champion {champ[m]:.4f}"
        for m in GATE_METRICS
        if chall[m] > champ[m] * (1 + tolerance)
    ]
    reason = (
        "challenger is worse than the champion on " + "; ".join(worse)
        if worse
        else "challenger is not worse than the champion on "
        + ", ".join(f"{m} ({chall[m]:.4f} vs {champ[m]:.4f})" for m in GATE_METRICS)
    )
    reason = f"{reason} (window {start} → {end})"
    return GateResult(not worse, reason, start, end, champ, chall)
