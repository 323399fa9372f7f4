"""Run the asset graph in-process against the persistent Dagster instance (the CLI's engine)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import dagster as dg

from pipelines.defs import build_definitions
from pipelines.defs.resources import ArcastSettings

ProgressCallback = Callable[[str, str], None]
"""Called with (event, step) for step start / success / failure."""


def dagster_instance(settings: ArcastSettings) -> dg.DagsterInstance:
    """The instance `dagster dev` shows: $DAGSTER_HOME, else ./dagster.yaml, else under home."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    if Path("dagster.yaml").exists():
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


def run_pipeline(
    settings: ArcastSettings,
    selection: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    training: dict | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialise the graph (or the named assets and their checks) for these settings.

    ``training`` overrides the pay-date model's config (see ``PayDateModelConfig``).
    """
    defs = build_definitions(settings)
    job = defs.resolve_job_def("arcast_job")
    instance = instance or dagster_instance(settings)
    run_id = str(uuid.uuid4())
    watcher = _StepWatcher(instance, run_id, progress) if progress else None
    if watcher:
        watcher.start()
    try:
        return job.execute_in_process(
            instance=instance,
            run_id=run_id,
            asset_selection=[dg.AssetKey(k) for k in selection] if selection else None,
            run_config={
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
                "ops": {"pay_date_model": {"config": training or {}}},
            },
            raise_on_error=True,
        )
    finally:
        if watcher:
            watcher.done.set()
            watcher.join()
