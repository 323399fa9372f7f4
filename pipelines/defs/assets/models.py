"""Model assets: the pay-date hazard model, trained on what was known at the as-of date."""

import time
from pathlib import Path

import dagster as dg
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from dagster_duckdb import DuckDBResource
from pydantic import Field

from data_contracts.continuity import monthly_counts
from features.matrix import holiday_calendar
from features.warehouse import to_day
from models.backtest import BacktestResult, describe_versus, model_scores, versus_baselines
from models.paydate import LookAheadError, TrainingConfig, train_pay_date_model
from models.plots import backtest_figures
from models.promotion import GATE_METRICS, challenger_window
from models.promotion import promotion_gate as judge
from models.tracking import (
    CHALLENGER,
    CHAMPION,
    WINDOW_TABLE,
    alias_version,
    evaluation_table,
    gate_verdict,
    load_recipe,
    log_and_register,
    log_evaluation,
    promote,
    record_gate,
    trained_through,
)
from pipelines.defs.assets.features import FACT_TABLES
from pipelines.defs.metadata import png_markdown
from pipelines.defs.resources import ArcastSettings

_DEFAULTS = TrainingConfig()
BACKTEST_COLUMNS = [
    "n_open",
    "mae_p50",
    "coverage_p10_p90",
    "pit_coverage",
    "auc_late30",
    "auc_late30_fresh",
    "brier_late30",
    "ece_late30",
]


class PayDateModelConfig(dg.Config):
    """Training knobs exposed in the Dagster launchpad; defaults match ``TrainingConfig``."""

    horizon_days: int = Field(_DEFAULTS.horizon_days, description="Days ahead the model predicts.")
    max_rows: int = Field(_DEFAULTS.max_rows, description="Cap on training rows (subsampled).")
    learning_rate: float = Field(_DEFAULTS.learning_rate)
    num_leaves: int = Field(_DEFAULTS.num_leaves)
    max_rounds: int = Field(_DEFAULTS.max_rounds, description="Upper bound; early stopping picks.")
    num_threads: int = Field(_DEFAULTS.num_threads)
    boosters: int = Field(
        _DEFAULTS.boosters,
        ge=1,
        description="Seed-varied boosters averaged: more cut variance, multiply the run time.",
    )


def _importance_figure(model) -> plt.Figure:
    gain = np.sum([b.feature_importance("gain") for b in model.boosters], axis=0)
    names = model.boosters[0].feature_name()
    top = sorted(zip(gain, names, strict=True), reverse=True)[:20]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh([n for _, n in top][::-1], [g for g, _ in top][::-1], color="#2f6f9f")
    ax.set_title("Pay-date model: feature importance (gain)")
    fig.tight_layout()
    return fig


def fingerprint(con) -> dict:
    """Row counts, date range, an order-independent content hash of the ledger and its rows by
    month (which the next export is checked against: `ledger_continuity`)."""
    inv = con.execute(
        "SELECT count(*), min(issue_date), max(issue_date), "
        "bit_xor(hash(invoice_id, customer_id, issue_date, due_date, amount)) FROM invoices"
    ).fetchone()
    pay = con.execute(
        "SELECT count(*), bit_xor(hash(payment_id, invoice_id, payment_date, amount)) FROM payments"
    ).fetchone()
    return {
        "invoices": inv[0],
        "issue_date_min": str(inv[1]),
        "issue_date_max": str(inv[2]),
        "payments": pay[0],
        "hash": f"{inv[3]:016x}{pay[1]:016x}" if inv[3] is not None and pay[1] is not None else "",
        **monthly_counts(con),
    }


@dg.asset(
    group_name="models",
    deps=list(FACT_TABLES),
    kinds={"lightgbm", "mlflow"},
    description="Challenger: discrete-time hazard model of each invoice's pay date (LightGBM), "
    "trained on history up to the as-of date, logged to MLflow, registered as 'challenger'.",
    check_specs=[
        dg.AssetCheckSpec(
            "beats_baselines",
            asset="pay_date_model",
            description="On its backtest window the challenger is not behind the spreadsheet "
            "method (due date + the customer's mean or median delay) on p50 MAE (invoices "
            "still unpaid at the window's end counted too) or p_late_30 Brier by more than the "
            "window's noise (two standard errors of the gap, clustered by customer). Warns only: "
            "a small or young ledger may not give the model enough to learn from.",
        )
    ],
)
def pay_date_model(
    context: dg.AssetExecutionContext,
    config: PayDateModelConfig,
    settings: ArcastSettings,
    warehouse: DuckDBResource,
) -> dg.MaterializeResult:
    training = TrainingConfig(**config.model_dump(), seed=settings.seed)
    registry = settings.registry
    with warehouse.get_connection() as con:
        as_of = con.execute("SELECT as_of FROM run_context").fetchone()[0]
        through = trained_through(registry)
        if through is not None and through > as_of:
            raise LookAheadError(
                f"the ledger is seen as of {as_of}, before the end of the data the champion "
                f"learnt from ({through}): a challenger trained on it would replace today's "
                f"model with an older one; give --as-of {as_of} to replay that date"
            )
        first = con.execute("SELECT min(issue_day) FROM invoice_facts").fetchone()[0]
        calendar = holiday_calendar(con, first, to_day(as_of) + training.horizon_days + 31)
        started = time.perf_counter()
        model = train_pay_date_model(con, as_of, calendar, training)
        model.metrics["train_seconds"] = round(time.perf_counter() - started, 2)
        data = {"data_dir": str(Path(settings.data_dir).resolve()), **fingerprint(con)}
        window = challenger_window(con, model)
    fig = _importance_figure(model)
    registered = log_and_register(model, registry, data, {"feature_importance": fig})
    version = registered["model_version"]
    context.log.info(f"registered model version {version}")
    metadata = {
        **{k: float(v) for k, v in model.metrics.items()},
        **registered,
        "trained_through": as_of.isoformat(),
        "feature_importance": png_markdown(fig),
    }
    if window is not None:
        figures = {f"backtest_{name}": f for name, f in backtest_figures(window.rows).items()}
        scores = model_scores(window.metrics)
        log_evaluation(
            registry,
            version,
            {f"backtest_{k}": v for k, v in scores.items()},
            {WINDOW_TABLE: window.metrics},
            figures,
        )
        table = window.metrics[window.metrics["segment"] == "all"]
        metadata |= {
            "backtest_window": f"{window.summary['cutoff']} → {as_of}",
            "backtest_vs_baselines": dg.MetadataValue.md(
                table[["method", *BACKTEST_COLUMNS]].to_markdown(index=False, floatfmt=".3f")
            ),
            **{name: png_markdown(f) for name, f in figures.items()},
        }
    return dg.MaterializeResult(
        metadata=metadata, check_results=[_baseline_check(window, training.calibration_days)]
    )


