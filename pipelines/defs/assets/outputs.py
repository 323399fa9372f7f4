"""Output assets: the collections worklist and the run summary."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from arcast.io import write_csv, write_json
from arcast.worklist import build_worklist
from pipelines.defs.resources import INVOCATION_TAG, ArcastSettings


@dg.asset(
    group_name="outputs",
    deps=["invoice_predictions"],
    kinds={"csv"},
    description="Open invoices ranked by money at stake and risk, with action tier and reasons.",
)
def collections_worklist(
    settings: ArcastSettings, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        as_of = con.execute("SELECT as_of FROM run_context").fetchone()[0]
        pred = con.execute(
            "SELECT invoice_id, customer_id, amount_open_base AS amount_open, days_overdue, "
            "p_late_30, pay_date_p50, disputed, reasons FROM invoice_predictions"
        ).df()
    worklist = build_worklist(pred, as_of)
    write_csv(worklist, settings.out_path / "worklist.csv")
    return dg.MaterializeResult(
        metadata={
            "rows": len(worklist),
            "top": dg.MetadataValue.md(worklist.head(10).to_markdown(index=False)),
        }
    )


def _step_timings(context: dg.AssetExecutionContext) -> dict[str, float]:
    """Seconds per step over every run of this invocation (retrain + score), oldest first."""
    invocation = context.run.tags.get(INVOCATION_TAG)
    runs = (
        context.instance.get_runs(filters=dg.RunsFilter(tags={INVOCATION_TAG: invocation}))
        if invocation
        else [context.run]
    )
    timings: dict[str, float] = {}
    for run in reversed(runs):
        for s in context.instance.get_run_step_stats(run.run_id):
            if s.end_time is not None and s.start_time is not None:
                timings[s.step_key] = round(s.end_time - s.start_time, 2)
    return timings


@dg.asset(
    group_name="outputs",
    deps=[
        "collections_worklist",
        "cash_forecast_13w",
        "ar_kpis",
        "kpi_forecast",
        "forecast_accuracy",
        "ledger_quarantine",
        "cfo_report",
    ],
    kinds={"json"},
    description="Row accounting per input file, model version and timings per stage of this run.",
)
def run_summary(
    context: dg.AssetExecutionContext, settings: ArcastSettings, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        as_of, base, data_dir = con.execute("SELECT * FROM run_context").fetchone()
        accounting = con.execute("SELECT * FROM ledger_accounting ORDER BY file").df()
        model_version = con.execute("SELECT model_version FROM scoring_context").fetchone()[0]
        open_invoices = con.execute("SELECT count(*) FROM invoice_predictions").fetchone()[0]
    timings = _step_timings(context)
    summary = {
        "run_id": context.run_id,
        "data_dir": data_dir,
        "as_of": as_of.isoformat(),
        "base_currency": base,
        "rows": {
            row["file"]: {
                k: int(row[k]) for k in ("rows_in", "accepted", "quarantined", "after_as_of")
            }
            for row in accounting.to_dict("records")
        },
        "open_invoices_scored": int(open_invoices),
        "model": {"name": "arcast-pay-date", "version": model_version},
        "timings_seconds": timings,
        "outputs": sorted(
            {p.name for p in settings.out_path.iterdir() if not p.name.startswith(".")}
            | {"run_summary.json"}
        ),
    }
    write_json(summary, settings.out_path / "run_summary.json")
    return dg.MaterializeResult(metadata={"summary": dg.MetadataValue.json(summary)})
