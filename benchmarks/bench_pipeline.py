"""Time and peak memory per stage of the whole pipeline on a generated ledger.

    python benchmarks/bench_pipeline.py --invoices 100000
    python benchmarks/bench_pipeline.py --invoices 1000000

Peak memory is the process's resident set size sampled every 50 ms while each stage runs (the
stages run in this process, one after another), so it includes everything the stage holds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from arcast.generate import GeneratorConfig, generate_ledger, write_ledger
from pipelines.defs.resources import ArcastSettings
from pipelines.run import run_pipeline

INVOICES_PER_CUSTOMER = 56  # the generator's average over 24 months (35% start mid-way)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class StagePeaks:
    """Peak RSS per pipeline stage, fed by the run's step start/success events."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.peaks: dict[str, float] = {}
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            if self.current:
                self.peaks[self.current] = max(self.peaks.get(self.current, 0.0), rss_mb())

    def on_step(self, event: str, step: str) -> None:
        if event == "start":
            self.current = step
            self.started[step] = time.perf_counter()
        elif event in ("success", "failure"):
            self.seconds[step] = time.perf_counter() - self.started.get(step, time.perf_counter())
            self.current = None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    root = args.workdir or Path(tempfile.mkdtemp(prefix="arcast-bench-"))
    customers = max(20, args.invoices // INVOICES_PER_CUSTOMER)
    started = time.perf_counter()
    ledger = generate_ledger(
        GeneratorConfig(n_customers=customers, seed=args.seed, start=date(2024, 1, 1), months=24)
    )
    write_ledger(ledger, root / "ledger")
    n_invoices = len(ledger.tables["invoices"])
    n_payments = len(ledger.tables["payments"])
    del ledger
    print(
        f"generated {customers} customers, {n_invoices} invoices, {n_payments} payments "
        f"in {time.perf_counter() - started:.1f} s"
    )

    settings = ArcastSettings(
        data_dir=str(root / "ledger"), out_dir=str(root / "out"), home=str(root / "home")
    )
    peaks = StagePeaks()
    started = time.perf_counter()
    (retrain, _), _ = run_pipeline(settings, progress=peaks.on_step)
    total = time.perf_counter() - started
    peaks.stop()

    summary = json.loads((root / "out" / "run_summary.json").read_text())
    print(f"\n{'stage':<24}{'seconds':>10}{'peak RSS MB':>14}")
    for stage, seconds in peaks.seconds.items():
        print(f"{stage:<24}{seconds:>10.1f}{peaks.peaks.get(stage, float('nan')):>14.0f}")
    print(f"{'whole run':<24}{total:>10.1f}{max(peaks.peaks.values()):>14.0f}")
    print(f"\nopen invoices scored: {summary['open_invoices_scored']}")
    (model,) = retrain.asset_materializations_for_node("pay_date_model")
    for key in ("panel_rows", "panel_seconds", "fit_seconds", "rounds"):
        print(f"training {key}: {model.metadata[key].value}")


if __name__ == "__main__":
    main()
