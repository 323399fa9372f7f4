"""Backtest tables for the README: the generated demo ledger (with its oracle) and the IBM sample.

    python benchmarks/backtest_report.py                  # both parts
    python benchmarks/backtest_report.py --only generated
    python benchmarks/backtest_report.py --only ibm --ibm path/to/ibm_ar.csv
    python benchmarks/backtest_report.py --only generated --set seed=1 --set learning_rate=0.05

* generated: `GeneratorConfig(n_customers=1000, seed=42)` (the `arcast generate` defaults),
  cutoffs = the last 6 month-ends leaving at least 91 days of outcomes, default
  `TrainingConfig()` (``--set`` overrides its fields, e.g. the model seed, to compare recipes
  as the "what was tried" tables of `benchmarks/EXPERIMENTS.md` do); model vs due-date,
  customer mean/median baselines and the oracle; then the 13-week cash forecast of the same
  run against the due-date and collection-curve baselines and the oracle.
* ibm: train on invoices before 2013, score every 2013 invoice as of its issue date (the public
  reference protocol), against the reference's baseline figures; then a rolling-origin run
  (the same cutoff rule) for the 13-week cash forecast (no oracle there).

Prints markdown tables; writes backtest_metrics.csv and backtest_summary.json (and the cash
tables) per part under ``--workdir``.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from dataclasses import fields, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from arcast.generate import GeneratorConfig, generate_ledger, load_truth, write_ledger
from arcast.generate import oracle_sample_pay_dates as sample
from arcast.ibm import convert_ibm
from arcast.io import write_csv, write_json
from features.warehouse import to_day
from models.backtest import (
    BacktestResult,
    CutoffRule,
    format_metric,
    load_warehouse,
    run_at_issue,
    run_backtest,
    scored_p50,
)
from models.cash_backtest import CASH_METHODS
from models.paydate import TrainingConfig

IBM_CSV = Path("/work/shared/data/ibm_ar/WA_Fn-UseC_-Accounts-Receivable.csv")
IBM_REFERENCE_MAE = {"due_date": "11.03", "customer_mean": "6.58", "customer_median": "6.39"}
IBM_TARGET_MAE = "≤ 5.6 (target)"
METHODS = ("model", "due_date", "customer_mean", "customer_median", "oracle")


def _markdown(rows: list[dict[str, object]]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(format_metric(r[h]) for h in header) + " |" for r in rows]
    return "\n".join(lines)


def _progress(started: float):
    def report(done: int, total: int, cutoff: date, stage: str) -> None:
        print(f"  [{time.perf_counter() - started:7.1f} s] {cutoff} {stage} ({done}/{total})")

    return report


def _save(result: BacktestResult, out: Path) -> None:
    write_csv(result.metrics, out / "backtest_metrics.csv")
    write_json(result.summary, out / "backtest_summary.json")
    if not result.cash.empty:
        write_csv(result.cash, out / "backtest_cash.csv")
        write_csv(result.cash_metrics, out / "backtest_cash_metrics.csv")


def _cash_tables(result: BacktestResult) -> None:
    """Pooled 13-week cash scores per method, then the model and oracle per cutoff."""
    m = result.cash_metrics
    order = {name: i for i, name in enumerate(CASH_METHODS)}
    pooled = m[m["cutoff"] == "pooled"].sort_values("method", key=lambda s: s.map(order))
    rows = [
        {
            "method": r["method"],
            "cash WAPE": r["cash_wape"],
            "÷ oracle": r.get("cash_wape_vs_oracle", np.nan),
            "÷ due date": r["cash_wape_vs_due_date"],
            "bias": r["cash_bias"],
            "weekly [p10, p90] cov.": r["cash_coverage"],
        }
        for _, r in pooled.iterrows()
    ]
    print("\n13-week cash-in, pooled over cutoff-weeks:\n")
    print(_markdown(rows))
    wide = m[m["cutoff"] != "pooled"].pivot(index="cutoff", columns="method")
    per_cutoff = [
        {
            "cutoff": cutoff,
            "rho": result.summary["cash"]["rho"][cutoff]["cash_rho"],
            "rho runs": result.summary["cash"]["rho"][cutoff]["cash_rho_runs"],
            **{
                f"{method} {label}": wide.loc[cutoff, (column, method)]
                for method in ("model", "oracle")
                if method in wide.columns.get_level_values(1)
                for column, label in (("cash_wape", "WAPE"), ("cash_coverage", "cov."))
            },
            "curve WAPE": wide.loc[cutoff, ("cash_wape", "collection_curve")],
            "due-date WAPE": wide.loc[cutoff, ("cash_wape", "due_date")],
        }
        for cutoff in wide.index
    ]
    print(
        "\nPer cutoff (rho = the copula correlation the model estimated at that cutoff; "
        "rho runs = the one fitted for customers that pay in runs):\n"
    )
    print(_markdown(per_cutoff))


def _errors(result: BacktestResult) -> pd.DataFrame:
    """Absolute p50 error per paid (cutoff, invoice), one column per method, as MAE scores it."""
    rows = result.rows[result.rows["completion_day"].notna()]
    wide = (
        rows.assign(error=np.abs(scored_p50(rows) - rows["completion_day"].to_numpy()))
        .pivot_table(index=["cutoff", "invoice_id"], columns="method", values="error")
        .reset_index()
    )
    facts = rows.loc[rows["method"] == "model", ["cutoff", "invoice_id", "customer_id", "due_day"]]
    return wide.merge(facts, on=["cutoff", "invoice_id"])


def _oracle_gap(result: BacktestResult, truth: dict[str, pd.DataFrame]) -> None:
    """Split the model's excess error over the oracle by what the oracle knows and the ledger
    shows late or never: a drift under way, whether a long-overdue invoice will be written off,
    the behaviour of a customer with little paid history (first match wins, in that order)."""
    err = _errors(result)
    profiles = truth["customer_profiles"].set_index("customer_id")
    completed = pd.to_datetime(truth["invoice_truth"]["completion_date"])
    paid_by = {}
    for cutoff in err["cutoff"].unique():
        done = truth["invoice_truth"][completed <= pd.Timestamp(cutoff)]
        paid_by[cutoff] = done.groupby("customer_id").size()
    cutoff_ts = pd.to_datetime(err["cutoff"])
    drift_from = pd.to_datetime(err["customer_id"].map(profiles["deteriorate_from"]))
    paid_n = [
        paid_by[c].get(cust, 0) for c, cust in zip(err["cutoff"], err["customer_id"], strict=True)
    ]
    overdue = cutoff_ts.map(to_day) - err["due_day"]
    names = ["customers drifting later", "60+ days overdue", "≤ 10 paid invoices"]
    group = np.select(
        [drift_from <= cutoff_ts, overdue > 60, np.asarray(paid_n) <= 10], names, "established"
    )
    large = err["customer_id"].map(profiles["is_large"]).astype(bool).to_numpy()
    groups = {name: group == name for name in names}
    groups["established customers"] = group == "established"
    groups["… of which large customers"] = (group == "established") & large
    gap = (err["model"] - err["oracle"]).sum()
    rows = [
        {
            "invoices at the cutoff": name,
            "share": mask.mean(),
            "model MAE": err.loc[mask, "model"].mean(),
            "oracle MAE": err.loc[mask, "oracle"].mean(),
            "÷ oracle": err.loc[mask, "model"].mean() / err.loc[mask, "oracle"].mean(),
            "share of the gap": (err.loc[mask, "model"] - err.loc[mask, "oracle"]).sum() / gap,
        }
        for name, mask in groups.items()
    ]
    print(f"\nWhere the gap to the oracle sits ({len(err):,} paid invoice-cutoffs):\n")
    print(_markdown(rows))


def _dispute_split(result: BacktestResult, ledger: Path) -> None:
    """IBM error on disputed vs undisputed invoices (the flag is known only afterwards)."""
    err = _errors(result)
    invoices = pd.read_csv(ledger / "invoices.csv", dtype={"invoice_id": str})
    disputed = err["invoice_id"].map(invoices.set_index("invoice_id")["disputed"])
    rows = [
        {
            "invoices": "disputed" if flag else "undisputed",
            "n": len(part),
            "model MAE": part["model"].mean(),
            "customer median MAE": part["customer_median"].mean(),
        }
        for flag, part in err.groupby(disputed.astype(bool))
    ]
    print("\nBy dispute flag (known only after the fact, so never a feature):\n")
    print(_markdown(rows))


def _mixture_cdf(x: np.ndarray, level: np.ndarray, p: np.ndarray, shift: float, sd: float):
    """CDF of (1 - p) N(level, sd) + p N(level + shift, sd)."""
    return (1 - p) * norm.cdf((x - level) / sd) + p * norm.cdf((x - level - shift) / sd)


def _mixture_quantile(
    q: np.ndarray, level: np.ndarray, p: np.ndarray, shift: float, sd: float
) -> np.ndarray:
    """The q-quantile of the mixture of `_mixture_cdf`, by bisection (vectorised)."""
    lo, hi = level - 10 * sd, level + abs(shift) + 10 * sd
    for _ in range(50):
        mid = (lo + hi) / 2
        below = _mixture_cdf(mid, level, p, shift, sd) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def _parametric_reference(ledger: Path, test_from: date) -> None:
    """How far the model is from a parametric forecaster shaped like the IBM sample's simulator.

    For every test issue day, from the invoices paid before it: days to settle = customer level +
    channel offset + dispute offset + normal noise, fitted within customers (so the offsets are
    portfolio-wide and each level is the customer's own), levels shrunk to the portfolio's mean by
    their noise (empirical Bayes), the customer's dispute rate shrunk towards the portfolio's with
    5 pseudo-invoices. The forecast is the median of the normal mixture over "disputed or not",
    rounded to a day. A paid invoice's dispute flag is known once it is paid; the test invoice's
    own flag is never read. A benchmark, not a product forecaster: it fits this sample because
    the sample is Gaussian; it has no calendar, runs, partial payments or open-invoice state.
    """
    con, _ = load_warehouse(ledger, "USD")
    try:
        inv = con.execute(
            "SELECT f.customer_id, f.channel, f.issue_day, f.completion_day, "
            "(f.completion_day - f.issue_day)::DOUBLE AS days, "
            "COALESCE(i.disputed, FALSE)::DOUBLE AS disputed "
            "FROM invoice_facts AS f JOIN invoices AS i USING (invoice_id)"
        ).df()
    finally:
        con.close()
    channels = sorted(inv["channel"].dropna().unique())[1:]
    x_cols = [f"channel={c}" for c in channels] + ["disputed"]
    for c in channels:
        inv[f"channel={c}"] = (inv["channel"] == c).astype(float)
    test = inv[inv["issue_day"] >= to_day(test_from)]
    point = pd.Series(np.nan, index=test.index)
    conditional = pd.Series(np.nan, index=test.index)
    for day, today in test.groupby("issue_day"):
        h = inv[inv["completion_day"] < day]
        x = h[x_cols] - h.groupby("customer_id")[x_cols].transform("mean")
        y = h["days"] - h.groupby("customer_id")["days"].transform("mean")
        beta = np.linalg.lstsq(x.to_numpy(), y.to_numpy(), rcond=None)[0]
        adjusted = h["days"] - h[x_cols].to_numpy() @ beta
        by = adjusted.groupby(h["customer_id"])
        n, level = by.size(), by.mean()
        noise = float(((adjusted - h["customer_id"].map(level)) ** 2).sum())
        noise /= len(h) - len(n) - len(x_cols)
        prior = level.mean()
        spread = max(level.var() - float(np.mean(noise / n)), 1.0)
        level = prior + (level - prior) * spread / (spread + noise / n)
        rate = h["disputed"].mean()
        p = (h.groupby("customer_id")["disputed"].sum() + 5 * rate) / (n + 5)
        channel_part = today[x_cols[:-1]].to_numpy() @ beta[:-1]
        mu = today["customer_id"].map(level).fillna(prior).to_numpy() + channel_part
        share = today["customer_id"].map(p).fillna(rate).to_numpy()
        sd, half = np.sqrt(noise), np.full(len(mu), 0.5)
        point[today.index] = np.round(_mixture_quantile(half, mu, share, beta[-1], sd))
        # as the model forecasts: unpaid at the end of the issue day, so paid from day 1 on
        paid_by_then = _mixture_cdf(half, mu, share, beta[-1], sd)
        q = paid_by_then + half * (1 - paid_by_then)
        median = _mixture_quantile(q, mu, share, beta[-1], sd)
        conditional[today.index] = np.maximum(np.ceil(median - 0.5), 1)
    rows = []
    for label, part in (
        ("all", test["disputed"] >= 0),
        ("undisputed", test["disputed"] == 0),
        ("disputed", test["disputed"] == 1),
    ):
        days = test.loc[part, "days"]
        rows.append(
            {
                "invoices": label,
                "n": int(part.sum()),
                "point forecast MAE": (point[part] - days).abs().mean(),
                "unpaid at the issue day's end MAE": (conditional[part] - days).abs().mean(),
            }
        )
    print("\nParametric reference (customer level + channel and dispute offsets, refit daily):\n")
    print(_markdown(rows))


def _ordered(metrics: pd.DataFrame) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(METHODS)}
    return metrics.sort_values("method", key=lambda s: s.map(order), kind="stable")


def pooled_rows(metrics: pd.DataFrame) -> list[dict[str, object]]:
    """The pooled table's rows: each segment's model, baselines and (where there is one) oracle."""
    pooled = _ordered(metrics)
    pooled = pooled[pooled["cutoff"] == "pooled"]
    return [
        {
            "segment": segment,
            "method": r["method"],
            "open": int(r["n_open"]),
            "paid": int(r["n_paid"]),
            "MAE p50 (days)": r["mae_p50"],
            "MAE ÷ oracle": r["mae_p50_vs_oracle"],
            "bias p50": r["bias_p50"],
            "[p10, p90] cov.": r["coverage_p10_p90"],
            "rand. PIT cov.": r["pit_coverage"],
            "AUC late30": r["auc_late30"],
            "AUC − oracle": r["auc_late30_minus_oracle"],
            "AUC late30 fresh": r["auc_late30_fresh"],
            "fresh AUC − oracle": r["auc_late30_fresh_minus_oracle"],
            "Brier": r["brier_late30"],
            "ECE": r["ece_late30"],
            "ECE fresh": r["ece_late30_fresh"],
        }
        for segment in ("all", "overdue", "not_yet_due")
        for _, r in pooled[pooled["segment"] == segment].iterrows()
    ]


def generated_part(workdir: Path, customers: int, seed: int, config: TrainingConfig) -> None:
    ledger = workdir / "generated" / "ledger"
    if not (ledger / "invoices.csv").exists():
        write_ledger(generate_ledger(GeneratorConfig(n_customers=customers, seed=seed)), ledger)
    truth = load_truth(ledger)
    oracle = functools.partial(sample, truth)
    started = time.perf_counter()
    result = run_backtest(
        ledger, CutoffRule(), config, _progress(started), oracle=oracle, seed=seed
    )
    total = time.perf_counter() - started
    _save(result, workdir / "generated" / "out")
    rows = pooled_rows(result.metrics)
    cutoffs = [c["cutoff"] for c in result.summary["cutoffs"]]
    print(
        f"\n### Generated ledger: {customers} customers, seed {seed}, "
        f"{result.summary['invoices']:,} invoices, data end {result.summary['data_end']}\n"
    )
    print(f"Cutoffs: {', '.join(cutoffs)} (pooled over cutoffs)\n")
    print(_markdown(rows))

    per_cutoff = []
    m = result.metrics
    all_rows = m[m["segment"] == "all"].set_index(["cutoff", "method"])
    for c in result.summary["cutoffs"]:
        model = all_rows.loc[(c["cutoff"], "model")]
        oracle_row = all_rows.loc[(c["cutoff"], "oracle")]
        per_cutoff.append(
            {
                "cutoff": c["cutoff"],
                "open": c["open_invoices"],
                "paid later": c["paid_later"],
                "model MAE": model["mae_p50"],
                "oracle MAE": oracle_row["mae_p50"],
                "ratio": model["mae_p50_vs_oracle"],
                "model PIT cov.": model["pit_coverage"],
                "model AUC fresh": model["auc_late30_fresh"],
                "oracle AUC fresh": oracle_row["auc_late30_fresh"],
                "rounds": int(c["training"]["rounds"]),
                **{f"{k} s": v for k, v in c["seconds"].items()},
            }
        )
    print("\nPer cutoff (segment all):\n")
    print(_markdown(per_cutoff))
    seconds = np.array([sum(c["seconds"].values()) for c in result.summary["cutoffs"]])
    print(
        f"\nTotal {total:.0f} s including loading; {seconds.mean():.1f} s per cutoff on average "
        f"(min {seconds.min():.1f}, max {seconds.max():.1f})."
    )
    _oracle_gap(result, truth)
    _cash_tables(result)


IBM_PROTOCOLS = {
    0: "model trained once, through 2012-12-31",
    1: "walk-forward: refit at every month-end, each invoice scored by the latest model",
}


def ibm_part(workdir: Path, src: Path, seed: int, config: TrainingConfig) -> None:
    ledger = workdir / "ibm" / "ledger"
    convert_ibm(src, ledger)
    rows = []
    for refit, protocol in IBM_PROTOCOLS.items():
        started = time.perf_counter()
        result = run_at_issue(
            ledger,
            date(2012, 12, 31),
            date(2013, 1, 1),
            config,
            _progress(started),
            refit_months=refit,
            seed=seed,
        )
        _save(result, workdir / "ibm" / f"out-refit{refit}")
        detail = result.summary["cutoffs"][0]
        print(f"{protocol}: {time.perf_counter() - started:.0f} s, stages {detail['seconds']}")
        _dispute_split(result, ledger)
        m = _ordered(result.metrics)
        methods = m[(m["cutoff"] == "pooled") & ((m["method"] == "model") | (refit == 0))]
        rows += [
            {
                "method": f"model ({'walk-forward' if refit else 'trained once'})"
                if r["method"] == "model"
                else r["method"],
                "invoices": int(r["n_paid"]),
                "MAE p50 (days)": r["mae_p50"],
                "reference MAE": IBM_REFERENCE_MAE.get(r["method"], IBM_TARGET_MAE),
                "bias p50": r["bias_p50"],
                "[p10, p90] cov.": r["coverage_p10_p90"],
                "rand. PIT cov.": r["pit_coverage"],
                "AUC late30": r["auc_late30"],
                "Brier": r["brier_late30"],
                "ECE": r["ece_late30"],
                "late30 rate": r["late30_rate"],
            }
            for _, r in methods.iterrows()
        ]
    print("\n### IBM sample, at issue: every 2013 invoice scored as of its issue date\n")
    print(_markdown(rows))
    _parametric_reference(ledger, date(2013, 1, 1))
    started = time.perf_counter()
    result = run_backtest(ledger, CutoffRule(), config, _progress(started), seed=seed)
    _save(result, workdir / "ibm" / "out-rolling")
    print("\n### IBM sample, rolling origin: the 13-week cash forecast at 6 month-ends\n")
    _cash_tables(result)


def training_config(assignments: list[str]) -> TrainingConfig:
    """`TrainingConfig` with ``field=value`` overrides, each value read as its field's type."""
    config = TrainingConfig()
    kinds = {f.name: type(getattr(config, f.name)) for f in fields(config)}
    overrides = {}
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        try:
            overrides[name] = kinds[name](value)
        except (KeyError, ValueError):
            message = f"--set {assignment}: expected FIELD=VALUE with a TrainingConfig field"
            raise SystemExit(message) from None
    try:
        return replace(config, **overrides)
    except ValueError as exc:  # a value TrainingConfig itself refuses
        raise SystemExit(f"--set: {exc}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("generated", "ibm"), default=None)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ibm", type=Path, default=IBM_CSV)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    config = training_config(args.set)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="arcast-backtest-"))
    print(f"workdir: {workdir}\ntraining config: {config}")
    if args.only in (None, "generated"):
        generated_part(workdir, args.customers, args.seed, config)
    if args.only in (None, "ibm"):
        ibm_part(workdir, args.ibm, args.seed, config)


if __name__ == "__main__":
    main()
