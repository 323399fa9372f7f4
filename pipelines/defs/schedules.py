"""Jobs, schedules and the new-export sensor over the asset graph.

Retraining and scoring are separate jobs so that a refused challenger never stops the morning
forecast: the rescore job always scores with whatever model is champion.
"""

import hashlib
from pathlib import Path

import dagster as dg

from pipelines.defs.resources import ArcastSettings

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
    description="Every Monday 05:00: train a challenger on the latest ledger.",
)
daily_rescore = dg.ScheduleDefinition(
    name="daily_rescore",
    job=rescore_job,
    cron_schedule="0 6 * * *",
    description="Every day 06:00: fresh forecasts and worklist from the latest ledger.",
)


def export_fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of the ledger files: changes when an export lands."""
    files = sorted(p for p in folder.glob("*") if p.suffix in (".csv", ".parquet"))
    text = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    return hashlib.sha256(text.encode()).hexdigest()[:16] if files else ""


@dg.sensor(
    job=rescore_job,
    minimum_interval_seconds=60,
    description="Rescore when a new ledger export lands in the watched folder (the data_dir).",
)
def new_ledger_export(context: dg.SensorEvaluationContext, settings: ArcastSettings):
    folder = Path(settings.data_dir)
    fingerprint = export_fingerprint(folder) if folder.is_dir() else ""
    if not fingerprint:
        return dg.SkipReason(f"no ledger files in {folder}")
    if fingerprint == context.cursor:
        return dg.SkipReason("no new export since the last run")
    context.update_cursor(fingerprint)
    return dg.RunRequest(run_key=fingerprint, tags={"arcast/export": fingerprint})
