"""What changed since the last worklist: where a collector's day starts.

A collector who worked yesterday's list needs today's differences, not 1,600 lines to compare
by eye: which invoices were paid in full, which are gone from the ledger unpaid (a credit note,
a write-off, or an export that lost them: a collector must ask which), which are new, whose
promise to pay was broken or kept (an amount paid on an invoice still open), which went into
or out of a dispute, and which moved up or down an action tier. Each worklist's lines are kept
per ledger in one Parquet file under the arcast home (the last `KEEP_WORKLISTS` as-of dates of
each ledger), written like the forecast history (`arcast.accuracy`): under a lock, to a
temporary file, then renamed. A worklist is compared with the latest kept one of an earlier
as-of date of the same ledger, so a rerun of the same day compares with the day before, and a
replay of a past date with the worklist before it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from arcast.io import write_atomic
from arcast.worklist import ACTIONS, PROMISE_KEPT

HISTORY_FILE = "worklist_history.parquet"
KEEP_WORKLISTS = 14
"""As-of dates kept per ledger: two weeks of daily worklists."""
KEPT_COLUMNS = [
    "invoice_id",
    "customer_id",
    "customer_name",
    "queue",
    "action",
    "amount_open",
    "days_overdue",
    "p_late_30",
    "contact_status",
]
PAID, GONE = "paid", "gone from the ledger"
CHANGES = (
    PAID,
    GONE,
    "new",
    "promise broken",
    PROMISE_KEPT,
    "disputed",
    "dispute resolved",
    "up a tier",
    "down a tier",
)
"""In the order the changes file lists them; a line is listed once, for the first that applies
(a promise broken also moves its line up a tier), and lines without a change are not listed.
A promise kept is one of an amount paid while the invoice stays open: the customer did what
it said, which a collector reads before chasing the rest."""
CHANGE_COLUMNS = [
    "since",
    "change",
    "invoice_id",
    "customer_id",
    "customer_name",
    "amount_open",
    "days_overdue",
    "action_before",
    "action",
    "p_late_30_before",
    "p_late_30",
    "contact_status_before",
    "contact_status",
]
"""``since``: the as-of date of the worklist compared with; ``amount_open`` in base currency,
today's or, for an invoice no longer open, the last one known; a paid invoice whose
``contact_status_before`` is "promised" was a promise kept."""


def keep_worklist(path: Path, ledger: str, as_of: date, lines: pd.DataFrame) -> pd.DataFrame:
    """Add this worklist's lines to the kept ones (replacing an earlier run of the same as-of
    date) and return every kept worklist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    current = lines[KEPT_COLUMNS].assign(ledger=ledger, as_of=pd.Timestamp(as_of))
    with FileLock(path.with_name(path.name + ".lock")):
        kept = pd.read_parquet(path) if path.exists() else current.iloc[:0]
        kept = kept[(kept["ledger"] != ledger) | (kept["as_of"] != pd.Timestamp(as_of))]
        kept = pd.concat([kept, current], ignore_index=True)
        dates = (
            kept.loc[kept["ledger"] == ledger, "as_of"].drop_duplicates().nlargest(KEEP_WORKLISTS)
        )
        kept = kept[(kept["ledger"] != ledger) | kept["as_of"].isin(dates)]
        kept = kept.sort_values(["ledger", "as_of", "invoice_id"], ignore_index=True)
        write_atomic(path, lambda p: kept.to_parquet(p, index=False))
    return kept


def changes_since(
    kept: pd.DataFrame, ledger: str, as_of: date, lines: pd.DataFrame, paid: Collection[str]
) -> tuple[date | None, pd.DataFrame]:
    """The latest kept worklist of ``ledger`` before ``as_of`` (None: there is none) and every
    line that changed since it (``CHANGE_COLUMNS``, in `CHANGES` order, then by amount).

    ``paid``: the invoices paid in full by ``as_of``, as the ledger's payments say. A line no
    longer open that is not among them left the ledger unpaid, which a collector must query,
    where a paid one is done."""
    earlier = kept[(kept["ledger"] == ledger) & (kept["as_of"] < pd.Timestamp(as_of))]
    if earlier.empty:
        return None, pd.DataFrame(columns=CHANGE_COLUMNS)
    before_date = earlier["as_of"].max()
    before = earlier[earlier["as_of"] == before_date]
    both = before[KEPT_COLUMNS].merge(
        lines[KEPT_COLUMNS], on="invoice_id", how="outer", suffixes=("_before", ""), indicator=True
    )
    for column in ("customer_id", "customer_name", "amount_open", "days_overdue"):
        both[column] = both[column].fillna(both[f"{column}_before"])
    both["days_overdue"] = both["days_overdue"].astype("Int64")  # floats once NaN filled
    tier = {a: i for i, a in enumerate(ACTIONS)}
    rise = both["action"].map(tier) - both["action_before"].map(tier)
    was, now = both["queue_before"], both["queue"]
    dunning = (was == "dunning") & (now == "dunning")
    closed = both["_merge"] == "left_only"
    both["change"] = np.select(
        [
            closed & both["invoice_id"].isin(paid),
            closed,
            both["_merge"] == "right_only",
            (both["contact_status"] == "promise broken")
            & (both["contact_status_before"] != "promise broken"),
            (both["contact_status"] == PROMISE_KEPT)
            & (both["contact_status_before"] != PROMISE_KEPT),
            (was == "dunning") & (now == "dispute"),
            (was == "dispute") & (now == "dunning"),
            dunning & (rise > 0),
            dunning & (rise < 0),
        ],
        CHANGES,
        default="",
    )
    order = {c: i for i, c in enumerate(CHANGES)}
    changed = both[both["change"] != ""].assign(_order=lambda f: f["change"].map(order))
    changed = changed.sort_values(
        ["_order", "amount_open", "invoice_id"], ascending=[True, False, True], kind="stable"
    )
    changed["since"] = before_date.date()
    return before_date.date(), changed[CHANGE_COLUMNS].reset_index(drop=True)
