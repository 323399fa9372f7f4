"""Synthetic demo AR ledger with a known generating process.

Real ledgers are confidential, so arcast ships a generator whose behaviour is rich enough to be
honest about what a pay-date model can and cannot learn. Every customer gets a latent profile:
a delay archetype (prompt payers who are often a little early, steady late payers, chronic late
payers with heavy right tails, erratic payers), a payment mechanic (any business day, a weekly
payment run on a fixed weekday, or a month-end batch), and optional traits: delay that
deteriorates from some date, August/December slowdowns, sensitivity to unusually large
invoices, disputes that hold payment until they are resolved, instalment payers, a date after
which the customer stops paying altogether, and per-invoice write-offs. Customer-month
slowdowns shift every payment a customer would make in that month, so errors are correlated
within a customer, as they are in real cash forecasting. Payments land on business days of the
customer's country (``holidays``), and nothing dated after the export date is written. A
collectors' contact log of the export's last quarter records their chases, promises and holds.

One vectorised function (`_simulate`) draws an invoice's whole payment path from the profile,
the invoice's attributes, the calendar and an RNG. `generate_ledger` uses it once per invoice;
`oracle_sample_pay_dates` reuses it with rejection sampling to draw completion dates
conditional on what is observable at a cutoff, which gives the best accuracy any model could
reach. The latent truth is returned separately (written to ``_truth/``) and is never loaded by
the pipeline.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import holidays
import numpy as np
import pandas as pd

from arcast.io import write_csv
from data_contracts.schema import CONTACTS, CUSTOMERS, DISPUTES, FX_RATES, INVOICES, PAYMENTS

__all__ = [
    "NEVER_PAID",
    "GeneratedLedger",
    "GeneratorConfig",
    "generate_ledger",
    "load_truth",
    "oracle_sample_pay_dates",
    "write_ledger",
]

NEVER_PAID: int = 2**31 - 1
"""Sentinel day number (days since 1970-01-01) meaning "never paid"; larger than any real date."""

_NONE = -1  # "no such date" (e.g. no dispute), as opposed to NEVER_PAID ("never happens")
_EPOCH = date(1970, 1, 1)
_TRUTH_DIR = "_truth"

# --- static world ------------------------------------------------------------------------------

# country, currency, weight, legal-form suffixes
_COUNTRIES: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    ("US", "USD", 0.46, ("Inc.", "LLC", "Corp.")),
    ("CA", "CAD", 0.12, ("Ltd.", "Inc.")),
    ("GB", "GBP", 0.12, ("Ltd", "PLC")),
    ("DE", "EUR", 0.10, ("GmbH", "AG")),
    ("FR", "EUR", 0.07, ("SAS", "SA")),
    ("NL", "EUR", 0.05, ("B.V.", "N.V.")),
    ("AU", "AUD", 0.08, ("Pty Ltd",)),
)
_EU = ("DE", "FR", "NL")
# nominal USD per unit, daily log-volatility
_FX: dict[str, tuple[float, float]] = {
    "USD": (1.0, 0.0),
    "EUR": (1.085, 0.0045),
    "GBP": (1.27, 0.0050),
    "CAD": (0.74, 0.0035),
    "AUD": (0.66, 0.0060),
}

_SEGMENTS = ("Enterprise", "Mid-market", "SMB")
_SEGMENT_P = np.array([0.12, 0.30, 0.58])
_SEG_RATE = np.array([2.0, 1.2, 0.75])  # relative invoice frequency
_SEG_LOG_MEDIAN_USD = np.log([20_000.0, 4_000.0, 700.0])
_TERMS = np.array([15, 30, 45, 60])
_TERMS_P = np.array([[0.10, 0.35, 0.25, 0.30], [0.15, 0.50, 0.20, 0.15], [0.30, 0.55, 0.10, 0.05]])

_ARCHETYPES = ("prompt", "steady_late", "chronic_late", "erratic")
_ARCH_P = np.array([[0.40, 0.40, 0.10, 0.10], [0.45, 0.30, 0.13, 0.12], [0.45, 0.22, 0.20, 0.13]])
_PAY_MODES = ("any_day", "weekday_run", "month_end")
_ANY_DAY, _WEEKDAY_RUN, _MONTH_END = 0, 1, 2
_MODE_P = np.array([[0.45, 0.35, 0.20], [0.60, 0.25, 0.15], [0.75, 0.17, 0.08]])
_MODE_P_LARGE = np.array([0.20, 0.50, 0.30])
_RUN_WEEKDAY_P = np.array([0.15, 0.30, 0.15, 0.30, 0.10])  # Mon..Fri

_OUTCOMES = ("paid", "write_off", "stopped_paying", "dispute_unresolved", "beyond_horizon")
_PAID, _WRITE_OFF, _STOPPED, _DISPUTE_UNRESOLVED, _BEYOND = range(5)

_DISPUTE_REASONS = ("pricing", "quantity", "quality", "missing PO", "duplicate billing", "delivery")
_DISPUTE_REASON_P = np.array([0.30, 0.18, 0.15, 0.17, 0.08, 0.12])

# the collectors' contact log (contacts.csv), kept for the last quarter of the export
_LOG_DAYS = 91
_CHASE_DAYS = 10 + 14 * np.arange(13)  # days past due on which an open invoice is chased
_CHASE_SPACING = 7  # a customer is contacted at most once a week
_PROMISE_P = 0.35  # share of contacts not about a dispute that end in a promise to pay
_PROMISE_KEPT_WITHIN = 21  # a customer paying within three weeks promises that day
_HOLD_DAYS = 14
_CALL_NOTES = ("left a voicemail", "spoke to accounts payable", "emailed a statement", "no answer")
_PROMISE_NOTES = ("promised on the phone", "AP run", "awaiting approval", "by email")
_PARTIAL_P = 0.5  # share of the promises paid in time by nothing that name an amount
_PARTIAL_SHARES = np.array([0.25, 0.4, 0.5, 0.6])  # of the open amount, for one paid nothing

_NAME_A = (  # noqa: SIM905
    "Acme Alder Apex Arbor Atlas Aurora Beacon Birch Blue Bright Cedar Cobalt Crest Delta Eagle "
    "Ember Falcon Fern Granite Harbor Hawk Horizon Iron Juniper Keystone Lake Laurel Lumen Maple "
    "Meridian Nova Oak Orbit Pacific Peak Pine Pioneer Prairie Quartz Raven Redwood Ridge River "
    "Sable Sage Sierra Silver Summit Sun Terra Tidal Union Vertex Vista West Willow Zenith"
).split()
_NAME_B = (  # noqa: SIM905
    "Analytics Apparel Builders Chemicals Consulting Dental Design Devices Distribution "
    "Electronics Energy Engineering Foods Freight Furniture Goods Health Hospitality Industries "
    "Instruments Labs Logistics Machinery Marine Media Metals Motors Optics Packaging Partners "
    "Pharma Plastics Print Retail Robotics Software Solutions Steel Supply Systems Textiles "
    "Tools Travel Ventures Works"
).split()


# --- public API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratorConfig:
    """Size, period and seed of the synthetic ledger."""

    n_customers: int = 1000
    seed: int = 42
    start: date = date(2024, 1, 1)
    months: int = 24  # history length; export date = last day of the period
    base_currency: str = "USD"
    invoices_per_customer_month: float = 2.5  # mean over ordinary customers; large ones get more
    large_customer_share: float = 0.005  # share of very large accounts (at least 1 if n >= 50)
    horizon_years: int = 6  # how far past the export date payments are simulated

    @property
    def export_date(self) -> date:
        """Last day of the history period."""
        m = self.start.month - 1 + self.months
        return date(self.start.year + m // 12, m % 12 + 1, 1) - timedelta(days=1)


@dataclass
class GeneratedLedger:
    """Canonical tables (as exported on ``export_date``) plus the latent truth behind them."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    export_date: date
    config: GeneratorConfig | None = field(default=None)


