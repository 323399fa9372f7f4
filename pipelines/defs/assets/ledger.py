"""Ledger assets: the canonical tables as accepted by the data contract, plus the quarantine."""

import json
import shlex
from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from arcast.io import write_csv, write_json
from arcast.report import money
from data_contracts.continuity import TABLES as COMPARED_TABLES
from data_contracts.continuity import compared_from, monthly_counts, vanished_rows
from data_contracts.load import (
    QUARANTINE_FILE,
    LedgerFileError,
    LoadedLedger,
    customers_named,
    load_ledger,
)
from data_contracts.schema import CONTACTS, TABLES
from data_contracts.suites import validate_tables
from features.warehouse import fx_rates_at, load_tables, save_tables
from models.tracking import data_fingerprint, registered_at, trained_through
from pipelines.defs.resources import ArcastSettings

LEDGER_TABLES = [t.name for t in TABLES]
FEATURE_TABLES = [t for t in LEDGER_TABLES if t != CONTACTS.name]
"""What the features are built from: the contact log only schedules the worklist."""
LEDGER_ASSETS = [*LEDGER_TABLES, "ledger_quarantine"]
DATE_COLUMNS = {
    "invoices": "issue_date",
    "payments": "payment_date",
    "disputes": "opened_date",
    "fx_rates": "date",
    "contacts": "contact_date",
}


ACCEPTED_EXPORT_FILE = "accepted_export.json"
"""In the ledger's state directory: an export accepted with fewer rows than the one the
champion learnt from (``accept_missing_rows``), which the next exports are compared with until
a champion registered after the acceptance replaces it."""

STALE_AS_OF_DAYS = 31
"""An as-of date this long after the ledger's last invoice or payment is worth a warning: every
open invoice is then scored as if nothing had been paid since the export."""


def _resolve_as_of(loaded: LoadedLedger, requested: date | None) -> date:
    """The requested as-of date, or the latest activity date in the ledger. A ledger without an
    accepted invoice is refused here, once its quarantine says why; a requested date long after
    the ledger's last activity, and contact-log entries dated after a live as-of date, are
    added to its warnings."""
    tables = loaded.tables
    if not len(tables["invoices"]):
        file = loaded.files["invoices"].name
        counts = loaded.accounting.get(file, {})
        raise LedgerFileError(
            f"{file}: no row was accepted ({counts.get('quarantined', 0)} of "
            f"{counts.get('rows_in', 0)} quarantined; {QUARANTINE_FILE} says why): nothing to "
            "forecast"
        )
    latest = max(
        pd.to_datetime(tables[name][col]).max()
        for name, col in (("invoices", "issue_date"), ("payments", "payment_date"))
        if len(tables[name])
    ).date()
    as_of = latest if requested is None else requested
    if (as_of - latest).days > STALE_AS_OF_DAYS:
        loaded.warnings.append(
            f"the as-of date {as_of} is {(as_of - latest).days:,} days after the "
            f"ledger's last invoice or payment ({latest}): every open invoice is scored as if "
            "nothing had been paid since"
        )
    if as_of >= latest:  # not a replay, which sees later contacts as not made yet
        loaded.warnings.extend(_contacts_ahead(loaded, as_of))
    return as_of


def _contacts_ahead(loaded: LoadedLedger, after: date) -> list[str]:
    """Contact-log entries dated after an as-of date on or after the ledger's last activity: no
    replay explains them, so they are mistyped dates or calls logged after the export's last
    invoice or payment; either way the worklist counts them only from their date on, and would
    ask today for a call already made or chase a promise already given."""
    contacts = loaded.tables.get("contacts")
    if contacts is None or contacts.empty:
        return []
    dates = pd.to_datetime(contacts["contact_date"])
    ahead = contacts[dates > pd.Timestamp(after)]
    if ahead.empty:
        return []
    file = loaded.files["contacts"].name
    one = len(ahead) == 1
    entries = f"{len(ahead)} entr{'y' if one else 'ies'}"
    return [
        f"{file}: {entries} of {customers_named(ahead['customer_id'])} dated after "
        f"{after} (the latest {dates.max().date()}), after the as-of date and the ledger's last "
        f"invoice or payment: the worklist does not count {'it' if one else 'them'} before "
        f"{'its' if one else 'their'} date; correct a mistyped date, or give the as-of date "
        f"{'it was' if one else 'they were'} made by"
    ]


