"""Retraining lifecycle: a worse challenger is refused, a better one promoted; scoring goes on."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import mlflow
import pandas as pd
from mlflow import MlflowClient

from arcast.accuracy import HISTORY_FILE
from features.matrix import holiday_calendar
from features.warehouse import to_day
from models.paydate import TrainingConfig, train_pay_date_model
from models.promotion import challenger_window, promotion_gate, recipe_evaluation
from models.tracking import CHAMPION, alias_version, load_model, load_recipe, tracking_uri
from pipelines.defs.assets.models import champion_model
from pipelines.defs.resources import ArcastSettings
from pipelines.run import run_pipeline

AS_OF = date(2025, 3, 31)
GOOD = {"max_rows": 60_000, "max_rounds": 60, "num_threads": 1}
BAD = {
    "max_rows": 60_000,
    "max_rounds": 1,
    "num_leaves": 2,
    "learning_rate": 0.01,
    "num_threads": 1,
}


def test_gate_refuses_a_worse_recipe_and_accepts_a_better_one(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    calendar = holiday_calendar(warehouse, to_day(AS_OF) - 800, to_day(AS_OF) + 400)
    good, bad = TrainingConfig(**GOOD), TrainingConfig(**BAD)
    models = {c: train_pay_date_model(warehouse, AS_OF, calendar, c) for c in (good, bad)}
    windows = {c: challenger_window(warehouse, m) for c, m in models.items()}

    def gate(champion: TrainingConfig, challenger: TrainingConfig):
        window = windows[challenger].metrics
        return promotion_gate(warehouse, calendar, champion, challenger, window, AS_OF)

    refused = gate(champion=good, challenger=bad)
    assert not refused.passed
    assert "worse" in refused.reason and "mae_p50" in refused.reason
    accepted = gate(champion=bad, challenger=good)
    assert accepted.passed
    assert accepted.challenger["mae_p50"] < accepted.champion["mae_p50"]
    # the challenger's window is its calibration fold, reused: exactly what refitting its recipe
    # at the window's start (as the gate does for a champion) gives
    start = AS_OF - timedelta(days=good.calibration_days)
    refit = recipe_evaluation(warehouse, calendar, good, start, AS_OF, good.seed)
    pd.testing.assert_frame_equal(windows[good].metrics, refit.metrics)
    assert windows[good].summary["cutoff"] == start.isoformat()


def test_gate_keeps_the_champion_when_the_window_measured_nothing(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    """A window in which no invoice was paid (recent payments missing from the export) cannot
    show a challenger is not worse, even one of the champion's own recipe."""
    calendar = holiday_calendar(warehouse, to_day(AS_OF) - 800, to_day(AS_OF) + 400)
    good = TrainingConfig(**GOOD)
    window = challenger_window(warehouse, train_pay_date_model(warehouse, AS_OF, calendar, good))
    assert promotion_gate(warehouse, calendar, good, good, window.metrics, AS_OF).passed
    unpaid = window.metrics.assign(mae_p50=float("nan"))
    kept = promotion_gate(warehouse, calendar, good, good, unpaid, AS_OF)
    assert not kept.passed and "measured no mae_p50" in kept.reason
    assert "champion stays" in kept.reason
    assert promotion_gate(warehouse, calendar, None, good, unpaid, AS_OF).passed  # the first