def generate_ledger(config: GeneratorConfig) -> GeneratedLedger:
    """Generate a synthetic AR ledger; the same config always gives identical tables."""
    if config.n_customers < 1 or config.months < 1:
        raise ValueError("n_customers and months must be >= 1")
    if config.base_currency not in _FX:
        raise ValueError(f"base_currency must be one of {sorted(_FX)}")
    # an eighth stream for the promised amounts: spawn(8)'s first seven are spawn(7)'s, so the
    # tables drawn from them stay what they were
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(8)]
    rng_cust, rng_inv, rng_proc, rng_pay, rng_fx, rng_misc, rng_log, rng_amount = streams

    start_day = _day(config.start)
    export_day = _day(config.export_date)
    cal_first, cal_last = start_day - 31, export_day + 366 * config.horizon_years

    profiles = _make_profiles(config, rng_cust, start_day, export_day)
    prof = _Profiles.from_frame(profiles)
    cal = _Calendar(prof.countries, cal_first, cal_last)

    inv = _make_invoices(config, prof, profiles, cal, rng_inv, start_day, export_day)
    n_inv = inv["cust"].size
    stream = _shock_stream(config.seed)
    out = _simulate(
        prof,
        cal,
        inv["cust"],
        inv["issue"],
        inv["due"],
        inv["log_ratio"],
        rng_proc,
        lambda c, m: _hashed_shocks(prof, c, m, stream),
    )

    inv_ids = _ids("INV", n_inv, 7)
    cust_ids = profiles["customer_id"].to_numpy()

    # payments: instalment amounts, only those that happened by the export date
    fractions = _instalment_fractions(out.n_instalments, rng_pay)
    amount = inv["amount"]
    part = np.round(amount[:, None] * fractions, 2)
    part[np.arange(n_inv), out.n_instalments - 1] = 0.0
    part[np.arange(n_inv), out.n_instalments - 1] = np.round(amount - part.sum(axis=1), 2)
    inv_pos, slot = np.nonzero(out.instalments <= export_day)
    pay_day = out.instalments[inv_pos, slot]
    order = np.lexsort((slot, inv_pos, pay_day))
    inv_pos, slot, pay_day = inv_pos[order], slot[order], pay_day[order]
    payments = pd.DataFrame(
        {
            "payment_id": _str(_ids("P", inv_pos.size, 7)),
            "invoice_id": _str(inv_ids[inv_pos]),
            "customer_id": _str(cust_ids[inv["cust"][inv_pos]]),
            "payment_date": _dates(pay_day),
            "amount": part[inv_pos, slot],
        }
    )[PAYMENTS.column_names]

    # disputes as known on the export date
    has_dispute = out.dispute_opened != _NONE
    visible = has_dispute & (out.dispute_opened <= export_day)
    resolved_visible = visible & (out.dispute_resolved <= export_day)
    open_at_export = visible & ~resolved_visible
    reasons = np.asarray(_DISPUTE_REASONS, dtype=object)[
        rng_misc.choice(len(_DISPUTE_REASONS), size=n_inv, p=_DISPUTE_REASON_P)
    ]
    d_idx = np.flatnonzero(visible)
    d_idx = d_idx[np.lexsort((d_idx, out.dispute_opened[d_idx]))]
    disputes = pd.DataFrame(
        {
            "invoice_id": _str(inv_ids[d_idx]),
            "opened_date": _dates(out.dispute_opened[d_idx]),
            "resolved_date": _dates(np.where(resolved_visible, out.dispute_resolved, _NONE)[d_idx]),
            "reason": _str(reasons[d_idx]),
        }
    )[DISPUTES.column_names]

    invoices = pd.DataFrame(
        {
            "invoice_id": _str(inv_ids),
            "customer_id": _str(cust_ids[inv["cust"]]),
            "issue_date": _dates(inv["issue"]),
            "due_date": _dates(inv["due"]),
            "amount": amount,
            "currency": inv["currency"],
            "disputed": open_at_export,
        }
    )  # no delivery_channel: the simulated customers keep one channel throughout

    customers = profiles[CUSTOMERS.column_names].copy()
    fx_rates = _make_fx(config, rng_fx, start_day, export_day)
    contacts = _make_contacts(inv, out, inv_ids, cust_ids, reasons, export_day, rng_log)
    contacts = _promise_amounts(contacts, inv_ids, amount, out, part, export_day, rng_amount)

    def inst_date(j: int) -> pd.Series:
        d = out.instalments[:, j]
        return _dates(np.where((d == NEVER_PAID) | (j >= out.n_instalments), _NONE, d))

    invoice_truth = pd.DataFrame(
        {
            "invoice_id": invoices["invoice_id"],
            "customer_id": invoices["customer_id"],
            "issue_date": invoices["issue_date"],
            "due_date": invoices["due_date"],
            "amount": amount,
            "currency": inv["currency"],
            "recurring": inv["recurring"],
            "log_amount_ratio": np.round(inv["log_ratio"], 6),
            "intended_date": _dates(np.where(out.outcome == _BEYOND, _NONE, out.intended)),
            "month_shock_days": out.shock,
            "outcome": pd.array(np.asarray(_OUTCOMES, dtype=object)[out.outcome], dtype="str"),
            "completion_date": _dates(
                np.where(out.completion == NEVER_PAID, _NONE, out.completion)
            ),
            "n_instalments": out.n_instalments,
            "instalment_1_date": inst_date(0),
            "instalment_2_date": inst_date(1),
            "instalment_3_date": inst_date(2),
            "dispute_opened_date": _dates(out.dispute_opened),
            "dispute_resolved_date": _dates(
                np.where(out.dispute_resolved == NEVER_PAID, _NONE, out.dispute_resolved)
            ),
        }
    )
    truth = {
        "customer_profiles": profiles,
        "invoice_truth": invoice_truth,
        "customer_month_shocks": _realised_shock_table(
            prof, cal, stream, cust_ids, start_day, export_day
        ),
        "generator_meta": pd.DataFrame(
            {
                "key": [
                    "seed",
                    "n_customers",
                    "start",
                    "months",
                    "export_date",
                    "base_currency",
                    "calendar_first",
                    "calendar_last",
                ],
                "value": [
                    str(config.seed),
                    str(config.n_customers),
                    config.start.isoformat(),
                    str(config.months),
                    config.export_date.isoformat(),
                    config.base_currency,
                    _iso(cal_first),
                    _iso(cal_last),
                ],
            }
        ),
    }
    tables = {
        CUSTOMERS.name: customers,
        INVOICES.name: invoices,
        PAYMENTS.name: payments,
        DISPUTES.name: disputes,
        FX_RATES.name: fx_rates,
        CONTACTS.name: contacts,
    }
    return GeneratedLedger(tables, truth, config.export_date, config)


def write_ledger(ledger: GeneratedLedger, out_dir: Path) -> dict[str, Path]:
    """Write the canonical CSVs into ``out_dir`` and the truth into ``out_dir/_truth``.

    Returns ``{table name: path}``; truth tables are keyed ``"_truth/<name>"``.
    """
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    for name, df in ledger.tables.items():
        paths[name] = write_csv(df, out_dir / f"{name}.csv")
    for name, df in ledger.truth.items():
        path = out_dir / _TRUTH_DIR / f"{name}.csv"
        paths[f"{_TRUTH_DIR}/{name}"] = write_csv(df, path)
    return paths


def load_truth(out_dir: Path) -> dict[str, pd.DataFrame]:
    """Read the ``_truth/`` tables written by `write_ledger` (for oracle and evaluation code)."""
    folder = Path(out_dir) / _TRUTH_DIR
    return {
        p.stem: pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in folder.glob("*.csv")
    }


