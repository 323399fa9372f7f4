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
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd

LINE_LABELS = {
    "open_ar": "From open invoices",
    "projected_billing": "From expected new billing",
    "total": "Total incl. expected billing",
}
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


LINE_COLOURS = {"open_ar": "#2f6f9f", "projected_billing": "#8c6bb1", "total": "#d9822b"}


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
    """customer_id, name, open, overdue, at_risk, max_p_late_30, invoices."""
    kpi_forecast: pd.DataFrame | None = None
    """week, date, dso, dso_countback, best_possible_dso, … (``kpi_forecast``)."""
    scenarios: pd.DataFrame | None = None
    scenario_summary: Mapping[str, Any] | None = None
    model_accuracy: pd.DataFrame | None = None
    """method, mae_p50, pit_coverage, auc_late30, brier_late30 on the gate's backtest window."""
    accuracy_window: str = ""
    forecast_accuracy: pd.DataFrame | None = None
    """horizon_week, wape, coverage, forecasts: how past runs' cash forecasts did."""
    sources: dict[str, str] = field(default_factory=dict)


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
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _compact(value: float, _: object = None) -> str:
    """Axis label: 1.2M, 350k, 900."""
    for size, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"{value:,.0f}"


def _money_axis(ax: plt.Axes) -> None:
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_compact))
    ax.grid(alpha=0.3)


def cash_fan_figure(cash: pd.DataFrame, currency: str) -> plt.Figure:
    """Weekly cash-in with p10–p90 bands: open AR alone and with expected new billing."""
    fig, ax = plt.subplots(figsize=(10, 4.2))
    for line in ("total", "open_ar"):
        frame = cash[cash["line"] == line]
        if frame.empty:
            continue
        colour = LINE_COLOURS[line]
        ax.fill_between(frame["week_start"], frame["p10"], frame["p90"], color=colour, alpha=0.2)
        ax.plot(
            frame["week_start"],
            frame["expected"],
            marker="o",
            ms=3,
            color=colour,
            label=f"{LINE_LABELS[line]} (expected, band p10–p90)",
        )
    ax.set_title(f"Cash-in per week, next 13 weeks ({currency})")
    _money_axis(ax)
    ax.legend(fontsize=8, loc="upper right")
    ax.tick_params(axis="x", labelrotation=30)
    return fig


def dso_figure(kpi_forecast: pd.DataFrame) -> plt.Figure:
    """DSO today (week 0) and on the expected ledger at the end of each forecast week."""
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for column, label in (
        ("dso", "DSO (standard)"),
        ("dso_countback", "DSO (countback)"),
        ("best_possible_dso", "Best possible DSO"),
    ):
        if column in kpi_forecast:
            ax.plot(kpi_forecast["date"], kpi_forecast[column], marker="o", ms=3, label=label)
    ax.set_ylabel("days")
    ax.set_title("DSO now and forecast week by week")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelrotation=30)
    return fig


def aging_figure(aging: Mapping[str, Mapping[str, Any]], currency: str) -> plt.Figure:
    """Open AR by aging bucket today."""
    names = list(aging)
    amounts = [aging[n]["amount"] for n in names]
    colours = ["#5b9f5b", "#c9b33f", "#e08a3c", "#d4553b", "#8e2c2c"][: len(names)]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.barh(names[::-1], amounts[::-1], color=colours[::-1])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_compact))
    ax.set_title(f"Open AR by days overdue ({currency})")
    ax.grid(alpha=0.3, axis="x")
    return fig


def accuracy_figure(model_accuracy: pd.DataFrame) -> plt.Figure:
    """p50 pay-date error of the model against the spreadsheet methods on the backtest window."""
    frame = model_accuracy.dropna(subset=["mae_p50"])
    fig, ax = plt.subplots(figsize=(6, 3.2))
    colours = ["#2f6f9f" if m == "model" else "#b0b0b0" for m in frame["method"]]
    ax.barh(frame["method"][::-1], frame["mae_p50"][::-1], color=colours[::-1])
    ax.set_xlabel("mean absolute error of the predicted pay date (days)")
    ax.set_title("Pay-date accuracy on the latest backtest window")
    ax.grid(alpha=0.3, axis="x")
    return fig


def figures(data: ReportData) -> dict[str, plt.Figure]:
    """Every chart the report embeds, by file stem."""
    out = {"cash_forecast": cash_fan_figure(data.cash, data.base_currency)}
    if data.kpi_forecast is not None and not data.kpi_forecast.empty:
        out["dso_forecast"] = dso_figure(data.kpi_forecast)
    out["aging"] = aging_figure(data.kpis["aging"], data.base_currency)
    if data.scenarios is not None:
        from models.plots import scenario_figure

        out["scenarios"] = scenario_figure(data.scenarios)
    if data.model_accuracy is not None and not data.model_accuracy.empty:
        out["model_accuracy"] = accuracy_figure(data.model_accuracy)
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
    env.filters["signed_money"] = signed_money
    images = {name: base64.b64encode(png).decode() for name, png in charts.items()}
    totals = {line: float(frame["expected"].sum()) for line, frame in data.cash.groupby("line")}
    html = env.get_template("cfo_report.html.j2").render(
        d=data,
        images=images,
        totals=totals,
        line_labels=LINE_LABELS,
        weekly=weekly_table(data.cash).to_dict("records"),
    )
    return html, charts
