"""Pay-date distributions for open invoices: a discrete-time hazard model on LightGBM.

Formulation. For an invoice that is unpaid at the end of day d-1, the model predicts the hazard
h(d) = P(fully paid on day d | unpaid at d-1, what was known at the end of knowledge day k).
Training rows are (invoice, d, k) with k = d - lead, lead in [1, horizon]: exactly the situation
at scoring time, when everything is known as of the as-of day T and the model looks up to
`horizon` days ahead. Why a hazard model:
- right-censoring is native: an invoice still open at the training cutoff contributes every day it
  survived (h = 0 rows) and no event, instead of being dropped or mislabelled;
- conditioning on "still unpaid at T" is native too: an open invoice's distribution is the product
  of hazards from T+1 on, so an invoice 40 days overdue is scored from its own state, not as new;
- daily resolution lets calendar features (the customer's payment-run weekday, month-end batches,
  holidays) place probability on the days payments actually land;
- the result is a full distribution: p10/p50/p90 dates, P(paid in each forecast week) for the cash
  forecast, and p_late_30 = P(not paid by due + 30) all come from the same survival curve, so they
  are mutually consistent.
Non-event days are subsampled (deterministic hash) and reweighted, which keeps the hazard unbiased
while bounding the training set.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit, ndtri
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from features.matrix import (
    CATEGORICAL,
    FEATURES,
    Calendar,
    KeyMatrix,
    Vocabulary,
    build_scoring_keys,
    build_training_keys,
    key_matrix,
    knowledge_features,
    model_matrix,
)
from features.warehouse import MONTH_DAY_SHARES, WEEKDAY_SHARES, completion_days, to_day
from models.cash import simulate_weekly_cash, weekly_probabilities

LATE_THRESHOLD_DAYS = 30
MIN_CALIBRATION_INVOICES = 200
THIN_HISTORY_PAYMENTS = MIN_CALIBRATION_INVOICES
"""A model that learnt from fewer paid invoices is flagged to the user: its dates and risks rest
on little evidence, as few as a calibration fold needs to recalibrate p_late_30 at all."""
MAX_CALIBRATION_INVOICES = 20_000
MAX_CASH_RHO = 0.9
RUN_SHARE = 0.6
RUN_MIN_PAID = 10
"""A customer "pays in runs" once at least RUN_MIN_PAID paid invoices show at least RUN_SHARE of
its payments on one weekday, in the last days of a month or on two dates of the month
(`pays_in_runs`)."""
RUN_RHO_GRID = (0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9)
RUN_RHO_GROUPS = 8
RUN_RHO_SIMS = 400
BAND_COVERAGE = 0.8
KNOWLEDGE_CLOCKS = {
    "lead_days": 1,
    "days_overdue_at_knowledge": -1,
    "days_since_customer_payment": -1,
    "days_since_partial_payment": -1,
}
"""Features that move when the same unpaid invoice is scored later (knowledge day k + s, target
day d fixed), with the direction the hazard may move in them: later knowledge may only lower the
hazard of a given day. An invoice still unpaid is selected towards the slow (frailty), so this is
what the data says anyway; as a constraint it guarantees that waiting longer never lowers an
invoice's p_late_30 or pulls its predicted pay date earlier."""


class NoPaymentHistoryError(ValueError):
    """No invoice was paid by the training date: there is nothing to learn pay dates from (an
    as-of date before the ledger's first payment, or a ledger without payments)."""


class ModelVersionError(ValueError):
    """A stored model from another feature set (an older arcast): it cannot score today's
    features, and the fix is to train one."""


