"""Retraining lifecycle: a worse challenger is refused, a better one promoted; scoring goes on."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from features.matrix import holiday_calendar
from features.warehouse import to_day
from models.paydate import TrainingConfig
from models.promotion import promotion_gate
from models.tracking import CHAMPION, load_model, load_recipe
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
    refused = promotion_gate(warehouse, calendar, champion=good, challenger=bad, as_of=AS_OF)
    assert not refused.passed
    assert "worse" in refused.reason and "mae_p50" in refused.reason
    accepted = promotion_gate(warehouse, calendar, champion=bad, challenger=good, as_of=AS_OF)
    assert accepted.passed
    assert accepted.challenger["mae_p50"] < accepted.champion["mae_p50"]


def test_retraining_lifecycle_through_the_asset_graph(small_ledger_dir: Path, tmp_path: Path):
    settings = ArcastSettings(
        data_dir=str(small_ledger_dir), out_dir=str(tmp_path / "out"), home=str(tmp_path / "home")
    )
    instance = dg.DagsterInstance.ephemeral()

    def run(training: dict) -> tuple[str | None, str]:
        _, refusal = run_pipeline(settings, training=training, instance=instance)
        summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
        return refusal, summary["model"]["version"]

    assert run(BAD) == (None, "1")  # no champion yet: the first model is promoted
    assert run(GOOD) == (None, "2")  # better: promoted
    refusal, serving = run(BAD)  # worse: refused, the champion keeps serving
    assert serving == "2"
    assert refusal is not None and "worse" in refusal
    # the gate reads the champion's recipe from its run, not from a booster that may no longer
    # fit this version's feature set
    home = Path(settings.home)
    assert load_recipe(home, CHAMPION) == load_model(home, CHAMPION)[0].config