def oracle_sample_pay_dates(
    truth: dict[str, pd.DataFrame],
    invoices: pd.DataFrame,
    cutoff: date,
    n_samples: int,
    seed: int,
    *,
    max_draws_per_sample: int = 8,
) -> np.ndarray:
    """Sample completion dates from the true process, conditional on what is known at ``cutoff``.

    ``cutoff`` is any day up to the export date (typically a backtest cutoff, or the export date
    itself, in which case the truth's realised completion dates are the outcomes to score).

    Returns an int64 array ``(len(invoices), n_samples)`` of days since 1970-01-01, aligned with
    the rows of ``invoices`` (only ``invoice_id`` is used). ``NEVER_PAID`` means never paid.
    Invoices already fully paid by the end of ``cutoff`` get their actual completion day in every
    column; every other row holds dates strictly after ``cutoff`` or ``NEVER_PAID``.

    The oracle knows each customer's latent profile, the customer-month slowdowns up to and
    including the cutoff month, and each invoice's dispute history and number of instalments
    paid by the cutoff. Everything else (future slowdowns, write-offs, instalment timing, future
    disputes, noise) is redrawn and rejected unless it is consistent with the invoice still being
    open at the cutoff. Future slowdowns are drawn per sample column, so column ``j`` is one joint
    scenario shared by all of a customer's invoices. Invoices whose acceptance rate is tiny get
    their remaining columns bootstrapped from accepted draws; with no accepted draw at all the
    consistency conditions are relaxed to "open at cutoff", and failing that the row is never
    paid.
    """
    prof_df = truth["customer_profiles"]
    inv_t = truth["invoice_truth"]
    meta = dict(zip(truth["generator_meta"]["key"], truth["generator_meta"]["value"], strict=True))
    prof = _Profiles.from_frame(prof_df)
    cal = _Calendar(prof.countries, _day(meta["calendar_first"]), _day(meta["calendar_last"]))
    cutoff_day = _day(cutoff)
    if cutoff > date.fromisoformat(meta["export_date"]):
        raise ValueError("cutoff must not be after the ledger's export date")

    ids = invoices["invoice_id"].astype(str)
    pos = pd.Index(inv_t["invoice_id"].astype(str)).get_indexer(ids)
    if (pos < 0).any():
        missing = ids.to_numpy()[pos < 0][:5]
        raise KeyError(f"invoices not in the truth table, e.g. {list(missing)}")
    t = inv_t.iloc[pos]
    cust = pd.Index(prof_df["customer_id"].astype(str)).get_indexer(t["customer_id"].astype(str))
    issue = _days(t["issue_date"])
    due = _days(t["due_date"])
    log_ratio = t["log_amount_ratio"].to_numpy(dtype=np.float64)
    completion = _days(t["completion_date"], missing=NEVER_PAID)
    inst = np.stack([_days(t[f"instalment_{j}_date"], missing=NEVER_PAID) for j in (1, 2, 3)], 1)
    opened = _days(t["dispute_opened_date"])
    resolved = _days(t["dispute_resolved_date"])

    n = len(invoices)
    result = np.empty((n, max(n_samples, 0)), dtype=np.int64)
    done = completion <= cutoff_day
    result[done] = completion[done, None]
    todo = np.flatnonzero(~done)
    if n_samples <= 0 or todo.size == 0:
        return result

    obs_open = np.where((opened != _NONE) & (opened <= cutoff_day), opened, _NONE)
    obs_resolved = np.where((obs_open != _NONE) & (resolved <= cutoff_day), resolved, _NONE)
    obs_count = (inst <= cutoff_day).sum(axis=1)

    known = _known_shock_lookup(truth["customer_month_shocks"], prof_df, meta, cal, cutoff_day)
    stream = _mix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) ^ np.uint64(0x6F7261636C65))
    inputs = {
        "cust": cust[todo],
        "issue": issue[todo],
        "due": due[todo],
        "log_ratio": log_ratio[todo],
        "obs_open": obs_open[todo],
        "obs_resolved": obs_resolved[todo],
        "obs_count": obs_count[todo],
    }
    rng = np.random.default_rng(seed)
    budget = n_samples * max(max_draws_per_sample, 1)
    sampler = _OracleSampler(prof, cal, inputs, cutoff_day, known, stream, rng)
    res, filled = sampler.run(n_samples, budget, relaxed=False)
    empty = ~filled.any(axis=1)
    if empty.any():
        sub = np.flatnonzero(empty)
        res2, filled2 = sampler.run(n_samples, budget, relaxed=True, rows=sub)
        res[sub], filled[sub] = res2, filled2
    result[todo] = _bootstrap_unfilled(res, filled, rng)
    return result


# --- latent customer profiles -----------------------------------------------------------------