class LookAheadError(ValueError):
    """A model trained on data after the scoring date: its forecasts would rest on outcomes
    that were not known then (a past as-of date replayed with today's model)."""


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters and panel sizes; fixed defaults keep training repeatable."""

    horizon_days: int = 182
    max_rows: int = 300_000
    max_days_late: int = 365
    validation_days: int = 56
    learning_rate: float = 0.1
    num_leaves: int = 31
    events_per_leaf: int = 300
    """Payments in the panel per leaf a tree may have (see `sized_params`)."""
    small_learning_rate: float = 0.05
    """The learning rate of a panel too small to fill ``num_leaves`` (see `sized_params`)."""
    small_boosters: int = 3
    """Boosters averaged, at most, for a panel too small to fill ``num_leaves`` (see
    `sized_params`)."""
    small_feature_fraction: float = 1.0
    """The share of features each tree of a panel too small to fill ``num_leaves`` may split on
    (see `sized_params`)."""
    min_data_in_leaf: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.7
    max_bin: int = 127
    lambda_l2: float = 1.0
    max_rounds: int = 1000
    early_stopping_rounds: int = 30
    fallback_rounds: int = 30
    """Rounds when early stopping has nothing to judge by (no payment among the last
    ``validation_days`` of target days, or none before them): ``max_rounds`` would fit a new
    ledger's handful of payments exactly (4 payments: [p10, p90] 3 days wide). Small ledgers that
    can stop early stop about here (20 customers, 6 months: 28 rounds)."""
    calibration_days: int = 91
    num_threads: int = 2
    seed: int = 42
    boosters: int = 1
    """Boosters (seeds seed, seed + 1, …, each on its own panel sample) whose log-odds hazards
    are averaged. More cut the model's variance (two or three: p50 MAE 9.68 → 9.51–9.53 days on
    the generated ledger's backtest) but multiply training, scoring and SHAP time, so one is the
    default for a panel that fills ``num_leaves``; a smaller one up to ``small_boosters``."""

    def __post_init__(self) -> None:
        for name in ("boosters", "small_boosters"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def lgb_params(self) -> dict:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "max_bin": self.max_bin,
            "lambda_l2": self.lambda_l2,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
            "monotone_constraints": [KNOWLEDGE_CLOCKS.get(name, 0) for name in FEATURES],
            "monotone_constraints_method": "intermediate",
        }


@dataclass(frozen=True)
class LateCalibration:
    """Platt map from the hazard model's p_late_30 to the late rate seen on a later time fold:
    sigmoid(slope * logit(p) + intercept).

    Platt, not isotonic: a fold holds a few hundred to a few thousand decided invoices, and an
    isotonic step function fitted on a few hundred maps whole ranges of risk to exactly 0 or 1.
    The slope is kept positive, so the map keeps the ranking (AUC) and every monotone guarantee
    of the model. Only for invoices not yet 30 days overdue: for the others lateness is certain.
    """

    slope: float
    intercept: float
    fold_invoices: int = 0

    @classmethod
    def fit(cls, p: np.ndarray, late: np.ndarray) -> LateCalibration | None:
        """None when the fold cannot support a fit (too few invoices, one class, or a fit that
        would reverse the ranking)."""
        if len(p) < MIN_CALIBRATION_INVOICES or late.min() == late.max():
            return None
        x = _logit(p)[:, None]
        fit = LogisticRegression(C=1e4).fit(x, late.astype(np.int64))
        slope, intercept = float(fit.coef_[0, 0]), float(fit.intercept_[0])
        return cls(slope, intercept, len(p)) if slope > 0 else None

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return expit(self.slope * _logit(p) + self.intercept)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def is_late(completion_day: np.ndarray, due_day: np.ndarray) -> np.ndarray:
    """The late-30 outcome: not fully paid by due + 30 days; never paid (NaN) counts as late."""
    return ~(
        np.asarray(completion_day, dtype=np.float64) <= np.asarray(due_day) + LATE_THRESHOLD_DAYS
    )


def calibrate_p_late(
    calibration: LateCalibration | None, raw: np.ndarray, days_overdue: np.ndarray
) -> np.ndarray:
    """Calibrated p_late_30 from the distribution's own (``raw``); certain ones stay as they are."""
    if calibration is None:
        return raw
    return np.where(np.asarray(days_overdue) < LATE_THRESHOLD_DAYS, calibration(raw), raw)


