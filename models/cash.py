"""Cash-in forecast: weekly expected receipts and uncertainty bands from pay-day distributions.

The model gives each open invoice a pmf over pay days T+1 .. T+H (the row remainder is "not paid
within H days"). Expected weekly cash is exact. The bands come from a joint Monte-Carlo
simulation, because the spread of a *sum* of receipts depends on how invoices move together:

* Invoices of one customer are not independent. One slow month at a customer (cash squeeze,
  AP system migration, approver on holiday) delays all of its invoices at once, so their pay
  days are positively correlated.
* Sampling invoices independently makes the weekly totals average out and gives falsely narrow
  bands, most visibly when a few customers hold most of the open AR.

A Gaussian copula with one factor per customer keeps each invoice's marginal pmf exactly and
adds that shared shock: ``u_i = Φ(√ρ_i·z_customer + √(1−ρ_i)·ε_i)``, pay day = inverse CDF of
``u_i``. ``ρ`` is the correlation of the latent normals within a customer; ``ρ = 0`` is
independent sampling. It is estimated at training from the calibration fold, not assumed: one
value for the portfolio (`models.paydate.estimate_cash_rho`) and one for customers that pay in
runs or month-end batches (`models.paydate.fit_run_rho`), whose invoices go out together.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import pandas as pd
from scipy.special import ndtri

_BLOCK_CELLS = 1 << 20
"""Invoice × simulation cells per work unit: ~10 MB of scratch arrays per thread, any portfolio."""

_PROB_TOL = 1e-6


def weekly_probabilities(pmf: np.ndarray, weeks: int = 13) -> np.ndarray:
    """Return ``(n, weeks)`` P(paid in week w), week w = days T+1+7w .. T+7+7w.

    Days after the last week are dropped: they are cash outside the forecast horizon.
    """
    pmf = np.asarray(pmf, dtype=float)
    if pmf.ndim != 2:
        raise ValueError(f"pmf must be 2-D (invoices × days), got shape {pmf.shape}")
    days = 7 * weeks
    if weeks < 1 or pmf.shape[1] < days:
        raise ValueError(f"{weeks} weeks need a pmf horizon of ≥ {days} days, got {pmf.shape[1]}")
    return pmf[:, :days].reshape(pmf.shape[0], weeks, 7).sum(axis=2)


def cash_forecast(
    pmf: np.ndarray,
    amounts: np.ndarray,
    groups: np.ndarray,
    as_of: date,
    weeks: int = 13,
    n_sims: int = 1000,
    *,
    rho: float | np.ndarray,
    seed: int = 0,
) -> pd.DataFrame:
    """Forecast cash-in per week for ``weeks`` 7-day weeks starting the day after ``as_of``.

    ``amounts`` are open amounts in base currency; ``groups`` (usually ``customer_id``) share a
    latent factor with correlation ``rho`` (one value, or one per invoice): required, and in
    production the model's `invoice_rho`, estimated from data, since a guessed value makes the
    bands look more certain (or less) than the ledger's history supports. Returns one row per
    week with ``week_start``, ``week_end``, ``expected`` (exact: Σ amount × P(paid in week)) and
    the simulated ``p10``, ``p50``, ``p90`` of the weekly total. An invoice paid after the
    horizon (or never) contributes no cash. Deterministic for a given ``seed``, whatever the
    number of cores.
    """
    weekly = weekly_probabilities(pmf, weeks)
    sims = simulate_weekly_cash(weekly, amounts, groups, n_sims=n_sims, rho=rho, seed=seed)
    return band_frame(as_of, np.asarray(amounts, dtype=float) @ weekly, sims[:, 0, :])


def week_starts(as_of: date, weeks: int = 13) -> pd.DatetimeIndex:
    """First day of each forecast week: 7-day weeks from the day after ``as_of``."""
    return pd.date_range(pd.Timestamp(as_of) + pd.Timedelta(days=1), periods=weeks, freq="7D")


def band_frame(as_of: date, expected: np.ndarray, sims: np.ndarray) -> pd.DataFrame:
    """One row per week: dates, the exact ``expected`` and p10/p50/p90 of ``sims`` (sim × week)."""
    p10, p50, p90 = np.quantile(sims, [0.1, 0.5, 0.9], axis=0)
    week_start = week_starts(as_of, sims.shape[1])
    return pd.DataFrame(
        {
            "week_start": week_start,
            "week_end": week_start + pd.Timedelta(days=6),
            "expected": expected,
            "p10": p10,
            "p50": p50,
            "p90": p90,
        }
    )


def simulate_weekly_cash(
    weekly: np.ndarray,
    amounts: np.ndarray,
    groups: np.ndarray,
    *,
    rho: float | np.ndarray,
    by: np.ndarray | None = None,
    n_sims: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Joint draws of weekly cash totals: ``(n_sims, n_by, weeks)``.

    ``weekly`` is ``(n, weeks)`` P(paid in week) (see `weekly_probabilities`); ``by`` optionally
    codes each invoice into ``n_by = by.max() + 1`` breakdown keys (currency, segment, scenario
    line…) whose totals come from the *same* draws, so they add up path by path. ``rho`` is the
    copula correlation, one value or one per invoice (all of a customer's invoices should share
    it). The same ``seed`` gives the same latent draws for any pmf of the same shape (common
    random numbers): a scenario that delays payments moves each simulated pay week later, never
    earlier.
    """
    weekly = np.asarray(weekly, dtype=float)
    n, weeks = weekly.shape
    amounts = np.asarray(amounts, dtype=float)
    codes, uniques = pd.factorize(np.asarray(groups))
    by_codes = np.zeros(n, dtype=np.int64) if by is None else np.asarray(by, dtype=np.int64)
    if amounts.shape != (n,) or codes.shape != (n,) or by_codes.shape != (n,):
        raise ValueError(f"amounts, groups and by must have one entry per pmf row ({n})")
    if not np.isfinite(amounts).all() or (codes < 0).any() or (by_codes < 0).any():
        raise ValueError("amounts must be finite and groups / by must not be missing")
    rho = np.asarray(rho, dtype=np.float32)
    if rho.ndim > 1 or rho.size not in (1, n):
        raise ValueError(f"rho must be one value or one per pmf row ({n}), got shape {rho.shape}")
    if not ((rho >= 0.0) & (rho <= 1.0)).all():
        raise ValueError(f"rho must be in [0, 1], got {rho.min()} .. {rho.max()}")
    rho = np.broadcast_to(rho.reshape(-1), (n,))
    if n_sims < 1:
        raise ValueError(f"n_sims must be ≥ 1, got {n_sims}")
    cdf = np.cumsum(weekly, axis=1)
    if (weekly < -_PROB_TOL).any() or (cdf[:, -1:] > 1 + _PROB_TOL).any():
        raise ValueError("pmf must be non-negative with rows summing to at most 1")
    n_by = int(by_codes.max()) + 1 if n else 1

    # Comparing latent normals with Φ⁻¹(CDF) is the inverse-CDF draw without evaluating Φ on
    # every sample. Row w holds week w's threshold for all invoices (contiguous for broadcasting).
    thresholds = np.ascontiguousarray(ndtri(np.clip(cdf, 0.0, 1.0)).T, dtype=np.float32)

    block = max(1, min(n_sims, _BLOCK_CELLS // max(n, 1)))
    starts = range(0, n_sims, block)
    seeds = np.random.SeedSequence(seed).spawn(len(starts))
    sims = np.empty((n_sims, n_by, weeks))

    def run(k: int) -> None:
        start = starts[k]
        stop = min(start + block, n_sims)
        sims[start:stop] = _simulate_block(
            np.random.default_rng(seeds[k]),
            stop - start,
            thresholds,
            codes,
            len(uniques),
            amounts,
            by_codes * (weeks + 1),
            n_by,
            rho,
        )

    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, len(starts))) as pool:
        list(pool.map(run, range(len(starts))))
    return sims