def ledger_rows(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Per file, as the ledger asset stored it: rows in, accepted, quarantined, after as-of."""
    accounting = con.execute("SELECT * FROM ledger_accounting ORDER BY file").df()
    return {
        row["file"]: {k: int(row[k]) for k in ("rows_in", "accepted", "quarantined", "after_as_of")}
        for row in accounting.to_dict("records")
    }


MONEY_TABLES = ("invoices", "payments")
"""The tables whose quarantined rows take money out of the forecast."""
NOT_VALUED = "not valued: no amount or no FX rate"
ROW_NOUNS = {
    "invoices": ("invoice", "invoices"),
    "payments": ("payment", "payments"),
    "customers": ("customer", "customers"),
    "disputes": ("dispute", "disputes"),
    "fx_rates": ("FX rate", "FX rates"),
    "contacts": ("contact-log entry", "contact-log entries"),
}


def left_out(con: duckdb.DuckDBPyConnection) -> str:
    """One plain line on what the data contract kept out of the run, for the CFO report and the
    worklist's About sheet: a forecast that silently lacks a quarantined JPY 100,000,000 invoice
    reads as whole. Rows per table, invoices' and payments' money in base currency, and how
    many of them could not be valued."""
    as_of, base = con.execute("SELECT as_of, base_currency FROM run_context").fetchone()
    refused = con.execute('SELECT "table", currency, amount FROM ledger_quarantine').df()
    if refused.empty:
        return "No rows left out of this forecast: every ledger row passed the data contract."
    # valued as open amounts are: a currency without a rate by as-of, or no amount, is not
    refused["amount_base"] = refused["amount"] * refused["currency"].map(
        fx_rates_at(con, as_of, base)
    )
    rows = refused.groupby("table").agg(
        n=("table", "size"), valued=("amount_base", "count"), amount_base=("amount_base", "sum")
    )
    rows = rows.reindex([t for t in ROW_NOUNS if t in rows.index])
    parts = []
    for table, row in rows.iterrows():
        n, valued = int(row["n"]), int(row["valued"])
        part = f"{n:,} {ROW_NOUNS[table][n != 1]}"
        if table in MONEY_TABLES:
            worth = money(row["amount_base"], base)
            if not valued:
                part += f" ({NOT_VALUED})"
            elif valued < n:
                part += f" ({worth}; {n - valued:,} of them {NOT_VALUED})"
            else:
                part += f" ({worth})"
        parts.append(part)
    total = int(rows["n"].sum())
    return (
        f"{total:,} row{'s' if total != 1 else ''} left out of this forecast "
        f"({QUARANTINE_FILE}): {', '.join(parts)}."
    )


def ledger_warnings(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What the loader ignored (columns, blank lines) and an as-of long after the data."""
    return [w for (w,) in con.execute("SELECT warning FROM ledger_warnings").fetchall()]


def _after_as_of(tables: dict[str, pd.DataFrame], as_of: date) -> dict[str, int]:
    """Accepted rows dated after as-of: kept in the warehouse, ignored by every as-of view."""
    cutoff = pd.Timestamp(as_of)
    return {
        name: int((pd.to_datetime(tables[name][col]) > cutoff).sum())
        for name, col in DATE_COLUMNS.items()
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            name,
            group_name="ledger",
            description=f"Accepted rows of {name} (canonical schema), as a DuckDB table.",
            kinds={"duckdb"},
        )
        for name in LEDGER_TABLES
    ]
    + [
        dg.AssetSpec(
            "ledger_quarantine",
            group_name="ledger",
            description="Rows rejected by the data contract, with file, row, column and reason.",
            kinds={"csv"},
        )
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "contract",
            asset=name,
            blocking=True,
            description=f"Great Expectations suite for {name} holds on the accepted rows.",
        )
        for name in LEDGER_TABLES
    ]
    + [
        dg.AssetCheckSpec(
            "row_accounting",
            asset="ledger_quarantine",
            blocking=True,
            description="For every file: rows in = rows accepted + rows quarantined.",
        )
    ],
)
def ledger(context: dg.AssetExecutionContext, settings: ArcastSettings, warehouse: DuckDBResource):
    """Read the ledger folder, quarantine bad rows, load the rest into the warehouse."""
    loaded = load_ledger(settings.data_dir, base_currency=settings.base_currency)
    write_csv(loaded.quarantine, settings.out_path / QUARANTINE_FILE)
    as_of = _resolve_as_of(loaded, settings.as_of_date())
    after = _after_as_of(loaded.tables, as_of)
    with warehouse.get_connection() as con:
        load_tables(con, loaded.tables)
        con.execute(
            "CREATE OR REPLACE TABLE run_context AS SELECT $as_of::DATE AS as_of, "
            "$base AS base_currency, $ledger AS ledger",
            {"as_of": as_of, "base": loaded.base_currency, "ledger": settings.ledger_key},
        )
        accounting = pd.DataFrame(
            [
                {"file": source, "table_name": table, **loaded.accounting[source]}
                for table, source in loaded.sources.items()
            ]
        )
        accounting["after_as_of"] = accounting["table_name"].map(lambda t: after.get(t, 0))
        warnings = pd.DataFrame({"warning": pd.Series(loaded.warnings, dtype="string")})
        save_tables(
            con,
            {
                "ledger_accounting": accounting,
                "ledger_quarantine": loaded.quarantine,
                "ledger_warnings": warnings,
            },
        )
    for warning in loaded.warnings:
        context.log.warning(warning)

    contract = validate_tables(loaded.tables)
    for name in LEDGER_TABLES:
        df = loaded.tables[name]
        result = contract.get(name, {"success": True})
        yield dg.MaterializeResult(
            asset_key=name,
            metadata={
                "rows": len(df),
                "rows_after_as_of": after.get(name, 0),
                "as_of": as_of.isoformat(),
                "preview": dg.MetadataValue.md(df.head(5).to_markdown(index=False)),
            },
            check_results=[
                dg.AssetCheckResult(
                    asset_key=name,
                    check_name="contract",
                    passed=bool(result["success"]),
                    metadata={k: v for k, v in result.items() if isinstance(v, int | float | str)},
                    description=None if result["success"] else str(result.get("failed")),
                )
            ],
        )
    balanced = all(
        c["rows_in"] == c["accepted"] + c["quarantined"] for c in loaded.accounting.values()
    )
    yield dg.MaterializeResult(
        asset_key="ledger_quarantine",
        metadata={
            "rows": len(loaded.quarantine),
            "accounting": dg.MetadataValue.md(accounting.to_markdown(index=False)),
            "preview": dg.MetadataValue.md(loaded.quarantine.head(10).to_markdown(index=False)),
        },
        check_results=[
            dg.AssetCheckResult(
                asset_key="ledger_quarantine",
                check_name="row_accounting",
                passed=balanced,
                metadata={"files": len(loaded.accounting)},
            )
        ],
    )


