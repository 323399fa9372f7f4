"""Run the asset graph in-process against the persistent Dagster instance (the CLI's engine)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import dagster as dg
from dagster._utils.error import SerializableErrorInfo

from models.tracking import load_recipe, trained_through
from pipelines.defs import build_definitions
from pipelines.defs.assets.ledger import (
    ACCEPTED_EXPORT_FILE,
    accepted_export,
    ledger_rows,
    ledger_warnings,
)
from pipelines.defs.assets.models import PayDateModelConfig
from pipelines.defs.assets.outputs import serving_model
from pipelines.defs.resources import (
    INVOCATION_TAG,
    ArcastSettings,
    process_tags,
    warehouse_resource,
)

ProgressCallback = Callable[[str, str], None]
"""Called with (event, step) for step start / success / failure."""


DAGSTER_STORAGE_ENV = "ARCAST_DAGSTER_STORAGE"
"""Where dagster.yaml keeps the instance's storage: an absolute path, so that processes started
in different directories share one instance (a relative base_dir follows the working directory)."""


def dagster_instance(settings: ArcastSettings) -> dg.DagsterInstance:
    """The instance `dagster dev` shows: $DAGSTER_HOME, else ./dagster.yaml when the state
    directory is ./.arcast (its storage then being .arcast/dagster/storage, as `make dagster`
    sets it), else one under the home: runs against another home must not be logged next to the
    repository's own. Without $ARCAST_DAGSTER_STORAGE, $DAGSTER_HOME's storage is its
    .arcast/dagster/storage, where `make dagster` puts it for the repository."""
    if dagster_home := os.environ.get("DAGSTER_HOME"):
        default = Path(dagster_home).resolve() / ".arcast" / "dagster" / "storage"
        os.environ.setdefault(DAGSTER_STORAGE_ENV, str(default))
        return dg.DagsterInstance.get()
    if Path("dagster.yaml").exists() and settings.home_path == (Path.cwd() / ".arcast").resolve():
        os.environ[DAGSTER_STORAGE_ENV] = str(settings.home_path / "dagster" / "storage")
        return dg.DagsterInstance.from_config(str(Path.cwd()))
    home = settings.home_path / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.from_config(str(home))


class _StepWatcher(threading.Thread):
    """Poll the run's event log and report step starts / successes / failures as they land."""

    EVENTS: ClassVar[dict[dg.DagsterEventType, str]] = {
        dg.DagsterEventType.STEP_START: "start",
        dg.DagsterEventType.STEP_SUCCESS: "success",
        dg.DagsterEventType.STEP_FAILURE: "failure",
    }

    def __init__(self, instance: dg.DagsterInstance, run_id: str, callback: ProgressCallback):
        super().__init__(daemon=True)
        self.instance, self.run_id, self.callback = instance, run_id, callback
        self.seen = 0
        self.done = threading.Event()

    def poll(self) -> None:
        records = self.instance.all_logs(self.run_id, of_type=set(self.EVENTS))
        for record in records[self.seen :]:
            event = record.dagster_event
            self.callback(self.EVENTS[event.event_type], event.step_key or "")
        self.seen = len(records)

    def run(self) -> None:
        while not self.done.wait(0.3):
            self.poll()
        self.poll()


class PipelineError(Exception):
    """A step of the run failed; carries the original error's class name and message."""

    def __init__(self, step: str, error: SerializableErrorInfo) -> None:
        root = error
        while root.cause is not None:
            root = root.cause
        self.step = step
        self.error_class = root.cls_name or ""
        prefix = f"{self.error_class}: "
        message = root.message.strip()
        self.error_message = message.split(prefix, 1)[-1] if prefix in message else message
        super().__init__(f"step '{step}' failed: {self.error_class}: {self.error_message}")