def _simulate_block(
    rng: np.random.Generator,
    n_sims: int,
    thresholds: np.ndarray,
    codes: np.ndarray,
    n_groups: int,
    amounts: np.ndarray,
    by_offset: np.ndarray,
    n_by: int,
    rho: np.ndarray,
) -> np.ndarray:
    """Simulate ``n_sims`` joint pay-week draws; return ``(n_sims, n_by, weeks)`` cash totals."""
    weeks, n = thresholds.shape
    latent = rng.standard_normal((n_sims, n), dtype=np.float32)
    if (rho > 0).any():
        latent *= np.sqrt(1.0 - rho)
        shared = rng.standard_normal((n_sims, n_groups), dtype=np.float32)
        latent += np.take(shared, codes, axis=1) * np.sqrt(rho)

    # Pay week = number of week-end CDF thresholds below the draw; ``weeks`` = after the horizon.
    week = np.zeros((n_sims, n), dtype=np.min_scalar_type(weeks))
    above = np.empty((n_sims, n), dtype=bool)
    for w in range(weeks):
        np.greater(latent, thresholds[w], out=above)
        week += above
    size = n_by * (weeks + 1)
    totals = np.stack(
        [np.bincount(by_offset + row, weights=amounts, minlength=size) for row in week]
    )
    return totals.reshape(n_sims, n_by, weeks + 1)[:, :, :weeks]