def _baseline_check(window: BacktestResult | None, fold_days: int) -> dg.AssetCheckResult:
    if window is None:
        return dg.AssetCheckResult(
            check_name="beats_baselines",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"No backtest window yet (nothing was paid {fold_days} days before the "
            "as-of date), so nothing shows that the model beats the customer's own average delay.",
        )
    verdict = versus_baselines(window.metrics)
    return dg.AssetCheckResult(
        check_name="beats_baselines",
        passed=verdict["beats_baselines"],
        severity=dg.AssetCheckSeverity.WARN,
        description=describe_versus(verdict),
        metadata={
            f"{method}_{metric}": value
            for method, values in verdict["scores"].items()
            for metric, value in values.items()
            if np.isfinite(value)
        },
    )


@dg.asset_check(
    asset=pay_date_model,
    blocking=True,
    description="Promotion gate: the challenger's recipe is not worse than the champion's on the "
    "most recent backtest window (p50 MAE and p_late_30 Brier; the window is the challenger's "
    "calibration fold, and a champion with another recipe is refit at its start).",
)
def promotion_gate(settings: ArcastSettings, warehouse: DuckDBResource) -> dg.AssetCheckResult:
    registry = settings.registry
    challenger_version = alias_version(registry, CHALLENGER)
    challenger = load_recipe(registry, CHALLENGER)
    champion_version = alias_version(registry, CHAMPION)
    champion = load_recipe(registry, CHAMPION)
    window = evaluation_table(registry, challenger_version, WINDOW_TABLE)
    with warehouse.get_connection() as con:
        as_of = con.execute("SELECT as_of FROM run_context").fetchone()[0]
        first = con.execute("SELECT min(issue_day) FROM invoice_facts").fetchone()[0]
        calendar = holiday_calendar(con, first, to_day(as_of) + challenger.horizon_days + 31)
        result = judge(con, calendar, champion, challenger, window, as_of)
    record_gate(registry, challenger_version, result.passed, result.reason)
    metadata = {
        "champion_version": champion_version or "none",
        "challenger_version": challenger_version,
        "window": f"{result.window_start} → {result.window_end}",
        **{f"champion_{k}": v for k, v in result.champion.items() if k in GATE_METRICS},
        **{f"challenger_{k}": v for k, v in result.challenger.items() if k in GATE_METRICS},
    }
    return dg.AssetCheckResult(passed=result.passed, description=result.reason, metadata=metadata)


@dg.asset(
    group_name="models",
    deps=[pay_date_model],
    kinds={"mlflow"},
    description="The model that scores: the challenger, promoted to the 'champion' alias once the "
    "blocking promotion gate has passed. If the gate fails this asset is not updated and the "
    "previous champion keeps serving; materialized on its own, it promotes only a challenger "
    "the gate has passed.",
)
def champion_model(settings: ArcastSettings) -> dg.MaterializeResult:
    registry = settings.registry
    verdict = gate_verdict(registry, CHALLENGER)
    previous = alias_version(registry, CHAMPION)
    if verdict is None or verdict["gate"] != "promoted":
        # the UI offers this asset alone ("unsynced") after a refusal: never a way round the gate
        raise dg.Failure(_not_promoted(verdict, previous))
    version = verdict["version"]
    promote(registry, version, CHAMPION)
    return dg.MaterializeResult(
        metadata={"champion_version": version, "previous_champion": previous or "none"}
    )


def _not_promoted(verdict: dict | None, champion: str | None) -> str:
    serving = f"version {champion} keeps serving" if champion else "no model serves yet"
    if verdict is None:
        return f"no challenger to promote ({serving}): materialize pay_date_model to train one"
    judged = (
        f"was refused by the promotion gate: {verdict['reason']}"
        if verdict["gate"] == "refused"
        else "has not been judged by the promotion gate"
    )
    return (
        f"challenger version {verdict['version']} {judged}. Not promoted; {serving}. Materialize "
        "pay_date_model (the retrain job) for a new challenger and its gate"
    )
