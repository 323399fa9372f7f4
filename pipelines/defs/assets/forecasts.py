"""Forecast assets: invoice pay-date distributions, the 13-week cash-in forecast, AR KPIs."""

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from arcast.io import write_atomic, write_csv, write_json
from arcast.kpis import compute_kpis
from features.matrix import holiday_calendar
from features.warehouse import receivables, to_day
from models.cash import cash_forecast, weekly_probabilities
from models.explain import group_contributions, reasons, shap_values
from models.paydate import predict_open_invoices
from models.plots import shap_global_figure
from models.tracking import CHAMPION, load_model, log_evaluation
from pipelines.defs.assets.features import FACT_TABLES
from pipelines.defs.metadata import png_markdown
from pipelines.defs.resources import ArcastSettings

PMF_FILE = "pay_date_pmf.npy"
WEEKS = 13


def _md(df: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    return dg.MetadataValue.md(df.head(rows).to_markdown(index=False, floatfmt=",.2f"))


@dg.asset(
    group_name="forecasts",
    deps=["champion_model", *FACT_TABLES],
    kinds={"duckdb", "csv"},
    description="For every invoice open at the as-of date: pay-date distribution conditional on "
    "being unpaid then (p10/p50/p90 dates, weekly probabilities), p_late_30 and the top three "
    "reasons from SHAP. Scored with the registered champion model.",
)
def invoice_predictions(
    context: dg.AssetExecutionContext, settings: ArcastSettings, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    model, version = load_model(settings.home_path, CHAMPION)
    with warehouse.get_connection() as con:
        as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
        first = con.execute("SELECT min(issue_day) FROM invoice_facts").fetchone()[0]
        calendar = holiday_calendar(con, first, to_day(as_of) + model.config.horizon_days + 31)
        prediction = predict_open_invoices(con, model, as_of, calendar)
        ledger = receivables(con, as_of, base).set_index("invoice_id")
    known = prediction.known
    amounts = ledger.loc[known["invoice_id"]]
    contributions = group_contributions(shap_values(model, known, as_of, calendar))
    shap_plot = shap_global_figure(contributions)
    log_evaluation(settings.home_path, version, {}, {}, {f"shap_global_{as_of}": shap_plot})
    weekly = weekly_probabilities(prediction.pmf, WEEKS)
    frame = pd.DataFrame(
        {
            "invoice_id": known["invoice_id"].to_numpy(),
            "customer_id": known["customer_id"].to_numpy(),
            "currency": known["currency"].to_numpy(),
            "amount_open": amounts["amount_open"].round(2).to_numpy(),
            "amount_open_base": amounts["amount_open_base"].round(2).to_numpy(),
            "issue_date": pd.to_datetime(known["issue_day"], unit="D"),
            "due_date": pd.to_datetime(known["due_day"], unit="D"),
            "days_overdue": to_day(as_of) - known["due_day"].to_numpy(dtype=np.int64),
            "disputed": known["dispute_open"].to_numpy(dtype=bool),
        }
    )
    frame = frame.join(prediction.frame().drop(columns="invoice_id"))
    frame["reasons"] = [" | ".join(r) for r in reasons(known, contributions, as_of)]
    for group in contributions.columns:  # negative = pushes payment later
        frame[f"shap_{group}"] = contributions[group].round(4).to_numpy()
    for w in range(WEEKS):
        frame[f"p_paid_week_{w + 1:02d}"] = weekly[:, w].round(4)
    with warehouse.get_connection() as con:
        con.register("_pred", frame)
        con.execute("CREATE OR REPLACE TABLE invoice_predictions AS SELECT * FROM _pred")
        con.unregister("_pred")
        con.execute(
            "CREATE OR REPLACE TABLE scoring_context AS SELECT $v AS model_version",
            {"v": version},
        )

    def _save_pmf(path) -> None:
        with open(path, "wb") as fh:
            np.save(fh, prediction.pmf)

    write_atomic(settings.work_path / PMF_FILE, _save_pmf)
    write_csv(frame, settings.out_path / "predictions.csv")
    context.log.info(f"scored {len(frame)} open invoices with model version {version}")
    return dg.MaterializeResult(
        metadata={
            "open_invoices": len(frame),
            "model_version": version,
            "mean_p_late_30": float(frame["p_late_30"].mean()) if len(frame) else 0.0,
            "preview": _md(
                frame.drop(columns=[c for c in frame if c.startswith(("p_paid_", "shap_"))])
            ),
            "shap_global": png_markdown(shap_plot),
        }
    )


@dg.asset(
    group_name="forecasts",
    deps=["invoice_predictions"],
    kinds={"csv"},
    description="Weekly cash collections from the open AR in base currency for 13 weeks, with "
    "p10/p50/p90 bands from a joint simulation of invoice pay dates.",
)
def cash_forecast_13w(settings: ArcastSettings, warehouse: DuckDBResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        as_of = con.execute("SELECT as_of FROM run_context").fetchone()[0]
        pred = con.execute("SELECT customer_id, amount_open_base FROM invoice_predictions").df()
    pmf = np.load(settings.work_path / PMF_FILE)
    groups = pd.factorize(pred["customer_id"], sort=True)[0]
    forecast = cash_forecast(
        pmf,
        pred["amount_open_base"].to_numpy(dtype=float),
        groups,
        as_of,
        weeks=WEEKS,
        rho=load_model(settings.home_path, CHAMPION)[0].cash_rho,
        seed=settings.seed,
    )
    with warehouse.get_connection() as con:
        con.register("_cash", forecast)
        con.execute("CREATE OR REPLACE TABLE cash_forecast_13w AS SELECT * FROM _cash")
        con.unregister("_cash")
    write_csv(
        forecast.round({c: 2 for c in ("expected", "p10", "p50", "p90")}),
        settings.out_path / "cash_forecast.csv",
    )
    return dg.MaterializeResult(
        metadata={
            "expected_13w_total": float(forecast["expected"].sum()),
            "open_ar_base": float(pred["amount_open_base"].sum()),
            "forecast": _md(forecast, WEEKS),
        }
    )


@dg.asset(
    group_name="forecasts",
    deps=["invoice_facts"],
    kinds={"json"},
    description="AR KPIs at the as-of date: DSO (standard and countback), aging buckets, totals.",
)
def ar_kpis(settings: ArcastSettings, warehouse: DuckDBResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
        ledger = receivables(con, as_of, base)
    kpis = compute_kpis(ledger, as_of)
    kpis["overpaid_invoices"] = int(ledger["overpaid"].sum())
    write_json(kpis, settings.out_path / "kpis.json")
    return dg.MaterializeResult(metadata={"kpis": dg.MetadataValue.json(kpis)})
