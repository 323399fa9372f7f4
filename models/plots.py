"""Figures logged to MLflow, shown in Dagster and embedded in the CFO report: one definition each,
so the report shows exactly the chart an asset shows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from models.backtest import ECE_BINS, PIT_INTERVAL
from models.paydate import LATE_THRESHOLD_DAYS, is_late

LINE_LABELS = {
    "open_ar": "From open invoices",
    "projected_billing": "From expected new billing",
    "total": "Total incl. expected billing",
}
LINE_COLOURS = {"open_ar": "#2f6f9f", "projected_billing": "#8c6bb1", "total": "#d9822b"}


def reliability_figure(p: np.ndarray, late: np.ndarray, bins: int = ECE_BINS) -> plt.Figure:
    """Observed late-30 rate against the forecast p_late_30, per equal-width bin; the diagonal is
    perfect calibration and the bar chart underneath shows where the forecasts sit."""
    edges = np.linspace(0, 1, bins + 1)
    b = np.minimum((np.asarray(p) * bins).astype(np.int64), bins - 1)
    n = np.bincount(b, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_p = np.bincount(b, weights=p, minlength=bins) / n
        rate = np.bincount(b, weights=late, minlength=bins) / n
    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(5.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.plot(mean_p[n > 0], rate[n > 0], marker="o", color="#2f6f9f")
    ax.set_ylabel("observed share paid > 30 days late")
    ax.set_title("Reliability of p_late_30 (backtest)")
    hist.bar(edges[:-1], n, width=1 / bins, align="edge", color="#9fbfd9", edgecolor="white")
    hist.set_xlabel("forecast p_late_30")
    hist.set_ylabel("invoices")
    fig.tight_layout()
    return fig


def pit_figure(pit: np.ndarray, bins: int = 20) -> plt.Figure:
    """Randomised PIT histogram: flat when the pay-date distributions are calibrated; a U shape
    means intervals too narrow, a hump too wide."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.hist(pit, bins=bins, range=(0, 1), color="#2f6f9f", edgecolor="white")
    ax.axhline(len(pit) / bins, color="grey", linestyle="--", linewidth=1)
    low, high = PIT_INTERVAL
    inside = float(((pit >= low) & (pit <= high)).mean()) if len(pit) else float("nan")
    ax.set_title(f"Randomised PIT (share in [{low}, {high}]: {inside:.3f})")
    ax.set_xlabel("PIT")
    fig.tight_layout()
    return fig


def shap_global_figure(contributions: pd.DataFrame) -> plt.Figure:
    """Mean |SHAP| per reason group over the scored invoices: what drives the forecasts overall."""
    strength = contributions.abs().mean().sort_values()
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(strength) + 1.2))
    ax.barh(strength.index, strength.to_numpy(), color="#2f6f9f")
    ax.set_xlabel("mean |SHAP| (log-odds of paying on a day)")
    ax.set_title("Global importance of reasons (open invoices)")
    fig.tight_layout()
    return fig


def backtest_figures(rows: pd.DataFrame, method: str = "model") -> dict[str, plt.Figure]:
    """Reliability diagram and PIT histogram of one method from backtest evaluation rows."""
    mine = rows[rows["method"] == method]
    decided = mine["due_day"] + LATE_THRESHOLD_DAYS <= mine["end_day"]
    late = is_late(mine["completion_day"].to_numpy(), mine["due_day"].to_numpy())
    return {
        "reliability": reliability_figure(
            mine.loc[decided, "p_late"].to_numpy(), late[decided.to_numpy()].astype(float)
        ),
        "pit": pit_figure(mine["pit"].dropna().to_numpy()),
    }


