"""A second AR ledger simulator, written independently of `arcast.generate`, to test generalisation.

The model is developed on ledgers from `arcast generate`, so a good score there may only mean it
learnt that generator. An outside evaluator wrote this simulator from scratch, with payment
behaviours the demo generator does not have; backtests on its ledgers, against its own
perfect-knowledge oracle, show whether the model's lead over the baselines holds on processes it
was not tuned on.

    python benchmarks/other_simulator.py generate --customers 60 --seed 101 --out ledgers/A60
    python benchmarks/other_simulator.py backtest --data ledgers/A60 --out out/A60
    python benchmarks/other_simulator.py backtest --data ledgers/A60 --out out/A60 \\
        --every 1M --last 6 --set seed=1

Customer types:

* discount: 2/10 net 30, usually pays within the 10-day discount window, else a few days late;
* dom: pays on a fixed day of the month (the 10th or the 25th, or both) once the invoice is
  approved, whatever the due date; sometimes skips to the next such day;
* weekly: a Thursday payment run; ready on due + a lognormal delay (can be early);
* pareto: heavy-tailed (Pareto) lateness, any business day;
* dunning: a share of invoices waits for the dunning letter at 30 days overdue, the rest pay
  near the due date;
* normal: due + normal(mu, sd).

Modifiers: an approval delay growing with log(amount); paper invoices 3 days later; drift (delay
growing linearly from a start date); a December 18 - January 4 payment freeze; US holidays;
per-invoice write-offs; customers that go bust (nothing paid after the bust date); disputes
(payment held until resolved, some written off); partial payers (part at the usual date, the
rest 20-45 days later); end-of-month terms.

``generate`` writes the canonical ledger (customers, invoices, payments and disputes CSVs) into
``--out`` and the truth (customers' latent parameters, invoice attributes with the true
completion day, the arguments) into the sibling folder ``<out>_truth``, out of the model's sight.
The random draws and their order are part of the contract: ledgers written so far must be
reproducible byte for byte.

``backtest`` runs `models.backtest.run_backtest` with this simulator's oracle, prints the pooled
table, the p50 MAE per customer type and the 13-week cash forecast's tables (as
`backtest_report.py` does), and writes backtest_metrics.csv, backtest_summary.json, the cash
tables, backtest_invoices.csv and the evaluation rows (rows.parquet) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

import holidays
import numpy as np
import pandas as pd
from backtest_report import (
    METHODS,
    _cash_tables,
    _markdown,
    _progress,
    _save,
    pooled_rows,
    training_config,
)

from arcast.generate import NEVER_PAID
from arcast.io import write_csv
from models.backtest import (
    BacktestResult,
    CutoffRule,
    OracleSampler,
    invoice_rows,
    run_backtest,
    scored_p50,
)
from models.paydate import TrainingConfig

EPOCH = date(1970, 1, 1)
NEVER = 10**7
"""Day number meaning never paid (written off, disputed away, or the customer went bust)."""
TYPES = ["discount", "dom", "weekly", "pareto", "dunning", "normal"]
ORACLE_ROUNDS = 10
"""Rejection-sampling rounds the oracle spends on an invoice before reusing its accepted draws."""


def day_number(d: date) -> int:
    """Days since 1970-01-01 (the warehouse's time axis)."""
    return (d - EPOCH).days


def iso_dates(days: np.ndarray) -> list[str]:
    """Day numbers as ISO date strings."""
    return [str(np.datetime64(int(x), "D")) for x in days]


class BusinessCalendar:
    """US business days (weekdays that are not federal holidays) from ``first`` to ``last``."""

    def __init__(self, first: int, last: int) -> None:
        self.first = first
        self.last = last
        days = np.arange(first, last + 1)
        first_year = np.datetime64(first, "D").astype(object).year
        last_year = np.datetime64(last, "D").astype(object).year
        holiday_days = {
            day_number(d) for d in holidays.US(years=list(range(first_year, last_year + 1)))
        }
        weekday = (days + 3) % 7  # 0 = Monday
        business = (weekday < 5) & ~np.isin(days, list(holiday_days))
        self.next_day = np.empty(len(days), dtype=np.int64)
        current = days[-1] + 10
        for i in range(len(days) - 1, -1, -1):
            if business[i]:
                current = days[i]
            self.next_day[i] = current

    def next_business_day(self, days: np.ndarray) -> np.ndarray:
        """The first business day on or after each day (days outside the calendar unchanged)."""
        days = np.asarray(days, dtype=np.int64)
        out = days.copy()
        inside = (days >= self.first) & (days <= self.last)
        out[inside] = self.next_day[days[inside] - self.first]
        return out


def year_month_day(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of month of day numbers."""
    dt = np.asarray(days, dtype="datetime64[D]")
    year = dt.astype("datetime64[Y]").astype(int) + 1970
    month = dt.astype("datetime64[M]").astype(int) % 12 + 1
    day = (dt - dt.astype("datetime64[M]")).astype(int) + 1
    return year, month, day


def next_pay_day_of_month(ready: np.ndarray, doms: np.ndarray, both: np.ndarray) -> np.ndarray:
    """First pay day of the month (``doms``: 10 or 25; both when ``both``) on or after ``ready``."""
    ready = np.asarray(ready, dtype=np.int64)
    month_start = ready.astype("datetime64[D]").astype("datetime64[M]")
    best = np.full(ready.shape, NEVER, dtype=np.int64)
    for add in (0, 1, 2):
        first = (month_start + add).astype("datetime64[D]").astype(np.int64)
        for dom in (10, 25):
            candidate = first + dom - 1
            good = (both | (doms == dom)) & (candidate >= ready) & (candidate < best)
            best = np.where(good, candidate, best)
    return best


def make_customers(
    rng: np.random.Generator, n: int, terms_only30: bool, start: int, end: int
) -> pd.DataFrame:
    """``n`` customers with their type and latent parameters (the truth's customers.parquet)."""
    segment = rng.choice(["Enterprise", "Mid-market", "SMB"], size=n, p=[0.2, 0.4, 0.4])
    kind = rng.choice(TYPES, size=n, p=[0.12, 0.18, 0.20, 0.15, 0.12, 0.23])
    terms = np.where(kind == "discount", 30, rng.choice([30, 45, 60], size=n, p=[0.5, 0.3, 0.2]))
    if terms_only30:
        terms[:] = 30
    eom = (rng.random(n) < 0.15) & (kind != "discount")
    large, mid = segment == "Enterprise", segment == "Mid-market"
    lam = np.exp(rng.normal(0, 0.5, n)) * np.select([large, mid], [8.0, 3.0], 1.2)
    amt_mu = np.select([large, mid], [np.log(40000), np.log(8000)], np.log(1500)) + rng.normal(
        0, 0.5, n
    )
    span = end - start
    cstart = np.where(rng.random(n) < 0.7, start, start + rng.integers(0, int(span * 0.85), n))
    bust = np.where(rng.random(n) < 0.04, cstart + rng.integers(120, span + 200, n), NEVER)
    drift = rng.random(n) < 0.15
    return pd.DataFrame(
        {
            "customer_id": [f"F{i:04d}" for i in range(n)],
            "segment": segment,
            "type": kind,
            "terms": terms,
            "eom": eom,
            "lam": lam,  # invoices a month
            "amt_mu": amt_mu,  # mean log amount
            "cstart": cstart,  # first day it may be invoiced
            "bust": bust,
            "p_paper": rng.choice([0.0, 0.2, 0.9], size=n, p=[0.5, 0.3, 0.2]),
            "approval": rng.uniform(0, 6, n),  # days per e-fold of amount above 10k
            "disc_q": rng.uniform(0.7, 0.95, n),
            "dom": rng.choice([10, 25], size=n),
            "dom_both": rng.random(n) < 0.3,
            "proc": rng.uniform(5, 22, n),
            "skip": rng.uniform(0.0, 0.12, n),
            "wk_mu": np.log(rng.uniform(3, 25, n)),
            "wk_sig": rng.uniform(0.3, 0.9, n),
            "wk_shift": rng.uniform(0, 6, n),
            "par_xm": rng.uniform(4, 15, n),
            "par_a": rng.uniform(1.3, 2.6, n),
            "par_off": rng.uniform(-3, 3, n),
            "dun_p": rng.uniform(0.2, 0.7, n),
            "nrm_mu": rng.uniform(-3, 15, n),
            "nrm_sd": rng.uniform(2, 8, n),
            "drift": drift,
            "drift_start": np.where(drift, start + rng.integers(int(span * 0.3), span, n), NEVER),
            "drift_rate": np.where(drift, rng.uniform(0.7, 2.5, n), 0.0),
            "freeze": rng.random(n) < 0.6,
            "wo_p": rng.choice([0.0, 0.01, 0.04], size=n, p=[0.6, 0.3, 0.1]),
            "disp_p": rng.uniform(0.0, 0.07, n),
            "partial": rng.random(n) < 0.1,
        }
    )


def make_invoices(
    rng: np.random.Generator, customers: pd.DataFrame, end: int, cal: BusinessCalendar
) -> pd.DataFrame:
    """Invoices (issue and due days, amount, channel), issued on business days, oldest first."""
    parts = []
    for c in customers.itertuples():
        months = (end - c.cstart) / 30.4
        stop = min(end, c.bust + 45)
        n = rng.poisson(c.lam * max(months, 0))
        if n == 0:
            continue
        issue = cal.next_business_day(rng.integers(c.cstart, end + 1, n))
        issue = issue[(issue <= stop) & (issue <= end)]
        amount = np.maximum(np.round(np.exp(rng.normal(c.amt_mu, 0.8, len(issue))), 2), 10.0)
        paper = rng.random(len(issue)) < c.p_paper
        channel = np.where(paper, "paper", rng.choice(["email", "portal"], size=len(issue)))
        if c.eom:
            month = issue.astype("datetime64[D]").astype("datetime64[M]")
            due = (month + 1).astype("datetime64[D]").astype(np.int64) - 1 + c.terms
        else:
            due = issue + c.terms
        parts.append(
            pd.DataFrame(
                {
                    "cust": c.Index,
                    "customer_id": c.customer_id,
                    "issue": issue,
                    "due": due,
                    "amount": amount,
                    "channel": channel,
                }
            )
        )
    invoices = pd.concat(parts, ignore_index=True)
    invoices = invoices.sort_values("issue", kind="stable").reset_index(drop=True)
    invoices["invoice_id"] = [f"INV{j:07d}" for j in range(len(invoices))]
    return invoices


def sample_pay_days(
    invoices: pd.DataFrame,
    customers: pd.DataFrame,
    cal: BusinessCalendar,
    rng: np.random.Generator,
    k: int,
) -> dict[str, np.ndarray]:
    """``k`` payment paths per invoice, each an (invoices, k) array: ``completion`` (the day of
    the final payment, NEVER if none), ``first_part`` (a partial payer's first instalment, -1 if
    none), ``disputed``, ``dispute_opened`` and ``dispute_resolved``."""
    c = customers.iloc[invoices["cust"].to_numpy()].reset_index(drop=True)
    shape = (len(invoices), k)

    def per_path(values: np.ndarray) -> np.ndarray:
        return np.repeat(values[:, None], k, axis=1)

    def column(name: str) -> np.ndarray:
        return per_path(c[name].to_numpy())

    def uniform() -> np.ndarray:
        return rng.random(shape)

    def normal() -> np.ndarray:
        return rng.standard_normal(shape)

    issue = per_path(invoices["issue"].to_numpy()).astype(np.int64)
    due = per_path(invoices["due"].to_numpy()).astype(np.int64)
    amount = per_path(invoices["amount"].to_numpy())
    paper = per_path((invoices["channel"] == "paper").to_numpy())

    approval = (
        column("approval") * np.maximum(0.0, np.log(amount / 10000.0)) * np.exp(0.3 * normal())
    )
    drift = column("drift_rate") * np.maximum(0, issue - column("drift_start")) / 30.4
    extra = approval + 3.0 * paper + drift

    in_window = uniform() < column("disc_q")
    discount = np.where(
        in_window,
        issue + 5 + np.floor(uniform() * 5) + 0.3 * approval,
        due + np.exp(np.log(5) + 0.6 * normal()) + extra,
    )
    doms, both = column("dom"), column("dom_both")
    ready = issue + column("proc") + extra + 3 * normal()
    day_of_month = next_pay_day_of_month(np.round(ready).astype(np.int64), doms, both)
    skip = uniform() < column("skip")
    day_of_month = np.where(skip, next_pay_day_of_month(day_of_month + 1, doms, both), day_of_month)
    ready = due - column("wk_shift") + np.exp(column("wk_mu") + column("wk_sig") * normal()) + extra
    ready_day = np.round(ready).astype(np.int64)
    thursday = ready_day + (3 - (ready_day + 3) % 7) % 7
    lateness = column("par_xm") * (uniform() ** (-1.0 / column("par_a")) - 1.0)
    pareto = due + column("par_off") + np.minimum(lateness, 500) + extra
    wait = uniform() < column("dun_p")
    dunning = (
        np.where(wait, due + 32 + np.exp(np.log(5) + 0.5 * normal()), due + 2 + 4 * normal())
        + extra
    )
    normal_payer = due + column("nrm_mu") + column("nrm_sd") * normal() + extra

    kind = column("type")
    pay = np.select(
        [kind == t for t in TYPES],
        [discount, day_of_month, thursday, pareto, dunning, normal_payer],
    )
    pay = np.maximum(np.round(pay), issue + 1).astype(np.int64)

    disputed = uniform() < column("disp_p")
    opened = issue + 5 + np.floor(uniform() * 25).astype(np.int64)
    resolved = opened + np.round(np.exp(np.log(25) + 0.7 * normal())).astype(np.int64)
    dispute_lost = disputed & (uniform() < 0.1)
    held = np.maximum(pay, resolved + 2 + np.floor(uniform() * 9).astype(np.int64))
    pay = np.where(disputed, held, pay)

    partial = column("partial") & (uniform() < 0.5)
    first_part = np.where(partial, pay, -1)
    pay = np.where(partial, pay + 20 + np.floor(uniform() * 26).astype(np.int64), pay)

    pay = cal.next_business_day(pay)  # a holiday Thursday run moves to the next business day
    year, month, day = year_month_day(pay)
    frozen = column("freeze") & (((month == 12) & (day >= 18)) | ((month == 1) & (day <= 4)))
    january_5 = [
        day_number(date(int(y) + (1 if m == 12 else 0), 1, 5))
        for y, m in zip(year[frozen], month[frozen], strict=True)
    ]
    pay[frozen] = cal.next_business_day(np.array(january_5, dtype=np.int64))
    first_part = np.where(first_part >= 0, cal.next_business_day(np.maximum(first_part, 0)), -1)
    first_part = np.where(first_part >= pay, -1, first_part)

    written_off = (uniform() < column("wo_p")) | dispute_lost | (pay > column("bust"))
    first_part = np.where(written_off & (first_part > column("bust")), -1, first_part)
    pay = np.where(written_off, NEVER, pay)
    return {
        "completion": pay,
        "first_part": first_part,
        "disputed": disputed,
        "dispute_opened": opened,
        "dispute_resolved": resolved,
    }


def truth_folder(ledger: str | Path) -> Path:
    """Where the truth of a ledger folder is kept: its sibling ``<name>_truth``."""
    ledger = Path(ledger)
    return ledger.parent / (ledger.name + "_truth")


def _money(values: pd.Series) -> pd.Series:
    return values.map("{:.2f}".format)


def generate(customers: int, start: str, end: str, seed: int, terms30: bool, out: str) -> None:
    """Write a ledger into ``out`` and its truth into `truth_folder` (``out`` is recorded as given
    in the truth's args.json)."""
    settings = {
        "customers": customers,
        "start": start,
        "end": end,
        "seed": seed,
        "terms30": terms30,
        "out": out,
    }
    rng = np.random.default_rng(seed)
    first, last = day_number(date.fromisoformat(start)), day_number(date.fromisoformat(end))
    cal = BusinessCalendar(first - 10, last + 3000)
    cust = make_customers(rng, customers, terms30, first, last)
    inv = make_invoices(rng, cust, last, cal)
    paths = sample_pay_days(inv, cust, cal, rng, 1)
    pay, first_part, disputed, opened, resolved = (
        paths[key][:, 0]
        for key in ("completion", "first_part", "disputed", "dispute_opened", "dispute_resolved")
    )
    inv["pay_true"] = pay

    ledger, truth = Path(out), truth_folder(out)
    ledger.mkdir(parents=True, exist_ok=True)
    truth.mkdir(exist_ok=True)

    seen_disputed = disputed & (opened <= last)
    pd.DataFrame(
        {
            "invoice_id": inv.invoice_id,
            "customer_id": inv.customer_id,
            "issue_date": iso_dates(inv.issue),
            "due_date": iso_dates(inv.due),
            "amount": _money(inv.amount),
            "currency": "USD",
            "delivery_channel": inv.channel,
            "disputed": np.where(seen_disputed & (resolved > last), "true", "false"),
        }
    ).to_csv(ledger / "invoices.csv", index=False)

    payments = []
    share = np.round(rng.uniform(0.4, 0.6, len(inv)), 2)
    for j in range(len(inv)):
        invoice_id, customer_id = inv.invoice_id.iat[j], inv.customer_id.iat[j]
        amount = inv.amount.iat[j]  # a numpy float: the ledgers were written with its round()
        if 0 <= first_part[j] <= last:
            part = round(amount * share[j], 2)
            payments.append((invoice_id, first_part[j], part, customer_id))
            if pay[j] <= last:
                payments.append((invoice_id, pay[j], round(amount - part, 2), customer_id))
        elif pay[j] <= last:
            payments.append((invoice_id, pay[j], amount, customer_id))
    columns = ["invoice_id", "day", "amount", "customer_id"]
    p = pd.DataFrame(payments, columns=columns).sort_values("day", kind="stable")
    pd.DataFrame(
        {
            "payment_id": [f"PAY{k:07d}" for k in range(len(p))],
            "invoice_id": p.invoice_id.values,
            "payment_date": iso_dates(p.day.values),
            "amount": _money(p.amount).values,
            "customer_id": p.customer_id.values,
        }
    ).to_csv(ledger / "payments.csv", index=False)

    pd.DataFrame(
        {
            "customer_id": cust.customer_id,
            "name": [f"Foreign Co {i}" for i in range(len(cust))],
            "segment": cust.segment,
            "country": "US",
            "currency": "USD",
            "payment_terms_days": cust.terms,
            "credit_limit": "",
            "email": [f"ap{i}@foreign.example" for i in range(len(cust))],
        }
    ).to_csv(ledger / "customers.csv", index=False)

    d = np.flatnonzero(seen_disputed)
    pd.DataFrame(
        {
            "invoice_id": inv.invoice_id.values[d],
            "opened_date": iso_dates(opened[d]),
            "resolved_date": [iso_dates([x])[0] if x <= last else "" for x in resolved[d]],
            "reason": rng.choice(["pricing", "quantity", "quality", "missing PO"], size=len(d)),
        }
    ).to_csv(ledger / "disputes.csv", index=False)

    cust.to_parquet(truth / "customers.parquet")
    inv.to_parquet(truth / "invoices.parquet")
    (truth / "args.json").write_text(json.dumps(settings))
    paid = pay < NEVER
    late = (pay - inv.due.values)[paid & (pay <= last)]
    print(
        f"{len(cust)} customers, {len(inv)} invoices, {len(p)} payments; "
        f"never paid {np.mean(~paid):.3f}; "
        f"days late p10/50/90 {np.percentile(late, [10, 50, 90])}; "
        f"late30 share {np.mean(late > 30):.3f}"
    )
    print(cust.type.value_counts().to_dict())


def make_oracle(truth: Path) -> OracleSampler:
    """The perfect-knowledge oracle: each open invoice's pay day redrawn from its own customer's
    process, by rejection, conditional only on being unpaid at the cutoff.

    Up to `ORACLE_ROUNDS` rounds of draws; an invoice with fewer accepted draws than asked for
    reuses them (drawn with replacement), and one with none stays ``NEVER_PAID``.
    """
    customers = pd.read_parquet(truth / "customers.parquet")
    invoices = pd.read_parquet(truth / "invoices.parquet").set_index("invoice_id", drop=False)
    cal = BusinessCalendar(int(invoices.issue.min()) - 10, int(invoices.issue.max()) + 3000)

    def oracle(open_invoices: pd.DataFrame, cutoff: date, n_samples: int, seed: int) -> np.ndarray:
        c = day_number(cutoff)
        rng = np.random.default_rng(seed + c)
        t = invoices.loc[open_invoices["invoice_id"].astype(str).to_numpy()]
        t = t.reset_index(drop=True)
        samples = np.full((len(t), n_samples), NEVER_PAID, dtype=np.int64)
        true_day = t.pay_true.to_numpy()
        done = true_day <= c
        samples[done] = true_day[done, None]
        todo = np.flatnonzero(~done)
        accepted = {j: [] for j in todo}
        need = todo
        for _ in range(ORACLE_ROUNDS):
            if len(need) == 0:
                break
            rows = t.iloc[need].reset_index(drop=True)
            draws = sample_pay_days(rows, customers, cal, rng, n_samples)["completion"]
            for k, j in enumerate(need):
                accepted[j].extend(draws[k][draws[k] > c].tolist())
            need = np.array([j for j in need if len(accepted[j]) < n_samples], dtype=int)
        for j in todo:
            days = np.array(accepted[j], dtype=np.int64)
            if len(days) == 0:
                continue
            if len(days) < n_samples:
                days = rng.choice(days, n_samples)
            days = days[:n_samples]
            samples[j] = np.where(days >= NEVER, NEVER_PAID, days)
        return samples

    return oracle


def type_table(rows: pd.DataFrame, types: pd.Series) -> list[dict[str, object]]:
    """p50 MAE per customer type (``types``: customer_id -> type) and method, over the
    invoice-cutoffs paid within the horizon; a p50 beyond it counts as the day after."""
    paid = rows[rows["completion_day"] <= rows["horizon_end"]]
    paid = paid.assign(
        type=paid["customer_id"].map(types).to_numpy(),
        error=np.abs(scored_p50(paid) - paid["completion_day"].to_numpy()),
    )
    methods = [m for m in METHODS if m in set(paid["method"])]
    groups = [(t, paid[paid["type"] == t]) for t in TYPES] + [("all", paid)]
    return [
        {
            "customer type": name,
            "paid": int((part["method"] == "model").sum()),
            **{method: part.loc[part["method"] == method, "error"].mean() for method in methods},
        }
        for name, part in groups
    ]


def backtest(data: Path, out: Path, rule: CutoffRule, config: TrainingConfig) -> BacktestResult:
    """Backtest the ledger in ``data`` with the oracle of its truth; print the tables and write
    the metrics, the per-invoice rows and the evaluation rows into ``out``."""
    truth = truth_folder(data)
    if not (truth / "invoices.parquet").exists():
        raise SystemExit(f"{truth}: no truth folder next to the ledger (run generate first)")
    print(f"training config: {config}")
    started = time.perf_counter()
    result = run_backtest(
        data, rule, config, _progress(started), oracle=make_oracle(truth), seed=config.seed
    )
    out.mkdir(parents=True, exist_ok=True)
    _save(result, out)
    write_csv(invoice_rows(result.rows), out / "backtest_invoices.csv")
    result.rows.to_parquet(out / "rows.parquet")

    cutoffs = [c["cutoff"] for c in result.summary["cutoffs"]]
    print(
        f"\n### {data}: {result.summary['invoices']:,} invoices, "
        f"data end {result.summary['data_end']}, cutoffs {', '.join(cutoffs)}\n"
    )
    print(_markdown(pooled_rows(result.metrics)))
    types = pd.read_parquet(truth / "customers.parquet").set_index("customer_id")["type"]
    print("\np50 MAE (days) by customer type, invoice-cutoffs paid within the horizon:\n")
    print(_markdown(type_table(result.rows, types)))
    _cash_tables(result)
    print(f"\n{time.perf_counter() - started:.0f} s; files in {out}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write a ledger and its truth")
    gen.add_argument("--customers", type=int, default=60)
    gen.add_argument("--start", default="2024-12-01", help="first issue day (ISO)")
    gen.add_argument("--end", default="2026-11-30", help="the data's end (ISO)")
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--terms30", action="store_true", help="every customer on net 30")
    gen.add_argument("--out", required=True, help="ledger folder; the truth goes to <out>_truth")
    bt = commands.add_parser("backtest", help="rolling-origin backtest with the oracle")
    bt.add_argument("--data", type=Path, required=True, help="a ledger folder from generate")
    bt.add_argument("--out", type=Path, required=True)
    bt.add_argument("--every", default="1M", help="cutoffs every n month-ends")
    bt.add_argument("--last", type=int, default=6, help="how many cutoffs")
    bt.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.customers, args.start, args.end, args.seed, args.terms30, args.out)
        return
    try:
        rule = CutoffRule(args.every, args.last)
    except ValueError as exc:
        raise SystemExit(f"--every/--last: {exc}") from None
    backtest(args.data, args.out, rule, training_config(args.set))


if __name__ == "__main__":
    main()