@dataclass
class PayDateModel:
    """Trained hazard booster(s) plus what is needed to build their inputs.

    ``config`` is the recipe, which the promotion gate refits; how many boosters it gave is
    ``len(boosters)`` (`sized_params` averages more for a small panel), as in ``meta.json``.
    """

    boosters: tuple[lgb.Booster, ...]
    vocab: Vocabulary
    config: TrainingConfig
    trained_through: date
    metrics: dict[str, float] = field(default_factory=dict)
    late_calibration: LateCalibration | None = None
    cash_rho: float = 0.0
    """Within-customer correlation of pay-date surprises for the cash copula, estimated on the
    calibration fold (see `estimate_cash_rho`); 0 (independent) when there was no fold."""
    cash_rho_runs: float = 0.0
    """The same for customers that pay in runs or batches (`pays_in_runs`), fitted to the fold's
    weekly cash (see `fit_run_rho`); never below ``cash_rho``."""
    fold: PayDatePrediction | None = field(default=None, repr=False, compare=False)
    """The calibration fold's forecasts (not saved with the model). The promotion gate backtests
    the recipe on exactly this fold, so it reuses them instead of refitting the same model."""

    def hazard(self, x: np.ndarray) -> np.ndarray:
        """Daily hazards; several boosters are averaged in log-odds, where SHAP values add up."""
        threads = self.config.num_threads
        if len(self.boosters) == 1:  # LightGBM's own link: bit-identical to a single model
            return self.boosters[0].predict(x, num_threads=threads)
        raw = np.mean([b.predict(x, raw_score=True, num_threads=threads) for b in self.boosters], 0)
        return expit(raw)

    def invoice_rho(self, known: pd.DataFrame) -> np.ndarray:
        """The cash copula's correlation for each invoice of ``known`` (knowledge features)."""
        return np.where(pays_in_runs(known), self.cash_rho_runs, self.cash_rho)

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for i, booster in enumerate(self.boosters):
            booster.save_model(directory / _booster_file(i))
        meta = {
            "features": list(FEATURES),
            "vocab": self.vocab.values,
            "config": asdict(self.config),
            "boosters": len(self.boosters),
            "trained_through": self.trained_through.isoformat(),
            "metrics": self.metrics,
            "late_calibration": asdict(self.late_calibration) if self.late_calibration else None,
            "cash_rho": self.cash_rho,
            "cash_rho_runs": self.cash_rho_runs,
        }
        (directory / "meta.json").write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> PayDateModel:
        directory = Path(directory)
        meta = json.loads((directory / "meta.json").read_text())
        if meta["features"] != list(FEATURES):
            raise ModelVersionError(
                f"{directory}: model was trained on a different feature set; retrain "
                "(`arcast run`, or the retrain job) to get a champion for this version"
            )
        config = TrainingConfig(**meta["config"])
        return cls(
            boosters=tuple(
                lgb.Booster(model_file=str(directory / _booster_file(i)))
                for i in range(meta.get("boosters", config.boosters))
            ),
            vocab=Vocabulary(meta["vocab"]),
            config=config,
            trained_through=date.fromisoformat(meta["trained_through"]),
            metrics=meta["metrics"],
            late_calibration=LateCalibration(**meta["late_calibration"])
            if meta.get("late_calibration")
            else None,
            cash_rho=meta.get("cash_rho", 0.0),
            cash_rho_runs=meta.get("cash_rho_runs", meta.get("cash_rho", 0.0)),
        )


_SUMMED_METRICS = ("rounds", "panel_seconds", "fit_seconds")


def _booster_file(index: int) -> str:
    return "booster.txt" if index == 0 else f"booster_{index}.txt"


def train_pay_date_model(
    con: duckdb.DuckDBPyConnection,
    cutoff: date,
    calendar: Calendar,
    config: TrainingConfig | None = None,
) -> PayDateModel:
    """Fit the hazard model on everything known at the end of ``cutoff``.

    The last ``validation_days`` of target days form a time-ordered validation set for early
    stopping; the model is then refit on all rows with the chosen number of rounds, so the most
    recent behaviour (e.g. a deteriorating customer) is not thrown away. With several
    ``boosters`` each gets its own seed and panel sample and the first one's category codes;
    ``rounds`` and the timings in ``metrics`` are totals over them.
    """
    config = config or TrainingConfig()
    booster, vocab, fit = _fit_booster(con, cutoff, calendar, config, None)
    boosters, fits = [booster], [fit]
    for i in range(1, int(fit["boosters"])):
        booster, _, fit = _fit_booster(
            con, cutoff, calendar, replace(config, seed=config.seed + i), vocab
        )
        boosters.append(booster)
        fits.append(fit)
    metrics = fits[0] | {k: round(sum(f[k] for f in fits), 2) for k in _SUMMED_METRICS}
    model = PayDateModel(tuple(boosters), vocab, config, cutoff, metrics)
    if config.calibration_days > 0:
        clock = time.perf_counter()
        model.fold = predict_calibration_fold(con, cutoff, calendar, config)
        if model.fold is not None:
            model.late_calibration, model.cash_rho, model.cash_rho_runs = fit_calibration(
                con, model.fold, cutoff, config.seed
            )
        metrics["calibration_seconds"] = round(time.perf_counter() - clock, 2)
        metrics["calibration_invoices"] = float(
            model.late_calibration.fold_invoices if model.late_calibration else 0
        )
        metrics["cash_rho"] = model.cash_rho
        metrics["cash_rho_runs"] = model.cash_rho_runs
    return model