SCORING_ASSETS = [
    "invoice_predictions",
    "projected_billing",
    "cash_forecast_13w",
    "scenario_forecast",
    "ar_kpis",
    "kpi_forecast",
    "forecast_accuracy",
    "collections_worklist",
    "cfo_report",
    "run_summary",
]


def execute(
    settings: ArcastSettings,
    job_name: str = "arcast_job",
    selection: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    training: dict | None = None,
    instance: dg.DagsterInstance | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Execute one job of the graph (optionally only the named assets and their checks).

    ``training`` overrides the pay-date model's config (see ``PayDateModelConfig``). The run is
    tagged with this process and host, so that `dead_runs` can fail it if the process is
    killed mid-run (it would stay STARTED and hold the instance's only run slot).
    """
    job = build_definitions(settings).resolve_job_def(job_name)
    instance = instance or dagster_instance(settings)
    run_id = str(uuid.uuid4())
    ops = {"pay_date_model": {"config": training}} if training else {}
    watcher = _StepWatcher(instance, run_id, progress) if progress else None
    if watcher:
        watcher.start()
    try:
        return job.execute_in_process(
            instance=instance,
            run_id=run_id,
            asset_selection=[dg.AssetKey(k) for k in selection] if selection else None,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}, "ops": ops},
            tags={**(tags or {}), **process_tags()},
            raise_on_error=False,
        )
    finally:
        if watcher:
            watcher.done.set()
            watcher.join()


def gate_refusal(result: dg.ExecuteInProcessResult) -> str | None:
    """The promotion gate's verdict if it refused the challenger (which version, which keeps
    serving, why), else None."""
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name == "promotion_gate" and not evaluation.passed:
            meta = {k: v.value for k, v in evaluation.metadata.items()}
            reason = evaluation.description or "the promotion gate refused it"
            return (
                f"version {meta.get('challenger_version')} refused, version "
                f"{meta.get('champion_version')} keeps serving: {reason}"
            )
    return None


def raise_failure(result: dg.ExecuteInProcessResult) -> None:
    """Re-raise the first step failure's original exception (e.g. a LedgerFileError)."""
    for event in result.all_events:
        if event.is_step_failure:
            raise PipelineError(event.step_key or "", event.step_failure_data.error)


def _retrain(
    settings: ArcastSettings,
    progress: ProgressCallback | None,
    training: dict | None,
    instance: dg.DagsterInstance,
    tags: dict[str, str],
) -> tuple[dg.ExecuteInProcessResult, str | None]:
    """Train a challenger and promote it if the gate passes; a refusal is not a failure."""
    retrain = execute(settings, "retrain_job", None, progress, training, instance, tags)
    refusal = gate_refusal(retrain)
    if not retrain.success and refusal is None:
        raise_failure(retrain)
    return retrain, refusal


def replay_settings(settings: ArcastSettings) -> ArcastSettings:
    """The settings a run really uses. An as-of date before the end of the data the ledger's
    champion learnt from is a replay: its models and warehouse are kept apart, as a line of
    their own (`ArcastSettings.replay_as_of`), so that looking back never replaces the model
    that serves today."""
    through, as_of = trained_through(settings.registry), settings.as_of_date()
    if through is None or as_of is None or through <= as_of:
        return settings
    fields = {name: getattr(settings, name) for name in ArcastSettings.model_fields}
    return ArcastSettings(**fields | {"replay_as_of": as_of.isoformat()})


def _replay_recipe(settings: ArcastSettings, replay: ArcastSettings) -> dict | None:
    """A replay line's first model is fitted with the ledger champion's recipe, as of then."""
    if replay is settings or trained_through(replay.registry) is not None:
        return None
    recipe = load_recipe(settings.registry)
    return {name: getattr(recipe, name) for name in PayDateModelConfig.model_fields}


def run_pipeline(
    settings: ArcastSettings,
    progress: ProgressCallback | None = None,
    training: dict | None = None,
    instance: dg.DagsterInstance | None = None,
) -> tuple[list[dg.ExecuteInProcessResult], str | None]:
    """Retrain (challenger, gate, champion), then score with whichever model is champion.

    A refused challenger does not stop scoring: the champion keeps serving. A replay of a past
    date runs on its own ledger line (`replay_settings`). Returns both runs' results and the
    gate's refusal reason (None if the challenger was promoted).
    """
    instance = instance or dagster_instance(settings)
    replay = replay_settings(settings)
    training = training or _replay_recipe(settings, replay)
    tags = {INVOCATION_TAG: str(uuid.uuid4())}
    retrain, refusal = _retrain(replay, progress, training, instance, tags)
    score = execute(replay, "arcast_job", SCORING_ASSETS, progress, None, instance, tags)
    if not score.success:
        raise_failure(score)
    return [retrain, score], refusal


def _serve(
    settings: ArcastSettings,
    job_name: str,
    progress: ProgressCallback | None,
    instance: dg.DagsterInstance | None,
) -> tuple[list[dg.ExecuteInProcessResult], str | None]:
    """Run a scoring job with the serving model, training one first if there is none yet. A
    past date the champion learnt beyond is a replay (`replay_settings`): its own line's model,
    fitted as of then with the champion's recipe on first use, scores it. Returns the runs'
    results and the gate's refusal reason, if it refused."""
    instance = instance or dagster_instance(settings)
    replay = replay_settings(settings)
    tags = {INVOCATION_TAG: str(uuid.uuid4())}
    results, refusal = [], None
    if trained_through(replay.registry) is None:
        training = _replay_recipe(settings, replay)
        retrain, refusal = _retrain(replay, progress, training, instance, tags)
        results.append(retrain)
    served = execute(replay, job_name, None, progress, None, instance, tags)
    if not served.success:
        raise_failure(served)
    return [*results, served], refusal


def run_whatif(
    settings: ArcastSettings,
    progress: ProgressCallback | None = None,
    instance: dg.DagsterInstance | None = None,
) -> tuple[list[dg.ExecuteInProcessResult], str | None]:
    """Score with the champion and run the settings' scenarios (``whatif_job``)."""
    return _serve(settings, "whatif_job", progress, instance)


def run_worklist(
    settings: ArcastSettings,
    progress: ProgressCallback | None = None,
    instance: dg.DagsterInstance | None = None,
) -> tuple[list[dg.ExecuteInProcessResult], str | None]:
    """Score with the champion and write the collections worklist (``worklist_job``)."""
    return _serve(settings, "worklist_job", progress, instance)


def served_model(settings: ArcastSettings) -> dict:
    """After a scoring job: the model that scored, as `serving_model` describes it."""
    with warehouse_resource(settings).get_connection() as con:
        return serving_model(con, settings.registry)


def ledger_notes(settings: ArcastSettings) -> dict:
    """After any job that read the ledger: rows in, accepted, quarantined and after as-of per
    file, and the loader's warnings (columns it ignored, blank lines it skipped), which every
    command shows: a misspelt optional column is otherwise read as absent without a word; and,
    while one is in effect, the export accepted with rows missing that this one was compared
    with, so that an acceptance made by mistake does not go unseen."""
    with warehouse_resource(settings).get_connection() as con:
        notes = {"rows": ledger_rows(con), "warnings": ledger_warnings(con)}
    accepted = accepted_export(settings)
    if accepted is not None:
        last = accepted["accepted"][-1]
        missing = "; ".join(last["missing"][:2]) + (" …" if len(last["missing"]) > 2 else "")
        notes["warnings"].append(
            f"exports are compared with the one accepted on {last['accepted_at'][:10]} with rows "
            f"missing ({missing}; from {last['data_dir']}), not with the champion's ledger, "
            f"until a champion is registered after it ({ACCEPTED_EXPORT_FILE} in "
            f"{settings.ledger_path})"
        )
    return notes
