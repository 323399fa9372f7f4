"""Training time of the pay-date model on a generated ledger (target: 1M invoices <= 2 min).

    python benchmarks/bench_training.py --invoices 1000000

Times the training step alone, as the retrain job runs it: panel sampling, early-stopping probe,
refit, and the p_late_30 calibration fold (a second fit at cutoff - 91 days that scores the
invoices open then). Loading the ledger and building the fact tables are reported separately.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import duckdb
from bench_pipeline import INVOICES_PER_CUSTOMER

from arcast.generate import GeneratorConfig, generate_ledger, write_ledger
from data_contracts.load import load_ledger
from features.matrix import holiday_calendar
from features.warehouse import build_fact_tables, load_tables, to_day
from models.paydate import TrainingConfig, train_pay_date_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    config = GeneratorConfig(
        n_customers=max(1, args.invoices // INVOICES_PER_CUSTOMER), seed=args.seed
    )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        write_ledger(generate_ledger(config), Path(tmp))
        print(f"generated in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        loaded = load_ledger(tmp)
        con = duckdb.connect()
        load_tables(con, loaded.tables)
        build_fact_tables(con, loaded.base_currency)
        n = con.execute("SELECT count(*) FROM invoice_facts").fetchone()[0]
        print(f"{n:,} invoices loaded, facts built in {time.perf_counter() - started:.1f} s")
    cutoff = config.export_date
    first = con.execute("SELECT min(issue_day) FROM invoice_facts").fetchone()[0]
    calendar = holiday_calendar(con, first, to_day(cutoff) + 400)
    started = time.perf_counter()
    model = train_pay_date_model(con, cutoff, calendar, TrainingConfig())
    total = time.perf_counter() - started
    for key in ("panel_rows", "panel_seconds", "rounds", "fit_seconds", "calibration_seconds"):
        print(f"{key:<22}{model.metrics.get(key, float('nan')):>12,.1f}")
    print(f"{'training total s':<22}{total:>12.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'process peak RSS MB':<22}{peak:>12.0f}  (generation included)")


if __name__ == "__main__":
    main()
