"""The pay-date model: determinism, coherent distributions, and better than paying on due date."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import duckdb
import numpy as np
import pytest

from features.matrix import model_matrix
from features.warehouse import to_day
from models.backtest import expected_calibration_error
from models.explain import representative_days, shap_values
from models.paydate import (
    MIN_LEAVES,
    LateCalibration,
    LookAheadError,
    ModelVersionError,
    PayDateModel,
    TrainingConfig,
    predict_open_invoices,
    sized_params,
    train_pay_date_model,
)
from tests.conftest import MODEL_CONFIG, MODEL_CUTOFF

CUTOFF, CONFIG = MODEL_CUTOFF, MODEL_CONFIG


def test_training_is_deterministic(warehouse: duckdb.DuckDBPyConnection, trained) -> None:
    model, prediction, calendar = trained
    again = train_pay_date_model(warehouse, CUTOFF, calendar, CONFIG)
    assert [b.model_to_string() for b in again.boosters] == [
        b.model_to_string() for b in model.boosters
    ]
    repeat = predict_open_invoices(warehouse, again, CUTOFF, calendar)
    np.testing.assert_array_equal(repeat.pmf, prediction.pmf)


def test_a_model_never_scores_a_date_before_its_training_data_ends(
    warehouse: duckdb.DuckDBPyConnection, trained
) -> None:
    model, _, calendar = trained
    with pytest.raises(LookAheadError, match=f"through {CUTOFF}, after the as-of date"):
        predict_open_invoices(warehouse, model, CUTOFF - timedelta(days=1), calendar)
    later = predict_open_invoices(warehouse, model, CUTOFF + timedelta(days=7), calendar)
    assert len(later.known) > 0  # a model may serve a while after it was trained


def test_distribution_is_coherent(trained) -> None:
    _, prediction, _ = trained
    mass = prediction.pmf.sum(axis=1)
    assert (prediction.pmf >= 0).all() and (mass <= 1 + 1e-9).all()
    frame = prediction.frame()
    both = frame.dropna(subset=["pay_date_p10", "pay_date_p90"])
    assert (both["pay_date_p10"] <= both["pay_date_p50"].fillna(both["pay_date_p90"])).all()
    assert (both["pay_date_p50"] <= both["pay_date_p90"]).all()
    assert (both["pay_date_p10"] > np.datetime64(CUTOFF)).all()


def test_p_late_is_certain_once_30_days_overdue(trained) -> None:
    _, prediction, _ = trained
    overdue = to_day(CUTOFF) - prediction.known["due_day"].to_numpy()
    p_late = prediction.p_late()
    assert (overdue > 30).any()
    np.testing.assert_array_equal(p_late[overdue > 30], 1.0)
    assert (p_late[overdue <= 30] < 1.0).any()


def test_beats_pay_on_due_date(warehouse: duckdb.DuckDBPyConnection, trained) -> None:
    _, prediction, _ = trained
    facts = warehouse.execute("SELECT invoice_id, completion_day FROM invoice_facts").df()
    frame = prediction.frame().merge(facts, on="invoice_id")
    frame["due_day"] = prediction.known["due_day"].to_numpy()
    paid = frame.dropna(subset=["completion_day", "pay_date_p50"])
    p50 = (paid["pay_date_p50"] - np.datetime64("1970-01-01")).dt.days
    due = np.maximum(paid["due_day"], to_day(CUTOFF) + 1)
    model_mae = np.mean(np.abs(p50 - paid["completion_day"]))
    due_mae = np.mean(np.abs(due - paid["completion_day"]))
    assert len(paid) > 100
    assert model_mae < 0.8 * due_mae


def test_save_and_load_round_trip(tmp_path, trained) -> None:
    model, _, _ = trained
    loaded = PayDateModel.load(model.save(tmp_path / "m"))
    assert [b.model_to_string() for b in loaded.boosters] == [
        b.model_to_string() for b in model.boosters
    ]
    assert loaded.vocab.values == model.vocab.values
    assert loaded.config == model.config
    meta = tmp_path / "m" / "meta.json"
    older = json.loads(meta.read_text())
    meta.write_text(json.dumps(older | {"features": older["features"][:-1]}))
    with pytest.raises(ModelVersionError, match="different feature set; retrain"):
        PayDateModel.load(tmp_path / "m")  # an older arcast's model: one line in the CLI


def test_platt_calibration_repairs_an_overconfident_forecast() -> None:
    rng = np.random.default_rng(3)
    truth = rng.uniform(0.02, 0.6, 5000)
    late = (rng.random(5000) < truth).astype(float)
    overconfident = 1 / (1 + np.exp(-2.5 * np.log(truth / (1 - truth))))
    calibration = LateCalibration.fit(overconfident, late)
    assert calibration is not None and 0 < calibration.slope < 1
    fixed = calibration(overconfident)
    assert (
        expected_calibration_error(fixed, late)
        < expected_calibration_error(overconfident, late) / 3
    )
    assert (np.diff(calibration(np.linspace(0.01, 0.99, 50))) > 0).all()
    assert LateCalibration.fit(overconfident[:50], late[:50]) is None  # too few to learn from


def test_calibration_survives_save_and_load(tmp_path, trained) -> None:
    model, _, _ = trained
    assert model.late_calibration is not None
    loaded = PayDateModel.load(model.save(tmp_path / "m"))
    assert loaded.late_calibration == model.late_calibration
    assert loaded.cash_rho == model.cash_rho == model.metrics["cash_rho"]
    assert loaded.cash_rho_runs == model.cash_rho_runs == model.metrics["cash_rho_runs"]


def test_boosters_average_in_log_odds_and_their_shap_values_add_up(
    tmp_path, warehouse: duckdb.DuckDBPyConnection, trained
) -> None:
    _, prediction, calendar = trained
    config = replace(CONFIG, boosters=2, small_boosters=1, calibration_days=0)
    model = train_pay_date_model(warehouse, CUTOFF, calendar, config)
    first, second = (b.model_to_string() for b in model.boosters)
    assert first != second  # each booster has its own seed and panel sample
    known = prediction.known
    x = model_matrix(known, representative_days(known, CUTOFF), model.vocab, calendar)
    raw = np.mean([b.predict(x, raw_score=True) for b in model.boosters], axis=0)
    np.testing.assert_allclose(model.hazard(x), 1.0 / (1.0 + np.exp(-raw)), rtol=1e-12)
    values = shap_values(model, known, CUTOFF, calendar)
    base = np.mean(
        [b.predict(x[:1], raw_score=True, pred_contrib=True)[0, -1] for b in model.boosters]
    )
    np.testing.assert_allclose(values.sum(axis=1) + base, raw, atol=1e-6)
    loaded = PayDateModel.load(model.save(tmp_path / "m"))
    assert [b.model_to_string() for b in loaded.boosters] == [first, second]
    np.testing.assert_array_equal(loaded.hazard(x), model.hazard(x))


def test_without_a_validation_fold_training_stops_at_the_fallback(
    warehouse: duckdb.DuckDBPyConnection, trained
) -> None:
    """With nothing to stop early on (here: no validation days), a ledger's few payments must
    not be fitted for max_rounds."""
    _, _, calendar = trained
    config = replace(CONFIG, validation_days=0, calibration_days=0, fallback_rounds=7)
    model = train_pay_date_model(warehouse, CUTOFF, calendar, config)
    assert "valid_auc" not in model.metrics
    assert all(b.current_iteration() == 7 < CONFIG.max_rounds for b in model.boosters)
    assert model.metrics["rounds"] == 7 * len(model.boosters)  # summed over the boosters


def test_trees_get_as_many_leaves_as_the_payments_support(trained) -> None:
    """A ledger with a few hundred payments cannot fill 31 leaves a tree (a 50-customer, 12-month
    ledger's backtest p50 MAE: 11.27 days with 31, 9.01 with 7, 8.52 also at a learning rate of
    0.05), a large one can; a small panel also averages as many boosters as one full panel's
    rows allow, and lets every tree choose among all the features."""
    config = TrainingConfig()
    small = {
        "num_leaves": MIN_LEAVES,
        "learning_rate": config.small_learning_rate,
        "boosters": 3,
        "feature_fraction": config.small_feature_fraction,
    }
    assert sized_params(750, 40_000, config) == small
    assert sized_params(3_000, 160_000, config) == {
        "num_leaves": 3_000 // config.events_per_leaf,
        "learning_rate": config.small_learning_rate,
        "boosters": 1,  # two would train on 320,000 rows, more than one 300,000-row panel
        "feature_fraction": config.small_feature_fraction,
    }
    assert sized_params(2_000, 120_000, config)["boosters"] == 2
    large = {
        "num_leaves": 31,
        "learning_rate": 0.1,
        "boosters": 1,
        "feature_fraction": config.feature_fraction,
    }
    assert sized_params(40_000, config.max_rows, config) == large
    # never more leaves than asked for; a panel that fills them keeps the configured recipe
    assert sized_params(40_000, config.max_rows, TrainingConfig(num_leaves=5, boosters=2)) == (
        large | {"num_leaves": 5, "boosters": 2}
    )
    assert sized_params(2_000, 250_000, TrainingConfig(boosters=5))["boosters"] == 5
    model, _, _ = trained
    allowed = sized_params(
        int(model.metrics["panel_events"]), int(model.metrics["panel_rows"]), model.config
    )
    assert model.metrics["num_leaves"] == allowed["num_leaves"] < model.config.num_leaves
    for booster in model.boosters:
        trees = booster.dump_model()["tree_info"]
        assert max(tree["num_leaves"] for tree in trees) == allowed["num_leaves"]
        # a panel that cannot fill the leaves also takes smaller steps, on every feature
        assert float(booster.params["learning_rate"]) == model.config.small_learning_rate
        assert float(booster.params["feature_fraction"]) == model.config.small_feature_fraction
    assert model.metrics["learning_rate"] == model.config.small_learning_rate
    # the test panel is capped at 60,000 rows, so the budget (max_rows) allows one booster here;
    # averaged boosters are tested above
    assert len(model.boosters) == model.metrics["boosters"] == allowed["boosters"]
