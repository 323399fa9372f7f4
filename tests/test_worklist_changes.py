"""What changed since the last worklist: kept per ledger, compared with the latest earlier one."""

from datetime import date
from pathlib import Path

import pandas as pd

from arcast.worklist_changes import KEEP_WORKLISTS, changes_since, keep_worklist


def _lines(*rows: tuple[str, str, str, float]) -> pd.DataFrame:
    """(invoice_id, queue, action, amount_open) per line."""
    frame = pd.DataFrame(rows, columns=["invoice_id", "queue", "action", "amount_open"])
    return frame.assign(
        customer_id="C1", customer_name="Acme", days_overdue=10, p_late_30=0.4, contact_status=""
    )


MONDAY = _lines(
    ("I1", "dunning", "friendly reminder", 100.0),
    ("I2", "dunning", "firm reminder", 200.0),
    ("I3", "dunning", "call", 300.0),
    ("I4", "dunning", "call", 400.0),
    ("I5", "dispute", "resolve dispute", 500.0),
    ("I6", "dunning", "monitor", 600.0),
    ("I8", "dunning", "firm reminder", 800.0),
    ("I9", "dunning", "call", 900.0),
).assign(contact_status=["promised"] + [""] * 5 + ["promised", "promised"])
TUESDAY = _lines(
    ("I2", "dunning", "call", 200.0),  # up a tier
    ("I3", "dunning", "firm reminder", 300.0),  # down a tier
    ("I4", "dispute", "resolve dispute", 400.0),  # disputed
    ("I5", "dunning", "firm reminder", 500.0),  # dispute resolved
    ("I6", "dunning", "monitor", 600.0),  # unchanged
    ("I7", "dunning", "monitor", 700.0),  # new
    ("I8", "dunning", "call", 800.0),  # its promise broken, which moved it up a tier
).assign(contact_status=[""] * 6 + ["promise broken"])  # I1 paid: a promise kept; I9 gone
PAID = {"I1", "I0"}  # paid in full by Tuesday, as the ledger's payments say


def test_each_change_since_the_latest_earlier_worklist_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    keep_worklist(path, "acme", date(2025, 3, 3), MONDAY)
    keep_worklist(path, "other", date(2025, 3, 3), TUESDAY)  # another ledger: never compared
    kept = keep_worklist(path, "acme", date(2025, 3, 4), TUESDAY)
    since, changes = changes_since(kept, "acme", date(2025, 3, 4), TUESDAY, PAID)
    assert since == date(2025, 3, 3)
    assert list(zip(changes["change"], changes["invoice_id"], strict=True)) == [
        ("paid", "I1"),
        ("gone from the ledger", "I9"),  # not paid, no longer open: a credit note, a write-off?
        ("new", "I7"),
        ("promise broken", "I8"),
        ("disputed", "I4"),
        ("dispute resolved", "I5"),
        ("up a tier", "I2"),
        ("down a tier", "I3"),
    ]
    paid = changes.iloc[0]
    assert (paid["amount_open"], paid["action_before"], paid["customer_name"]) == (
        100.0,
        "friendly reminder",
        "Acme",
    )
    assert paid["contact_status_before"] == "promised"  # a promise kept
    assert pd.isna(paid["action"])
    gone = changes.iloc[1]
    assert (gone["amount_open"], gone["contact_status_before"]) == (900.0, "promised")
    # a rerun of Tuesday replaces its own worklist and still compares with Monday
    rerun = keep_worklist(path, "acme", date(2025, 3, 4), TUESDAY)
    assert len(rerun[rerun["ledger"] == "acme"]) == len(MONDAY) + len(TUESDAY)
    assert changes_since(rerun, "acme", date(2025, 3, 4), TUESDAY, PAID)[1].equals(changes)
    first, none = changes_since(kept, "acme", date(2025, 3, 3), MONDAY, PAID)
    assert first is None and none.empty


def test_only_the_latest_worklists_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    days = pd.date_range("2025-03-01", periods=KEEP_WORKLISTS + 3).date
    for day in days:
        kept = keep_worklist(path, "acme", day, MONDAY)
    assert sorted(kept["as_of"].dt.date.unique()) == list(days[-KEEP_WORKLISTS:])


def test_a_promise_of_an_amount_paid_on_an_open_invoice_reads_as_kept(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    before = _lines(("I1", "dunning", "friendly reminder", 12_000.0)).assign(
        contact_status="promised"
    )
    after = _lines(("I1", "dunning", "friendly reminder", 7_000.0)).assign(
        contact_status="promise kept"
    )
    keep_worklist(path, "acme", date(2025, 3, 3), before)
    kept = keep_worklist(path, "acme", date(2025, 3, 10), after)
    changes = changes_since(kept, "acme", date(2025, 3, 10), after, set())[1]
    assert changes[["change", "invoice_id", "amount_open"]].values.tolist() == [
        ["promise kept", "I1", 7_000.0]
    ]
