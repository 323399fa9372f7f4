"""The promotion gate: a challenger replaces the champion only if it is not worse.

Comparing the two fitted models directly is not honest: the challenger was trained on the most
recent weeks, so scoring it on them is in-sample. The gate therefore compares the two *recipes*
(training configuration) on the most recent backtest window: both are refit with data up to the
window's start, score the invoices open then, and are judged on what happened next. Same data,
same invoices, out of sample for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import duckdb

from features.matrix import Calendar
from features.warehouse import to_day
from models.backtest import BacktestResult, evaluate_window, model_scores
from models.paydate import TrainingConfig, train_pay_date_model

GATE_WINDOW_DAYS = 91
GATE_MAX_INVOICES = 25_000
"""Both recipes are scored on the same seeded sample of the window's open invoices: the
comparison is paired, so the sample's noise mostly cancels, and the gate stays cheap at 1M."""
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
    evaluation: BacktestResult | None = None
    """The challenger recipe's window backtest (model and baselines), for the record."""


def recipe_evaluation(
    con: duckdb.DuckDBPyConnection,
    calendar: Calendar,
    config: TrainingConfig,
    window_start: date,
    window_end: date,
) -> BacktestResult:
    """Refit ``config`` on data up to ``window_start`` and backtest it on the window.

    Without the p_late_30 calibration step: that step is the same for every recipe and would
    double the cost of the gate (it refits once more, 91 days earlier still).
    """
    model = train_pay_date_model(con, window_start, calendar, replace(config, calibration_days=0))
    return evaluate_window(
        con, model, window_start, calendar, to_day(window_end), max_invoices=GATE_MAX_INVOICES
    )


def promotion_gate(
    con: duckdb.DuckDBPyConnection,
    calendar: Calendar,
    champion: TrainingConfig | None,
    challenger: TrainingConfig,
    as_of: date,
    window_days: int = GATE_WINDOW_DAYS,
    tolerance: float = TOLERANCE,
) -> GateResult:
    """Judge the challenger's recipe against the champion's on the latest window.

    The challenger's window backtest is always run (it is logged with the model); with no
    champion yet the challenger passes.
    """
    start, end = as_of - timedelta(days=window_days), as_of
    evaluation = recipe_evaluation(con, calendar, challenger, start, end)
    chall = model_scores(evaluation)
    if champion is None:
        reason = "no champion yet: the first model becomes champion"
        return GateResult(True, reason, start, end, {}, chall, evaluation)
    champ = (
        chall
        if challenger == champion
        else model_scores(recipe_evaluation(con, calendar, champion, start, end))
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
    return GateResult(not worse, reason, start, end, champ, chall, evaluation)
