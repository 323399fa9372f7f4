"""MLflow tracking and registry for the pay-date model (local SQLite store by default).

Each ledger's models are registered under a name of their own (`Registry`), with MLflow 3
aliases: ``champion`` serves scoring. The model travels as an MLflow pyfunc whose artifact is
the booster plus its metadata, so the registry holds everything needed to score without the
training code's state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import tempfile
import warnings
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from models.paydate import PayDateModel, TrainingConfig

REGISTERED_MODEL = "arcast-pay-date"
"""Prefix of every ledger's registered model name (`Registry.model_name`)."""
EXPERIMENT = "arcast"
CHAMPION = "champion"
CHALLENGER = "challenger"
WINDOW_TABLE = "window_metrics"
"""The promotion gate's window backtest (model vs baselines), attached to each model's run."""
FINGERPRINT_FILE = "data_fingerprint.json"
LEDGER_TAG = "arcast.ledger"
GATE_TAG = "arcast.gate"
"""Model-version tags the promotion gate leaves: "promoted" or "refused", and its reason."""
REPLAY = re.compile(r" as of \d{4}-\d{2}-\d{2}$")
"""How a replay's model line is named after its ledger (`replay_ledger`)."""
ARTIFACTS = "mlartifacts"
"""The home's folder of MLflow artifacts (the experiment's artifact location)."""
ARTIFACT_URI_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
)
"""Where MLflow 3's SQL store records absolute artifact URIs: rewritten when the home moves."""

log = logging.getLogger(__name__)

