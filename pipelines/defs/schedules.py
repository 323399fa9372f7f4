"""Jobs, schedules and sensors (a new export, runs of killed commands) over the asset graph.

Retraining and scoring are separate jobs so that a refused challenger never stops the morning
forecast: the rescore job always scores with whatever model is champion.
"""

import hashlib
import json
import socket
import time
from pathlib import Path

import dagster as dg

from arcast.io import process_alive
from data_contracts.dialect import MAP_FILES
from data_contracts.load import LedgerFileError, find_files, folder_dialect
from pipelines.defs.resources import HOST_TAG, PID_TAG, ArcastSettings

MODEL_ASSETS = ["pay_date_model", "champion_model"]

arcast_job = dg.define_asset_job(
    "arcast_job",
    selection=dg.AssetSelection.all(),
    description="Everything: ledger, features, challenger, promotion gate, forecasts, outputs.",
)
retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.assets(*MODEL_ASSETS).upstream().required_multi_asset_neighbors(),
    description="Load the ledger, rebuild features, train a challenger; promote it if the "
    "blocking gate check shows it is not worse than the champion.",
)
rescore_job = dg.define_asset_job(
    "rescore_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*MODEL_ASSETS),
    description="Load the ledger and score it with the current champion: predictions, projected "
    "billing, cash forecast lines, KPIs and their forecast, forecast accuracy, worklist.",
)
whatif_job = dg.define_asset_job(
    "whatif_job",
    selection=dg.AssetSelection.assets("scenario_forecast")
    .upstream()
    .required_multi_asset_neighbors()
    - dg.AssetSelection.assets(*MODEL_ASSETS),
    description="Score the ledger with the champion and run the what-if scenarios of the "
    "settings' scenario file against the baseline forecast.",
)
worklist_job = dg.define_asset_job(
    "worklist_job",
    selection=dg.AssetSelection.assets("collections_worklist")
    .upstream()
    .required_multi_asset_neighbors()
    - dg.AssetSelection.assets(*MODEL_ASSETS),
    description="Score the ledger with the champion and write the collections worklist: "
    "queues, customer view, reminder drafts and the Excel workbook.",
)

weekly_retrain = dg.ScheduleDefinition(
    name="weekly_retrain",
    job=retrain_job,
    cron_schedule="0 5 * * 1",
    execution_timezone="UTC",
    description="Every Monday 05:00 UTC: train a challenger on the latest ledger.",
)
daily_rescore = dg.ScheduleDefinition(
    name="daily_rescore",
    job=rescore_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    description="Every day 06:00 UTC: fresh forecasts and worklist from the latest ledger.",
)


SETTLE_SECONDS = 120
"""An export has landed once the sensor has seen its files unchanged (names, sizes, modification
times) for this long: a folder being copied into fires once, when the copy is done, not on its
first file or a half-written one. Seen, not read off the files' times: ``cp -p``, ``rsync -a``
and unzip keep the source's old times, so a half-copied folder would look settled at once."""
REQUIRED_TABLES = ("invoices", "payments")


def _ledger_files(folder: Path, found: dict[str, Path]) -> list[Path]:
    """Every file an export may consist of: CSV and Parquet files, the files its dialect
    (`ledger.yaml`) names (an ERP's ``.txt``), and that file itself."""
    listed = {
        p for p in folder.glob("*") if p.suffix in (".csv", ".parquet") or p.name in MAP_FILES
    }
    return sorted(listed | set(found.values()))


def export_fingerprint(files: list[Path]) -> str:
    """Names, sizes and modification times of the ledger files: cheap, asked every minute."""
    text = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def export_content(files: list[Path]) -> str:
    """Names and bytes of the ledger files: asked only when the fingerprint moves, so that a
    file touched or copied again unchanged does not rescore."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


@dg.sensor(
    job=rescore_job,
    minimum_interval_seconds=60,
    description="Rescore when a new ledger export has landed in the watched folder (the "
    f"data_dir): invoices and payments present, their files seen unchanged for {SETTLE_SECONDS} "
    "s, and their content new.",
)
def new_ledger_export(context: dg.SensorEvaluationContext, settings: ArcastSettings):
    folder = Path(settings.data_dir)
    if not folder.is_dir():
        return dg.SkipReason(f"no ledger files in {folder}")
    try:
        found = find_files(folder, folder_dialect(folder))
    except LedgerFileError as exc:
        return dg.SkipReason(str(exc))
    files = _ledger_files(folder, found)
    if not files:
        return dg.SkipReason(f"no ledger files in {folder}")
    fingerprint = export_fingerprint(files)
    try:
        seen = json.loads(context.cursor or "{}")
    except json.JSONDecodeError:  # a cursor from before the JSON one: compare afresh
        seen = {}
    if fingerprint == seen.get("files"):
        return dg.SkipReason("no new export since the last run")
    missing = [name for name in REQUIRED_TABLES if name not in found]
    if missing:
        return dg.SkipReason(f"waiting for {', '.join(missing)} in {folder}")
    now = time.time()
    if fingerprint != seen.get("pending"):  # new, or still changing: its clock starts now
        seen |= {"pending": fingerprint, "since": now}
        context.update_cursor(json.dumps(seen))
    unchanged = now - seen["since"]
    if unchanged < SETTLE_SECONDS:
        return dg.SkipReason(
            f"files unchanged for {unchanged:.0f} s of {SETTLE_SECONDS}; waiting until they settle"
        )
    content = export_content(files)
    context.update_cursor(json.dumps({"files": fingerprint, "content": content}))
    if content == seen.get("content"):
        return dg.SkipReason("files touched, content unchanged")
    return dg.RunRequest(run_key=fingerprint, tags={"arcast/export": content})


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Report failed every active run executed on this host by a process that is gone (`kill -9`,
    the OOM killer, a closed terminal, a stopped `dagster dev`); returns their ids.

    Nothing else ends such a run: Dagster's run monitoring asks the run launcher whether a run's
    worker is alive, and neither an `arcast` command's in-process run (no launcher) nor the
    default launcher's worker can answer, so the run stays STARTED and, with
    `max_concurrent_runs: 1`, the queue launches no scheduled or sensor run again. Runs carry
    their process's id and host as tags: the command sets them, and `ArcastSettings` on runs
    launched from the UI, a schedule or a sensor.
    """
    host = socket.gethostname()
    records = instance.get_run_records(
        dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
                dg.DagsterRunStatus.CANCELING,
            ],
            tags={HOST_TAG: host},
        )
    )
    failed = []
    for record in records:
        run = record.dagster_run
        pid = run.tags.get(PID_TAG, "")
        if pid.isdigit() and not process_alive(int(pid)):
            instance.report_run_failed(
                run,
                f"the process that ran it (pid {pid} on {host}) is gone, killed mid-run; "
                "marked failed so that queued runs can start",
            )
            failed.append(run.run_id)
    return failed


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fail the runs whose process was killed mid-run (see `fail_dead_runs`), which "
    "would otherwise hold the instance's only run slot forever. On by default.",
)
def dead_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    failed = fail_dead_runs(context.instance)
    if not failed:
        return dg.SkipReason("no run of a killed process")
    return dg.SkipReason(f"marked failed, their process gone: {', '.join(failed)}")