def _make_profiles(
    cfg: GeneratorConfig, rng: np.random.Generator, start_day: int, export_day: int
) -> pd.DataFrame:
    n = cfg.n_customers
    n_large = max(round(n * cfg.large_customer_share), 1 if n >= 50 else 0)
    large = np.zeros(n, dtype=bool)
    large[rng.choice(n, size=n_large, replace=False)] = True

    country_p = np.array([c[2] for c in _COUNTRIES])
    ctry_idx = rng.choice(len(_COUNTRIES), size=n, p=country_p / country_p.sum())
    country = np.array([c[0] for c in _COUNTRIES])[ctry_idx]
    currency = np.array([c[1] for c in _COUNTRIES])[ctry_idx]
    seg = rng.choice(3, size=n, p=_SEGMENT_P)
    seg[large] = 0
    terms = _TERMS[_choice_rows(rng, _TERMS_P[seg])]
    arch = _choice_rows(rng, _ARCH_P[seg])
    mode_p = np.where(large[:, None], _MODE_P_LARGE[None, :], _MODE_P[seg])
    mode = _choice_rows(rng, mode_p)
    run_wd = np.where(mode == _WEEKDAY_RUN, rng.choice(5, size=n, p=_RUN_WEEKDAY_P), -1)

    # delay archetypes: mean / sd of days after the due date
    lo_mean = np.array([-6.0, 5.0, 20.0, 0.0])[arch]
    hi_mean = np.array([1.0, 15.0, 60.0, 8.0])[arch]
    lo_sd = np.array([0.8, 1.5, 8.0, 3.0])[arch]
    hi_sd = np.array([3.0, 5.0, 25.0, 8.0])[arch]
    delay_mean = rng.uniform(lo_mean, hi_mean)
    delay_sd = rng.uniform(lo_sd, hi_sd)
    skewed = arch == 2
    erratic = arch == 3
    tail_prob = np.where(erratic, rng.uniform(0.12, 0.25, n), rng.uniform(0.005, 0.04, n))
    tail_mean = np.where(erratic, rng.uniform(20, 60, n), rng.uniform(10, 40, n))
    amount_beta = np.maximum(rng.normal(2.0, 2.0, n), 0.0)

    # amounts (customer currency) and invoicing frequency
    usd_per = np.array([_FX[c][0] for c in currency])
    median_usd = np.exp(_SEG_LOG_MEDIAN_USD[seg] + rng.normal(0.0, 0.6, n))
    median_usd[large] *= rng.uniform(3.0, 8.0, large.sum())
    median_amount = np.round(median_usd / usd_per, 2)
    amount_sd = rng.uniform(0.35, 0.9, n)
    rate = _SEG_RATE[seg] * rng.gamma(2.0, 0.5, n)
    ordinary = ~large
    if ordinary.any():
        rate *= cfg.invoices_per_customer_month / rate[ordinary].mean()
    rate[large] = rng.uniform(20.0, 60.0, large.sum()) * cfg.invoices_per_customer_month / 2.5
    recurring_day = np.where(
        ordinary & (rng.random(n) < 0.2), rng.choice([1, 5, 15, 25, 28], size=n), 0
    )
    growth = rng.normal(0.05, 0.2, n)  # log-rate change per year

    # life cycle: late starters, churners, customers who stop paying
    late_start = ordinary & (rng.random(n) < 0.35)
    first_day = np.where(
        late_start, rng.integers(start_day, max(export_day - 30, start_day + 1), n), start_day
    )
    churn = ordinary & (rng.random(n) < 0.08) & (first_day + 90 < export_day)
    order_end = np.where(
        churn, rng.integers(np.minimum(first_day + 90, export_day - 1), export_day, n), _NONE
    )
    stops = ordinary & (rng.random(n) < 0.015)
    stop_day = np.maximum(rng.integers(start_day + 180, export_day + 181, n), first_day + 60)
    stop_day = np.where(stops, stop_day, _NONE)
    stop_orders = stop_day + rng.integers(20, 121, n)
    order_end = np.where(
        stops & ((order_end == _NONE) | (order_end > stop_orders)), stop_orders, order_end
    )

    # slow drift, seasonality, month shocks
    deteriorates = rng.random(n) < 0.07
    det_from = np.where(deteriorates, rng.integers(start_day + 90, export_day + 121, n), _NONE)
    det_rate = np.where(deteriorates, rng.uniform(1.5, 6.0, n), 0.0)
    det_cap = np.where(deteriorates, rng.uniform(30.0, 90.0, n), 0.0)
    seasonal = rng.random(n) < np.where(np.isin(country, _EU), 0.25, 0.12)
    which = rng.choice(3, size=n, p=[0.4, 0.3, 0.3])  # Aug, Dec, both
    season_aug = np.where(seasonal & (which != 1), rng.uniform(7.0, 25.0, n), 0.0)
    season_dec = np.where(seasonal & (which != 0), rng.uniform(7.0, 25.0, n), 0.0)
    shock_prob = rng.beta(1.5, 18.0, n)
    shock_scale = rng.uniform(3.0, 8.0, n)

    # disputes, write-offs, instalments, payment-mechanics noise
    dispute_prob = rng.beta(1.2, 40.0, n) * np.where(arch == 2, 2.0, 1.0)
    dispute_median = rng.uniform(10.0, 35.0, n)
    dispute_unresolved = rng.uniform(0.03, 0.12, n)
    writeoff_prob = np.array([0.002, 0.006, 0.025, 0.012])[arch] * rng.uniform(0.5, 1.5, n)
    partial = rng.random(n) < np.array([0.06, 0.10, 0.12])[seg]
    partial_prob = np.where(partial, rng.uniform(0.3, 0.8, n), 0.0)
    off_cycle = np.where(mode != _ANY_DAY, rng.uniform(0.02, 0.10, n), 0.0)
    weekend_prob = np.where(mode == _ANY_DAY, rng.uniform(0.0, 0.04, n), 0.0)

    base_per = _FX[cfg.base_currency][0]
    monthly_base = rate * median_usd * np.exp(amount_sd**2 / 2) / base_per
    credit_limit = np.maximum(
        np.round(monthly_base * (terms / 30.0 + 1.0) * rng.uniform(1.0, 2.5, n), -3), 1000.0
    )

    ids = _ids("C", n, 5)
    names = _company_names(rng, ctry_idx)
    behaviours = []
    for i in range(n):
        tags = [_ARCHETYPES[arch[i]], _PAY_MODES[mode[i]]]
        for flag, tag in (
            (large[i], "large"),
            (deteriorates[i], "deteriorating"),
            (seasonal[i], "seasonal"),
            (partial[i], "instalments"),
            (stops[i], "stops_paying"),
            (churn[i], "churns"),
            (recurring_day[i] > 0, "recurring_billing"),
        ):
            if flag:
                tags.append(tag)
        behaviours.append("|".join(tags))

    def r4(a: np.ndarray) -> np.ndarray:  # short decimals: the CSV round trip stays exact
        return np.round(a, 4)

    return pd.DataFrame(
        {
            "customer_id": _str(ids),
            "name": pd.array(names, dtype="str"),
            "segment": pd.array(np.asarray(_SEGMENTS, dtype=object)[seg], dtype="str"),
            "country": pd.array(country, dtype="str"),
            "currency": pd.array(currency, dtype="str"),
            "payment_terms_days": terms.astype(np.int64),
            "credit_limit": credit_limit,
            "email": pd.array(_contact_emails(names), dtype="str"),
            "behaviours": pd.array(behaviours, dtype="str"),
            "is_large": large,
            "archetype": pd.array(np.asarray(_ARCHETYPES, dtype=object)[arch], dtype="str"),
            "pay_mode": pd.array(np.asarray(_PAY_MODES, dtype=object)[mode], dtype="str"),
            "run_weekday": run_wd.astype(np.int64),
            "delay_mean_days": r4(delay_mean),
            "delay_sd_days": r4(delay_sd),
            "skewed_noise": skewed,
            "tail_prob": r4(tail_prob),
            "tail_mean_days": r4(tail_mean),
            "amount_beta_days": r4(amount_beta),
            "median_amount": median_amount,
            "amount_log_sd": r4(amount_sd),
            "invoices_per_month": r4(rate),
            "recurring_day": recurring_day.astype(np.int64),
            "growth_per_year": r4(growth),
            "start_date": _dates(first_day),
            "order_end_date": _dates(order_end),
            "stop_paying_date": _dates(stop_day),
            "deteriorate_from": _dates(det_from),
            "deteriorate_days_per_month": r4(det_rate),
            "deteriorate_cap_days": r4(det_cap),
            "seasonal_aug_days": r4(season_aug),
            "seasonal_dec_days": r4(season_dec),
            "shock_prob": r4(shock_prob),
            "shock_scale_days": r4(shock_scale),
            "dispute_prob": r4(dispute_prob),
            "dispute_median_days": r4(dispute_median),
            "dispute_unresolved_prob": r4(dispute_unresolved),
            "writeoff_prob": r4(writeoff_prob),
            "partial_prob": r4(partial_prob),
            "off_cycle_prob": r4(off_cycle),
            "weekend_prob": r4(weekend_prob),
        }
    )


class _Profiles:
    """Latent profile columns as numpy arrays indexed by customer position."""

    def __init__(self, df: pd.DataFrame) -> None:
        def f(col: str) -> np.ndarray:
            return df[col].to_numpy(dtype=np.float64)

        self.countries: list[str] = sorted(set(df["country"].astype(str)))
        self.cal_idx = pd.Index(self.countries).get_indexer(df["country"].astype(str))
        self.pay_mode = pd.Index(_PAY_MODES).get_indexer(df["pay_mode"].astype(str))
        self.run_weekday = df["run_weekday"].to_numpy(dtype=np.int64)
        self.delay_mean = f("delay_mean_days")
        self.delay_sd = f("delay_sd_days")
        self.skewed = df["skewed_noise"].to_numpy(dtype=bool)
        self.tail_prob = f("tail_prob")
        self.tail_mean = f("tail_mean_days")
        self.amount_beta = f("amount_beta_days")
        det_from = _days(df["deteriorate_from"])
        self.det_from = np.where(det_from == _NONE, NEVER_PAID, det_from)
        self.det_rate = f("deteriorate_days_per_month")
        self.det_cap = f("deteriorate_cap_days")
        self.season_aug = f("seasonal_aug_days")
        self.season_dec = f("seasonal_dec_days")
        self.shock_prob = f("shock_prob")
        self.shock_scale = f("shock_scale_days")
        self.dispute_prob = f("dispute_prob")
        self.dispute_median = f("dispute_median_days")
        self.dispute_unresolved = f("dispute_unresolved_prob")
        self.writeoff_prob = f("writeoff_prob")
        self.partial_prob = f("partial_prob")
        self.off_cycle_prob = f("off_cycle_prob")
        self.weekend_prob = f("weekend_prob")
        stop = _days(df["stop_paying_date"])
        self.stop_day = np.where(stop == _NONE, NEVER_PAID, stop)

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> _Profiles:
        return cls(df)


# --- invoices ----------------------------------------------------------------------------------