CONTINUITY = "ledger_continuity"


@dg.multi_asset_check(
    name=CONTINUITY,
    specs=[
        dg.AssetCheckSpec(
            CONTINUITY,
            asset=table,
            blocking=True,
            description=f"The export still holds the {table} the serving model learnt from: no "
            "month that the champion's ledger held in full (after both exports' first month) "
            f"lost more than 10% of its {table}, as a file cut short or copied while still "
            "being written would. Blocks training and scoring on such an export, unless it is "
            "accepted (`arcast validate --accept-missing-rows`, e.g. after old months were "
            "archived): then it warns, and later exports are compared with the accepted one.",
        )
        for table in COMPARED_TABLES
    ],
)
def ledger_continuity(
    settings: ArcastSettings, warehouse: DuckDBResource
) -> Iterator[dg.AssetCheckResult]:
    """One result for each table compared, so that the one cut short is the one reported
    (invoices, payments, or both), not the payments whichever it was. A refusal reports them
    too before it stops the run with one line."""
    through = trained_through(settings.registry)
    before = None
    if through is not None:
        accepted = accepted_export(settings)
        if accepted is None:
            before, reference = data_fingerprint(settings.registry), "the champion's ledger"
        else:
            before, through, reference = (
                accepted["counts"],
                accepted["as_of"],
                "the accepted export",
            )
    if before is None:
        for table in COMPARED_TABLES:
            yield _continuity(table, {"note": "no champion to compare with"})
        return
    with warehouse.get_connection() as con:
        as_of = con.execute("SELECT as_of FROM run_context").fetchone()[0]
        files = dict(con.execute("SELECT table_name, file FROM ledger_accounting").fetchall())
        now = monthly_counts(con)
    vanished = vanished_rows(before, now, through, as_of, files)
    problems = [v.text for v in vanished]
    compared = {"compared_with": f"{reference}, as of {through}"}
    if problems and settings.accept_missing_rows:
        _accept(settings, as_of, now, problems)
    for table in COMPARED_TABLES:
        missing = "; ".join(v.text for v in vanished if v.table == table)
        yield _continuity(
            table,
            {**compared, "accepted_missing" if settings.accept_missing_rows else "missing": missing}
            if missing
            else compared,
            missing,
            accepted=settings.accept_missing_rows,
        )
    if problems and not settings.accept_missing_rows:
        name = f" --ledger-name {shlex.quote(settings.ledger_name)}" if settings.ledger_name else ""
        raise LedgerFileError(
            f"{'; '.join(problems[:3])}{' …' if len(problems) > 3 else ''}: rows {reference} "
            f"held are missing (compared from {compared_from(before, now)}; a file cut short, "
            "or copied while still being written?). If the export is meant to hold fewer rows "
            "(old months archived), accept it once with `arcast validate --data "
            f"{shlex.quote(settings.data_dir)}{name} --accept-missing-rows`"
        )


