"""How close can a model that learns from the ledger get to the oracle?

    python benchmarks/oracle_bounds.py                 # the generated ledger of backtest_report.py
    python benchmarks/oracle_bounds.py --reps 5

The oracle samples pay dates from the generator's true process with every customer's latent
profile known exactly. A model has to estimate a profile from the customer's paid invoices. This
script replays the oracle on the backtest's six cutoffs with parts of each profile replaced by an
estimate as precise as an efficient estimator could make it from the customer's paid invoices at
that cutoff (n of them, counted as n + 1):

* usual delay: true mean + N(0, sd / sqrt(n)), amount effect: true slope + N(0, sd / (sqrt(n)
  x the customer's log-amount sd)); spread: sd x exp(N(0, 1 / sqrt(2n)));
* tail, dispute, write-off and month-slowdown rates: from binomial draws over n invoices (or
  months); the tail's mean from as many exponential delays as tail payments were drawn;
* each of these is the posterior mean with the population's own values as the prior (empirical
  Bayes: what the customer's evidence and all customers together say);
* seasonality: estimated from the customer's invoices over a year if it has been invoicing since
  the last such month, else unknown (zero); or not known at all;
* a drift later: as far as it had gone when the latest invoice the customer has paid was
  issued, not extrapolated (its start and rate otherwise known);
* a customer with no paid invoice: the profile of a random customer of its segment, the
  forecast mixing ten such draws (the prior predictive).

The estimates stay generous: the estimator knows the generator's equations, each customer's
payment mode and run weekday, noise shape, slowdowns of the cutoff's month and stop date, and
where a drift stood when the customer's latest paid invoice was issued. So the "all estimated"
rows are an optimistic benchmark for a model that learns from the ledger (which has to learn the
equations too): their ratio to the oracle is about the best the model's could honestly be.
Metrics are the backtest's own (`models.backtest.metrics_table`, pooled over the cutoffs, all
open invoices), so the oracle row reproduces the backtest's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from arcast.generate import GeneratorConfig, generate_ledger, load_truth, write_ledger
from arcast.generate import oracle_sample_pay_dates as sample
from features.matrix import build_scoring_keys, knowledge_features
from features.warehouse import to_day
from models.backtest import (
    CutoffRule,
    evaluation_rows,
    load_warehouse,
    metrics_table,
    oracle_predictions,
    scored_invoices,
)
from models.paydate import TrainingConfig, pit_uniforms

SAMPLES = 200
PRIOR_DRAWS = 10
Estimator = Callable[[pd.DataFrame, pd.DataFrame, pd.Timestamp, np.random.Generator], pd.DataFrame]


def _posterior_mean(support: np.ndarray, loglik: np.ndarray) -> np.ndarray:
    """Posterior mean of each row's parameter with the population's own values (``support``) as
    the prior: the best estimate from the customer's evidence and what all customers look like."""
    w = np.exp(loglik - loglik.max(axis=1, keepdims=True))
    return (w @ support) / w.sum(axis=1)


