"""Forecast assets: invoice pay-date distributions, projected billing, the 13-week cash-in
forecast (lines and breakdowns), AR KPIs and their forecast, forecast-vs-actual tracking."""

import pickle
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from arcast.accuracy import HISTORY_FILE, append_history, score_history
from arcast.io import write_atomic, write_csv, write_json
from arcast.kpis import compute_kpis, credit_balances, forecast_kpis
from features.matrix import holiday_calendar
from features.warehouse import (
    fx_rates_at,
    receivables,
    save_tables,
    to_day,
    weekly_collections,
)
from models.billing import project_billing
from models.cash import (
    week_starts,
    weekly_probabilities,
)
from models.cash_lines import LINES, breakdown_bands, customer_expected, simulate_lines, with_total
from models.explain import REPRESENTATIVE_LEAD_DAYS, group_contributions, reasons, shap_values
from models.paydate import THIN_HISTORY_PAYMENTS, pays_in_runs, predict_open_invoices
from models.plots import (
    cash_lines_figure,
    forecast_accuracy_figure,
    kpi_path_figure,
    shap_global_figure,
)
from models.tracking import CHAMPION, load_model, log_evaluation
from pipelines.defs.assets.features import FACT_TABLES
from pipelines.defs.metadata import markdown_table, png_markdown
from pipelines.defs.resources import ArcastSettings

PMF_FILE = "pay_date_pmf.npy"
BILLING_FILE = "billing_projection.pkl"
"""The run's `BillingProjection` (customers' segment and country on its units), for what-if
scenarios to move new invoices' payments with the forecast's own pmfs and draws."""
WEEKS = 13
N_SIMS = 1000
TOP_CUSTOMERS = 25
PERIOD_DAYS = 90
BANDS = ("expected", "p10", "p50", "p90")


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
    model, version = load_model(settings.registry, CHAMPION)
    paid = model.metrics.get("paid_invoices")  # None for a champion trained before it was kept
    paid_invoices = None if paid is None else int(paid)
    oldest = model.metrics.get("oldest_paid_days_late")  # likewise
    oldest_paid = None if oldest is None else int(oldest)
    past = model.metrics.get("paid_past_panel")  # likewise
    with warehouse.get_connection() as con:
        as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
        first, last_due = con.execute(
            "SELECT min(issue_day), max(due_day) FROM invoice_facts"
        ).fetchone()
        # the forecast horizon, and every open invoice's reasons day (a week past its due date)
        last = max(to_day(as_of) + model.config.horizon_days, last_due + REPRESENTATIVE_LEAD_DAYS)
        calendar = holiday_calendar(con, first, last + 31)
        prediction = predict_open_invoices(con, model, as_of, calendar)
        ledger = receivables(con, as_of, base).set_index("invoice_id")
    known = prediction.known
    amounts = ledger.loc[known["invoice_id"]]
    contributions = group_contributions(shap_values(model, known, as_of, calendar))
    shap_plot = shap_global_figure(contributions)
    log_evaluation(settings.registry, version, {}, {}, {f"shap_global_{as_of}": shap_plot})
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
            "pays_in_runs": pays_in_runs(known),
            "cash_rho": model.invoice_rho(known),
        }
    )
    frame = frame.join(prediction.frame().drop(columns="invoice_id"))
    overdue = np.where(frame["days_overdue"] > 0, frame["amount_open_base"], 0.0)
    open_overdue = pd.Series(overdue).groupby(frame["customer_id"]).transform("sum")
    facts = known.assign(customer_overdue_open=open_overdue.to_numpy())
    explained = reasons(facts, contributions, as_of, base_currency=base)
    frame["reasons"] = [" | ".join(r) for r in explained]
    for group in contributions.columns:  # negative = pushes payment later
        frame[f"shap_{group}"] = contributions[group].round(4).to_numpy()
    for w in range(WEEKS):
        frame[f"p_paid_week_{w + 1:02d}"] = weekly[:, w].round(4)
    with warehouse.get_connection() as con:
        save_tables(con, {"invoice_predictions": frame})
        con.execute(
            "CREATE OR REPLACE TABLE scoring_context AS SELECT $v AS model_version, "
            "$paid::BIGINT AS model_paid_invoices, $through::DATE AS model_trained_through, "
            "$oldest::BIGINT AS model_oldest_paid_days_late, "
            "$cap::BIGINT AS model_max_days_late, $past::BIGINT AS model_paid_past_panel",
            {
                "v": version,
                "paid": paid_invoices,
                "through": model.trained_through,
                "oldest": oldest_paid,
                "cap": model.config.max_days_late,
                "past": None if past is None else int(past),
            },
        )

    def _save_pmf(path) -> None:
        with open(path, "wb") as fh:
            np.save(fh, prediction.pmf)

    write_atomic(settings.work_path / PMF_FILE, _save_pmf)
    write_csv(frame, settings.out_path / "predictions.csv")
    context.log.info(f"scored {len(frame)} open invoices with model version {version}")
    if paid_invoices is not None and paid_invoices < THIN_HISTORY_PAYMENTS:
        context.log.warning(f"the model learnt from only {paid_invoices} paid invoices")
    if oldest_paid is not None and (beyond := int((frame["days_overdue"] > oldest_paid).sum())):
        context.log.warning(
            f"{beyond} open invoices are more overdue than any invoice the model saw paid "
            f"({oldest_paid} days late)"
        )
    return dg.MaterializeResult(
        metadata={
            "open_invoices": len(frame),
            "model_version": version,
            "model_paid_invoices": paid_invoices if paid_invoices is not None else "unknown",
            "mean_p_late_30": float(frame["p_late_30"].mean()) if len(frame) else 0.0,
            "preview": markdown_table(
                frame.drop(columns=[c for c in frame if c.startswith(("p_paid_", "shap_"))])
            ),
            "shap_global": png_markdown(shap_plot),
        }
    )


