"""Feature assets: the point-in-time fact tables every model row is looked up from."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from features.warehouse import build_fact_tables
from pipelines.defs.assets.ledger import FEATURE_TABLES
from pipelines.defs.metadata import markdown_table

FACT_TABLES = {
    "invoice_facts": "One row per invoice: amounts in base currency, terms, completion day, "
    "the customer's usual amount from earlier invoices.",
    "customer_history": "Customer payment behaviour as a step function of time, from invoices "
    "paid before each day (mean/median/trend of days late, weekday and month-end habits).",
    "customer_channel_history": "The same history per delivery channel (paper, e-invoice, ...), "
    "for customers whose rhythm changes with the channel.",
    "channel_offsets": "How much later customers pay on each channel than on their others "
    "(median over customers paid on both), by month end.",
    "customer_exposure": "Customer open and overdue counts and amounts as a step function of time.",
    "invoice_paid_to_date": "Partial payments received per invoice, by day.",
    "invoice_dispute_state": "Open disputes per invoice, by day.",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            name, group_name="features", description=desc, deps=FEATURE_TABLES, kinds={"duckdb"}
        )
        for name, desc in FACT_TABLES.items()
    ],
)
def point_in_time_facts(warehouse: DuckDBResource):
    """Build the dated fact tables; point-in-time lookups (day <= k) happen at use."""
    with warehouse.get_connection() as con:
        base = con.execute("SELECT base_currency FROM run_context").fetchone()[0]
        counts = build_fact_tables(con, base)
        missing_rate = con.execute(
            "SELECT count(*) FROM invoice_facts WHERE amount_base IS NULL"
        ).fetchone()[0]
        previews = {n: con.execute(f"SELECT * FROM {n} LIMIT 5").df() for n in FACT_TABLES}
    if missing_rate:
        raise ValueError(
            f"{missing_rate} invoices have no FX rate; the contract should quarantine them"
        )
    for name in FACT_TABLES:
        yield dg.MaterializeResult(
            asset_key=name,
            metadata={"rows": counts[name], "preview": markdown_table(previews[name], 5)},
        )