MIN_LEAVES = 7


def sized_params(events: int, rows: int, config: TrainingConfig) -> dict[str, float]:
    """Leaves per tree, learning rate and boosters for a panel of ``rows`` invoice-days with
    ``events`` payments: ``num_leaves`` at ``learning_rate`` with ``boosters`` once there are
    ``events_per_leaf`` payments for each leaf (every generated 1,000-customer ledger); below
    that fewer leaves, never under ``MIN_LEAVES``, at ``small_learning_rate``, averaged over up to
    ``small_boosters`` (at least ``boosters``) as long as they train on no more rows in all than
    one ``max_rows`` panel, so a small ledger never costs much more than a large one; and each
    of its trees may split on every feature (``small_feature_fraction``).

    Why: 31 leaves fitted to a few hundred payments learn noise. On generated ledgers of 50–300
    customers and 12–24 months, fewer leaves took the backtest p50 MAE from 9.49 to 9.09 days on
    average, the smaller steps on to 8.86 (one ledger: 11.27 → 9.01 → 8.52, PIT coverage 0.72 →
    0.75 → 0.77); averaging boosters takes out part of what such a panel leaves to the seed.
    Sampling features per tree (0.8) left a small panel's trees to split on weak stand-ins: with
    the month-day shares, 50 customers over 12 months went from 8.30 to 8.77 days, behind the
    customer's mean delay (8.45); every feature for every tree: 8.43 (mean of seven ledgers 8.90
    → 8.82).
    """
    leaves = int(min(config.num_leaves, max(MIN_LEAVES, events // config.events_per_leaf)))
    if leaves == config.num_leaves:
        return {
            "num_leaves": leaves,
            "learning_rate": config.learning_rate,
            "boosters": config.boosters,
            "feature_fraction": config.feature_fraction,
        }
    affordable = min(config.small_boosters, config.max_rows // max(rows, 1))
    return {
        "num_leaves": leaves,
        "learning_rate": config.small_learning_rate,
        "boosters": max(config.boosters, affordable),
        "feature_fraction": config.small_feature_fraction,
    }


def _fit_booster(
    con: duckdb.DuckDBPyConnection,
    cutoff: date,
    calendar: Calendar,
    config: TrainingConfig,
    vocab: Vocabulary | None,
) -> tuple[lgb.Booster, Vocabulary, dict[str, float]]:
    """One booster on its own panel sample (``config.seed``); ``vocab`` None: learn it here."""
    started = time.perf_counter()
    panel = build_training_keys(
        con, cutoff, config.horizon_days, config.max_rows, config.max_days_late, config.seed
    )
    if panel["events"] == 0:
        raise NoPaymentHistoryError(
            f"no invoice was paid by {cutoff}: nothing to learn pay dates from "
            "(choose a later as-of date, or check that payments.csv holds the payments)"
        )
    keys = con.execute("SELECT d, event, weight FROM feature_keys ORDER BY row_id").df()
    known = knowledge_features(con)
    vocab = vocab if vocab is not None else Vocabulary.fit(known)
    x = model_matrix(known, keys["d"].to_numpy(), vocab, calendar)
    y = keys["event"].to_numpy(dtype=np.float32)
    w = keys["weight"].to_numpy(dtype=np.float32)
    del known
    panel_seconds = time.perf_counter() - started

    valid = keys["d"].to_numpy() > to_day(cutoff) - config.validation_days
    sized = sized_params(panel["events"], panel["rows"], config)
    params = config.lgb_params() | {
        k: sized[k] for k in ("num_leaves", "learning_rate", "feature_fraction")
    }
    cat_idx = [FEATURES.index(c) for c in CATEGORICAL]
    metrics: dict[str, float] = {
        **{k: float(v) for k, v in sized.items()},
        "panel_rows": float(panel["rows"]),
        "paid_invoices": float(panel["paid_invoices"]),
        # an open invoice older than this is past every payment the model learnt from
        "oldest_paid_days_late": float(panel["oldest_paid_days_late"] or 0),
        # invoices paid later than the panel's max_days_late: censored there, never seen paid
        "paid_past_panel": float(panel["paid_past_panel"]),
        "panel_events": float(panel["events"]),
        "panel_keep_rate": panel["keep_rate"],
        "panel_invoice_rate": panel["invoice_rate"],
        "panel_seconds": round(panel_seconds, 2),
    }
    rounds = min(config.fallback_rounds, config.max_rounds)
    if valid.any() and y[valid].sum() > 0 and y[~valid].sum() > 0:
        dtrain = lgb.Dataset(
            x[~valid],
            y[~valid],
            weight=w[~valid],
            feature_name=list(FEATURES),
            categorical_feature=cat_idx,
            free_raw_data=True,
        )
        dvalid = dtrain.create_valid(x[valid], y[valid], weight=w[valid])
        probe = lgb.train(
            params,
            dtrain,
            num_boost_round=config.max_rounds,
            valid_sets=[dvalid],
            callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
        )
        rounds = max(probe.best_iteration, 1)
        p_valid = probe.predict(x[valid], num_iteration=rounds)
        metrics["valid_logloss"] = float(log_loss(y[valid], p_valid, sample_weight=w[valid]))
        metrics["valid_auc"] = float(roc_auc_score(y[valid], p_valid, sample_weight=w[valid]))
    metrics["rounds"] = float(rounds)
    dall = lgb.Dataset(
        x,
        y,
        weight=w,
        feature_name=list(FEATURES),
        categorical_feature=cat_idx,
        free_raw_data=True,
    )
    booster = lgb.train(params, dall, num_boost_round=rounds)
    metrics["fit_seconds"] = round(time.perf_counter() - started - panel_seconds, 2)
    return booster, vocab, metrics


def predict_calibration_fold(
    con: duckdb.DuckDBPyConnection, cutoff: date, calendar: Calendar, config: TrainingConfig
) -> PayDatePrediction | None:
    """The recipe refit at ``cutoff - calibration_days``, scoring the invoices open then (at most
    ``MAX_CALIBRATION_INVOICES``, a seeded sample); None if nothing was paid before that day.

    What happened to these invoices by ``cutoff`` gives forecast/outcome pairs the final model
    never trained on: they recalibrate p_late_30, estimate the cash copula's ``rho`` and are the
    promotion gate's backtest window.
    """
    start = cutoff - timedelta(days=config.calibration_days)
    try:
        fold_model = train_pay_date_model(con, start, calendar, replace(config, calibration_days=0))
    except NoPaymentHistoryError:  # nothing paid before the fold: nothing to calibrate with
        return None
    return predict_open_invoices(
        con, fold_model, start, calendar, max_invoices=MAX_CALIBRATION_INVOICES, seed=config.seed
    )


def fit_calibration(
    con: duckdb.DuckDBPyConnection, fold: PayDatePrediction, cutoff: date, seed: int
) -> tuple[LateCalibration | None, float, float]:
    """Recalibrate p_late_30 and estimate the cash copula's two ``rho`` on the fold's outcomes.

    p_late_30: the invoices not yet 30 days overdue at the fold's start whose late-30 outcome is
    decided by ``cutoff``; None when too few. ``rho``: every scored invoice (see
    `estimate_cash_rho`); the run payers' ``rho`` from the fold's weekly cash (`fit_run_rho`).
    """
    known = fold.known
    start, end = to_day(fold.as_of), to_day(cutoff)
    due = known["due_day"].to_numpy()
    completion = completion_days(con, known["invoice_id"])
    fresh = (due + LATE_THRESHOLD_DAYS <= end) & (start - due < LATE_THRESHOLD_DAYS)
    late = is_late(completion[fresh], due[fresh])
    calibration = LateCalibration.fit(fold.p_late()[fresh], late)
    observed = np.where(completion <= end, completion, np.nan)
    z = censored_pit_scores(fold, observed, end, pit_uniforms(seed, start, len(known)))
    rho = estimate_cash_rho(z, known["customer_id"].to_numpy())
    return calibration, rho, fit_run_rho(fold, observed, end, rho, seed)


def randomised_pit(f_before: np.ndarray, f_at: np.ndarray, u: np.ndarray) -> np.ndarray:
    """PIT of a discrete outcome y: F(y-1) + u (F(y) - F(y-1)), uniform if F is right.

    Spreading each atom uniformly stops ties (payment-run days) from piling PITs on the CDF steps.
    """
    return f_before + u * (f_at - f_before)


def pit_uniforms(seed: int, day: int, n: int) -> np.ndarray:
    """The seeded uniforms of a randomised PIT, one per invoice scored on ``day``."""
    return np.random.default_rng([seed, day]).random(n)


def censored_pit_scores(
    prediction: PayDatePrediction, completion: np.ndarray, window_end: int, u: np.ndarray
) -> np.ndarray:
    """z = Φ⁻¹(randomised PIT) of each invoice's pay day, with payment seen up to ``window_end``.

    An invoice unpaid by then (``completion`` NaN or later) is the atom "after the window",
    F(window_end) .. 1, so the PIT stays exactly uniform without dropping the slow invoices:
    keeping only the paid ones would condition on the outcome and bias z towards early.
    """
    seen = completion <= window_end
    day = np.where(seen, completion, window_end).astype(np.int64)
    f_before = 1.0 - prediction.p_unpaid_after(day - seen)
    f_at = np.where(seen, 1.0 - prediction.p_unpaid_after(day), 1.0)
    pit = randomised_pit(f_before, f_at, u)
    return ndtri(np.clip(pit, 1e-6, 1.0 - 1e-6))


def estimate_cash_rho(z: np.ndarray, groups: np.ndarray) -> float:
    """Within-customer correlation of the z-scores: one-way random-effects ICC, in [0, 0.9].

    Why this estimator: the cash copula draws u_i = Φ(√ρ·z_customer + √(1−ρ)·ε_i), so under the
    model the z-scores of one customer's invoices are standard normals with correlation exactly
    ρ. The ANOVA ICC (MSB − MSW) / (MSB + (n0 − 1)·MSW) is the textbook moment estimator for
    that structure with unbalanced groups (n0 = the effective group size); it needs no
    distributional fit and singleton customers only inform the between-group variance. Customer
    drifts the model missed also shift one customer's z together, so they count as correlation,
    which is what the bands must carry. Clipped at 0.9: beyond that one surprise would move all
    of a customer's invoices in lockstep, more than a 91-day fold can support.
    """
    z = np.asarray(z, dtype=np.float64)
    codes, uniques = pd.factorize(np.asarray(groups))
    n, k = len(z), len(uniques)
    if k < 2 or n - k < 1:
        return 0.0
    size = np.bincount(codes, minlength=k).astype(np.float64)
    means = np.bincount(codes, weights=z, minlength=k) / size
    msb = float((size * (means - z.mean()) ** 2).sum() / (k - 1))
    msw = float(((z - means[codes]) ** 2).sum() / (n - k))
    n0 = (n - (size**2).sum() / n) / (k - 1)
    denominator = msb + (n0 - 1.0) * msw
    icc = (msb - msw) / denominator if denominator > 0 else 0.0
    return float(np.clip(icc, 0.0, MAX_CASH_RHO))


def pays_in_runs(known: pd.DataFrame) -> np.ndarray:
    """Whether each row's customer pays in runs: at least ``RUN_MIN_PAID`` paid invoices, and at
    least ``RUN_SHARE`` of them paid on one weekday, at a month end, or on two dates of the month
    (a run on the 10th and the 25th; knowledge features)."""
    shares = known[[*WEEKDAY_SHARES, "month_end_share"]]
    concentration = shares.to_numpy(dtype=np.float64, na_value=0.0).max(axis=1, initial=0.0)
    dates = np.sort(known[list(MONTH_DAY_SHARES)].to_numpy(dtype=np.float64, na_value=0.0), axis=1)
    concentration = np.maximum(concentration, dates[:, -2:].sum(axis=1))
    paid = known["hist_n"].to_numpy(dtype=np.float64, na_value=0.0)
    return (concentration >= RUN_SHARE) & (paid >= RUN_MIN_PAID)


def fit_run_rho(
    fold: PayDatePrediction, completion: np.ndarray, window_end: int, rho: float, seed: int
) -> float:
    """The copula correlation for customers that pay in runs, fitted to the fold's weekly cash.

    Why not the ICC of `estimate_cash_rho`: a run payer's invoices land on a few run days, and a
    randomised PIT spreads each one's z-score over the day that holds most of its probability, so
    a run that slips (or the model's misplaced share of a run) hardly shows in z-scores, yet it
    moves all of the customer's cash from one week to another. So the fold's weekly cash is
    simulated with each value of ``RUN_RHO_GRID`` for the run payers (``rho`` for the rest), split
    into ``RUN_RHO_GROUPS`` groups of customers (13 weekly totals alone are too few to judge a
    band by), and the smallest value whose [p10, p90] bands hold ``BAND_COVERAGE`` of the groups'
    actual weekly totals (where a band has any width) wins; if none does, the one that covers
    most. Cash is counted when an invoice completes (``completion``: NaN = not by
    ``window_end``), at its open amount then. Never below ``rho``; ``rho`` when the fold holds no
    run payer or not a whole week.
    """
    known = fold.known
    runs = pays_in_runs(known)
    weeks = min(fold.pmf.shape[1], window_end - to_day(fold.as_of)) // 7
    if not runs.any() or weeks < 1:
        return rho
    amounts = known["amount_base"].to_numpy(np.float64) * (
        1.0 - known["paid_share"].to_numpy(np.float64, na_value=0.0)
    )
    customers = pd.factorize(known["customer_id"])[0]
    group = customers % RUN_RHO_GROUPS
    week = (completion - to_day(fold.as_of) - 1) // 7
    seen = (week >= 0) & (week < weeks)
    actual = np.zeros((RUN_RHO_GROUPS, weeks))
    np.add.at(actual, (group[seen], week[seen].astype(np.int64)), amounts[seen])
    weekly = weekly_probabilities(fold.pmf, weeks)
    coverage = []
    for candidate in RUN_RHO_GRID:
        sims = simulate_weekly_cash(
            weekly,
            amounts,
            customers,
            rho=np.where(runs, max(candidate, rho), rho),
            by=group,
            n_sims=RUN_RHO_SIMS,
            seed=seed,
        )
        low, high = np.quantile(sims, [0.1, 0.9], axis=0)
        spread = high > low  # a week certain to hold nothing (or one amount) says nothing
        inside = (low <= actual) & (actual <= high)
        coverage.append(float(inside[spread].mean()) if spread.any() else 1.0)
    reached = [r for r, c in zip(RUN_RHO_GRID, coverage, strict=True) if c >= BAND_COVERAGE]
    best = reached[0] if reached else RUN_RHO_GRID[int(np.argmax(coverage))]
    return max(best, rho)


@dataclass
class PayDatePrediction:
    """Distribution of the completion day for every invoice open at ``as_of``.

    ``pmf[i, j]`` = P(invoice i is fully paid on day as_of + 1 + j | unpaid at the end of as_of);
    ``1 - pmf[i].sum()`` is the probability it is not paid within the horizon (or never).
    ``known`` holds the knowledge-time features used, one row per invoice, aligned with ``pmf``.
    """

    as_of: date
    known: pd.DataFrame
    pmf: np.ndarray
    late_calibration: LateCalibration | None = None

    @property
    def cdf(self) -> np.ndarray:
        return np.cumsum(self.pmf, axis=1)

    def quantile_offsets(self, q: float) -> np.ndarray:
        """Days after as-of at which the CDF first reaches ``q``; -1 if not within the horizon."""
        reached = self.cdf >= q
        first = reached.argmax(axis=1) + 1
        return np.where(reached.any(axis=1), first, -1)

    def p_unpaid_after(self, day: np.ndarray) -> np.ndarray:
        """P(not fully paid by the end of ``day``); 1 for days at or before as-of."""
        offset = np.asarray(day, dtype=np.int64) - to_day(self.as_of)
        cdf = np.concatenate([np.zeros((len(offset), 1)), self.cdf], axis=1)
        idx = np.clip(offset, 0, self.pmf.shape[1])
        return 1.0 - cdf[np.arange(len(offset)), idx]

    def p_late(self, threshold_days: int = LATE_THRESHOLD_DAYS) -> np.ndarray:
        """P(fully paid more than ``threshold_days`` after due, never paid included); for the
        30-day threshold, recalibrated on a later time fold (see `predict_calibration_fold`)."""
        due = self.known["due_day"].to_numpy()
        raw = self.p_unpaid_after(due + threshold_days)
        if threshold_days != LATE_THRESHOLD_DAYS:
            return raw
        return calibrate_p_late(self.late_calibration, raw, to_day(self.as_of) - due)

    def frame(self) -> pd.DataFrame:
        """Per-invoice summary: quantile dates, late risk, and the expected days to pay *given*
        payment within the horizon, next to the probability of that (``p_paid_in_horizon``):
        the one without the other reads a long-lost invoice as due in a few months."""

        def dates(offsets: np.ndarray) -> pd.Series:
            days = np.where(offsets > 0, to_day(self.as_of) + offsets, np.nan)
            return pd.Series(pd.to_datetime(days, unit="D", origin="unix")).dt.normalize()

        mass = self.pmf.sum(axis=1)
        horizon = np.arange(1, self.pmf.shape[1] + 1)
        expected = np.where(mass > 0, (self.pmf * horizon).sum(axis=1) / np.maximum(mass, 1e-12), 0)
        return pd.DataFrame(
            {
                "invoice_id": self.known["invoice_id"].to_numpy(),
                "pay_date_p10": dates(self.quantile_offsets(0.1)),
                "pay_date_p50": dates(self.quantile_offsets(0.5)),
                "pay_date_p90": dates(self.quantile_offsets(0.9)),
                "expected_days_to_pay": np.round(expected, 1),
                "p_paid_in_horizon": np.round(mass, 4),
                "p_late_30": np.round(self.p_late(), 4),
            }
        )


def predict_open_invoices(
    con: duckdb.DuckDBPyConnection,
    model: PayDateModel,
    as_of: date,
    calendar: Calendar,
    chunk_invoices: int = 4096,
    keep: Callable[[pd.DataFrame], np.ndarray] | None = None,
    max_invoices: int | None = None,
    seed: int = 42,
) -> PayDatePrediction:
    """Score every invoice open at the end of ``as_of``, conditional on it being unpaid then.

    Evaluations may score only the open invoices ``keep`` selects, and at most ``max_invoices``
    of them (a seeded sample, in ledger order): scoring is the expensive part. A model trained
    through a later date is refused (`LookAheadError`).
    """
    if model.trained_through > as_of:
        raise LookAheadError(
            f"the model was trained on data through {model.trained_through}, after the as-of "
            f"date {as_of}: its forecasts would rest on outcomes not known then; give --as-of "
            f"{as_of} to replay that date with a model fitted as of then"
        )
    build_scoring_keys(con, as_of)
    known = knowledge_features(con)
    chosen = np.flatnonzero(keep(known)) if keep is not None else np.arange(len(known))
    if max_invoices is not None and len(chosen) > max_invoices:
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, max_invoices, replace=False))
    if len(chosen) < len(known):
        known = known.iloc[chosen].reset_index(drop=True)
    keys = key_matrix(known, model.vocab, calendar)
    pmf = hazard_pmf(model, keys, calendar, chunk_invoices)
    return PayDatePrediction(as_of, known, pmf, model.late_calibration)


def settled_dispute_pmf(
    con: duckdb.DuckDBPyConnection,
    model: PayDateModel,
    as_of: date,
    calendar: Calendar,
    invoice_ids: Sequence[str],
    settled: date,
) -> np.ndarray:
    """pmf of open invoices scored at ``as_of`` as if their dispute had been settled on ``settled``.

    What-if analysis ("every dispute resolved by 15 July") needs how payment follows a
    settlement. The model learnt that from the dispute-resolved clock, so the counterfactual is
    the same invoice with its dispute closed on that date; the caller splices its hazard in from
    ``settled`` on. Rows follow ``invoice_ids``, which must all be open at ``as_of``.
    """
    build_scoring_keys(con, as_of)
    known = knowledge_features(con).set_index("invoice_id", drop=False)
    missing = pd.Index(invoice_ids).difference(known.index)
    if len(missing):
        raise KeyError(f"not open at {as_of}: {list(missing[:5])}")
    known = known.loc[list(invoice_ids)].reset_index(drop=True)
    known = known.assign(dispute_open=False, last_dispute_resolved_day=to_day(settled))
    return hazard_pmf(model, key_matrix(known, model.vocab, calendar), calendar)


def hazard_pmf(
    model: PayDateModel, keys: KeyMatrix, calendar: Calendar, chunk_invoices: int = 4096
) -> np.ndarray:
    """``pmf[i, j]`` = P(paid on day k_i + 1 + j | unpaid at the end of k_i), per key i.

    Each key is scored from its own knowledge day k_i, so the same code serves one as-of day for
    all open invoices and evaluations that score every invoice at its issue day.
    """
    horizon = model.config.horizon_days
    pmf = np.zeros((len(keys), horizon), dtype=np.float64)
    ahead = 1 + np.arange(horizon)
    for start in range(0, len(keys), chunk_invoices):
        chunk = np.arange(start, min(start + chunk_invoices, len(keys)))
        days = (keys.k[chunk, None] + ahead).ravel()
        x = keys.rows(days, calendar, np.repeat(chunk, horizon))
        hazard = model.hazard(x).reshape(len(chunk), horizon)
        survival = np.cumprod(1.0 - hazard, axis=1)
        before = np.concatenate([np.ones((len(chunk), 1)), survival[:, :-1]], axis=1)
        pmf[chunk] = before * hazard
    return pmf
