"""The forecast history keeps every run's forecast, also when runs finish together."""

from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

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


def test_cash_received_is_valued_at_the_forecasts_rate_not_the_payment_dates() -> None:
    """As in the cash backtest: an FX move after the forecast is no forecast error."""
    import duckdb

    from features.warehouse import weekly_collections

    con = duckdb.connect()
    day = (date(2025, 1, 1) - date(1970, 1, 1)).days
    con.execute(
        "CREATE TABLE invoice_facts AS SELECT * FROM (VALUES "
        "('I1', 'EUR', 110.0, 100.0, $d, NULL)) "
        "AS t(invoice_id, currency, amount_base, amount, issue_day, completion_day)",
        {"d": day - 30},
    )
    con.execute(
        "CREATE TABLE payments AS SELECT 'P1' AS payment_id, 'I1' AS invoice_id, "
        "DATE '2025-01-03' AS payment_date, 100.0 AS amount"
    )
    con.execute(
        "CREATE TABLE fx_rates AS SELECT * FROM (VALUES (DATE '2025-01-01', 'EUR', 1.1), "
        "(DATE '2025-01-02', 'EUR', 1.3)) AS t(date, currency, rate_to_base)"
    )
    cash = weekly_collections(con, [date(2025, 1, 1)], date(2025, 1, 31), "USD")
    assert cash["open_ar"].tolist() == [pytest.approx(110.0)]  # 1.1 on 01-01, not 1.3 on 01-03
