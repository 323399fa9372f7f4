"""Output assets: the collections worklist (queues, customer view, drafts, workbook) and the run
summary."""

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from arcast.drafts import drafts_frame, render_drafts, write_drafts
from arcast.io import write_csv, write_json
from arcast.workbook import ABOUT_SHEET, write_workbook
from arcast.worklist import build_worklist
from arcast.worklist_changes import HISTORY_FILE, changes_since, keep_worklist
from features.warehouse import customer_standing, open_disputes, receivables
from models.backtest import versus_baselines
from models.tracking import (
    CHALLENGER,
    Registry,
    evaluation_table,
    gate_verdict,
    tracking_uri,
    version_provenance,
)
from pipelines.defs.assets.forecasts import WEEKS
from pipelines.defs.assets.ledger import accepted_export, ledger_rows, left_out
from pipelines.defs.assets.models import fingerprint
from pipelines.defs.metadata import markdown_table
from pipelines.defs.resources import INVOCATION_TAG, ArcastSettings

WORKLIST_SQL = """
SELECT p.invoice_id, p.customer_id, p.currency, f.amount AS invoice_amount, p.amount_open,
       p.amount_open_base, p.issue_date, p.due_date, p.days_overdue, p.pay_date_p10,
       p.pay_date_p50, p.pay_date_p90, p.p_late_30,
       {weeks} AS p_paid_4w,
       p.disputed, p.reasons
FROM invoice_predictions AS p
LEFT JOIN invoice_facts AS f USING (invoice_id)
ORDER BY p.invoice_id
""".format(weeks=" + ".join(f"p.p_paid_week_{w:02d}" for w in range(1, 5)))
PROMISED_PAYMENTS_SQL = """
SELECT p.invoice_id, i.customer_id, i.issue_date, i.due_date, p.payment_date, p.amount
FROM payments AS p
JOIN invoices AS i USING (invoice_id)
WHERE p.payment_date <= $as_of
  AND i.customer_id IN (SELECT customer_id FROM contacts WHERE amount IS NOT NULL)
ORDER BY p.payment_date, p.payment_id
"""
"""The payments that can keep a promise of an amount (`arcast.worklist.PAYMENT_COLUMNS`), as
of the run's date: only those of customers with such a promise."""
WORKLIST_FILES = (
    "worklist.csv",
    "worklist_changes.csv",
    "dispute_queue.csv",
    "customer_view.csv",
    "worklist.xlsx",
    "drafts/",
)
PREVIEW_COLUMNS = [
    "rank",
    "invoice_id",
    "customer_name",
    "amount_open",
    "days_overdue",
    "p_late_30",
    "action",
    "tone",
    "next_contact",
    "reason_1",
]


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts().sort_index().items()}