logging.getLogger("mlflow").setLevel(logging.ERROR)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class PayDatePyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper: ``predict`` returns per-row hazards for a prepared feature matrix."""

    def load_context(self, context: Any) -> None:
        self.model = PayDateModel.load(context.artifacts["model"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return self.model.hazard(model_input.to_numpy(dtype="float32"))


def tracking_uri(home: Path) -> str:
    return f"sqlite:///{(home / 'mlflow.db').resolve()}"


@dataclass(frozen=True)
class Registry:
    """One ledger's models in the MLflow store under ``home``.

    Every ledger gets its own registered model, and so its own champion and challenger: the
    demo and a company's ledger (or two companies') can share a state directory without a model
    trained on one ever scoring, or being judged against, the other. ``ledger`` is the ledger's
    name or else its folder's resolved path, the identity the forecast history is keyed by too.
    """

    home: Path
    ledger: str

    @property
    def slug(self) -> str:
        """``<folder or name>-<8 hex digits of the key's hash>``: readable, unique per ledger,
        and within the alphabet of MLflow names and file names."""
        folder = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(self.ledger).name).strip("-.")[:40]
        digest = hashlib.sha256(self.ledger.encode()).hexdigest()[:8]
        return f"{folder or 'ledger'}-{digest}"

    @property
    def model_name(self) -> str:
        return f"{REGISTERED_MODEL}-{self.slug}"


class HomeStoreError(RuntimeError):
    """The MLflow store of a moved or copied home cannot be pointed at the home's own
    artifacts; the message is one line for the CLI."""


def _client(home: Path) -> tuple[MlflowClient, str]:
    """Point MLflow at the local store under ``home``; create the experiment on first use, and
    follow the home if it was moved or copied since (`_follow_home`)."""
    uri = tracking_uri(home)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    artifacts = (home / ARTIFACTS).resolve()
    if exp is None:
        return client, client.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())
    if exp.artifact_location != artifacts.as_uri():
        _follow_home(home, int(exp.experiment_id), artifacts)
    return client, exp.experiment_id


def _follow_home(home: Path, experiment_id: int, artifacts: Path) -> None:
    """Point the store's artifact URIs at ``artifacts``, the home's own, in one transaction.

    MLflow records absolute artifact URIs (the experiment's location, each run's, each model's)
    and has no API to change them, so a home moved to another path (a new disk, a restored
    backup, a volume mounted elsewhere) would look for its models where they were, and a copy
    would silently read the original's. Every URI under the recorded root is rewritten; a store
    that records the root elsewhere too (a later MLflow's schema) is refused and left as it was.
    """
    db = home / "mlflow.db"
    con = sqlite3.connect(db, isolation_level=None, timeout=60)
    try:
        con.execute("BEGIN IMMEDIATE")  # another process following the same move waits here
        try:
            old = _rewrite_artifact_uris(con, db, experiment_id, artifacts)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    if old is not None:
        log.warning(
            f"the arcast home {'was copied' if old.exists() else 'moved'}: MLflow's artifact "
            f"locations now point to {artifacts}, no longer to {old}"
        )


def _rewrite_artifact_uris(
    con: sqlite3.Connection, db: Path, experiment_id: int, artifacts: Path
) -> Path | None:
    """Rewrite the recorded artifact root to ``artifacts`` in the open transaction; return the
    folder it pointed to (None if another process has already rewritten it)."""
    new = artifacts.as_uri()
    (old,) = con.execute(
        "SELECT artifact_location FROM experiments WHERE experiment_id = ?", (experiment_id,)
    ).fetchone()
    if old == new:
        return None
    before = Path(url2pathname(urlparse(old).path))
    tables = [name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    columns = {t: [row[1] for row in con.execute(f'PRAGMA table_info("{t}")')] for t in tables}
    unknown = [f"{t}.{c}" for t, c in ARTIFACT_URI_COLUMNS if c not in columns.get(t, [])]
    if unknown:
        raise HomeStoreError(
            f"{db}: MLflow {mlflow.__version__}'s store has no {', '.join(unknown)}; arcast "
            f"cannot point its artifact locations at {artifacts}"
        )
    if not artifacts.is_dir() and con.execute("SELECT 1 FROM runs LIMIT 1").fetchone():
        raise HomeStoreError(
            f"{db} records models whose artifacts are not in {artifacts} (they were in "
            f"{before}): restore the whole home, not only mlflow.db"
        )
    for table, column in ARTIFACT_URI_COLUMNS:
        con.execute(
            f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
            f'WHERE "{column}" = ? OR substr("{column}", 1, ?) = ?',
            (new, len(old) + 1, old, len(old) + 1, f"{old}/"),
        )
    left = [
        f"{table}.{column}"
        for table in tables
        for column in columns[table]
        if con.execute(
            f'SELECT 1 FROM "{table}" WHERE CAST("{column}" AS TEXT) = ? '
            f'OR instr(CAST("{column}" AS TEXT), ?) LIMIT 1',
            (old, f"{old}/"),
        ).fetchone()
    ]
    if left:
        raise HomeStoreError(
            f"{db}: {', '.join(left)} also record {old}, which arcast does not know to rewrite "
            f"(MLflow {mlflow.__version__}); the store is left as it was"
        )
    return before


def log_and_register(
    model: PayDateModel,
    registry: Registry,
    fingerprint: dict[str, Any],
    figures: dict[str, Any] | None = None,
    alias: str = CHALLENGER,
) -> dict[str, str]:
    """Log params, metrics, data fingerprint and model; register it and point ``alias`` at it."""
    client, experiment_id = _client(registry.home)
    with (
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(experiment_id=experiment_id, run_name="pay-date-model") as run,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        mlflow.log_params({f"train.{k}": v for k, v in asdict(model.config).items()})
        mlflow.log_param("trained_through", model.trained_through.isoformat())
        mlflow.set_tag(LEDGER_TAG, registry.ledger)
        mlflow.log_metrics(model.metrics)
        mlflow.log_dict(fingerprint, FINGERPRINT_FILE)
        mlflow.log_dict({"features": model.boosters[0].feature_name()}, "features.json")
        for name, fig in (figures or {}).items():
            mlflow.log_figure(fig, f"plots/{name}.png")
        model_dir = model.save(Path(tmp) / "pay_date_model")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=PayDatePyfunc(),
            artifacts={"model": str(model_dir)},
            pip_requirements=["arcast"],
        )
    try:
        client.get_registered_model(registry.model_name)
    except MlflowException:
        client.create_registered_model(
            registry.model_name,
            tags={LEDGER_TAG: registry.ledger},
            description=f"arcast pay-date hazard model (LightGBM) of the ledger {registry.ledger}",
        )
    version = client.create_model_version(
        registry.model_name, source=info.model_uri, run_id=run.info.run_id, model_id=info.model_id
    ).version
    client.set_registered_model_alias(registry.model_name, alias, version)
    return {
        "run_id": run.info.run_id,
        "model_name": registry.model_name,
        "model_version": str(version),
        "tracking_uri": tracking_uri(registry.home),
    }


def log_evaluation(
    registry: Registry,
    version: str,
    metrics: dict[str, float],
    tables: dict[str, pd.DataFrame],
    figures: dict[str, Any],
) -> None:
    """Attach a backtest (metrics, CSV tables, plots) to the run that produced ``version``."""
    client, _ = _client(registry.home)
    run_id = client.get_model_version(registry.model_name, version).run_id
    for name, value in metrics.items():
        if np.isfinite(value):
            client.log_metric(run_id, name, float(value))
    for name, table in tables.items():
        client.log_text(run_id, table.to_csv(index=False), f"backtest/{name}.csv")
    for name, fig in figures.items():
        client.log_figure(run_id, fig, f"plots/{name}.png")


def evaluation_table(
    registry: Registry, version: str, name: str = WINDOW_TABLE
) -> pd.DataFrame | None:
    """A backtest table `log_evaluation` attached to ``version``'s run (None if there is none)."""
    client, _ = _client(registry.home)
    run_id = client.get_model_version(registry.model_name, version).run_id
    if not any(f.path == f"backtest/{name}.csv" for f in client.list_artifacts(run_id, "backtest")):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_csv(client.download_artifacts(run_id, f"backtest/{name}.csv", tmp))


def _aliased(registry: Registry, alias: str) -> ModelVersion | None:
    """The registered version behind ``alias``, or None if the alias (or model) does not exist."""
    client, _ = _client(registry.home)
    try:
        return client.get_model_version_by_alias(registry.model_name, alias)
    except MlflowException:
        return None


def alias_version(registry: Registry, alias: str) -> str | None:
    """The version number behind ``alias`` (None if there is none)."""
    version = _aliased(registry, alias)
    return None if version is None else str(version.version)


def registered_at(registry: Registry, alias: str = CHAMPION) -> datetime | None:
    """When the version behind ``alias`` was registered (None if there is none): a champion
    registered after some event learnt from an export that came after it."""
    version = _aliased(registry, alias)
    return (
        None if version is None else datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
    )


def _run_params(registry: Registry, alias: str) -> dict[str, str] | None:
    """The logged parameters of the run behind ``alias`` (None if there is no such model)."""
    version = alias_version(registry, alias)
    if version is None:
        return None
    client, _ = _client(registry.home)
    run_id = client.get_model_version(registry.model_name, version).run_id
    return client.get_run(run_id).data.params


def replay_ledger(ledger: str, as_of: str) -> str:
    """The model line of a replay of ``ledger`` as of an ISO date, kept apart from its own."""
    return f"{ledger} as of {as_of}"


def kept_ledgers(home: Path) -> list[str]:
    """The ledgers this state directory keeps models for, replays of past dates left out."""
    client, _ = _client(home)
    names = (m.tags.get(LEDGER_TAG, "") for m in client.search_registered_models())
    return sorted(name for name in names if name and not REPLAY.search(name))


def _logged_fingerprint(client: MlflowClient, run_id: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(
            Path(client.download_artifacts(run_id, FINGERPRINT_FILE, tmp)).read_text()
        )


def data_fingerprint(registry: Registry, alias: str = CHAMPION) -> dict | None:
    """The ledger fingerprint logged with the model behind ``alias`` (None if there is none)."""
    version = alias_version(registry, alias)
    if version is None:
        return None
    client, _ = _client(registry.home)
    run_id = client.get_model_version(registry.model_name, version).run_id
    return _logged_fingerprint(client, run_id)


def version_provenance(registry: Registry, version: str) -> dict[str, Any]:
    """The MLflow run of a registered ``version``, the aliases pointing at it now and the ledger
    fingerprint it learnt from: what an auditor needs to trace a result back to the model and
    the data behind it, after the aliases have moved on."""
    client, _ = _client(registry.home)
    registered = client.get_model_version(registry.model_name, version)
    return {
        "run_id": registered.run_id,
        "aliases": sorted(registered.aliases),
        "fingerprint": _logged_fingerprint(client, registered.run_id),
    }


def trained_through(registry: Registry, alias: str = CHAMPION) -> date | None:
    """The last day of data the model behind ``alias`` learnt from (None if there is none), from
    its run's parameters: cheap enough to ask before every scoring job."""
    params = _run_params(registry, alias)
    return None if params is None else date.fromisoformat(params["trained_through"])


def record_gate(registry: Registry, version: str, passed: bool, reason: str) -> None:
    """Tag ``version`` and its training run with the gate's verdict, so the MLflow UI (the
    model's versions and the runs list alike) and the run summary show a refusal (the challenger
    alias then points at a version the champion alias does not)."""
    client, _ = _client(registry.home)
    tags = {GATE_TAG: "promoted" if passed else "refused", f"{GATE_TAG}_reason": reason}
    run_id = client.get_model_version(registry.model_name, version).run_id
    for key, value in tags.items():
        client.set_model_version_tag(registry.model_name, version, key, value)
        client.set_tag(run_id, key, value)


def gate_verdict(registry: Registry, alias: str = CHALLENGER) -> dict | None:
    """The gate's verdict on the version behind ``alias``: version, verdict and reason (None
    if there is no such version; verdict None if the gate has not judged it)."""
    version = alias_version(registry, alias)
    if version is None:
        return None
    client, _ = _client(registry.home)
    tags = client.get_model_version(registry.model_name, version).tags
    return {
        "version": version,
        "gate": tags.get(GATE_TAG),
        "reason": tags.get(f"{GATE_TAG}_reason"),
    }


def promote(registry: Registry, version: str, alias: str = CHAMPION) -> None:
    """Point ``alias`` at ``version``: one registry update, so serving never sees a half state."""
    client, _ = _client(registry.home)
    client.set_registered_model_alias(registry.model_name, alias, version)


def load_model(registry: Registry, alias: str = CHAMPION) -> tuple[PayDateModel, str]:
    """Load the registered model behind ``alias``; returns it with its version."""
    version = alias_version(registry, alias)
    if version is None:
        raise LookupError(
            f"no '{alias}' model of the ledger {registry.ledger} in the registry at "
            f"{registry.home}: run the retrain job (or `arcast run`)"
        )
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.model_name}/{version}")
    return pyfunc.unwrap_python_model().model, version


def load_recipe(registry: Registry, alias: str = CHAMPION) -> TrainingConfig | None:
    """The training configuration behind ``alias`` (None if there is no such model), from its
    run's logged parameters.

    The promotion gate compares recipes, refitting both on today's features; reading the recipe
    rather than loading the model keeps a champion comparable after a release that changes the
    feature set, when its booster can no longer score and the challenger must replace it.
    """
    params = _run_params(registry, alias)
    if params is None:
        return None
    types = {f.name: int if f.type in ("int", int) else float for f in fields(TrainingConfig)}
    return TrainingConfig(
        **{
            name: cast(params[f"train.{name}"])
            for name, cast in types.items()
            if f"train.{name}" in params
        }
    )