def scenario_figure(
    forecast: pd.DataFrame, baseline: str = "baseline", line: str = "total"
) -> plt.Figure:
    """Weekly and cumulative expected cash per scenario against the baseline's p10–p90 band:
    which weeks get tight, and how much cash a scenario moves out of the quarter."""
    if "line" in forecast:
        forecast = forecast[forecast["line"] == line]
    fig, (weekly, cumulative) = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    base = forecast[forecast["scenario"] == baseline]
    weekly.fill_between(
        base["week_start"],
        base["p10"],
        base["p90"],
        color="#9fbfd9",
        alpha=0.5,
        label=f"{baseline} p10–p90",
    )
    for name, frame in forecast.groupby("scenario", sort=False):
        style = {"color": "black", "linewidth": 2, "zorder": 5} if name == baseline else {}
        weekly.plot(frame["week_start"], frame["expected"], marker="o", ms=3, label=name, **style)
        cumulative.plot(frame["week_start"], frame["expected"].cumsum(), label=name, **style)
    weekly.set_title("Expected cash-in per week")
    cumulative.set_title("Cumulative expected cash-in")
    for ax in (weekly, cumulative):
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(compact_number))
        ax.tick_params(axis="x", labelrotation=45)
        ax.grid(alpha=0.3)
    weekly.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cash_fan_figure(cash: pd.DataFrame, method: str = "model") -> plt.Figure:
    """One panel per cutoff: the method's weekly p10–p90 band and expected cash against what
    arrived, so a band that misses (too narrow, or biased) shows at a glance."""
    mine = cash[cash["method"] == method]
    cutoffs = sorted(mine["cutoff"].unique())
    columns = min(3, len(cutoffs))
    rows = -(-len(cutoffs) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False, sharey=True
    )
    for ax, cutoff in zip(axes.flat, cutoffs, strict=False):
        part = mine[mine["cutoff"] == cutoff]
        week = np.arange(1, len(part) + 1)
        ax.fill_between(week, part["p10"], part["p90"], color="#9fbfd9", label="p10–p90")
        ax.plot(week, part["expected"], color="#2f6f9f", label="expected")
        ax.plot(week, part["actual"], "o", color="#c0504d", markersize=3.5, label="actual")
        ax.set_title(f"cutoff {cutoff}", fontsize=9)
        ax.set_xlabel("week")
    for ax in axes.flat[len(cutoffs) :]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("cash in (base currency)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"13-week cash-in, {method}: band vs actual (backtest)")
    fig.tight_layout()
    return fig


def compact_number(value: float, _: object = None) -> str:
    """Axis label: 1.2M, 350k, 900."""
    for size, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"{value:,.0f}"


def _money_axis(ax: plt.Axes) -> None:
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(compact_number))
    ax.grid(alpha=0.3)


def cash_lines_figure(cash: pd.DataFrame, currency: str) -> plt.Figure:
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


def kpi_path_figure(kpi_forecast: pd.DataFrame) -> plt.Figure:
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
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(compact_number))
    ax.set_title(f"Open AR by days overdue ({currency})")
    ax.grid(alpha=0.3, axis="x")
    return fig


def model_accuracy_figure(
    model_accuracy: pd.DataFrame, labels: Mapping[str, str] | None = None
) -> plt.Figure:
    """p50 pay-date error of the model against the spreadsheet methods on the backtest window;
    ``labels`` names the methods for the reader (e.g. "Customer's median delay")."""
    frame = model_accuracy.dropna(subset=["mae_p50"])
    names = frame["method"].map(lambda m: (labels or {}).get(m, m))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    colours = ["#2f6f9f" if m == "model" else "#b0b0b0" for m in frame["method"]]
    ax.barh(names[::-1], frame["mae_p50"][::-1], color=colours[::-1])
    ax.set_xlabel("mean absolute error of the predicted pay date (days)")
    ax.set_title("Pay-date accuracy on the latest backtest window")
    ax.grid(alpha=0.3, axis="x")
    return fig


def forecast_accuracy_figure(summary: pd.DataFrame) -> plt.Figure:
    """WAPE and band coverage by horizon week, one line per forecast line."""
    fig, (wape, cover) = plt.subplots(1, 2, figsize=(8, 3.2))
    for line, rows in summary.groupby("line"):
        wape.plot(rows["week"], rows["wape"], marker="o", ms=3, label=line)
        cover.plot(rows["week"], rows["coverage"], marker="o", ms=3, label=line)
    wape.set(xlabel="weeks ahead", ylabel="WAPE")
    cover.set(xlabel="weeks ahead", ylabel="inside [p10, p90]", ylim=(0, 1.05))
    cover.axhline(0.8, color="grey", lw=0.8, ls="--")
    wape.legend(fontsize=8)
    fig.tight_layout()
    return fig
