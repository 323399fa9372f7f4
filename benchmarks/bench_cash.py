"""Benchmark ``cash_forecast`` at portfolio scale: 200k invoices × 182-day pmf × 1,000 sims.

Run: ``python benchmarks/bench_cash.py [--invoices N] [--customers N] [--sims N]``. Prints the
wall time of the forecast, the peak traced NumPy/Python allocation during it (tracemalloc) and
the process's peak resident set size (getrusage, includes the input pmf).
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from datetime import date

import numpy as np

from models.cash import cash_forecast


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


if __name__ == "__main__":
    main()
