"""Shared fixtures: small seeded ledgers made by the demo generator (no external data)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from arcast.generate import GeneratorConfig, generate_ledger, write_ledger
from data_contracts.load import load_ledger
from features.matrix import holiday_calendar
from features.warehouse import build_fact_tables, load_tables, to_day
from models.paydate import TrainingConfig, predict_open_invoices, train_pay_date_model

SMALL = GeneratorConfig(n_customers=60, seed=7, start=date(2024, 1, 1), months=15)
FAST_TRAINING = {"max_rows": 60_000, "max_rounds": 40, "num_threads": 1}
MODEL_CUTOFF = date(2024, 12, 31)
# rounds as in production: this ledger's panel is small, so it learns at the small learning rate
# (`sized_params`) and early stopping needs about 200 of them
MODEL_CONFIG = TrainingConfig(max_rows=60_000, num_threads=1)


@pytest.fixture(scope="session")
def small_ledger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ledger")
    write_ledger(generate_ledger(SMALL), out)
    return out


@pytest.fixture(scope="session")
def small_tables(small_ledger_dir: Path) -> dict:
    loaded = load_ledger(small_ledger_dir)
    assert loaded.quarantine.empty, loaded.quarantine.head()
    return loaded.tables


def open_warehouse(tables: dict) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the ledger ``tables`` loaded and the fact tables built."""
    con = duckdb.connect()
    load_tables(con, tables)
    build_fact_tables(con, "USD")
    return con


def train_and_score(con: duckdb.DuckDBPyConnection):
    """A small model trained at MODEL_CUTOFF, its prediction of the open invoices, the calendar."""
    calendar = holiday_calendar(con, to_day(MODEL_CUTOFF) - 800, to_day(MODEL_CUTOFF) + 400)
    model = train_pay_date_model(con, MODEL_CUTOFF, calendar, MODEL_CONFIG)
    return model, predict_open_invoices(con, model, MODEL_CUTOFF, calendar), calendar


@pytest.fixture
def warehouse(small_tables: dict) -> duckdb.DuckDBPyConnection:
    con = open_warehouse(small_tables)
    yield con
    con.close()


@pytest.fixture
def trained(warehouse: duckdb.DuckDBPyConnection):
    return train_and_score(warehouse)
