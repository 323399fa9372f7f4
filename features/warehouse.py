"""The DuckDB warehouse: canonical ledger tables in, point-in-time fact tables out.

Everything is keyed on integer days (days since 1970-01-01) so that "known at the end of day k"
is a plain ``<= k`` comparison in every ASOF join.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from data_contracts.schema import PAYMENT_TOLERANCE, TABLES

SQL_DIR = Path(__file__).parent / "sql"
EPOCH = date(1970, 1, 1)
EWM_DECAY = 0.7
EWM_LAGS = 6

_DUCK_TYPES = {
    "str": "VARCHAR",
    "date": "DATE",
    "float": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
}


def to_day(d: date | pd.Timestamp) -> int:
    """Integer day number of a date (the warehouse's time axis)."""
    return (pd.Timestamp(d).date() - EPOCH).days


def from_day(day: int) -> date:
    return date.fromordinal(EPOCH.toordinal() + int(day))


def read_sql(name: str, **structure: str) -> str:
    """Read ``sql/<name>.sql``; ``structure`` fills generated column lists, never values."""
    text = (SQL_DIR / f"{name}.sql").read_text()
    return text.format(**structure) if structure else text


def load_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    """Replace the ledger tables with the accepted rows, cast to the canonical types."""
    for table in TABLES:
        df = tables.get(table.name)
        if df is None:
            df = pd.DataFrame({c: pd.Series(dtype="object") for c in table.column_names})
        casts = ", ".join(
            f'CAST("{c.name}" AS {_DUCK_TYPES[c.type]}) AS "{c.name}"' for c in table.columns
        )
        con.register("_incoming", df[table.column_names])
        con.execute(f"CREATE OR REPLACE TABLE {table.name} AS SELECT {casts} FROM _incoming")
        con.unregister("_incoming")


def _ewm_expression() -> str:
    """Recency-weighted mean of days late over the last few completions (weights decay by rank)."""
    terms = ["late"] + [f"{EWM_DECAY**j:.6f} * lag(late, {j}) OVER seq" for j in range(1, EWM_LAGS)]
    weights = ["1.0"] + [
        f"{EWM_DECAY**j:.6f} * (lag(late, {j}) OVER seq IS NOT NULL)::DOUBLE"
        for j in range(1, EWM_LAGS)
    ]
    num = " + ".join(f"COALESCE({t}, 0)" for t in terms)
    return f"({num}) / ({' + '.join(weights)})"


def build_fact_tables(con: duckdb.DuckDBPyConnection, base_currency: str) -> dict[str, int]:
    """Build the as-of-independent fact tables every feature lookup reads.

    They hold dated step functions over the whole ledger; point-in-time correctness comes from
    each lookup's ``day <= k`` condition, so one build serves every scoring or cutoff date.
    """
    con.execute(
        read_sql("invoice_facts"),
        {"tolerance": PAYMENT_TOLERANCE, "base_currency": base_currency},
    )
    weekday_shares = ",\n        ".join(
        f"avg((weekday = {w})::DOUBLE) OVER cum AS weekday{w}_share" for w in range(7)
    )
    history_sql = read_sql(
        "customer_history", ewm_expr=_ewm_expression(), weekday_share_exprs=weekday_shares
    )
    con.execute(history_sql)
    con.execute(read_sql("customer_exposure"))
    con.execute(read_sql("invoice_state"))
    names = [
        "invoice_facts",
        "customer_history",
        "customer_channel_history",
        "customer_exposure",
        "invoice_paid_to_date",
        "invoice_dispute_state",
    ]
    return {n: con.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}


def completion_days(con: duckdb.DuckDBPyConnection, invoice_ids: pd.Series) -> np.ndarray:
    """Completion day of each invoice (NaN if never fully paid in the data), aligned with
    ``invoice_ids``. An outcome: only evaluations may read it, never features."""
    facts = con.execute("SELECT invoice_id, completion_day FROM invoice_facts").df()
    return (
        facts.set_index("invoice_id")["completion_day"]
        .reindex(invoice_ids)
        .to_numpy(dtype=np.float64)
    )


def receivables(con: duckdb.DuckDBPyConnection, as_of: date, base_currency: str) -> pd.DataFrame:
    """Every invoice issued by ``as_of`` with its paid and open amounts at the end of that day."""
    return con.execute(
        read_sql("receivables"), {"as_of": as_of, "base_currency": base_currency}
    ).df()


def customer_standing(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Name, country, email and the paid-invoice record (``hist_n``, ``hist_mean_late``,
    ``hist_share_late30``) of every customer, as known at the end of ``as_of``."""
    return con.execute(read_sql("customer_standing"), {"as_of_day": to_day(as_of)}).df()


def open_disputes(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """The dispute open on each invoice at the end of ``as_of``: opened date and reason."""
    return con.execute(read_sql("open_disputes"), {"as_of": as_of}).df()
