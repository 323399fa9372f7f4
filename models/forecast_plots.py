"""Figures for the CFO views in Dagster: cash lines with bands, the KPI path, forecast accuracy."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


def cash_lines_figure(lines: pd.DataFrame) -> plt.Figure:
    """Weekly expected cash per line with its p10–p90 band (``line``, ``week_start``, …)."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for line, rows in lines.groupby("line", sort=False):
        ax.fill_between(rows["week_start"], rows["p10"], rows["p90"], alpha=0.2)
        ax.plot(rows["week_start"], rows["expected"], marker="o", ms=3, label=line)
    ax.set_ylabel("cash in, base currency")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def kpi_path_figure(kpis: pd.DataFrame) -> plt.Figure:
    """DSO variants and average days delinquent, week by week from as-of."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for col in ("dso", "dso_countback", "best_possible_dso", "average_days_delinquent"):
        ax.plot(kpis["week"], kpis[col].astype(float), marker="o", ms=3, label=col)
    ax.set_xlabel("weeks after as-of")
    ax.set_ylabel("days")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_figure(summary: pd.DataFrame) -> plt.Figure:
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