def _shrunk(true: pd.Series, se: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An unbiased estimate with standard error ``se``, combined with the population prior."""
    support = true.to_numpy(dtype=np.float64)
    noisy = support + rng.normal(size=len(support)) * se
    loglik = -0.5 * ((noisy[:, None] - support[None, :]) / se[:, None]) ** 2
    return _posterior_mean(support, loglik)


def _rate(true: pd.Series, trials: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rate estimated from ``trials`` binomial draws, combined with the population prior."""
    return _rate_from(true, rng.binomial(trials.astype(np.int64), true.clip(0.0, 1.0)), trials)


def _rate_from(true: pd.Series, hits: np.ndarray, trials: np.ndarray) -> np.ndarray:
    support = true.to_numpy(dtype=np.float64).clip(1e-6, 1.0 - 1e-6)
    loglik = np.outer(hits, np.log(support)) + np.outer(trials - hits, np.log1p(-support))
    return _posterior_mean(support, loglik)


def _usual_delay(p: pd.DataFrame, ev: pd.DataFrame, at: pd.Timestamp, rng: np.random.Generator):
    n = ev["n"].to_numpy()
    se = p["delay_sd_days"].to_numpy() / n**0.5
    return p.assign(delay_mean_days=_shrunk(p["delay_mean_days"], se, rng))


def _spread(p: pd.DataFrame, ev: pd.DataFrame, at: pd.Timestamp, rng: np.random.Generator):
    n = ev["n"].to_numpy()
    noise = np.exp(rng.normal(size=len(p)) / (2 * n) ** 0.5)
    return p.assign(delay_sd_days=p["delay_sd_days"] * noise)


def _amount_effect(p: pd.DataFrame, ev: pd.DataFrame, at: pd.Timestamp, rng: np.random.Generator):
    n = ev["n"].to_numpy()
    se = (p["delay_sd_days"] / (n**0.5 * p["amount_log_sd"])).to_numpy()
    return p.assign(amount_beta_days=_shrunk(p["amount_beta_days"], se, rng))


def _tail(p: pd.DataFrame, ev: pd.DataFrame, at: pd.Timestamp, rng: np.random.Generator):
    n = ev["n"].to_numpy()
    hits = rng.binomial(n.astype(np.int64), p["tail_prob"])
    support = p["tail_mean_days"].to_numpy(dtype=np.float64)
    # the sum of `hits` exponential tail delays, and its likelihood under each population mean
    total = rng.gamma(np.maximum(hits, 1), support) * (hits > 0)
    loglik = -np.outer(hits, np.log(support)) - np.outer(total, 1.0 / support)
    return p.assign(
        tail_prob=_rate_from(p["tail_prob"], hits, n),
        tail_mean_days=_posterior_mean(support, loglik),
    )


def _event_rates(p: pd.DataFrame, ev: pd.DataFrame, at: pd.Timestamp, rng: np.random.Generator):
    n = ev["n"].to_numpy()
    months = np.maximum((at - pd.to_datetime(p["start_date"])).dt.days.to_numpy() / 30.4, 1.0)
    return p.assign(
        dispute_prob=_rate(p["dispute_prob"], n, rng),
        dispute_unresolved_prob=_rate(p["dispute_unresolved_prob"], n, rng),
        writeoff_prob=_rate(p["writeoff_prob"], n, rng),
        shock_prob=_rate(p["shock_prob"], months, rng),
    )


def _seasonality(p: pd.DataFrame, ev: pd.DataFrame, at: pd.Timestamp, rng: np.random.Generator):
    n = ev["n"].to_numpy()
    out = p.copy()
    started = pd.to_datetime(p["start_date"])
    per_month = np.maximum(n / 12.0, 1.0)  # paid invoices meant for one calendar month
    for column, month in (("seasonal_aug_days", 8), ("seasonal_dec_days", 12)):
        last_season = pd.Timestamp(at.year - (at.month <= month), month, 1)
        noisy = p[column] + rng.normal(size=len(p)) * p["delay_sd_days"] / per_month**0.5
        out[column] = np.where(started <= last_season, np.maximum(noisy, 0.0), 0.0)
    return out


def _no_seasonality(p: pd.DataFrame, ev: pd.DataFrame, at: pd.Timestamp, rng: np.random.Generator):
    return p.assign(seasonal_aug_days=0.0, seasonal_dec_days=0.0)


def _drift(p: pd.DataFrame, ev: pd.DataFrame, at: pd.Timestamp, rng: np.random.Generator):
    """Paid invoices show a drift up to the issue date of the latest one paid: held there, not
    extrapolated (its start and rate otherwise known exactly)."""
    start = pd.to_datetime(p["deteriorate_from"])
    shown = (ev["last_paid_issue"] - start).dt.days / 30.0 * p["deteriorate_days_per_month"]
    cap = np.minimum(p["deteriorate_cap_days"], shown.clip(lower=0.0).fillna(0.0))
    return p.assign(deteriorate_cap_days=cap.where(start.notna(), p["deteriorate_cap_days"]))


NEW_CUSTOMER_COLUMNS = [
    "archetype",
    "delay_mean_days",
    "delay_sd_days",
    "skewed_noise",
    "tail_prob",
    "tail_mean_days",
    "amount_beta_days",
    "seasonal_aug_days",
    "seasonal_dec_days",
]
"""What a customer without a paid invoice has not shown yet (its terms and mode are in the ledger
or show in its first payments; generous)."""

ESTIMATES: dict[str, Estimator] = {
    "usual delay": _usual_delay,
    "spread": _spread,
    "amount effect": _amount_effect,
    "tail": _tail,
    "dispute, write-off and slowdown rates": _event_rates,
    "seasonality (from last year)": _seasonality,
    "drift (as far as paid invoices show it)": _drift,
}
ROWS: dict[str, tuple[tuple[str, ...], bool]] = {
    "oracle (true profiles)": ((), False),
    **{f"only {name} estimated": ((name,), False) for name in ESTIMATES},
    "only new customers' profiles unknown": ((), True),
    "seasonality not known at all": (("no seasonality",), False),
    "all estimated": (tuple(ESTIMATES), True),
    "all estimated, seasonality not known": (
        (*(n for n in ESTIMATES if not n.startswith("seasonality")), "no seasonality"),
        True,
    ),
}
ALL_ESTIMATORS = ESTIMATES | {"no seasonality": _no_seasonality}


def _evidence(truth: dict[str, pd.DataFrame], cutoff: date) -> pd.DataFrame:
    """What each customer (rows aligned with the profiles) had paid by ``cutoff``: ``n`` is the
    number of paid invoices + 1 (an estimate from no invoice still has the population prior)."""
    profiles = truth["customer_profiles"]
    completed = pd.to_datetime(truth["invoice_truth"]["completion_date"])
    paid = truth["invoice_truth"][completed <= pd.Timestamp(cutoff)].groupby("customer_id")
    return pd.DataFrame(
        {
            "n": paid.size().reindex(profiles["customer_id"], fill_value=0).to_numpy() + 1.0,
            "last_paid_issue": pd.to_datetime(paid["issue_date"].max())
            .reindex(profiles["customer_id"])
            .to_numpy(),
        }
    )


def _samples(
    truth: dict[str, pd.DataFrame],
    invoices: pd.DataFrame,
    cutoff: date,
    evidence: pd.DataFrame,
    estimators: tuple[str, ...],
    new_unknown: bool,
    rng: np.random.Generator,
    seed: int,
) -> np.ndarray:
    """Oracle draws for ``invoices`` with the named parts of every profile estimated from the
    customers' ``evidence`` at ``cutoff``; with ``new_unknown``, customers with nothing paid get
    their segment's prior predictive instead of their own profile."""
    profiles = truth["customer_profiles"]
    estimated = profiles
    for name in estimators:
        estimated = ALL_ESTIMATORS[name](estimated, evidence, pd.Timestamp(cutoff), rng)
    if not new_unknown:
        return sample(truth | {"customer_profiles": estimated}, invoices, cutoff, SAMPLES, seed)
    new = np.flatnonzero(evidence["n"] == 1.0)
    segment = profiles["segment"].to_numpy()
    pools = {s: np.flatnonzero(segment == s) for s in np.unique(segment)}
    draws = []
    for j in range(PRIOR_DRAWS):
        donor = np.array([rng.choice(pools[segment[i]]) for i in new], dtype=np.int64)
        prior = estimated.copy()
        prior.loc[new, NEW_CUSTOMER_COLUMNS] = profiles.loc[donor, NEW_CUSTOMER_COLUMNS].to_numpy()
        draws.append(
            sample(
                truth | {"customer_profiles": prior},
                invoices,
                cutoff,
                SAMPLES // PRIOR_DRAWS,
                seed + j,
            )
        )
    return np.concatenate(draws, axis=1)


def _signed(x: float) -> str:
    text = f"{x:+.3f}"
    return "0.000" if text[1:] == "0.000" else text.replace("-", "−")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reps", type=int, default=3, help="estimate draws per row")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="arcast-bounds-"))
    ledger = workdir / "generated" / "ledger"
    if not (ledger / "invoices.csv").exists():
        config = GeneratorConfig(n_customers=args.customers, seed=args.seed)
        write_ledger(generate_ledger(config), ledger)
    truth = load_truth(ledger)
    con, info = load_warehouse(ledger, "USD")
    end = info["data_end"]
    cutoffs = CutoffRule().cutoffs(end)
    horizon = TrainingConfig().horizon_days
    invoices = {}
    for cutoff in cutoffs:  # the backtest's own rows: the same invoices, outcomes and end
        build_scoring_keys(con, cutoff)
        rows = scored_invoices(con, knowledge_features(con), horizon, to_day(end))
        invoices[cutoff] = rows.assign(cutoff=cutoff.isoformat())
    con.close()
    evidence = {c: _evidence(truth, c) for c in cutoffs}
    started = time.perf_counter()
    results = []
    for label, (estimators, new_unknown) in ROWS.items():
        reps = 1 if not estimators and not new_unknown else args.reps
        for rep in range(reps):
            rng = np.random.default_rng([args.seed, rep])
            parts = []
            for cutoff, inv in invoices.items():
                draws = _samples(
                    truth,
                    inv[["invoice_id"]],
                    cutoff,
                    evidence[cutoff],
                    estimators,
                    new_unknown,
                    rng,
                    args.seed,
                )
                forecast = oracle_predictions(draws, inv, cutoff, horizon)
                u = pit_uniforms(args.seed, to_day(cutoff), len(inv))
                parts.append(evaluation_rows(inv, {"bound": forecast}, u))
            m = metrics_table(pd.concat(parts, ignore_index=True), segments=("all",))
            pooled = m[m["cutoff"] == "pooled"].iloc[0]
            results.append({"row": label, "rep": rep, **pooled.to_dict()})
        print(f"  [{time.perf_counter() - started:6.1f} s] {label}", flush=True)
    table = pd.DataFrame(results)
    oracle = table[table["row"] == "oracle (true profiles)"].iloc[0]
    table["ratio"] = table["mae_p50"] / oracle["mae_p50"]
    rows = table.groupby("row", sort=False).agg(
        mae=("mae_p50", "mean"),
        ratio=("ratio", "mean"),
        ratio_lo=("ratio", "min"),
        ratio_hi=("ratio", "max"),
        auc=("auc_late30_fresh", "mean"),
        pit=("pit_coverage", "mean"),
    )
    lines = [
        "| knowledge | MAE p50 | ÷ oracle (range) | fresh AUC late30 | − oracle | PIT cov. |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows.iterrows():
        ratio = f"{r['ratio']:.3f}"
        if r["ratio_hi"] > r["ratio_lo"]:
            ratio += f" ({r['ratio_lo']:.3f}–{r['ratio_hi']:.3f})"
        lines.append(
            f"| {label} | {r['mae']:.2f} | {ratio} | {r['auc']:.3f} "
            f"| {_signed(r['auc'] - oracle['auc_late30_fresh'])} | {r['pit']:.3f} |"
        )
    print(
        f"\nOracle bounds: {args.customers} customers, cutoffs "
        f"{', '.join(c.isoformat() for c in cutoffs)}; means over {args.reps} estimate draws:\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
