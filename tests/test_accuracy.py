"""The forecast history keeps every run's forecast, also when runs finish together."""

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from arcast.accuracy import HISTORY_COLUMNS, append_history

RUNS = 8
APPENDS = 5


def _forecast(run: int, n: int) -> pd.DataFrame:
    as_of = pd.Timestamp("2025-01-01") + pd.Timedelta(days=run * APPENDS + n)
    week_start = as_of + pd.Timedelta(days=1)
    return pd.DataFrame(
        {
            "ledger": "ledgers/demo",
            "as_of": as_of,
            "line": "open_ar",
            "week": 1,
            "run_id": f"run-{run}-{n}",
            "run_time": as_of,
            "model_version": "1",
            "week_start": week_start,
            "week_end": week_start + pd.Timedelta(days=6),
            "expected": 100.0,
            "p10": 80.0,
            "p50": 100.0,
            "p90": 120.0,
        },
        index=[0],
    )[HISTORY_COLUMNS]


def _append_several(path: Path, run: int) -> None:
    for n in range(APPENDS):
        append_history(path, _forecast(run, n))


def test_runs_appending_at_once_all_keep_their_forecast(tmp_path):
    path = tmp_path / "forecast_history.parquet"
    with ProcessPoolExecutor(max_workers=4) as pool:
        list(pool.map(_append_several, [path] * RUNS, range(RUNS)))
    history = pd.read_parquet(path)
    assert sorted(history["run_id"]) == sorted(
        f"run-{run}-{n}" for run in range(RUNS) for n in range(APPENDS)
    )
