"""The state directory can be moved or copied to another path and keep serving its champion."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from models.paydate import predict_open_invoices
from models.tracking import (
    CHAMPION,
    EXPERIMENT,
    HomeStoreError,
    Registry,
    data_fingerprint,
    kept_ledgers,
    load_model,
    log_and_register,
    tracking_uri,
)
from tests.conftest import MODEL_CUTOFF, open_warehouse, train_and_score

LEDGER = "acme"
FINGERPRINT = {"hash": "f00d", "invoices": 1}


@pytest.fixture(scope="module")
def champion(small_tables: dict):
    """One small model, its prediction of the open invoices, the warehouse and calendar."""
    con = open_warehouse(small_tables)
    model, prediction, calendar = train_and_score(con)
    yield model, prediction, con, calendar
    con.close()


def _recorded_uris(home: Path) -> list[str]:
    """Every artifact location the home's MLflow store records, read through MLflow's API."""
    client = MlflowClient(tracking_uri(home), tracking_uri(home))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    (version,) = client.search_model_versions()
    (logged,) = client.search_logged_models([experiment.experiment_id])
    return [
        experiment.artifact_location,
        client.get_run(version.run_id).info.artifact_uri,
        logged.artifact_location,
        client.get_model_version_download_uri(version.name, version.version),
    ]


@pytest.mark.parametrize("copy", [False, True], ids=["moved", "copied"])
def test_a_moved_or_copied_home_scores_with_its_own_champion(
    copy: bool, champion, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model, prediction, con, calendar = champion
    first, second = tmp_path / "first", tmp_path / "second"
    log_and_register(model, Registry(first, LEDGER), FINGERPRINT, alias=CHAMPION)
    (shutil.copytree if copy else shutil.move)(first, second)

    registry = Registry(second, LEDGER)
    with caplog.at_level(logging.WARNING, logger="models.tracking"):
        assert data_fingerprint(registry) == FINGERPRINT  # the continuity check reads it first
        loaded, version = load_model(registry)
    assert version == "1"
    again = predict_open_invoices(con, loaded, MODEL_CUTOFF, calendar)
    np.testing.assert_array_equal(again.pmf, prediction.pmf)
    assert [r.getMessage() for r in caplog.records] == [  # said once, on the first look
        f"the arcast home {'was copied' if copy else 'moved'}: MLflow's artifact locations now "
        f"point to {second / 'mlartifacts'}, no longer to {first / 'mlartifacts'}"
    ]
    # a copy reads its own artifacts, never the original's, which keeps its own
    for home in (first, second) if copy else (second,):
        root = (home / "mlartifacts").as_uri()
        assert all(uri.startswith(root) for uri in _recorded_uris(home)), _recorded_uris(home)


def test_a_store_that_records_its_artifacts_elsewhere_too_is_left_as_it_was(
    tmp_path: Path,
) -> None:
    """A later MLflow keeping artifact URIs in a column arcast does not know: one line, and no
    URI rewritten (the transaction is rolled back), rather than a half-moved store."""
    first, second = tmp_path / "first", tmp_path / "second"
    kept_ledgers(first)  # creates the store and its experiment
    client = MlflowClient(tracking_uri(first))
    client.create_run(client.get_experiment_by_name(EXPERIMENT).experiment_id)
    (first / "mlartifacts").mkdir(exist_ok=True)
    with sqlite3.connect(first / "mlflow.db") as db:
        db.execute("ALTER TABLE runs ADD COLUMN mirror_uri TEXT")
        db.execute("UPDATE runs SET mirror_uri = artifact_uri")
    shutil.move(first, second)

    with pytest.raises(HomeStoreError, match=r"runs\.mirror_uri also record file://"):
        kept_ledgers(second)
    with sqlite3.connect(second / "mlflow.db") as db:
        recorded = db.execute(
            "SELECT artifact_location, artifact_uri FROM experiments JOIN runs USING "
            "(experiment_id)"
        ).fetchall()
    assert recorded and all(
        uri.startswith((first / "mlartifacts").as_uri()) for row in recorded for uri in row
    )
    shutil.rmtree(second / "mlartifacts")  # mlflow.db restored without the artifacts
    with pytest.raises(HomeStoreError, match=r"restore the whole home, not only mlflow\.db"):
        kept_ledgers(second)