def test_gate_without_a_window_keeps_a_champion_of_another_recipe(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    calendar = holiday_calendar(warehouse, to_day(AS_OF) - 800, to_day(AS_OF) + 400)
    good, bad = TrainingConfig(**GOOD), TrainingConfig(**BAD)
    kept = promotion_gate(warehouse, calendar, good, bad, None, AS_OF)
    assert not kept.passed and "no backtest window" in kept.reason
    assert "champion stays" in kept.reason
    # a young ledger's first model must not serve for good: its own recipe refit on more
    # payments replaces it, and the first model of all becomes champion
    refit = promotion_gate(warehouse, calendar, good, good, None, AS_OF)
    assert refit.passed and "refit as of this date" in refit.reason
    assert promotion_gate(warehouse, calendar, None, good, None, AS_OF).passed


def test_retraining_lifecycle_through_the_asset_graph(small_ledger_dir: Path, tmp_path: Path):
    settings = ArcastSettings(
        data_dir=str(small_ledger_dir), out_dir=str(tmp_path / "out"), home=str(tmp_path / "home")
    )
    instance = dg.DagsterInstance.ephemeral()

    def run(settings: ArcastSettings, training: dict) -> tuple[str | None, str]:
        _, refusal = run_pipeline(settings, training=training, instance=instance)
        summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
        assert summary["model"]["name"] == settings.registry.model_name
        return refusal, summary["model"]["version"]

    assert run(settings, BAD) == (None, "1")  # no champion yet: the first model is promoted
    assert run(settings, GOOD) == (None, "2")  # better: promoted
    refusal, serving = run(settings, BAD)  # worse: refused, the champion keeps serving
    assert serving == "2"
    assert refusal is not None and "worse" in refusal
    assert refusal.startswith("version 3 refused, version 2 keeps serving: ")
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert summary["model"]["latest_challenger"] == {
        "version": "3",
        "gate": "refused",
        "reason": refusal.split(": ", 1)[1],
    }  # for automation, and as tags on the version in MLflow
    assert summary["model"]["trained_through"] == summary["as_of"]
    # the UI offers champion_model alone after a refusal ("unsynced"): no way round the gate
    alone = dg.materialize(
        [champion_model],
        resources={"settings": settings},
        instance=instance,
        raise_on_error=False,
    )
    assert not alone.success
    failure = alone.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure.description.startswith(
        "challenger version 3 was refused by the promotion gate: "
    )
    assert "Not promoted; version 2 keeps serving." in failure.description
    assert alias_version(settings.registry, CHAMPION) == "2"
    client = MlflowClient(tracking_uri(settings.home_path))
    trained = client.get_model_version(settings.registry.model_name, "3").run_id
    assert client.get_run(trained).data.tags["arcast.gate"] == "refused"  # the runs list too
    # the gate reads the champion's recipe from its run, not from a booster that may no longer
    # fit this version's feature set
    assert load_recipe(settings.registry, CHAMPION) == load_model(settings.registry)[0].config

    # another ledger in the same state directory has models of its own: the worse recipe is
    # its first model, not judged against (or replaced by) the first ledger's champion
    other = ArcastSettings(
        data_dir=str(tmp_path / "other_ledger"), out_dir=settings.out_dir, home=settings.home
    )
    shutil.copytree(small_ledger_dir, other.data_dir)
    assert other.registry.model_name != settings.registry.model_name
    assert alias_version(other.registry, CHAMPION) is None
    assert run(other, BAD) == (None, "1")
    assert load_recipe(other.registry, CHAMPION).num_leaves == BAD["num_leaves"]
    assert alias_version(settings.registry, CHAMPION) == "2"


def test_a_named_ledger_keeps_its_line_across_export_folders(
    small_ledger_dir: Path, tmp_path: Path
) -> None:
    """Monthly exports in folders of their own are one ledger when named: the second export's
    worse challenger is judged against the first's champion, and both runs' forecasts are kept
    under the name, for forecast-vs-actual."""
    instance = dg.DagsterInstance.ephemeral()
    exports = []
    for month in ("2025-11", "2025-12"):
        folder = tmp_path / "exports" / month
        shutil.copytree(small_ledger_dir, folder)
        exports.append(
            ArcastSettings(
                data_dir=str(folder),
                ledger_name="acme",
                out_dir=str(tmp_path / "out" / month),
                home=str(tmp_path / "home"),
            )
        )
    november, december = exports
    assert november.registry == december.registry
    assert november.ledger_path == december.ledger_path
    assert run_pipeline(november, training=GOOD, instance=instance)[1] is None
    _, refusal = run_pipeline(december, training=BAD, instance=instance)
    assert refusal is not None and "worse" in refusal
    assert alias_version(december.registry, CHAMPION) == "1"
    summary = json.loads((Path(december.out_dir) / "run_summary.json").read_text())
    assert summary["ledger"] == "acme"
    assert summary["data_dir"] == str((tmp_path / "exports" / "2025-12").resolve())
    history = pd.read_parquet(Path(december.home) / HISTORY_FILE)
    assert set(history["ledger"]) == {"acme"}
    client = MlflowClient(tracking_uri(Path(december.home).resolve()))
    run_id = client.get_model_version(december.registry.model_name, "2").run_id
    trained_on = mlflow.artifacts.load_dict(f"runs:/{run_id}/data_fingerprint.json")
    assert trained_on["data_dir"] == summary["data_dir"]
