"""The CFO report asset: one self-contained HTML file per run, from the other assets' outputs."""

import base64
import json

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from arcast.io import write_atomic
from arcast.report import ReportData, render
from models.backtest import describe_versus, versus_baselines
from models.tracking import evaluation_table
from pipelines.defs.assets.ledger import left_out
from pipelines.defs.resources import ArcastSettings

REPORT_FILE = "cfo_report.html"
CHART_DIR = "report"
TOP_CUSTOMERS = 10
ACCURACY_COLUMNS = [
    "method",
    "mae_p50",
    "mae_p50_censored",
    "pit_coverage",
    "auc_late30",
    "brier_late30",
]

TOP_CUSTOMERS_SQL = """
SELECT p.customer_id,
       COALESCE(any_value(c.name), p.customer_id) AS name,
       sum(p.amount_open_base) AS open,
       sum(CASE WHEN p.days_overdue > 0 THEN p.amount_open_base ELSE 0 END) AS overdue,
       sum(p.amount_open_base * p.p_late_30) AS at_risk,
       count(*) AS invoices
FROM invoice_predictions AS p
LEFT JOIN customers AS c USING (customer_id)
GROUP BY p.customer_id
ORDER BY at_risk DESC, p.customer_id
LIMIT $n
"""

FX_DATES_SQL = """
SELECT min(latest), max(latest)
FROM (SELECT max(date) AS latest FROM fx_rates WHERE date <= $as_of GROUP BY currency)
"""
"""The dates of the rates amounts are converted at: each currency's latest by the as-of date."""


def _model_accuracy(settings: ArcastSettings, version: str) -> tuple[pd.DataFrame | None, str, str]:
    """The promotion gate's backtest window for the serving model: model vs spreadsheet methods,
    the window's first day and the verdict in one sentence."""
    table = evaluation_table(settings.registry, version)
    if table is None:
        return None, "", ""
    window = table[(table["segment"] == "all") & (table["cutoff"] != "pooled")]
    verdict = describe_versus(versus_baselines(window))
    window = window[[c for c in ACCURACY_COLUMNS if c in window]]
    return window.reset_index(drop=True), str(table["cutoff"].iloc[0]), verdict


@dg.asset(
    group_name="outputs",
    deps=[
        "cash_forecast_13w",
        "ar_kpis",
        "kpi_forecast",
        "scenario_forecast",
        "forecast_accuracy",
        "ledger_quarantine",
    ],
    kinds={"html"},
    description="The CFO report: 13-week cash fan chart (open AR and with projected billing), "
    "open AR split into cash within 13 weeks and later, credit balances from overpayments, the "
    "rows the data contract left out, weekly table, DSO now and forecast, aging, top customers "
    "at risk, what-if scenarios and the model's backtest accuracy, in one self-contained HTML "
    "file (+ PNG charts).",
)
def cfo_report(settings: ArcastSettings, warehouse: DuckDBResource) -> dg.MaterializeResult:
    out = settings.out_path
    with warehouse.get_connection() as con:
        as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
        version = con.execute("SELECT model_version FROM scoring_context").fetchone()[0]
        cash = con.execute("SELECT * FROM cash_forecast_13w ORDER BY line, week").df()
        totals_13w = con.execute("SELECT * FROM cash_forecast_13w_totals").df()
        billing_13w = con.execute("SELECT sum(billing) FROM projected_billing_weekly").fetchone()[0]
        fx_dates = con.execute(FX_DATES_SQL, {"as_of": as_of}).fetchone()
        top = con.execute(TOP_CUSTOMERS_SQL, {"n": TOP_CUSTOMERS}).df()
        rows_left_out = left_out(con)
    accuracy, window, verdict = _model_accuracy(settings, version)
    scenarios = summary = None
    if settings.scenario_file:
        scenarios = pd.read_csv(out / "scenario_forecast.csv", parse_dates=["week_start"])
        summary = json.loads((out / "scenario_summary.json").read_text())["scenarios"]
    history = pd.read_csv(out / "forecast_accuracy.csv")
    data = ReportData(
        as_of=as_of,
        base_currency=base,
        model_version=str(version),
        model_name=settings.registry.model_name,
        replay_as_of=settings.replay_as_of,
        cash=cash,
        totals_13w=totals_13w,
        billing_13w=billing_13w,
        fx_dates=fx_dates if fx_dates[0] is not None else None,
        left_out=rows_left_out,
        kpis=json.loads((out / "kpis.json").read_text()),
        top_customers=top,
        kpi_forecast=pd.read_csv(out / "kpi_forecast.csv", parse_dates=["date"]),
        scenarios=scenarios,
        scenario_summary=summary,
        model_accuracy=accuracy,
        accuracy_window=f"invoices open at {window}, outcomes to {as_of}" if window else "",
        accuracy_verdict=verdict,
        forecast_accuracy=history if len(history) else None,
    )
    html, charts = render(data)
    for name, png in charts.items():
        write_atomic(out / CHART_DIR / f"{name}.png", lambda p, png=png: p.write_bytes(png))
    write_atomic(out / REPORT_FILE, lambda p: p.write_text(html, encoding="utf-8"))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out / REPORT_FILE)),
            "charts": sorted(charts),
            "bytes": len(html.encode()),
            "preview": dg.MetadataValue.md(
                f"![cash](data:image/png;base64,{base64.b64encode(charts['cash_forecast']).decode()})"
            ),
        }
    )
