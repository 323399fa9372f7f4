"""The arcast asset graph, assembled once for `dagster dev`, schedules and the CLI alike."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.assets.features import point_in_time_facts
from pipelines.defs.assets.forecasts import (
    ar_kpis,
    cash_forecast_13w,
    forecast_accuracy,
    invoice_predictions,
    kpi_forecast,
    projected_billing,
)
from pipelines.defs.assets.ledger import ledger, ledger_continuity
from pipelines.defs.assets.models import champion_model, pay_date_model, promotion_gate
from pipelines.defs.assets.outputs import collections_worklist, run_summary
from pipelines.defs.assets.report import cfo_report
from pipelines.defs.assets.scenarios import scenario_forecast, scenario_selections
from pipelines.defs.resources import ArcastSettings, warehouse_resource
from pipelines.defs.schedules import (
    arcast_job,
    daily_rescore,
    dead_runs,
    new_ledger_export,
    rescore_job,
    retrain_job,
    weekly_retrain,
    whatif_job,
    worklist_job,
)

ASSETS = [
    ledger,
    point_in_time_facts,
    pay_date_model,
    champion_model,
    invoice_predictions,
    projected_billing,
    cash_forecast_13w,
    scenario_forecast,
    ar_kpis,
    kpi_forecast,
    forecast_accuracy,
    collections_worklist,
    cfo_report,
    run_summary,
]


def build_definitions(settings: ArcastSettings) -> dg.Definitions:
    """One graph; only the settings (which ledger, which as-of, where to write) differ."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=[ledger_continuity, promotion_gate, scenario_selections],
        jobs=[arcast_job, retrain_job, rescore_job, whatif_job, worklist_job],
        schedules=[weekly_retrain, daily_rescore],
        sensors=[new_ledger_export, dead_runs],
        resources={"settings": settings, "warehouse": warehouse_resource(settings)},
        # one process: every step reads and writes the ledger's DuckDB warehouse, which takes one
        # writer, so "materialize all" under the multiprocess default failed on its lock
        executor=dg.in_process_executor,
    )
