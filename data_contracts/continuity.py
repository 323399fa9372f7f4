"""Continuity between two exports of one ledger: rows the serving model learnt from must not
vanish from the next export.

A file copied while still being written, or an export cut short, is valid row by row: the
contract accepts what is there, and the missing payments turn paid invoices back into open ones
(on one such export DSO went from 70 to 247 days, and the model trained on it was promoted).
What gives it away is a month the earlier export held in full now holding fewer rows. Exports
that keep a rolling window (dropping their oldest months, and with them the payments of those
months' invoices) are compared only on invoices issued after the later of the two first
months.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

DROP_SHARE = 0.1
"""A month holding this much less than in the earlier export is missing rows..."""
DROP_ROWS = 5
"""...and at least this many: a handful of corrections (a payment reversed) is not a cut file."""

MONTHLY_SQL = """
SELECT strftime(issue_date, '%Y-%m') AS issued, NULL AS paid, count(*) AS n
FROM invoices GROUP BY ALL
UNION ALL
SELECT strftime(i.issue_date, '%Y-%m'), strftime(p.payment_date, '%Y-%m'), count(*)
FROM payments AS p JOIN invoices AS i USING (invoice_id) GROUP BY ALL
"""


def monthly_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Invoices by issue month, and payments by (issue month of their invoice | payment month):
    logged with every model, so the next export can be compared with the one it learnt from."""
    counts: dict[str, dict[str, int]] = {"invoices_by_month": {}, "payments_by_month": {}}
    for issued, paid, n in con.execute(MONTHLY_SQL).fetchall():
        if paid is None:
            counts["invoices_by_month"][issued] = int(n)
        else:
            counts["payments_by_month"][f"{issued}|{paid}"] = int(n)
    return counts


def vanished_rows(
    before: dict, now: dict, before_as_of: date, now_as_of: date, files: dict[str, str]
) -> list[str]:
    """The months the earlier export held in full whose rows have gone missing, as sentences
    that name the export's file of each table (``files``: table -> file name).

    Compared: issue (and payment) months after the later of the two exports' first issue months
    (a rolling window's start) up to the earlier export's as-of month, whose rows up to that day
    a later export holds too (an export that lost only its last month's payments is cut short
    as well); for an older export, only the months before its own as-of month, which it has
    yet to fill.
    """
    if not before.get("invoices_by_month") or not now.get("invoices_by_month"):
        return []
    start = max(min(before["invoices_by_month"]), min(now["invoices_by_month"]))
    if now_as_of >= before_as_of:
        last = before_as_of.strftime("%Y-%m")
    else:
        last = (now_as_of.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")

    def payments(counts: dict[str, int]) -> dict[str, int]:
        by_month: dict[str, int] = {}
        for key, n in counts.items():
            issued, paid = key.split("|")
            if issued > start:
                by_month[paid] = by_month.get(paid, 0) + n
        return by_month

    problems = []
    for file, noun, old, new in (
        (files["invoices"], "invoices", before["invoices_by_month"], now["invoices_by_month"]),
        (
            files["payments"],
            "payments",
            payments(before.get("payments_by_month", {})),
            payments(now.get("payments_by_month", {})),
        ),
    ):
        for month in sorted(m for m in old if start < m <= last):
            had, has = old[month], new.get(month, 0)
            if had - has >= DROP_ROWS and has < had * (1 - DROP_SHARE):
                held = f"{has:,} {noun if has != 1 else noun[:-1]}"
                problems.append(f"{file}: {month} holds {held}, the export before {had:,}")
    return problems
