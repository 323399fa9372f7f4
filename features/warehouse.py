"""The DuckDB warehouse: canonical ledger tables in, point-in-time fact tables out.

Everything is keyed on integer days (days since 1970-01-01) so that "known at the end of day k"
is a plain ``<= k`` comparison in every ASOF join.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from data_contracts.schema import MONEY_DIGITS, PAYMENT_TOLERANCE, TABLES

SQL_DIR = Path(__file__).parent / "sql"
EPOCH = date(1970, 1, 1)
EWM_DECAY = 0.7
EWM_LAGS = 6
MIN_CHANNEL_OFFSET_CUSTOMERS = 5
"""Customers paid on both sides that a channel offset needs: fewer is one customer's noise."""
MONTH_END_DAYS = 2
"""A payment made at most this many days before its month's last day is a month-end payment:
the last business day of a month ending on a weekend still counts (`month_end_share`, and the
month-end batch payers of `models.billing`)."""
WEEKDAY_SHARES = tuple(f"weekday{w}_share" for w in range(7))
"""`customer_history` columns: the share of the customer's payments made on each weekday
(Monday first), the habit of a customer that pays in weekly runs."""
MONTH_DAY_SHARES = tuple(f"month_day{m}_share" for m in range(1, 32))
"""`customer_history` columns: the share of the customer's payments made on each day of the
month, the habit of a customer whose payment runs fall on fixed dates (the 10th and the 25th).
Stored as FLOAT, the precision the model matrix reads them in: 31 of them ride through every
feature lookup."""

AGING_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("current", -np.inf, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, np.inf),
)
"""(name, first, last) days overdue, inclusive; ``current`` is not yet due."""

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


def month_end(index: int) -> date:
    """Last day of month ``index`` (year * 12 + month - 1)."""
    year, month = divmod(index + 1, 12)
    return date(year, month + 1, 1) - timedelta(days=1)


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


def save_tables(con: duckdb.DuckDBPyConnection, frames: dict[str, pd.DataFrame]) -> None:
    """Store each DataFrame as a warehouse table (replacing it), for the assets downstream."""
    for name, frame in frames.items():
        con.register("_frame", frame)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _frame")
        finally:
            con.unregister("_frame")


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
        {
            "tolerance": PAYMENT_TOLERANCE,
            "money_digits": MONEY_DIGITS,
            "base_currency": base_currency,
        },
    )
    weekday_shares = ",\n        ".join(
        f"avg((weekday = {w})::DOUBLE) OVER cum AS {name}" for w, name in enumerate(WEEKDAY_SHARES)
    )
    month_day_shares = ",\n        ".join(
        f"(avg((month_day = {m})::DOUBLE) OVER cum)::FLOAT AS {name}"
        for m, name in enumerate(MONTH_DAY_SHARES, start=1)
    )
    history_sql = read_sql(
        "customer_history",
        ewm_expr=_ewm_expression(),
        weekday_share_exprs=weekday_shares,
        month_day_share_exprs=month_day_shares,
    )
    con.execute(history_sql, {"month_end_days": MONTH_END_DAYS})
    con.execute(read_sql("customer_channel_history"))
    con.execute(read_sql("channel_offsets"), {"min_customers": MIN_CHANNEL_OFFSET_CUSTOMERS})
    con.execute(read_sql("customer_exposure"))
    con.execute(read_sql("invoice_state"))
    names = [
        "invoice_facts",
        "customer_history",
        "customer_channel_history",
        "channel_offsets",
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
        read_sql("receivables"),
        {
            "as_of": as_of,
            "base_currency": base_currency,
            "tolerance": PAYMENT_TOLERANCE,
            "money_digits": MONEY_DIGITS,
        },
    ).df()


