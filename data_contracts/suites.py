"""Great Expectations 1.x suites for the canonical ledger tables, built as code.

The suites are the single definition of the row rules: ``load.py`` quarantines exactly the rows
listed in their ``unexpected_index_list``, and :func:`validate_tables` re-runs them on accepted
tables (Dagster asset checks). Column names, required flags and keys come from ``schema.py``;
only the value rules that the schema cannot express (amount > 0, ISO currency codes, date order)
are written here. Every expectation carries ``meta["reason"]``, the short human reason the
loader prints for a quarantined row.

The suites describe *typed* tables (dates parsed, ``invoices.currency`` filled with the base
currency), so they run after type parsing and never see raw strings. What parsing already
guarantees (a value is a date, a finite number, a date within 1900-2199) is not repeated here:
GX evaluates per-row date bounds in Python, ~5 s per million dates.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cache
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.core import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from data_contracts.schema import CONTACT_OUTCOMES, TABLES_BY_NAME, Table

CURRENCY_REGEX = r"^[A-Z]{3}$"
EMAIL_REGEX = r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$"
"""One plain address (no display name, no list): a draft's To header is built from it."""

UNIQUENESS_RULES = (gxe.ExpectColumnValuesToBeUnique, gxe.ExpectCompoundColumnsToBeUnique)
"""GX flags every row of a duplicated key; the loader keeps the first and quarantines the rest."""
PAIR_RULES = (gxe.ExpectColumnPairValuesAToBeGreaterThanB,)
"""Rules on two columns of a row: the loader reports the first and names the second's value, as
either may be the mistyped one (a contact dated a year late reads "until is before contact_date
(contact_date 2026-12-09)", not only the until date it is checked against)."""

_ISO_CURRENCY = "not an ISO 4217 currency code (3 uppercase letters)"


def _value_rules(table: Table) -> list[gxe.Expectation]:
    """Per-table rules on values, beyond the required columns and keys taken from the schema."""
    positive = "must be greater than 0"
    non_negative = "must not be negative"
    rules: dict[str, list[gxe.Expectation]] = {
        "customers": [
            gxe.ExpectColumnValuesToMatchRegex(
                column="currency", regex=CURRENCY_REGEX, meta={"reason": _ISO_CURRENCY}
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="payment_terms_days", min_value=0, meta={"reason": non_negative}
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="credit_limit", min_value=0, meta={"reason": non_negative}
            ),
            gxe.ExpectColumnValuesToMatchRegex(
                column="email", regex=EMAIL_REGEX, meta={"reason": "not an email address"}
            ),
        ],
        "invoices": [
            gxe.ExpectColumnValuesToBeBetween(
                column="amount", min_value=0, strict_min=True, meta={"reason": positive}
            ),
            gxe.ExpectColumnValuesToMatchRegex(
                column="currency", regex=CURRENCY_REGEX, meta={"reason": _ISO_CURRENCY}
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="due_date",
                column_B="issue_date",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta={"reason": "due_date is before issue_date"},
            ),
        ],
        "payments": [
            gxe.ExpectColumnValuesToBeBetween(
                column="amount", min_value=0, strict_min=True, meta={"reason": positive}
            ),
        ],
        "disputes": [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="resolved_date",
                column_B="opened_date",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta={"reason": "resolved_date is before opened_date"},
            ),
        ],
        "contacts": [
            gxe.ExpectColumnValuesToBeInSet(
                column="outcome",
                value_set=list(CONTACT_OUTCOMES),
                meta={"reason": f"outcome is not one of {', '.join(CONTACT_OUTCOMES)}"},
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column="until",
                row_condition='outcome != "contacted"',
                condition_parser="pandas",
                meta={"reason": "a promise or a hold needs its until date"},
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="until",
                column_B="contact_date",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta={"reason": "until is before contact_date"},
            ),
            gxe.ExpectColumnValuesToBeNull(
                column="amount",
                row_condition='outcome != "promise"',
                condition_parser="pandas",
                meta={"reason": "an amount is only for a promise (outcome promise)"},
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="amount", min_value=0, strict_min=True, meta={"reason": positive}
            ),
        ],
        "fx_rates": [
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["date", "currency"],
                meta={"reason": "duplicate rate for this date and currency"},
            ),
            gxe.ExpectColumnValuesToMatchRegex(
                column="currency", regex=CURRENCY_REGEX, meta={"reason": _ISO_CURRENCY}
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="rate_to_base", min_value=0, strict_min=True, meta={"reason": positive}
            ),
        ],
    }
    return rules[table.name]


def build_suite(table: str | Table) -> gx.ExpectationSuite:
    """The expectation suite of one canonical table, in priority order.

    Order matters to the loader: a row that breaks several rules is quarantined for the first.
    """
    t = TABLES_BY_NAME[table] if isinstance(table, str) else table
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=t.column_names,
            exact_match=True,
            meta={"reason": "columns differ from the canonical schema"},
        )
    ]
    expectations += [
        gxe.ExpectColumnValuesToNotBeNull(column=c, meta={"reason": "missing required value"})
        for c in t.required_columns
    ]
    if len(t.key) == 1:
        (key,) = t.key
        expectations.append(
            gxe.ExpectColumnValuesToBeUnique(column=key, meta={"reason": f"duplicate {key}"})
        )
    elif t.key:  # one payment settles several invoices in one row each (a clearing document)
        first, *rest = t.key
        reason = f"duplicate {first} for the same {', '.join(rest)}"
        expectations.append(
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(t.key), meta={"reason": reason})
        )
    expectations += _value_rules(t)
    return gx.ExpectationSuite(name=t.name, expectations=expectations)


