"""Benchmark ``cash_forecast`` at portfolio scale: 200k invoices × 182-day pmf × 1,000 sims.

Run: ``python benchmarks/bench_cash.py [--invoices N] [--customers N] [--sims N]``. Prints the
wall time of the forecast, the peak traced NumPy/Python allocation during it (tracemalloc) and
the process's peak resident set size (getrusage, includes the input pmf). Then times
`fit_run_rho` on a calibration fold of the largest size training scores
(``MAX_CALIBRATION_INVOICES``), every customer a run payer.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from datetime import date

import numpy as np
import pandas as pd

from features.warehouse import WEEKDAY_SHARES, to_day
from models.cash import cash_forecast
from models.paydate import (
    MAX_CALIBRATION_INVOICES,
    RUN_MIN_PAID,
    PayDatePrediction,
    fit_run_rho,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--horizon", type=int, default=182)
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--rho", type=float, default=0.3, help="copula correlation (timing only)")
    args = parser.parse_args()

    rng = np.random.default_rng(42)
    pmf = rng.random((args.invoices, args.horizon))
    # Rows keep 5-30 % of their mass beyond the horizon ("not paid within H days").
    pmf *= (rng.uniform(0.7, 0.95, args.invoices) / pmf.sum(axis=1))[:, None]
    amounts = rng.lognormal(mean=8.0, sigma=1.2, size=args.invoices)
    groups = rng.integers(0, args.customers, args.invoices)
    input_mb = (pmf.nbytes + amounts.nbytes + groups.nbytes) / 2**20

    tracemalloc.start()
    start = time.perf_counter()
    forecast = cash_forecast(
        pmf, amounts, groups, date(2024, 6, 30), n_sims=args.sims, rho=args.rho
    )
    elapsed = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    print(forecast.to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
    print(
        f"\n{args.invoices:,} invoices × {args.horizon} days × {args.sims:,} sims: "
        f"{elapsed:.2f} s, peak traced allocation {traced_peak / 2**20:,.0f} MB "
        f"(inputs {input_mb:,.0f} MB), peak RSS {rss_peak_mb:,.0f} MB"
    )

    n = MAX_CALIBRATION_INVOICES
    as_of = date(2024, 3, 31)
    known = pd.DataFrame(
        {
            "customer_id": rng.integers(0, n // 10, n).astype(str),
            "amount_base": amounts[:n],
            "paid_share": np.zeros(n),
            "hist_n": np.full(n, RUN_MIN_PAID),
            "month_end_share": np.ones(n),
            **{name: np.zeros(n) for name in WEEKDAY_SHARES},
        }
    )
    fold = PayDatePrediction(as_of, known, pmf[:n])
    completion = to_day(as_of) + 1 + np.minimum(rng.geometric(0.03, n), 200).astype(float)
    start = time.perf_counter()
    rho = fit_run_rho(fold, completion, to_day(as_of) + 91, 0.1, seed=1)
    print(
        f"fit_run_rho on a {n:,}-invoice calibration fold: {time.perf_counter() - start:.2f} s "
        f"(fitted {rho:.2f})"
    )


if __name__ == "__main__":
    main()