def open_invoices(con: duckdb.DuckDBPyConnection, as_of: date, base_currency: str) -> pd.DataFrame:
    """The invoices open at the end of ``as_of`` with what a what-if selects them by: customer,
    segment, country, currency, an open dispute, the open amount in base currency."""
    book = receivables(con, as_of, base_currency)
    book = book.loc[book["amount_open"] > 0, ["invoice_id", "customer_id", "currency"]].assign(
        amount_open_base=book["amount_open_base"]
    )
    facts = con.execute("SELECT invoice_id, segment, country FROM invoice_facts").df()
    disputed = con.execute(read_sql("open_disputes"), {"as_of": as_of}).df()["invoice_id"]
    book = book.merge(facts, on="invoice_id", how="left")
    return book.assign(disputed=book["invoice_id"].isin(disputed)).reset_index(drop=True)


def fx_rates_at(
    con: duckdb.DuckDBPyConnection, as_of: date, base_currency: str
) -> dict[str, float]:
    """Base-currency rate of every ledger currency known at the end of ``as_of`` (the rate the
    open AR is valued at); an invoice currency with no rate by then keeps its earliest issue-date
    rate, a currency only the rates file (or quarantined rows) has, none."""
    rows = con.execute(
        """
        SELECT
            i.currency,
            COALESCE(
                arg_max(fx.rate_to_base, fx.date),
                arg_min(f.amount_base / f.amount, (f.issue_day, f.invoice_id))
            )
        FROM (SELECT currency FROM invoice_facts UNION SELECT currency FROM fx_rates) AS i
        LEFT JOIN fx_rates AS fx ON fx.currency = i.currency AND fx.date <= $as_of
        LEFT JOIN invoice_facts AS f ON f.currency = i.currency AND fx.currency IS NULL
        GROUP BY i.currency
        """,
        {"as_of": as_of},
    ).fetchall()
    rates = {currency: float(rate) for currency, rate in rows if rate is not None}
    rates[base_currency] = 1.0
    return rates


def weekly_collections(
    con: duckdb.DuckDBPyConnection,
    origins: list[date],
    as_of: date,
    base_currency: str,
    weeks: int = 13,
) -> pd.DataFrame:
    """Actual cash per forecast week after each origin, as known at ``as_of``: one row per
    (as_of = origin, week) with ``total``, ``open_ar`` and ``projected_billing`` in base currency.
    Weeks without any payment have no row (the caller reindexes them to zero)."""
    con.register("_origins", pd.DataFrame({"origin": pd.to_datetime(pd.Series(origins))}))
    try:
        return con.execute(
            read_sql("collections"),
            {"as_of": as_of, "base_currency": base_currency, "weeks": weeks},
        ).df()
    finally:
        con.unregister("_origins")


def aging_bucket(days_overdue: np.ndarray) -> np.ndarray:
    """Index into `AGING_BUCKETS` of each whole number of days overdue."""
    firsts = np.array([first for _, first, _ in AGING_BUCKETS[1:]])
    return np.searchsorted(firsts, np.asarray(days_overdue), side="right")


def payments_after(con: duckdb.DuckDBPyConnection, as_of: date, days: int) -> pd.DataFrame:
    """Payments dated in the ``days`` days after ``as_of``: invoice_id, ``ahead`` (1 = the day
    after), amount in invoice currency, in payment order. An outcome, like `completion_days`."""
    return con.execute(
        """
        SELECT invoice_id, (payment_date - $as_of)::INTEGER AS ahead, amount
        FROM payments
        WHERE payment_date > $as_of AND payment_date <= $as_of + $days::INTEGER
        ORDER BY invoice_id, payment_date, payment_id
        """,
        {"as_of": as_of, "days": days},
    ).df()


def customer_standing(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Name, country, email and the paid-invoice record (``hist_n``, ``hist_mean_late``,
    ``hist_share_late30``) of every customer, as known at the end of ``as_of``."""
    return con.execute(read_sql("customer_standing"), {"as_of_day": to_day(as_of)}).df()


def open_disputes(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """The dispute open on each invoice at the end of ``as_of``: opened date and reason."""
    return con.execute(read_sql("open_disputes"), {"as_of": as_of}).df()