def _make_invoices(
    cfg: GeneratorConfig,
    prof: _Profiles,
    profiles: pd.DataFrame,
    cal: _Calendar,
    rng: np.random.Generator,
    start_day: int,
    export_day: int,
) -> dict[str, np.ndarray]:
    first = _days(profiles["start_date"])
    end = _days(profiles["order_end_date"])
    last = np.where(end == _NONE, export_day, np.minimum(end, export_day))
    rate = profiles["invoices_per_month"].to_numpy(dtype=np.float64)
    recurring_day = profiles["recurring_day"].to_numpy()
    growth = profiles["growth_per_year"].to_numpy(dtype=np.float64)
    eu = profiles["country"].isin(_EU).to_numpy()

    m0 = np.datetime64(cfg.start, "M")
    month_start = _day_arr((m0 + np.arange(cfg.months)).astype("datetime64[D]"))
    month_end = _day_arr((m0 + np.arange(1, cfg.months + 1)).astype("datetime64[D]")) - 1
    moy = (m0 + np.arange(cfg.months)).astype(np.int64) % 12 + 1
    lo = np.maximum(month_start[None, :], first[:, None])  # (customers, months)
    hi = np.minimum(month_end[None, :], last[:, None])
    active = np.maximum(hi - lo + 1, 0)
    frac = active / (month_end - month_start + 1)[None, :]
    season = np.where(moy == 12, 0.9, 1.0)[None, :] * np.where(
        eu[:, None] & (moy == 8)[None, :], 0.8, 1.0
    )
    years = ((month_start - start_day) / 365.25)[None, :]
    poisson_rate = np.where(recurring_day > 0, np.maximum(rate - 1.0, 0.3), rate)
    lam = poisson_rate[:, None] * frac * season * np.exp(growth[:, None] * years)
    counts = rng.poisson(lam)

    cc, mm = np.nonzero(counts)
    reps = counts[cc, mm]
    cust_a = np.repeat(cc, reps)
    lo_a = np.repeat(lo[cc, mm], reps)
    span = np.repeat(active[cc, mm], reps)
    # issue on business days (redraw non-business days a few times, then roll forward);
    # a small share of invoices is dated on a weekend or holiday anyway
    ci_a = prof.cal_idx[cust_a]
    day_a = lo_a + (rng.random(cust_a.size) * span).astype(np.int64)
    keep_raw = rng.random(cust_a.size) < 0.01
    for _ in range(4):
        redraw = ~keep_raw & ~cal.is_bd(ci_a, day_a)
        day_a = np.where(redraw, lo_a + (rng.random(cust_a.size) * span).astype(np.int64), day_a)
    day_a = np.where(keep_raw, day_a, cal.next_bd(ci_a, day_a))

    rc, rm = np.nonzero((recurring_day[:, None] > 0) & (active > 0))
    dom = np.minimum(recurring_day[rc], month_end[rm] - month_start[rm] + 1)
    day_b = cal.next_bd(prof.cal_idx[rc], month_start[rm] + dom - 1)
    keep_b = (day_b >= lo[rc, rm]) & (day_b <= hi[rc, rm])
    cust_b, day_b = rc[keep_b], day_b[keep_b]

    cust = np.concatenate([cust_a, cust_b])
    issue = np.concatenate([day_a, day_b])
    recurring = np.concatenate([np.zeros(cust_a.size, bool), np.ones(cust_b.size, bool)])
    keep = issue <= last[cust]
    cust, issue, recurring = cust[keep], issue[keep], recurring[keep]
    tiebreak = rng.random(cust.size)
    order = np.lexsort((tiebreak, cust, issue))
    cust, issue, recurring = cust[order], issue[order], recurring[order]
    k = cust.size

    median = profiles["median_amount"].to_numpy(dtype=np.float64)[cust]
    sd = profiles["amount_log_sd"].to_numpy(dtype=np.float64)[cust]
    z = rng.standard_normal(k)
    log_amount = np.log(median) + np.where(recurring, 0.05, sd) * z
    amount = np.maximum(np.round(np.exp(log_amount), 2), 5.0)
    log_ratio = np.log(amount / median)

    codes = list(_FX)
    cur_idx = pd.Index(codes).get_indexer(profiles["currency"].astype(str))[cust]
    in_usd = (cur_idx != codes.index("USD")) & (rng.random(k) < 0.02)
    usd_per = np.array([_FX[c][0] for c in codes])[cur_idx]
    amount = np.where(in_usd, np.round(amount * usd_per, 2), amount)
    currency = np.asarray(codes)[np.where(in_usd, codes.index("USD"), cur_idx)]

    terms = profiles["payment_terms_days"].to_numpy(dtype=np.int64)[cust]
    deviate = rng.random(k) < 0.03
    alt = np.array([0, 7, 10, 14, 20, 30, 45, 60, 90])[rng.integers(0, 9, k)]
    due = issue + np.where(deviate, alt, terms)
    return {
        "cust": cust,
        "issue": issue,
        "due": due,
        "amount": amount,
        "log_ratio": log_ratio,
        "currency": pd.array(currency, dtype="str"),
        "recurring": recurring,
    }


# --- the payment process (shared by the generator and the oracle) -----------------------------


@dataclass
class _Outcome:
    completion: np.ndarray  # day the invoice is fully paid, NEVER_PAID if never
    instalments: np.ndarray  # (n, 3) payment days, ascending; NEVER_PAID = not paid / unused
    n_instalments: np.ndarray
    outcome: np.ndarray  # index into _OUTCOMES
    intended: np.ndarray  # intended day after seasonality and month shock, before mechanics
    shock: np.ndarray  # customer-month slowdown applied (days)
    dispute_opened: np.ndarray  # _NONE if no dispute
    dispute_resolved: np.ndarray  # _NONE if no dispute, NEVER_PAID if never resolved


def _simulate(
    p: _Profiles,
    cal: _Calendar,
    cust: np.ndarray,
    issue: np.ndarray,
    due: np.ndarray,
    log_ratio: np.ndarray,
    rng: np.random.Generator,
    shock_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    obs_open: np.ndarray | None = None,
    obs_resolved: np.ndarray | None = None,
) -> _Outcome:
    """Draw each invoice's payment path. ``obs_*`` (oracle only) force known dispute dates."""
    n = cust.size
    ci = p.cal_idx[cust]
    lr = np.clip(log_ratio, -2.0, 3.0)

    # 1. intended payment day relative to the due date
    z = rng.standard_normal(n)
    g = (rng.standard_gamma(2.0, n) - 2.0) / math.sqrt(2.0)
    noise = np.where(p.skewed[cust], g, z) * p.delay_sd[cust]
    tail = np.where(rng.random(n) < p.tail_prob[cust], rng.exponential(1.0, n), 0.0)
    drift = np.clip((issue - p.det_from[cust]) / 30.0 * p.det_rate[cust], 0.0, p.det_cap[cust])
    delay = p.delay_mean[cust] + drift + p.amount_beta[cust] * lr + noise
    delay += tail * p.tail_mean[cust]
    intended = np.maximum(due + np.rint(delay).astype(np.int64), issue + 1)

    # 2. disputes hold payment until resolved (or forever)
    has_d = rng.random(n) < np.minimum(p.dispute_prob[cust] * np.exp(0.4 * lr), 0.5)
    window = np.maximum(np.minimum(intended, due + 10) - issue - 1, 1)
    opened = cal.next_bd(ci, issue + 1 + (rng.random(n) * window).astype(np.int64))
    duration = np.rint(p.dispute_median[cust] * np.exp(0.7 * rng.standard_normal(n)))
    unresolved = rng.random(n) < p.dispute_unresolved[cust]
    lag = rng.integers(1, 11, n)
    if obs_open is not None:
        forced = obs_open != _NONE
        has_d |= forced
        opened = np.where(forced, obs_open, opened)
    resolved = cal.next_bd(ci, opened + np.maximum(duration, 1).astype(np.int64))
    if obs_resolved is not None:
        known = obs_resolved != _NONE
        resolved = np.where(known, obs_resolved, resolved)
        unresolved &= ~known
    unresolved &= has_d
    resolved = np.where(unresolved, NEVER_PAID, resolved)
    settle = has_d & ~unresolved
    intended = np.where(settle, np.maximum(intended, resolved + lag), intended)

    # 3. seasonal slowdowns, 4. customer-month slowdowns
    moy = cal.month_of_year(intended)
    extra = np.where(moy == 8, p.season_aug[cust], 0.0) + np.where(
        moy == 12, p.season_dec[cust], 0.0
    )
    intended += np.rint(extra * rng.uniform(0.7, 1.3, n)).astype(np.int64)
    shock = np.rint(shock_fn(cust, cal.month_index(intended))).astype(np.int64)
    intended += shock

    # 5. payment mechanics: business day, weekly run, month-end batch
    mode = np.where(rng.random(n) < p.off_cycle_prob[cust], _ANY_DAY, p.pay_mode[cust])
    # a non-business intended day moves to one of the ~5 business days around it (not only to
    # Monday), never before the earliest possible day; a few payments do land on weekends
    floor_day = cal.next_bd(ci, np.where(settle, resolved + 1, issue + 1))
    near = np.maximum(cal.nearby_bd(ci, intended, rng.integers(0, 5, n)), floor_day)
    raw = (rng.random(n) < p.weekend_prob[cust]) | cal.is_bd(ci, intended)
    any_day = np.where(raw, intended, near)
    run = cal.next_bd(ci, intended + (p.run_weekday[cust] - (intended + 3) % 7) % 7)
    batch = cal.month_end_on_after(ci, intended)
    paid = np.select([mode == _WEEKDAY_RUN, mode == _MONTH_END], [run, batch], any_day)

    # 6. never paid: unresolved dispute, beyond the simulated horizon, stopped payer, write-off
    beyond = paid > cal.last - 45
    stopped = paid >= p.stop_day[cust]
    written_off = rng.random(n) < p.writeoff_prob[cust]
    outcome = np.select(
        [unresolved, beyond, stopped, written_off],
        [_DISPUTE_UNRESOLVED, _BEYOND, _STOPPED, _WRITE_OFF],
        _PAID,
    )

    # 7. instalments: earlier ones are drawn back from the final payment day
    part = rng.random(n) < np.minimum(p.partial_prob[cust] * np.exp(0.3 * lr), 0.95)
    k = np.where(part, np.where(rng.random(n) < 0.65, 2, 3), 1)
    k = np.where(paid - issue < 8, 1, k)
    gap1 = 4 + np.rint(rng.standard_gamma(2.0, n) * 6.0).astype(np.int64)
    gap2 = 4 + np.rint(rng.standard_gamma(2.0, n) * 6.0).astype(np.int64)
    runner = mode == _WEEKDAY_RUN  # instalments of a payment-run customer go out in runs too

    def earlier(day: np.ndarray, cap: np.ndarray) -> np.ndarray:
        day = np.maximum(day, issue + 1)
        back = day - ((day + 3) % 7 - p.run_weekday[cust]) % 7  # previous run day
        fwd = day + (p.run_weekday[cust] - (day + 3) % 7) % 7
        day = np.where(runner, np.where(back > issue, back, fwd), day)
        return np.minimum(cal.next_bd(ci, day), cap)

    prev1 = earlier(paid - gap1, paid)
    prev2 = earlier(prev1 - gap2, prev1)
    k = np.where((k == 3) & (prev2 >= prev1), 2, k)  # no two instalments on one day
    k = np.where((k >= 2) & (prev1 >= paid), 1, k)
    inst = np.full((n, 3), NEVER_PAID, dtype=np.int64)
    inst[:, 0] = np.where(k == 1, paid, np.where(k == 2, prev1, prev2))
    inst[:, 1] = np.where(k == 2, paid, np.where(k == 3, prev1, NEVER_PAID))
    inst[:, 2] = np.where(k == 3, paid, NEVER_PAID)
    unpaid = outcome != _PAID
    inst[unpaid, k[unpaid] - 1] = NEVER_PAID
    inst[inst >= p.stop_day[cust][:, None]] = NEVER_PAID
    inst[(outcome == _DISPUTE_UNRESOLVED) | (outcome == _BEYOND)] = NEVER_PAID

    return _Outcome(
        completion=np.where(unpaid, NEVER_PAID, paid),
        instalments=inst,
        n_instalments=k,
        outcome=outcome,
        intended=intended,
        shock=shock,
        dispute_opened=np.where(has_d, opened, _NONE),
        dispute_resolved=np.where(has_d, resolved, _NONE),
    )


