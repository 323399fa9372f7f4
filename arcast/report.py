"""The CFO report: one self-contained HTML file per run, charts embedded, every number sourced.

A CFO reads it on Monday morning, often offline or forwarded by e-mail, so the file carries
everything (inline CSS, charts as PNG data URIs, no scripts, no network) and each section names
the asset that produced its numbers, so a figure can be traced back through the Dagster graph.
PNG copies of the charts are written next to it for slides.
"""

from __future__ import annotations

import base64
import io
import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import jinja2
import matplotlib.pyplot as plt
import pandas as pd

from models.plots import (
    LINE_LABELS,
    aging_figure,
    cash_lines_figure,
    kpi_path_figure,
    model_accuracy_figure,
    scenario_figure,
)

HEADLESS_CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""How the test and `docs/screenshots.py` start Chromium: headless as root, and silent on a closed
network (without the background-networking flags it keeps dialling out and logging failures)."""


def chromium_path() -> str | None:
    """The Chromium to render with: $ARCAST_CHROMIUM, else Debian's ``chromium`` on the PATH."""
    return (
        os.environ.get("ARCAST_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


@dataclass
class ReportData:
    """What the report shows; optional parts are left out when a run did not produce them."""

    as_of: date
    base_currency: str
    model_version: str
    cash: pd.DataFrame
    """line, week_start, week_end, expected, p10, p50, p90 (from ``cash_forecast_13w``)."""
    kpis: Mapping[str, Any]
    """Today's KPIs (``ar_kpis``)."""
    top_customers: pd.DataFrame
    """customer_id, name, open, overdue, at_risk (Σ open × p_late_30), invoices."""
    kpi_forecast: pd.DataFrame | None = None
    """week, date, dso, dso_countback, best_possible_dso, … (``kpi_forecast``)."""
    scenarios: pd.DataFrame | None = None
    scenario_summary: Mapping[str, Any] | None = None
    model_accuracy: pd.DataFrame | None = None
    """method, mae_p50, mae_p50_censored (if kept), pit_coverage, auc_late30, brier_late30 on
    the gate's backtest window."""
    accuracy_window: str = ""
    accuracy_verdict: str = ""
    """The model against the spreadsheet methods on that window, in one sentence."""
    forecast_accuracy: pd.DataFrame | None = None
    """Past forecasts' scored weeks (``forecast_accuracy.csv``): as_of, line, week_start,
    week_end, expected, p10, p90, actual, inside_band."""
    model_name: str = ""
    replay_as_of: str = ""
    """Set on a replay: the past date its own model was fitted as of (not today's champion)."""
    totals_13w: pd.DataFrame | None = None
    """line, expected, p10, p90 of the 13-week sum (``cash_forecast_13w_totals``)."""
    billing_13w: float | None = None
    """New billing the projected line assumes over the 13 weeks (``projected_billing``)."""
    fx_dates: tuple[date, date] | None = None
    """Earliest and latest date of the FX rates amounts were converted at (None: one currency)."""
    left_out: str = ""
    """What the data contract kept out of the run, in one line (``ledger.left_out``)."""


def money(value: float | None, currency: str = "") -> str:
    """Whole units with thousands separators; ``—`` for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.0f}" + (f" {currency}" if currency else "")


def signed_money(value: float | None) -> str:
    """A change: +1,234 / −1,234 / 0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:+,.0f}".replace("-", "−") if round(value) else "0"


def days(value: float | None, signed: bool = False) -> str:
    """Days to one decimal; a signed change reads +1.5 / −1.5 / 0.0, never −0.0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if not signed:
        return f"{value:.1f}"
    return f"{value:+.1f}".replace("-", "−") if round(value, 1) else "0.0"


def count(value: int | float | None) -> str:
    """A count with thousands separators."""
    return "—" if value is None else f"{int(value):,}"


METHOD_LABELS = {
    "model": "arcast model",
    "due_date": "Pays on the due date",
    "customer_mean": "Customer's mean delay",
    "customer_median": "Customer's median delay",
}
"""The accuracy table's methods, as a CFO would name them."""


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def figures(data: ReportData) -> dict[str, plt.Figure]:
    """Every chart the report embeds, by file stem: the figures the assets show in Dagster."""
    out = {"cash_forecast": cash_lines_figure(data.cash, data.base_currency)}
    if data.kpi_forecast is not None and not data.kpi_forecast.empty:
        out["dso_forecast"] = kpi_path_figure(data.kpi_forecast)
    out["aging"] = aging_figure(data.kpis["aging"], data.base_currency)
    if data.scenarios is not None:
        out["scenarios"] = scenario_figure(data.scenarios)
    if data.model_accuracy is not None and not data.model_accuracy.empty:
        out["model_accuracy"] = model_accuracy_figure(data.model_accuracy, METHOD_LABELS)
    return out


def weekly_table(cash: pd.DataFrame) -> pd.DataFrame:
    """One row per week: each line's expected cash and the total's band, plus the running sum."""
    wide = cash.pivot_table(index="week_start", columns="line", values="expected", sort=True)
    table = pd.DataFrame({"week_start": wide.index})
    for line in LINE_LABELS:
        if line in wide:
            table[line] = wide[line].to_numpy()
    main = "total" if "total" in wide else "open_ar"
    band = cash[cash["line"] == main].set_index("week_start").loc[wide.index]
    table["p10"] = band["p10"].to_numpy()
    table["p90"] = band["p90"].to_numpy()
    table["cumulative"] = wide[main].cumsum().to_numpy()
    return table


def percent_off(forecast: float, actual: float) -> str:
    """How far a forecast was from what arrived, as a share of what arrived: +3.9% / −2.0%."""
    if not actual:
        return "—"
    return f"{100 * (forecast / actual - 1):+.1f}%".replace("-", "−")


PAST_FORECASTS_SHOWN = 6
"""The report's table of past forecasts lists the latest few; the CSV keeps every one."""


def past_forecasts(detail: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """Past forecasts against what arrived, as a CFO reads them.

    Returns one row per past forecast (latest first) and line over its weeks that have ended:
    forecast, received, how far off, and in how many of those weeks the cash fell inside the
    80% band (a count, not a rate: one forecast's few weeks make a poor rate); and the weekly
    rows of the latest of the forecasts with the most weeks ended, one per week with every
    line's forecast and receipt side by side.
    """
    frame = detail.assign(
        as_of=pd.to_datetime(detail["as_of"]).dt.date,
        week_start=pd.to_datetime(detail["week_start"]).dt.date,
        week_end=pd.to_datetime(detail["week_end"]).dt.date,
    )
    origins = sorted(frame["as_of"].unique(), reverse=True)
    summary = []
    for as_of in origins[:PAST_FORECASTS_SHOWN]:
        one = frame[frame["as_of"] == as_of]
        for line in (line for line in LINE_LABELS if line in set(one["line"])):
            rows = one[one["line"] == line]
            forecast, actual = float(rows["expected"].sum()), float(rows["actual"].sum())
            summary.append(
                {
                    "as_of": as_of,
                    "line": line,
                    "weeks": len(rows),
                    "first": rows["week_start"].min(),
                    "last": rows["week_end"].max(),
                    "forecast": forecast,
                    "actual": actual,
                    "off": percent_off(forecast, actual),
                    "inside": int(rows["inside_band"].astype(bool).sum()),
                }
            )
    scored = frame.groupby("as_of")["week"].max()
    latest = max(scored.index[scored == scored.max()])
    one = frame[frame["as_of"] == latest]
    wide = one.pivot_table(
        index=["week", "week_start", "week_end"],
        columns="line",
        values=["expected", "actual", "p10", "p90", "inside_band"],
        aggfunc="first",
    )
    weekly = [
        {"as_of": latest, "week": week, "week_start": start, "week_end": end}
        | {f"{value}_{line}": row[(value, line)] for value, line in row.index}
        for (week, start, end), row in wide.iterrows()
    ]
    return summary, weekly


def render(
    data: ReportData, templates: jinja2.BaseLoader | None = None
) -> tuple[str, dict[str, bytes]]:
    """The report's HTML and its charts as PNG bytes (the same images, embedded and as files)."""
    charts = {name: _png(fig) for name, fig in figures(data).items()}
    env = jinja2.Environment(
        loader=templates or jinja2.PackageLoader("arcast", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["money"] = money
    env.filters["days"] = days
    env.filters["count"] = count
    env.filters["method"] = lambda name: METHOD_LABELS.get(name, name)
    env.filters["signed_money"] = signed_money
    env.filters["percent_off"] = percent_off
    env.filters["span"] = lambda first, last: f"{first:%d %b} – {last:%d %b %Y}"
    images = {name: base64.b64encode(png).decode() for name, png in charts.items()}
    totals = {line: float(frame["expected"].sum()) for line, frame in data.cash.groupby("line")}
    bands = {} if data.totals_13w is None else data.totals_13w.set_index("line").to_dict("index")
    past, past_weeks = (
        past_forecasts(data.forecast_accuracy)
        if data.forecast_accuracy is not None and len(data.forecast_accuracy)
        else ([], [])
    )
    html = env.get_template("cfo_report.html.j2").render(
        d=data,
        images=images,
        totals=totals,
        bands=bands,
        line_labels=LINE_LABELS,
        weekly=weekly_table(data.cash).to_dict("records"),
        past=past,
        past_weeks=past_weeks,
    )
    return html, charts