@dg.asset(
    group_name="outputs",
    deps=["invoice_predictions", "contacts", "payments", "invoices", "ledger_quarantine"],
    kinds={"csv", "excel"},
    description="Open invoices ranked by money at stake and risk, split into a dunning queue "
    "(action tier, tone, next-contact date after the contact log, reasons) and a dispute queue; "
    "a customer view with totals; one reminder draft (.eml, never sent) per customer due for "
    "contact the next business day; what changed since the ledger's last worklist; the same as "
    "a formatted Excel workbook. Rules in arcast/worklist.py.",
)
def collections_worklist(
    context: dg.AssetExecutionContext, settings: ArcastSettings, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        as_of, base, ledger = con.execute("SELECT * FROM run_context").fetchone()
        pred = con.execute(WORKLIST_SQL).df()
        standing = customer_standing(con, as_of)
        disputes = open_disputes(con, as_of)
        contacts = con.execute("SELECT * FROM contacts").df()
        payments = con.execute(PROMISED_PAYMENTS_SQL, {"as_of": as_of}).df()
        book = receivables(con, as_of, base)
        model = model_identity(con, settings.registry)
        about = worklist_about(settings, as_of, model, fingerprint(con), left_out(con))
    worklist = build_worklist(pred, as_of, standing, disputes, contacts, payments)
    drafts = render_drafts(worklist, as_of, settings.sender, settings.templates_dir or None)
    kept = keep_worklist(settings.home_path / HISTORY_FILE, ledger, as_of, worklist.lines)
    paid = book.loc[book["paid"], "invoice_id"]
    since, changes = changes_since(kept, ledger, as_of, worklist.lines, paid)
    out = settings.out_path
    write_csv(worklist.lines, out / "worklist.csv")
    write_csv(worklist.disputes, out / "dispute_queue.csv")
    write_csv(worklist.customers, out / "customer_view.csv")
    write_csv(changes, out / "worklist_changes.csv")
    write_drafts(drafts, out / "drafts", settings.sender)
    write_workbook(
        {
            "Worklist": worklist.dunning,
            "Customers": worklist.customers,
            "Disputes": worklist.disputes,
            "Drafts": drafts_frame(drafts),
            "Changes": changes,
            ABOUT_SHEET: about,
        },
        out / "worklist.xlsx",
        created=as_of,
    )
    dunning = worklist.dunning
    context.log.info(
        f"worklist: {len(dunning)} dunning, {len(worklist.disputes)} disputed, {len(drafts)} drafts"
    )
    return dg.MaterializeResult(
        metadata={
            "rows": len(worklist.lines),
            "dunning_queue": len(dunning),
            "dispute_queue": len(worklist.disputes),
            "customers": len(worklist.customers),
            "drafts": len(drafts),
            "actions": dg.MetadataValue.json(_counts(dunning["action"])),
            "tones": dg.MetadataValue.json(_counts(worklist.customers["tone"])),
            "amount_open_by_action": dg.MetadataValue.json(
                {
                    str(k): round(float(v), 2)
                    for k, v in worklist.lines.groupby("action")["amount_open"].sum().items()
                }
            ),
            "top": markdown_table(dunning[PREVIEW_COLUMNS]),
            "top_customers": markdown_table(
                worklist.customers[
                    ["rank", "customer_name", "open_amount", "overdue_amount", "action", "tone"]
                ]
            ),
            "changes_since": str(since) if since else "no earlier worklist of this ledger",
            "changes": dg.MetadataValue.json(_counts(changes["change"])),
            "model": dg.MetadataValue.json(model),
            "files": dg.MetadataValue.json([str(out / f) for f in WORKLIST_FILES]),
        }
    )


def _step_timings(context: dg.AssetExecutionContext) -> dict[str, float]:
    """Seconds per step over every run of this invocation (retrain + score), oldest first."""
    invocation = context.run.tags.get(INVOCATION_TAG)
    runs = (
        context.instance.get_runs(filters=dg.RunsFilter(tags={INVOCATION_TAG: invocation}))
        if invocation
        else [context.run]
    )
    timings: dict[str, float] = {}
    for run in reversed(runs):
        for s in context.instance.get_run_step_stats(run.run_id):
            if s.end_time is not None and s.start_time is not None:
                timings[s.step_key] = round(s.end_time - s.start_time, 2)
    return timings


def model_identity(con: duckdb.DuckDBPyConnection, registry: Registry) -> dict:
    """The model that scored this run, as recorded when it scored: registered name and version,
    the aliases pointing at it, its MLflow run, the last day of data and the paid invoices it
    learnt from, the fingerprint of the ledger it learnt from (``ledger_fingerprint``), and the
    open invoices more overdue than any it saw paid (``beyond_paid_history``, with the age past
    due at which its training follows an invoice no further and how many invoices were paid
    later than that), whose forecasts carry what it learnt of younger debts past its evidence."""
    version, paid_invoices, through, oldest, cap, past = con.execute(
        "SELECT model_version, model_paid_invoices, model_trained_through, "
        "model_oldest_paid_days_late, model_max_days_late, model_paid_past_panel "
        "FROM scoring_context"
    ).fetchone()
    in_13_weeks = " + ".join(f"p_paid_week_{w:02d}" for w in range(1, WEEKS + 1))
    beyond, beyond_amount, beyond_cash = con.execute(
        "SELECT count(*), COALESCE(sum(amount_open_base), 0), "
        f"COALESCE(sum(amount_open_base * ({in_13_weeks})), 0) FROM invoice_predictions "
        "WHERE days_overdue > $oldest",
        {"oldest": oldest},
    ).fetchone()
    provenance = version_provenance(registry, version)
    logged = provenance["fingerprint"]
    return {
        "name": registry.model_name,
        "version": version,
        "aliases": provenance["aliases"],
        "run_id": provenance["run_id"],
        "trained_through": str(through),
        "paid_invoices": paid_invoices,
        "ledger_fingerprint": {k: logged.get(k) for k in ("hash", "invoices", "payments")},
        "beyond_paid_history": {
            "oldest_paid_days_late": oldest,
            "max_days_late": cap,
            "paid_past_panel": past,
            "open_invoices": int(beyond),
            "amount_open_base": round(float(beyond_amount), 2),
            "expected_13w_base": round(float(beyond_cash), 2),
        },
    }


def serving_model(con: duckdb.DuckDBPyConnection, registry: Registry) -> dict:
    """The model that scored this run (`model_identity`), how it did against the spreadsheet
    baselines on its backtest window — what every command that scores tells its user before
    they act on the numbers — and what the promotion gate said of the latest challenger."""
    model = model_identity(con, registry)
    window = evaluation_table(registry, model["version"])
    return model | {
        "versus_baselines": versus_baselines(window) if window is not None else None,
        "latest_challenger": gate_verdict(registry, CHALLENGER),
    }


def _ledger(fingerprint: dict) -> str:
    counts = f"{fingerprint['invoices']:,} invoices, {fingerprint['payments']:,} payments"
    return f"{fingerprint['hash']} ({counts})"


def worklist_about(
    settings: ArcastSettings, as_of: date, model: dict, scored: dict, rows_left_out: str
) -> pd.DataFrame:
    """The workbook's About sheet: which ledger export and which model produced the worklist
    (with the MLflow run and both ledgers' fingerprints), so that ops and auditors can trace it
    after the champion has moved on, and what the data contract left out of it (`left_out`:
    a quarantined invoice is on no worklist). `arcast worklist` prints its model line from it."""
    learnt = model["ledger_fingerprint"]
    same = " (the export scored)" if learnt["hash"] == scored["hash"] else ""
    aliases = f" ({', '.join(model['aliases'])})" if model["aliases"] else ""
    paid = model["paid_invoices"]
    rows = {
        "as of": str(as_of),
        "ledger": settings.ledger_key,
        "ledger folder": str(Path(settings.data_dir).resolve()),
        "ledger fingerprint": _ledger(scored),
        "rows left out": rows_left_out,
        "model": model["name"],
        "model version": f"{model['version']}{aliases}",
        "trained through": model["trained_through"],
        "paid invoices learnt from": "unknown" if paid is None else f"{paid:,}",
        "learnt from ledger": _ledger(learnt) + same if learnt["hash"] is not None else "unknown",
        "MLflow run": model["run_id"],
        "MLflow tracking URI": tracking_uri(settings.home_path),
        "export checked against": _checked_against(settings),
    }
    return pd.DataFrame({"item": list(rows), "value": list(rows.values())})


def _checked_against(settings: ArcastSettings) -> str:
    """What the continuity check compared this export with: an acceptance of missing rows made
    by mistake stays visible in every worklist scored while it is in effect."""
    accepted = accepted_export(settings)
    if accepted is None:
        return "the ledger the champion learnt from"
    last = accepted["accepted"][-1]
    return (
        f"the export accepted on {last['accepted_at'][:10]} with rows missing, as of "
        f"{accepted['as_of']} ({'; '.join(last['missing'])})"
    )


@dg.asset(
    group_name="outputs",
    deps=[
        "collections_worklist",
        "cash_forecast_13w",
        "ar_kpis",
        "kpi_forecast",
        "forecast_accuracy",
        "ledger_quarantine",
        "cfo_report",
    ],
    kinds={"json"},
    description="Row accounting per input file, model version (and how it did against the "
    "spreadsheet baselines on its backtest window) and timings per stage of this run.",
)
def run_summary(
    context: dg.AssetExecutionContext, settings: ArcastSettings, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        as_of, base, ledger = con.execute("SELECT * FROM run_context").fetchone()
        rows = ledger_rows(con)
        open_invoices = con.execute("SELECT count(*) FROM invoice_predictions").fetchone()[0]
        model = serving_model(con, settings.registry)
    timings = _step_timings(context)
    summary = {
        "run_id": context.run_id,
        "data_dir": str(Path(settings.data_dir).resolve()),
        "ledger": ledger,
        "as_of": as_of.isoformat(),
        "base_currency": base,
        "rows": rows,
        "open_invoices_scored": int(open_invoices),
        "model": model,
        "timings_seconds": timings,
        "outputs": sorted(
            {p.name for p in settings.out_path.iterdir() if not p.name.startswith(".")}
            | {"run_summary.json"}
        ),
    }
    write_json(summary, settings.out_path / "run_summary.json")
    return dg.MaterializeResult(metadata={"summary": dg.MetadataValue.json(summary)})
