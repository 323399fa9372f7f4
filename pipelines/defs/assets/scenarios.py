"""What-if scenarios on the predicted pay-date distributions (`arcast whatif`, `arcast run`)."""

import json
import pickle
from datetime import date

import dagster as dg
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from arcast.io import write_atomic, write_csv, write_json
from features.matrix import ledger_calendar
from features.warehouse import open_invoices
from models.billing import BillingProjection, active_units
from models.cash_lines import CashLines, simulate_lines
from models.paydate import settled_dispute_pmf
from models.plots import scenario_figure
from models.scenarios import OpenBook, check_scenarios, load_scenarios, run_scenarios
from models.tracking import CHAMPION, load_model
from pipelines.defs.assets.forecasts import (
    BILLING_FILE,
    N_SIMS,
    PMF_FILE,
    WEEKS,
    billing_facts,
    with_customer_keys,
)
from pipelines.defs.metadata import markdown_table, png_markdown
from pipelines.defs.resources import ArcastSettings

OPEN_BOOK_SQL = """
SELECT p.invoice_id, p.customer_id, c.name AS customer_name, f.segment, f.country, p.currency,
       p.disputed, p.amount_open_base, p.cash_rho
FROM invoice_predictions AS p
JOIN invoice_facts AS f USING (invoice_id)
LEFT JOIN (SELECT customer_id, any_value(name) AS name FROM customers GROUP BY customer_id) AS c
    ON c.customer_id = p.customer_id
ORDER BY p.rowid
"""


@dg.asset_check(
    asset="invoice_facts",
    blocking=True,
    description="Each rule of the settings' scenario file selects open invoices at the as-of "
    "date or customers whose new billing is projected (names they have, a combination some has, "
    "disputes to settle), checked before anything is trained or scored: a misspelt customer "
    "fails in seconds and changes nothing.",
)
def scenario_selections(settings: ArcastSettings, warehouse: DuckDBResource) -> dg.AssetCheckResult:
    if not settings.scenario_file:
        return dg.AssetCheckResult(passed=True, metadata={"note": "no scenario file"})
    scenarios = load_scenarios(settings.scenario_file)
    with warehouse.get_connection() as con:
        as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
        invoices = open_invoices(con, as_of, base)
        facts = billing_facts(con, as_of)
    book = OpenBook(invoices, np.zeros((len(invoices), 0)), as_of)
    units = with_customer_keys(active_units(facts, as_of), facts)
    check_scenarios(scenarios, book, settings.scenario_file, units)
    return dg.AssetCheckResult(
        passed=True,
        metadata={"scenarios": len(scenarios), "open_invoices": len(invoices)},
    )


@dg.asset(
    group_name="forecasts",
    deps=["invoice_predictions", "projected_billing", "ar_kpis", "kpi_forecast"],
    kinds={"csv", "json"},
    description="What-if scenarios from the scenario file (settings.scenario_file): each rewrites "
    "the selected open invoices' predicted pay-date distributions (later, slower, never paid, "
    "disputes settled) and the selected customers' projected new billing's delays, and is "
    "simulated with the baseline's random draws. Weekly bands per scenario, 13-week cash change "
    "split into open AR and new billing, DSO change, lowest week and biggest weekly change.",
)
def scenario_forecast(settings: ArcastSettings, warehouse: DuckDBResource) -> dg.MaterializeResult:
    if not settings.scenario_file:
        return dg.MaterializeResult(
            metadata={"scenarios": 0, "note": "no scenario file in this run's settings"}
        )
    scenarios = load_scenarios(settings.scenario_file)
    with warehouse.get_connection() as con:
        as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
        version = con.execute("SELECT model_version FROM scoring_context").fetchone()[0]
        invoices = con.execute(OPEN_BOOK_SQL).df()
    projection: BillingProjection = pickle.loads((settings.work_path / BILLING_FILE).read_bytes())
    kpis = json.loads((settings.out_path / "kpis.json").read_text())
    book = OpenBook(invoices, np.load(settings.work_path / PMF_FILE), as_of)
    keys = invoices[["segment", "currency"]].fillna({"segment": "unknown"})

    def resolved_pmf(rows: np.ndarray, settled: date) -> np.ndarray:
        """Only settlement rules need the model itself: load it on first use."""
        model = load_model(settings.registry, CHAMPION)[0]
        with warehouse.get_connection() as con:
            calendar = ledger_calendar(con, as_of, model.config.horizon_days)
            ids = invoices["invoice_id"].to_numpy()[rows]
            return settled_dispute_pmf(con, model, as_of, calendar, ids, settled)

    drawn: dict[int, tuple[BillingProjection, tuple[pd.DataFrame, pd.DataFrame]]] = {}

    def simulate(weekly: np.ndarray, billing: BillingProjection | None) -> CashLines:
        """A scenario leaving new billing as it is gets the baseline's draws without redrawing
        them (0.5 s each on the demo ledger). The cache holds each projection it keys, so that
        no other one can take over its id."""
        if billing is not None and id(billing) not in drawn:
            drawn[id(billing)] = (billing, billing.frames(N_SIMS, settings.seed))
        frames = (None, None) if billing is None else drawn[id(billing)][1]
        return simulate_lines(
            weekly,
            invoices["amount_open_base"].to_numpy(dtype=float),
            invoices["customer_id"].to_numpy(),
            keys,
            *frames,
            rho=invoices["cash_rho"].to_numpy(),
            seed=settings.seed,
            n_sims=N_SIMS,
        )

    # DSO at week 13 divides by that week's 90-day sales (projected billing included), as
    # kpi_forecast.csv does: the scenario's DSO is then the forecast's plus this change.
    week_13 = pd.read_csv(settings.out_path / "kpi_forecast.csv").iloc[-1]
    daily_sales = week_13["billed_last_period"] / kpis["period_days"]
    result = run_scenarios(
        book,
        scenarios,
        simulate,
        daily_sales=daily_sales,
        weeks=WEEKS,
        billing=projection,
        resolved_pmf=resolved_pmf,
        source=settings.scenario_file,
    )
    out = settings.out_path
    write_csv(
        result.forecast.round({c: 2 for c in ("expected", "p10", "p50", "p90")}),
        out / "scenario_forecast.csv",
    )
    summary = {
        "as_of": as_of.isoformat(),
        "base_currency": base,
        "model_version": version,
        "scenario_file": settings.scenario_file,
        "average_daily_sales": daily_sales,
        "scenarios": result.summary,
    }
    write_json(summary, out / "scenario_summary.json")
    fig = scenario_figure(result.forecast)
    write_atomic(out / "scenario_forecast.png", lambda p: fig.savefig(p, format="png", dpi=110))
    table = [
        {
            "scenario": name,
            "cash_13w": s["cash_13w_expected"],
            "delta": s["cash_13w_delta"],
            "delta_open_ar": s["cash_13w_open_ar_delta"],
            "delta_new_billing": s["cash_13w_new_billing_delta"],
            "delta_p10": s["cash_13w_delta_p10"],
            "delta_p90": s["cash_13w_delta_p90"],
            "dso_delta_days": s["dso_delta_days"],
            "lowest_week": s["lowest_week"]["week_start"],
            "biggest_change_week": s["biggest_weekly_change"]["week_start"],
        }
        for name, s in result.summary.items()
    ]
    return dg.MaterializeResult(
        metadata={
            "scenarios": len(scenarios),
            "comparison": markdown_table(pd.DataFrame(table), len(table)),
            "chart": png_markdown(fig),
        }
    )