def billing_facts(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """The invoices issued by ``as_of`` as `project_billing` reads them, with segment."""
    return con.execute(
        "SELECT customer_id, country, currency, issue_day, due_day, amount, completion_day, "
        "COALESCE(segment, 'unknown') AS segment FROM invoice_facts WHERE issue_day <= $d "
        # the projection's float sums follow row order, which a bare scan does not fix
        "ORDER BY invoice_id",
        {"d": to_day(as_of)},
    ).df()


def with_customer_keys(units: pd.DataFrame, facts: pd.DataFrame) -> pd.DataFrame:
    """Billing units with their customer's segment and country, which what-if scenarios
    select by."""
    customers = facts.groupby("customer_id", as_index=False)[["segment", "country"]].first()
    return units.merge(customers, on="customer_id", how="left", validate="m:1")


@dg.asset(
    group_name="forecasts",
    deps=["invoice_facts"],
    kinds={"duckdb", "csv"},
    description="Invoices not issued yet but expected in the 13 weeks after as-of (each active "
    "customer's 26-week run-rate × the portfolio's month-of-year seasonality) and their "
    "collections (the customer's issue-to-payment delays), with joint draws for bands.",
)
def projected_billing(settings: ArcastSettings, warehouse: DuckDBResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
        facts = billing_facts(con, as_of)
        rates = fx_rates_at(con, as_of, base)
    projection = project_billing(facts, as_of, rates, WEEKS)
    units = with_customer_keys(projection.units, facts)
    projection = replace(projection, units=units)
    weekly, sim_rows = projection.frames(N_SIMS, settings.seed)
    open_rows = pd.concat(
        [projection.open_invoices(w).assign(week=w) for w in range(WEEKS + 1)], ignore_index=True
    )
    summary = pd.DataFrame(
        {
            "customer_id": units["customer_id"],
            "currency": units["currency"],
            "segment": units["segment"],
            "weekly_run_rate": (units["daily_rate"] * 7).round(2),
            "weekly_run_rate_base": (units["daily_rate_base"] * 7).round(2),
            "terms_days": units["terms_days"],
            "month_end_batch": units["month_end_batch"],
            "invoices_expected_13w": projection.invoices_expected.round(2),
            "billing_13w_base": projection.billing.sum(axis=1).round(2),
            "collections_13w_base": projection.cash.sum(axis=1).round(2),
        }
    )
    with warehouse.get_connection() as con:
        save_tables(
            con,
            {
                "projected_billing_weekly": weekly,
                "projected_billing_sims": sim_rows,
                "projected_billing_open": open_rows,
            },
        )
    write_atomic(
        settings.work_path / BILLING_FILE, lambda p: p.write_bytes(pickle.dumps(projection))
    )
    write_csv(summary, settings.out_path / "projected_billing.csv")
    by_week = pd.DataFrame(
        {
            "week_start": week_starts(as_of, WEEKS),
            "billing": projection.billing.sum(axis=0),
            "collections": projection.cash.sum(axis=0),
        }
    )
    season = pd.DataFrame({"month": range(1, 13), "factor": projection.season.round(3)}).set_index(
        "month"
    )
    return dg.MaterializeResult(
        metadata={
            "active_units": len(units),
            "billing_13w": float(projection.billing.sum()),
            "collections_13w": float(projection.cash.sum()),
            "portfolio_volume_sigma": projection.sigma,
            "by_week": markdown_table(by_week, WEEKS),
            "seasonality": dg.MetadataValue.md(season.T.to_markdown(floatfmt=".3f")),
            "top_units": markdown_table(summary.sort_values("billing_13w_base", ascending=False)),
        }
    )


@dg.asset(
    group_name="forecasts",
    deps=["invoice_predictions", "projected_billing"],
    kinds={"duckdb", "csv"},
    description="Weekly cash collections for 13 weeks in base currency with p10/p50/p90 bands, "
    "as three lines: open_ar (invoices already issued, joint simulation of their pay dates), "
    "projected_billing (collections of invoices expected to be issued) and total (banded path "
    "by path). Breakdowns by segment, currency (base and invoice currency) and top customers.",
)
def cash_forecast_13w(settings: ArcastSettings, warehouse: DuckDBResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
        # a plain scan keeps the rows in pmf order; segments are mapped on afterwards
        pred = con.execute(
            "SELECT invoice_id, customer_id, currency, amount_open_base, cash_rho "
            "FROM invoice_predictions"
        ).df()
        segments = con.execute(
            "SELECT invoice_id, COALESCE(segment, 'unknown') AS segment FROM invoice_facts "
            "WHERE invoice_id IN (SELECT invoice_id FROM invoice_predictions)"
        ).df()
        billing = con.execute("SELECT * FROM projected_billing_weekly").df()
        billing_sims = con.execute("SELECT * FROM projected_billing_sims").df()
        rates = fx_rates_at(con, as_of, base)
        names = con.execute("SELECT customer_id, name FROM customers").df()
    pmf = np.load(settings.work_path / PMF_FILE)
    pred["segment"] = pred["invoice_id"].map(segments.set_index("invoice_id")["segment"])
    amounts = pred["amount_open_base"].to_numpy(dtype=float)
    weekly = weekly_probabilities(pmf, WEEKS)
    cash = simulate_lines(
        weekly,
        amounts,
        pred["customer_id"].to_numpy(),
        pred[["segment", "currency"]],
        billing,
        billing_sims,
        rho=pred["cash_rho"].to_numpy(),
        seed=settings.seed,
        n_sims=N_SIMS,
    )
    lines = cash.bands(as_of)
    keys, expected, sims = cash.keys, cash.expected, cash.sims
    breakdown = _breakdown(as_of, base, keys, expected, sims, rates, pred, amounts, weekly, billing)
    breakdown.insert(
        2,
        "name",
        breakdown["key"]
        .map(names.set_index("customer_id")["name"])
        .where(breakdown["dimension"] == "customer"),
    )
    # the band of the 13-week sum is not the sum of the weekly bands: it comes from the paths
    totals_13w = pd.DataFrame(
        {
            "line": LINES,
            "expected": [float(expected[line].sum()) for line in LINES],
            "p10": [float(np.quantile(sims[line].sum(axis=(1, 2)), 0.1)) for line in LINES],
            "p90": [float(np.quantile(sims[line].sum(axis=(1, 2)), 0.9)) for line in LINES],
        }
    )
    with warehouse.get_connection() as con:
        save_tables(
            con,
            {
                "cash_forecast_13w": lines,
                "cash_forecast_13w_totals": totals_13w,
                "cash_forecast_breakdown": breakdown,
            },
        )
    write_csv(lines.round({c: 2 for c in BANDS}), settings.out_path / "cash_forecast.csv")
    write_csv(
        breakdown.round({c: 2 for c in BANDS}), settings.out_path / "cash_forecast_breakdown.csv"
    )
    return dg.MaterializeResult(
        metadata={
            **{
                f"{band}_13w_{row.line}": getattr(row, band)
                for row in totals_13w.itertuples()
                for band in ("expected", "p10", "p90")
            },
            "open_ar_base": float(amounts.sum()),
            "breakdown_rows": len(breakdown),
            "forecast": markdown_table(lines.loc[lines["line"] == "total"], WEEKS),
            "by_currency": markdown_table(_thirteen_weeks(breakdown, "currency"), 50),
            "by_segment": markdown_table(_thirteen_weeks(breakdown, "segment"), 50),
            "plot": png_markdown(cash_lines_figure(lines, base)),
        }
    )


def _breakdown(
    as_of, base, keys, expected, sims, rates, pred, amounts, weekly, billing
) -> pd.DataFrame:
    """Rows per (dimension, key, line, week): segment and currency bands in base currency, the
    currency rows again in invoice currency, top customers' expected cash (no bands: a
    per-customer simulation of 1,000 paths would cost more than the whole forecast)."""
    frames = []
    for dimension in ("segment", "currency"):
        bands = breakdown_bands(as_of, keys[dimension], expected, sims)
        frames.append(bands.assign(dimension=dimension, unit=base))
        if dimension == "currency":
            rate = bands["key"].map(rates).to_numpy()
            local = bands.assign(**{c: bands[c] / rate for c in BANDS})
            frames.append(local.assign(dimension="currency_local", unit=bands["key"]))
    weeks = list(range(WEEKS))
    open_by_customer = (
        pd.DataFrame(amounts[:, None] * weekly, columns=weeks)
        .groupby(pred["customer_id"].to_numpy())
        .sum()
    )
    bill_by_customer = (
        billing.pivot_table(
            index="customer_id", columns="week", values="collections", aggfunc="sum"
        )
        .set_axis(weeks, axis=1)
        .reindex(open_by_customer.index.union(billing["customer_id"].unique()), fill_value=0.0)
    )
    open_by_customer = open_by_customer.reindex(bill_by_customer.index, fill_value=0.0)
    customers = customer_expected(
        as_of, with_total(open_by_customer, bill_by_customer), TOP_CUSTOMERS
    )
    frames.append(customers.assign(dimension="customer", unit=base))
    columns = ["dimension", "key", "line", "week_start", "week_end", "unit", *BANDS]
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def _thirteen_weeks(breakdown: pd.DataFrame, dimension: str) -> pd.DataFrame:
    rows = breakdown.loc[breakdown["dimension"] == dimension]
    return rows.pivot_table(index="key", columns="line", values="expected", aggfunc="sum")[
        list(LINES)
    ].reset_index()


@dg.asset(
    group_name="forecasts",
    deps=["invoice_facts"],
    kinds={"json"},
    description="AR KPIs at the as-of date: DSO (standard and countback), best possible DSO, "
    "average days delinquent, collection effectiveness index, aging buckets, totals, and the "
    "credit balances of overpaid invoices (not in open AR).",
)
def ar_kpis(settings: ArcastSettings, warehouse: DuckDBResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
        ledger = receivables(con, as_of, base)
        start = as_of - timedelta(days=PERIOD_DAYS)
        beginning = compute_kpis(receivables(con, start, base), start, PERIOD_DAYS)
    kpis = compute_kpis(ledger, as_of, PERIOD_DAYS, beginning_ar=beginning["open_amount"])
    kpis |= credit_balances(ledger)
    write_json(kpis, settings.out_path / "kpis.json")
    return dg.MaterializeResult(metadata={"kpis": dg.MetadataValue.json(kpis)})


@dg.asset(
    group_name="forecasts",
    deps=["invoice_predictions", "projected_billing", "ar_kpis"],
    kinds={"csv"},
    description="AR balance, DSO (standard, countback), best possible DSO, average days "
    "delinquent, CEI since as-of and aging, week by week over 13 weeks: open invoices stay open "
    "with their probability of not being paid yet, projected billing enters as sales.",
)
def kpi_forecast(settings: ArcastSettings, warehouse: DuckDBResource) -> dg.MaterializeResult:
    weekly_cols = ", ".join(f"p_paid_week_{w:02d}" for w in range(1, WEEKS + 1))
    with warehouse.get_connection() as con:
        as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
        ledger = receivables(con, as_of, base)
        paid = con.execute(f"SELECT invoice_id, {weekly_cols} FROM invoice_predictions").df()
        projected = con.execute("SELECT * FROM projected_billing_open").df()
    weekly = paid.set_index("invoice_id").reindex(ledger["invoice_id"], fill_value=0.0)
    cumulative = np.cumsum(weekly.to_numpy(dtype=float), axis=1)
    still_open = np.clip(1.0 - np.hstack([np.zeros((len(ledger), 1)), cumulative]), 0.0, 1.0)
    frames = [projected.loc[projected["week"] == w].drop(columns="week") for w in range(WEEKS + 1)]
    path = forecast_kpis(ledger, still_open, as_of, frames, PERIOD_DAYS)
    write_csv(
        path.round(dict.fromkeys(path.columns.drop("date"), 4)),
        settings.out_path / "kpi_forecast.csv",
    )
    first, last = path.iloc[0], path.iloc[-1]
    return dg.MaterializeResult(
        metadata={
            "dso_now": _float(first["dso"]),
            f"dso_week_{WEEKS}": _float(last["dso"]),
            "open_amount_now": float(first["open_amount"]),
            f"open_amount_week_{WEEKS}": float(last["open_amount"]),
            "path": markdown_table(
                path.drop(columns=[c for c in path if c.startswith("aging_")]), WEEKS + 1
            ),
            "plot": png_markdown(kpi_path_figure(path)),
        }
    )


@dg.asset(
    group_name="forecasts",
    deps=["cash_forecast_13w"],
    kinds={"parquet", "csv"},
    description="Forecast-vs-actual: stores this run's cash forecast lines in the history under "
    "the arcast home and scores every earlier forecast of this ledger on the weeks that have "
    "ended since, against the cash collected: expected, band, actual, error per week; WAPE and "
    "band coverage by horizon.",
)
def forecast_accuracy(
    context: dg.AssetExecutionContext, settings: ArcastSettings, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        as_of, base, ledger = con.execute("SELECT * FROM run_context").fetchone()
        model_version = con.execute("SELECT model_version FROM scoring_context").fetchone()[0]
        lines = con.execute("SELECT * FROM cash_forecast_13w").df()
    current = lines.assign(
        ledger=ledger,
        as_of=pd.Timestamp(as_of),
        run_id=context.run_id,
        run_time=pd.Timestamp(datetime.now(UTC)).tz_localize(None),
        model_version=str(model_version),
    )
    history = append_history(settings.home_path / HISTORY_FILE, current)
    past = history.loc[(history["ledger"] == ledger) & (history["as_of"] < pd.Timestamp(as_of))]
    origins = sorted(pd.to_datetime(past["as_of"]).dt.date.unique())
    with warehouse.get_connection() as con:
        actuals = weekly_collections(con, origins, as_of, base, WEEKS)
    detail, summary = score_history(history, actuals, ledger, as_of)
    write_csv(
        detail.round(dict.fromkeys(["expected", "p10", "p90", "actual", "abs_error"], 2)),
        settings.out_path / "forecast_accuracy.csv",
    )
    write_csv(summary.round(4), settings.out_path / "forecast_accuracy_summary.csv")
    metadata = {
        "history_forecasts": int(history[["ledger", "as_of"]].drop_duplicates().shape[0]),
        "scored_forecasts": int(detail["as_of"].nunique()),
        "scored_weeks": len(detail),
        "summary": markdown_table(summary, 3 * WEEKS),
    }
    if len(summary):
        metadata["plot"] = png_markdown(forecast_accuracy_figure(summary))
    return dg.MaterializeResult(metadata=metadata)


def _float(value) -> float | None:
    return None if pd.isna(value) else float(value)
