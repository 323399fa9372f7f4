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
from typing import NamedTuple

import duckdb

DROP_SHARE = 0.1
"""A month holding this much less than in the earlier export is missing rows..."""
DROP_ROWS = 5
"""...and at least this many: a handful of corrections (a payment reversed) is not a cut file."""
TABLES = ("invoices", "payments")
"""The tables compared, each of which a check reports as cut short or whole."""

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


class Vanished(NamedTuple):
    """A month of one table that lost rows: ``table`` (invoices or payments) is what a check
    reports as cut short, ``text`` the sentence that names its file."""

    table: str
    text: str


def compared_from(before: dict, now: dict) -> str | None:
    """The first month `vanished_rows` compares ('2024-03'): the one after the later of the two
    exports' first issue months (a rolling window's start, which may hold part of a month), or
    None when either export has no invoice."""
    if not before.get("invoices_by_month") or not now.get("invoices_by_month"):
        return None
    start = max(min(before["invoices_by_month"]), min(now["invoices_by_month"]))
    return (date.fromisoformat(f"{start}-01") + timedelta(days=31)).strftime("%Y-%m")


def vanished_rows(
    before: dict, now: dict, before_as_of: date, now_as_of: date, files: dict[str, str]
) -> list[Vanished]:
    """The months the earlier export held in full whose rows have gone missing, each with its
    table and a sentence that names the export's file of it (``files``: table -> file name).

    Compared: issue (and payment) months from `compared_from` up to the earlier export's as-of
    month, whose rows up to that day a later export holds too (an export that lost only its
    last month's payments is cut short as well); for an older export, only the months before
    its own as-of month, which it has yet to fill. The payments of invoices issued in a month
    that lost invoices are not compared: they are gone with their invoices (quarantined as of
    no invoice), and a cut invoices file is no cut payments file.
    """
    first = compared_from(before, now)
    if first is None:
        return []
    if now_as_of >= before_as_of:
        last = before_as_of.strftime("%Y-%m")
    else:
        last = (now_as_of.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")

    def lost(table: str, old: dict[str, int], new: dict[str, int]) -> list[tuple[str, Vanished]]:
        found = []
        for month in sorted(m for m in old if first <= m <= last):
            had, has = old[month], new.get(month, 0)
            if had - has >= DROP_ROWS and has < had * (1 - DROP_SHARE):
                held = f"{has:,} {table if has != 1 else table[:-1]}"
                text = f"{files[table]}: {month} holds {held}, the export before {had:,}"
                found.append((month, Vanished(table, text)))
        return found

    invoices = lost("invoices", before["invoices_by_month"], now["invoices_by_month"])
    cut = {month for month, _ in invoices}

    def payments(counts: dict[str, int]) -> dict[str, int]:
        by_month: dict[str, int] = {}
        for key, n in counts.items():
            issued, paid = key.split("|")
            if issued >= first and issued not in cut:
                by_month[paid] = by_month.get(paid, 0) + n
        return by_month

    payments_lost = lost(
        "payments",
        payments(before.get("payments_by_month", {})),
        payments(now.get("payments_by_month", {})),
    )
    return [vanished for _, vanished in invoices + payments_lost]