def rule_columns(expectation: gxe.Expectation) -> list[str]:
    """The columns a row rule is about; the first one is reported as the offending column."""
    if isinstance(expectation, PAIR_RULES):
        return [expectation.column_A, expectation.column_B]
    if isinstance(expectation, gxe.ExpectCompoundColumnsToBeUnique):
        return list(expectation.column_list)
    column = getattr(expectation, "column", None)
    return [column] if column else []


def allowed_values(expectation: gxe.Expectation) -> list | None:
    """The values a value-set rule allows (None for other rules), for the loader to say which
    one a refused value probably meant."""
    if isinstance(expectation, gxe.ExpectColumnValuesToBeInSet):
        return list(expectation.value_set)
    return None


def _error(result: ExpectationValidationResult) -> str | None:
    """The exception message of a crashed expectation, else None.

    GX reports crashes either flat (``raised_exception``) or nested per metric that failed.
    """
    info = result.exception_info or {}
    entries = [info] if "raised_exception" in info else list(info.values())
    return next((e["exception_message"] for e in entries if e.get("raised_exception")), None)


_LOCK = threading.Lock()
"""The shared ephemeral context is mutable state; Dagster may call us from several threads."""


@cache
def _context() -> Any:
    """One in-memory GX context per process: creating it per call would dominate small runs."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.data_sources.add_pandas("arcast")
    return context


@cache
def _registered(table_name: str) -> tuple[Any, gx.ExpectationSuite]:
    """The table's whole-dataframe batch definition and its suite, registered in the context
    (registration gives each expectation the id that results are mapped back by)."""
    context = _context()
    asset = context.data_sources.get("arcast").add_dataframe_asset(table_name)
    suite = context.suites.add(build_suite(table_name))
    return asset.add_batch_definition_whole_dataframe("all"), suite


def run_suite(
    table_name: str, df: pd.DataFrame, result_format: str | dict = "SUMMARY"
) -> tuple[gx.ExpectationSuite, ExpectationSuiteValidationResult]:
    """Validate ``df`` against the table's suite; returns the suite too, to map results back.

    Uses ``Batch.validate`` rather than ``ValidationDefinition.run``: the latter also stores
    every result in the context, which grows without bound in a long-lived process (COMPLETE
    results hold one index per bad row).
    """
    with _LOCK:
        batch_definition, suite = _registered(table_name)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(suite, result_format=result_format)
    return suite, result


def failed_rows(table_name: str, df: pd.DataFrame) -> list[tuple[gxe.Expectation, np.ndarray]]:
    """Each failed row rule with the index labels of its unexpected rows, in suite order.

    Uses COMPLETE results without ``unexpected_index_column_names``: GX then reports the
    DataFrame's own index labels, which is ~20x faster at 1M rows than building per-row dicts.
    """
    suite, result = run_suite(table_name, df, {"result_format": "COMPLETE"})
    position = {e.id: i for i, e in enumerate(suite.expectations)}
    failed = []
    for r in result.results:
        config = r.expectation_config
        if error := _error(r):
            raise RuntimeError(f"GX rule {config.type} on {table_name} crashed: {error}")
        if r.success:
            continue
        if "unexpected_index_list" not in r.result:
            # Table-level rule (column set): the loader builds canonical frames, so this is a bug.
            raise RuntimeError(f"{table_name}: table-level rule {config.type} failed: {r.result}")
        expectation = suite.expectations[position[config.id]]
        failed.append((expectation, np.asarray(r.result["unexpected_index_list"], dtype=np.int64)))
    failed.sort(key=lambda f: position[f[0].id])
    return failed


def validate_tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, dict]:
    """Run the suites on accepted tables; a JSON-friendly summary per table for asset checks.

    ``{"invoices": {"success": bool, "rows": n, "expectations": n, "failed": [{"expectation",
    "column", "reason", "unexpected_count", "examples"}]}}``. Never raises on bad data: a rule that
    crashes (e.g. a missing column) is reported as failed with the error as its reason.
    """
    summary: dict[str, dict] = {}
    for name, df in tables.items():
        suite, result = run_suite(name, df, "SUMMARY")
        position = {e.id: i for i, e in enumerate(suite.expectations)}
        failed = []
        for r in sorted(result.results, key=lambda r: position[r.expectation_config.id]):
            if r.success:
                continue
            expectation = suite.expectations[position[r.expectation_config.id]]
            error = _error(r)
            examples = r.result.get("partial_unexpected_list")
            if examples is None and "observed_value" in r.result:
                examples = [r.result["observed_value"]]
            failed.append(
                {
                    "expectation": expectation.expectation_type,
                    "column": ",".join(rule_columns(expectation)),
                    "reason": f"error: {error}" if error else expectation.meta["reason"],
                    "unexpected_count": r.result.get("unexpected_count"),
                    "examples": [str(v) for v in (examples or [])[:5]],
                }
            )
        summary[name] = {
            "success": bool(result.success),
            "rows": len(df),
            "expectations": len(result.results),
            "failed": failed,
        }
    return summary