def _instalment_fractions(k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shares of the invoice amount per instalment, shape (n, 3); unused slots are zero."""
    w = rng.gamma(3.0, 1.0, (k.size, 3))
    w[np.arange(3)[None, :] >= k[:, None]] = 0.0
    w = np.maximum(w / w.sum(axis=1, keepdims=True), 0.05)
    w[np.arange(3)[None, :] >= k[:, None]] = 0.0
    return w / w.sum(axis=1, keepdims=True)


# --- customer-month slowdowns (counter-based, so any (customer, month) is reproducible) --------

_U64 = np.uint64


def _mix(x: np.ndarray | np.uint64) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = np.asarray(x, dtype=_U64) + _U64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
        return x ^ (x >> _U64(31))


def _u01(h: np.ndarray) -> np.ndarray:
    return ((h >> _U64(11)).astype(np.float64) + 0.5) * 2.0**-53


def _shock_stream(seed: int) -> np.ndarray:
    return _mix(_U64(seed & 0xFFFFFFFFFFFFFFFF) ^ _U64(0x5EED5140C4))


def _hashed_shocks(
    p: _Profiles, cust: np.ndarray, month: np.ndarray, stream: np.ndarray
) -> np.ndarray:
    """Slowdown (days) of customer ``cust`` in month ``month``: Bernoulli x Gamma(2)."""
    h = _mix(_mix(stream ^ cust.astype(_U64)) ^ month.astype(_U64))
    u1, u2, u3 = _u01(h), _u01(_mix(h ^ _U64(1))), _u01(_mix(h ^ _U64(2)))
    size = -p.shock_scale[cust] * (np.log(u2) + np.log(u3))
    return np.where(u1 < p.shock_prob[cust], size, 0.0)


def _realised_shock_table(
    p: _Profiles,
    cal: _Calendar,
    stream: np.ndarray,
    customer_ids: np.ndarray,
    start_day: int,
    export_day: int,
) -> pd.DataFrame:
    """Non-zero realised slowdowns for every customer-month of the history period."""
    m_lo, m_hi = (
        int(cal.month_index(np.array([start_day]))[0]),
        int(cal.month_index(np.array([export_day]))[0]),
    )
    months = np.arange(m_lo, m_hi + 1)
    cust = np.repeat(np.arange(p.shock_prob.size), months.size)
    month = np.tile(months, p.shock_prob.size)
    shock = np.rint(_hashed_shocks(p, cust, month, stream)).astype(np.int64)
    nz = shock != 0
    return pd.DataFrame(
        {
            "customer_id": pd.array(customer_ids[cust[nz]], dtype="str"),
            "month": pd.Series(month[nz].astype("datetime64[M]").astype("datetime64[D]")).astype(
                "datetime64[s]"
            ),
            "shock_days": shock[nz],
        }
    )


def _known_shock_lookup(
    shocks: pd.DataFrame, prof_df: pd.DataFrame, meta: dict[str, str], cal: _Calendar, cutoff: int
) -> tuple[int, int, np.ndarray]:
    """Dense (customer, month) table of realised shocks for months up to the cutoff month."""
    m_lo = int(cal.month_index(np.array([_day(meta["start"])]))[0])
    m_hi = int(cal.month_index(np.array([cutoff]))[0])
    dense = np.zeros((len(prof_df), max(m_hi - m_lo + 1, 1)))
    if len(shocks):
        m = cal.month_index(_days(shocks["month"]))
        ids = prof_df["customer_id"].astype(str)
        c = pd.Index(ids).get_indexer(shocks["customer_id"].astype(str))
        ok = (m >= m_lo) & (m <= m_hi) & (c >= 0)
        dense[c[ok], m[ok] - m_lo] = shocks["shock_days"].to_numpy(dtype=np.float64)[ok]
    return m_lo, m_hi, dense


# --- oracle ------------------------------------------------------------------------------------


class _OracleSampler:
    """Per-(invoice, sample) rejection sampling with adaptive oversampling."""

    _MAX_ROUNDS = 12
    _MAX_ELEMENTS = 1_000_000

    def __init__(
        self,
        prof: _Profiles,
        cal: _Calendar,
        inputs: dict[str, np.ndarray],
        cutoff: int,
        known: tuple[int, int, np.ndarray],
        stream: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        self.prof, self.cal, self.x, self.cutoff = prof, cal, inputs, cutoff
        self.known, self.stream, self.rng = known, stream, rng

    def _shock_fn(self, slot: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        m_lo, m_hi, dense = self.known
        slot_stream = _mix(self.stream ^ slot.astype(_U64))

        def fn(cust: np.ndarray, month: np.ndarray) -> np.ndarray:
            future = _hashed_shocks(self.prof, cust, month, slot_stream)
            past = dense[cust, np.clip(month - m_lo, 0, dense.shape[1] - 1)]
            past = np.where(month < m_lo, 0.0, past)
            return np.where(month <= m_hi, past, future)

        return fn

    def _draw(
        self, inv: np.ndarray, slot: np.ndarray, relaxed: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        x, c = self.x, self.cutoff
        out = _simulate(
            self.prof,
            self.cal,
            x["cust"][inv],
            x["issue"][inv],
            x["due"][inv],
            x["log_ratio"][inv],
            self.rng,
            self._shock_fn(slot),
            obs_open=x["obs_open"][inv],
            obs_resolved=x["obs_resolved"][inv],
        )
        ok = out.completion > c
        if not relaxed:
            forced = x["obs_open"][inv] != _NONE
            known_res = x["obs_resolved"][inv] != _NONE
            ok &= (out.instalments <= c).sum(axis=1) == x["obs_count"][inv]
            ok &= forced | (out.dispute_opened == _NONE) | (out.dispute_opened > c)
            ok &= ~forced | known_res | (out.dispute_resolved > c)
        return out.completion, ok

    def run(
        self, n_samples: int, budget: int, relaxed: bool, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(self.x["cust"].size) if rows is None else rows
        m = rows.size
        res = np.full((m, n_samples), NEVER_PAID, dtype=np.int64)
        filled = np.zeros((m, n_samples), dtype=bool)
        drawn = np.zeros(m, dtype=np.int64)
        accepted = np.zeros(m, dtype=np.int64)
        for _ in range(self._MAX_ROUNDS):
            need = n_samples - filled.sum(axis=1)
            active = (need > 0) & (drawn < budget)
            if not active.any():
                break
            rate = (accepted + 1.0) / (drawn + 2.0)
            copies = np.clip(np.ceil(1.3 / rate), 1, 64).astype(np.int64)
            copies[drawn == 0] = 1
            copies = np.minimum(copies, np.maximum((budget - drawn) // np.maximum(need, 1), 1))
            pr, ps = np.nonzero(~filled & active[:, None])
            cum = np.cumsum(copies[pr])
            starts = np.searchsorted(cum, np.arange(0, cum[-1], self._MAX_ELEMENTS), side="right")
            bounds = [*starts.tolist(), pr.size]
            for a, b in itertools.pairwise(bounds):
                if b <= a:
                    continue
                pair = np.repeat(np.arange(a, b), copies[pr[a:b]])
                r_loc = pr[pair]
                comp, ok = self._draw(rows[r_loc], ps[pair], relaxed)
                drawn += np.bincount(r_loc, minlength=m)
                accepted += np.bincount(r_loc[ok], minlength=m)
                acc_pair, acc_comp = pair[ok], comp[ok]
                first = np.ones(acc_pair.size, dtype=bool)
                first[1:] = acc_pair[1:] != acc_pair[:-1]
                hit = acc_pair[first]
                res[pr[hit], ps[hit]] = acc_comp[first]
                filled[pr[hit], ps[hit]] = True
        return res, filled


def _bootstrap_unfilled(
    res: np.ndarray, filled: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Fill unfilled slots from the same row's accepted draws (NEVER_PAID if a row has none)."""
    count = filled.sum(axis=1)
    partial = np.flatnonzero((count > 0) & (count < res.shape[1]))
    if partial.size:
        sub_res, sub_filled = res[partial], filled[partial]
        order = np.argsort(~sub_filled, axis=1, kind="stable")
        pick = (rng.random(sub_res.shape) * count[partial, None]).astype(np.int64)
        boot = np.take_along_axis(sub_res, np.take_along_axis(order, pick, axis=1), axis=1)
        res[partial] = np.where(sub_filled, sub_res, boot)
    res[count == 0] = NEVER_PAID
    return res


# --- calendar ----------------------------------------------------------------------------------


class _Calendar:
    """Business-day lookups per country over a fixed day range (days since 1970-01-01)."""

    def __init__(self, countries: list[str], first_day: int, last_day: int) -> None:
        self.first, self.last = first_day, last_day
        days = np.arange(first_day, last_day + 1, dtype=np.int64)
        n = days.size
        self.n = n
        d64 = days.astype("datetime64[D]")
        self._month = d64.astype("datetime64[M]").astype(np.int64)
        years = range(
            _EPOCH.year + int(self._month[0]) // 12, _EPOCH.year + int(self._month[-1]) // 12 + 1
        )
        weekday = (days + 3) % 7
        bd = np.empty((len(countries), n), dtype=bool)
        for k, country in enumerate(countries):
            hol = holidays.country_holidays(country, years=years)
            hd = np.array(sorted((d - _EPOCH).days for d in hol), dtype=np.int64)
            bd[k] = (weekday < 5) & ~np.isin(days, hd)
        idx = np.arange(n)
        nxt = np.minimum.accumulate(np.where(bd, idx, n)[:, ::-1], axis=1)[:, ::-1]
        prv = np.maximum.accumulate(np.where(bd, idx, -1), axis=1)
        self._next_bd = nxt + first_day  # == last + 1 when none is left in range
        self._ord = np.cumsum(bd, axis=1) - bd  # business days strictly before each day
        n_bd = bd.sum(axis=1)
        self._bd_by_ord = np.full((len(countries), int(n_bd.max(initial=0)) + 1), last_day + 1)
        for k in range(len(countries)):
            self._bd_by_ord[k, : n_bd[k]] = days[bd[k]]
        # last business day of the month, or of the next month if that is already past
        month_end = _day_arr((self._month + 1).astype("datetime64[M]").astype("datetime64[D]")) - 1
        me_idx = np.clip(month_end - first_day, 0, n - 1)
        me_next_idx = np.clip(me_idx + 1, 0, n - 1)
        next_month_end = month_end[me_next_idx]
        this = prv[:, me_idx]
        later = prv[:, np.clip(next_month_end - first_day, 0, n - 1)]
        self._month_end_bd = np.where(this >= idx[None, :], this, later) + first_day

    def _i(self, day: np.ndarray) -> np.ndarray:
        # callers never go below ``first`` (issue dates start a month after it)
        return np.minimum(day - self.first, self.n - 1)

    def next_bd(self, cal_idx: np.ndarray, day: np.ndarray) -> np.ndarray:
        return np.where(day > self.last, day, self._next_bd[cal_idx, self._i(day)])

    def is_bd(self, cal_idx: np.ndarray, day: np.ndarray) -> np.ndarray:
        return self.next_bd(cal_idx, day) == day

    def nearby_bd(self, cal_idx: np.ndarray, day: np.ndarray, r: np.ndarray) -> np.ndarray:
        """The ``r``-th business day on or after ``day - 3`` (r in 0..4 spans about a week)."""
        o = self._ord[cal_idx, self._i(day - 3)] + r
        near = self._bd_by_ord[cal_idx, np.minimum(o, self._bd_by_ord.shape[1] - 1)]
        return np.where(day > self.last, day, near)

    def month_end_on_after(self, cal_idx: np.ndarray, day: np.ndarray) -> np.ndarray:
        return np.where(day > self.last, day, self._month_end_bd[cal_idx, self._i(day)])

    def month_index(self, day: np.ndarray) -> np.ndarray:
        """Months since 1970-01 (exact inside the range, clamped outside)."""
        return self._month[self._i(day)]

    def month_of_year(self, day: np.ndarray) -> np.ndarray:
        return self.month_index(day) % 12 + 1


# --- FX ----------------------------------------------------------------------------------------


def _make_contacts(
    inv: dict[str, np.ndarray],
    out: _Outcome,
    inv_ids: np.ndarray,
    cust_ids: np.ndarray,
    reasons: np.ndarray,
    export_day: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The collectors' contact log of the export's last quarter (``contacts.csv``).

    The worklist schedules from such a log, so the demo needs one to show promises, holds and
    broken promises. It is drawn after the payments, from its own stream, and never feeds back
    into them: it records the process without steering it (and no model reads it). An invoice
    still open is chased 10 days past due and every two weeks after; a customer is contacted at
    most once a week, about its oldest open invoice. A disputed invoice is put on hold; a third
    of the other contacts end in a promise, which names the day the invoice is paid in full (or up
    to two days before it) when that is within three weeks, and otherwise a day the customer will
    miss, as a promise that is broken does. Other contacts are calls about the whole account.
    """
    pos = np.repeat(np.arange(inv["due"].size), _CHASE_DAYS.size)
    day = (inv["due"][:, None] + _CHASE_DAYS[None, :]).ravel()
    day = _day_arr(np.busday_offset(day.astype("datetime64[D]"), 0, roll="forward"))
    keep = (day > export_day - _LOG_DAYS) & (day <= export_day) & (out.completion[pos] > day)
    pos, day = pos[keep], day[keep]
    cust = inv["cust"][pos]
    chosen: list[int] = []
    last_cust, last_day = -1, 0
    for i in np.lexsort((pos, inv["due"][pos], day, cust)):  # by customer, day, oldest due
        if cust[i] != last_cust or day[i] >= last_day + _CHASE_SPACING:
            chosen.append(int(i))
            last_cust, last_day = cust[i], day[i]
    pos, day, cust = pos[chosen], day[chosen], cust[chosen]
    k = pos.size
    opened, resolved = out.dispute_opened[pos], out.dispute_resolved[pos]
    hold = (opened != _NONE) & (opened <= day) & (resolved > day)
    promise = ~hold & (rng.random(k) < _PROMISE_P)
    done = out.completion[pos]
    promised = np.where(
        done - day <= _PROMISE_KEPT_WITHIN,
        done - rng.integers(0, 3, k),
        day + rng.integers(5, 15, k),
    )
    until = np.where(
        hold, day + _HOLD_DAYS, np.where(promise, np.maximum(promised, day + 1), _NONE)
    )
    note = np.where(
        hold,
        np.strings.add(np.strings.add("disputed (", reasons[pos].astype(np.str_)), "): on hold"),
        np.where(
            promise,
            np.asarray(_PROMISE_NOTES)[rng.integers(0, len(_PROMISE_NOTES), k)],
            np.asarray(_CALL_NOTES)[rng.integers(0, len(_CALL_NOTES), k)],
        ),
    )
    order = np.lexsort((cust, day))
    return pd.DataFrame(
        {
            "customer_id": _str(cust_ids[cust][order]),
            "contact_date": _dates(day[order]),
            "outcome": _str(
                np.where(hold, "hold", np.where(promise, "promise", "contacted"))[order]
            ),
            "invoice_id": pd.array(
                np.where(hold | promise, inv_ids[pos], None)[order], dtype="str"
            ),
            "until": _dates(until[order]),
            "note": _str(note[order]),
        }
    )  # no amounts yet: `_promise_amounts`


def _promise_amounts(
    contacts: pd.DataFrame,
    inv_ids: np.ndarray,
    amount: np.ndarray,
    out: _Outcome,
    part: np.ndarray,
    export_day: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Amounts for the promises the invoice is not paid in full by, drawn from the payments the
    ledger already has, which it never changes: where a part payment follows within three
    weeks, the customer promised just that by its day (or up to two days before it), a partial
    promise kept; of the others, half (``_PARTIAL_P``) promised a round share of what was open
    that day, a partial promise broken. Its own stream (``rng``), so the rest of the log is
    drawn as it was. ``part``: each invoice's instalment amounts, by slot of
    ``out.instalments``."""
    promise = (contacts["outcome"] == "promise").to_numpy()
    pos = np.searchsorted(inv_ids, contacts["invoice_id"].fillna("").to_numpy(str))
    pos = np.where(promise, np.minimum(pos, inv_ids.size - 1), 0)
    day = _day_arr(contacts["contact_date"].to_numpy().astype("datetime64[D]"))
    until = _day_arr(contacts["until"].to_numpy().astype("datetime64[D]"))
    paid_in_full = out.completion[pos] <= until + 2  # the promise's day and its grace
    slots = np.arange(part.shape[1])[None, :]
    when = out.instalments[pos]
    paid = (slots < out.n_instalments[pos][:, None]) & (when <= export_day)
    partial = paid & (when >= day[:, None]) & (when <= day[:, None] + _PROMISE_KEPT_WITHIN)
    partial &= when < out.completion[pos][:, None]
    first = np.where(partial, when, np.iinfo(np.int64).max).min(axis=1)
    kept = promise & ~paid_in_full & partial.any(axis=1)
    named = kept | (promise & ~paid_in_full & (rng.random(day.size) < _PARTIAL_P))
    towards = paid & (when >= day[:, None]) & (when <= first[:, None])
    promised = np.where(towards, part[pos], 0.0).sum(axis=1)
    open_then = amount[pos] - np.where(paid & (when < day[:, None]), part[pos], 0.0).sum(axis=1)
    share = _PARTIAL_SHARES[rng.integers(0, _PARTIAL_SHARES.size, day.size)]
    promised = np.where(kept, promised, np.maximum(np.round(open_then * share, -2), 100.0))
    by = np.where(kept, np.maximum(first - rng.integers(0, 3, day.size), day + 1), _NONE)
    return contacts.assign(
        until=contacts["until"].mask(kept, _dates(by)),
        amount=np.where(named, np.round(np.minimum(promised, open_then), 2), np.nan),
    )[CONTACTS.column_names]


def _make_fx(
    cfg: GeneratorConfig, rng: np.random.Generator, start_day: int, export_day: int
) -> pd.DataFrame:
    """Daily mean-reverting log random walks (flat over weekends) around nominal levels."""
    days = np.arange(start_day, export_day + 1, dtype=np.int64)
    curs = list(_FX)
    mu = np.log([_FX[c][0] for c in curs])
    vol = np.array([_FX[c][1] for c in curs])
    eps = rng.standard_normal((days.size, len(curs)))
    x = np.empty((days.size, len(curs)))
    x[0] = mu + np.where(vol > 0, rng.normal(0.0, 0.03, len(curs)), 0.0)
    weekday = (days + 3) % 7 < 5
    for t in range(1, days.size):
        step = 0.003 * (mu - x[t - 1]) + vol * eps[t] if weekday[t] else 0.0
        x[t] = x[t - 1] + step
    usd_per = np.exp(x)
    base = curs.index(cfg.base_currency)
    to_base = usd_per / usd_per[:, [base]]
    others = [i for i, c in enumerate(curs) if c != cfg.base_currency]
    return pd.DataFrame(
        {
            "date": _dates(np.tile(days, len(others))),
            "currency": pd.array(np.repeat([curs[i] for i in others], days.size), dtype="str"),
            "rate_to_base": np.round(to_base[:, others].T.ravel(), 6),
        }
    )[FX_RATES.column_names]


# --- small helpers -----------------------------------------------------------------------------


def _day(d: date | str) -> int:
    return ((date.fromisoformat(d) if isinstance(d, str) else d) - _EPOCH).days


def _iso(day: int) -> str:
    return (_EPOCH + timedelta(days=int(day))).isoformat()


def _day_arr(d64: np.ndarray) -> np.ndarray:
    return d64.astype("datetime64[D]").astype(np.int64)


def _dates(days: np.ndarray) -> pd.Series:
    """Day numbers to a datetime64 Series; ``_NONE`` becomes NaT."""
    days = np.asarray(days, dtype=np.int64)
    d64 = days.astype("datetime64[D]")
    d64[days == _NONE] = np.datetime64("NaT")
    return pd.Series(d64.astype("datetime64[s]"))


def _days(s: pd.Series, missing: int = _NONE) -> np.ndarray:
    """Date-like Series (datetime64 or ISO strings) to day numbers; missing -> ``missing``."""
    d = pd.to_datetime(s).to_numpy().astype("datetime64[D]")
    out = d.astype(np.int64)
    out[np.isnat(d)] = missing
    return out


def _str(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return pd.array(values, dtype="str")


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    width = max(width, len(str(n)))
    if n == 0:
        return np.array([], dtype=f"<U{len(prefix) + width}")
    return np.strings.add(prefix, np.strings.zfill(np.arange(1, n + 1).astype(np.str_), width))


def _choice_rows(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a probability matrix."""
    u = rng.random(p.shape[0])[:, None]
    return np.minimum((u > np.cumsum(p, axis=1)).sum(axis=1), p.shape[1] - 1)


def _contact_emails(names: list[str]) -> list[str | None]:
    """An accounts-payable address derived from the name (reserved ``.example`` domain); every
    seventh customer has none on file, as in real ledgers. No random draws: adding the column
    leaves every other generated value unchanged."""
    slugs = ["-".join(re.findall(r"[a-z0-9]+", n.lower())) for n in names]
    return [None if i % 7 == 6 else f"accounts.payable@{s}.example" for i, s in enumerate(slugs)]


def _company_names(rng: np.random.Generator, ctry_idx: np.ndarray) -> list[str]:
    a = rng.integers(0, len(_NAME_A), ctry_idx.size)
    b = rng.integers(0, len(_NAME_B), ctry_idx.size)
    s = rng.random(ctry_idx.size)
    seen: dict[str, int] = {}
    names = []
    for i, c in enumerate(ctry_idx):
        suffixes = _COUNTRIES[c][3]
        stem = f"{_NAME_A[a[i]]} {_NAME_B[b[i]]}"
        k = seen.get(stem, 0)
        seen[stem] = k + 1
        if k:
            stem = f"{stem} {k + 1}"
        names.append(f"{stem} {suffixes[int(s[i] * len(suffixes))]}")
    return names