def _continuity(
    table: str, metadata: dict, missing: str = "", accepted: bool = False
) -> dg.AssetCheckResult:
    """One table's continuity result: failed if it lost rows (``missing``), as a warning if
    the export was accepted so."""
    description = f"{'accepted with rows' if accepted else 'rows'} missing: {missing}"
    return dg.AssetCheckResult(
        asset_key=table,
        check_name=CONTINUITY,
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN if accepted else dg.AssetCheckSeverity.ERROR,
        description=description if missing else None,
        metadata=metadata,
    )


def accepted_export(settings: ArcastSettings) -> dict | None:
    """The export accepted with rows missing that later exports are compared with (``as_of``,
    ``counts``, and every acceptance so far in ``accepted``), or None: none was, or a champion
    registered since has learnt from an export that passed the comparison with it."""
    path = settings.ledger_path / ACCEPTED_EXPORT_FILE
    champion = registered_at(settings.registry)
    if champion is None or not path.exists():
        return None
    kept = json.loads(path.read_text())
    if datetime.fromisoformat(kept["accepted"][-1]["accepted_at"]) < champion:
        return None
    return kept | {"as_of": date.fromisoformat(kept["as_of"])}


def _accept(settings: ArcastSettings, as_of: date, counts: dict, missing: list[str]) -> None:
    """Keep the accepted export's counts as the reference, and every acceptance (when, which
    folder, what was missing), so that one made by mistake can be traced afterwards."""
    path = settings.ledger_path / ACCEPTED_EXPORT_FILE
    earlier = json.loads(path.read_text())["accepted"] if path.exists() else []
    entry = {
        "accepted_at": datetime.now(UTC).isoformat(),
        "as_of": as_of.isoformat(),
        "data_dir": settings.data_dir,
        "missing": missing,
    }
    write_json({"as_of": as_of.isoformat(), "counts": counts, "accepted": [*earlier, entry]}, path)
