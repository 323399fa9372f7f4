"""Accounts-receivable KPIs at an as-of date: open and overdue totals, DSO variants and aging.

Definitions (all money in base currency; an invoice is open when ``amount_open_base > 0``):

* ``days_overdue = as_of − due_date`` in days; overdue means ``days_overdue > 0``.
* ``billed_last_period``: credit sales (``amount_base``) issued in the ``period_days`` days
  ending on as-of, i.e. ``as_of − period_days < issue_date ≤ as_of``.
* ``dso`` (standard / average-sales method): ``open AR / billed_last_period × period_days``.
* ``best_possible_dso``: the same with only current (not yet due) AR — the DSO if every customer
  paid exactly on terms.
* ``average_days_delinquent = dso − best_possible_dso`` = overdue AR / sales × days: the days of
  sales tied up by late payment.
* ``collection_effectiveness_index`` (CEI) over the same period: ``(beginning AR + credit sales
  − ending AR) / (beginning AR + credit sales − ending current AR) × 100`` — of what could have
  been collected in the period (everything except what is not yet due at its end), the share
  that was. Beginning AR is the open AR at the end of ``as_of − period_days`` as recorded at that
  date (payments dated later not yet applied), so it is point-in-time.
* ``dso_countback`` (exhaustion method): walk back from as-of one day at a time, subtracting that
  day's credit sales from open AR; every day walked counts 1 day, and the day that exhausts the
  AR counts the fraction ``remaining AR / that day's sales``. Unlike the standard DSO it is not
  distorted when recent billing is higher or lower than the period average. Day blocks instead
  of calendar months keep it free of month-length conventions and reproducible to the day.

**Credit balances** (`credit_balances`): an overpaid invoice (payments beyond its amount by more
than 0.01) is not receivable, so its open amount is 0 and it is in none of the figures above;
``overpaid_amount_base`` is the excess summed over those invoices, valued at the as-of rate as
open amounts are: money owed back to customers or to be applied to their next invoices.

**Forecast week by week** (`forecast_kpis`): at the end of forecast week w (``as_of + 7w``) each
open invoice is still open with its expected amount ``amount_open_base × P(not paid by then)``
(``1 −`` its cumulative weekly pay probabilities), projected new invoices enter as credit sales
on their issue days and stay open with their expected unpaid amount, and the same definitions
are applied to that expected ledger — week 0 is exactly today's KPIs. ``cei_since_as_of`` is
the CEI over (as_of, as_of + 7w]: beginning AR today, projected billing as the sales.

Ratios whose denominator is zero (no sales, no open AR) are ``None`` rather than inf/NaN, and so
is the countback when AR exceeds all recorded sales (e.g. FX revaluation of old invoices).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features.warehouse import AGING_BUCKETS

REQUIRED_COLUMNS = (
    "invoice_id",
    "customer_id",
    "issue_date",
    "due_date",
    "amount_base",
    "amount_open_base",
)


def compute_kpis(
    invoices: pd.DataFrame,
    as_of: date,
    period_days: int = 90,
    beginning_ar: float | None = None,
) -> dict[str, Any]:
    """Compute the AR KPIs at ``as_of`` as a JSON-serialisable dict (see module docstring).

    ``invoices`` has one row per invoice with the columns in ``REQUIRED_COLUMNS``; rows issued
    after ``as_of`` are ignored so a later ledger snapshot cannot leak into the figures.
    ``beginning_ar`` (open AR ``period_days`` earlier) enables the CEI, else it is ``None``.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in invoices.columns]
    if missing:
        raise ValueError(f"invoices is missing columns: {missing}")
    if period_days < 1:
        raise ValueError(f"period_days must be ≥ 1, got {period_days}")

    as_of_ts = pd.Timestamp(as_of)
    issue = pd.to_datetime(invoices["issue_date"])
    known = (issue <= as_of_ts).to_numpy()
    issue = issue[known]
    amount = invoices["amount_base"].to_numpy(dtype=float)[known]
    open_amount = invoices["amount_open_base"].to_numpy(dtype=float)[known]
    days_overdue = (as_of_ts - pd.to_datetime(invoices["due_date"])[known]).dt.days.to_numpy()

    is_open = open_amount > 0
    ar = float(open_amount[is_open].sum())
    overdue = is_open & (days_overdue > 0)
    overdue_ar = float(open_amount[overdue].sum())
    in_period = (issue > as_of_ts - pd.Timedelta(days=period_days)).to_numpy()
    sales = float(amount[in_period].sum())

    def days_of_sales(balance: float) -> float | None:
        return balance / sales * period_days if sales > 0 else None

    aging = {}
    for name, first, last in AGING_BUCKETS:
        in_bucket = is_open & (days_overdue >= first) & (days_overdue <= last)
        bucket_amount = float(open_amount[in_bucket].sum())
        aging[name] = {
            "count": int(in_bucket.sum()),
            "amount": bucket_amount,
            "share": bucket_amount / ar if ar > 0 else None,
        }

    dso = days_of_sales(ar)
    current_ar = float(open_amount[is_open & ~overdue].sum())
    best = days_of_sales(current_ar)
    return {
        "as_of": as_of_ts.date().isoformat(),
        "period_days": period_days,
        "open_count": int(is_open.sum()),
        "open_amount": ar,
        "overdue_count": int(overdue.sum()),
        "overdue_amount": overdue_ar,
        "billed_last_period": sales,
        "dso": dso,
        "dso_countback": _countback_dso(ar, (as_of_ts - issue).dt.days.to_numpy(), amount),
        "best_possible_dso": best,
        "average_days_delinquent": None if dso is None else dso - best,
        "collection_effectiveness_index": None
        if beginning_ar is None
        else collection_effectiveness(beginning_ar, sales, ar, current_ar),
        "aging": aging,
    }


def credit_balances(invoices: pd.DataFrame) -> dict[str, Any]:
    """The overpaid invoices of a `receivables` ledger and their excess in base currency (see
    module docstring): kept beside open AR, which leaves them out, so that the money is not
    lost from sight."""
    return {
        "overpaid_invoices": int(invoices["overpaid"].sum()),
        "overpaid_amount_base": float(invoices["overpaid_base"].sum()),
    }


def collection_effectiveness(
    beginning_ar: float, sales: float, ending_ar: float, ending_current_ar: float
) -> float | None:
    """CEI in percent (see module docstring); ``None`` when nothing was collectible."""
    collectible = beginning_ar + sales - ending_current_ar
    if collectible <= 0:
        return None
    return (beginning_ar + sales - ending_ar) / collectible * 100


def forecast_kpis(
    invoices: pd.DataFrame,
    still_open: np.ndarray,
    as_of: date,
    projected: list[pd.DataFrame],
    period_days: int = 90,
) -> pd.DataFrame:
    """KPIs at the end of each forecast week on the expected ledger (see module docstring).

    ``still_open`` is ``(len(invoices), weeks + 1)`` P(still open at the end of week w), column
    0 all ones; ``projected[w]`` holds the projected invoices issued by the end of week w with
    their expected open amounts (same columns as ``invoices``). One row per week, 0 = as-of.
    """
    weeks = still_open.shape[1] - 1
    if still_open.shape[0] != len(invoices) or len(projected) != weeks + 1:
        raise ValueError("still_open needs a row per invoice and projected a frame per week")
    open_now = invoices["amount_open_base"].to_numpy(dtype=float)
    ar_now = compute_kpis(invoices, as_of, period_days)["open_amount"]
    rows = []
    for w in range(weeks + 1):
        day = pd.Timestamp(as_of) + pd.Timedelta(days=7 * w)
        expected = invoices.assign(amount_open_base=open_now * still_open[:, w])
        frame = pd.concat([expected, projected[w]], ignore_index=True) if w else expected
        k = compute_kpis(frame, day.date(), period_days)
        billed = float(projected[w]["amount_base"].sum())
        projected_open = float(projected[w]["amount_open_base"].sum())
        row = {
            "week": w,
            "date": day,
            "open_amount": k["open_amount"],
            "projected_billing_open": projected_open,
            "overdue_amount": k["overdue_amount"],
            "billed_last_period": k["billed_last_period"],
            "dso": k["dso"],
            "dso_countback": k["dso_countback"],
            "best_possible_dso": k["best_possible_dso"],
            "average_days_delinquent": k["average_days_delinquent"],
            "cei_since_as_of": collection_effectiveness(
                ar_now,
                billed,
                k["open_amount"],
                k["aging"]["current"]["amount"],
            )
            if w
            else None,
        }
        row.update({f"aging_{name}": b["amount"] for name, b in k["aging"].items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _countback_dso(ar: float, days_back: np.ndarray, amount: np.ndarray) -> float | None:
    """Days of most recent sales that add up to ``ar`` (day-by-day exhaustion, see module doc)."""
    if ar <= 0:
        return 0.0
    daily = pd.Series(amount).groupby(days_back).sum()  # index: days before as-of, ascending
    covered = daily.cumsum().to_numpy()
    # First day whose sales exhaust the AR; the relative slack absorbs summation-order rounding.
    k = int(np.searchsorted(covered, ar * (1 - 1e-9)))
    if k == len(daily):
        return None
    before = covered[k - 1] if k > 0 else 0.0
    return float(daily.index[k] + (ar - before) / daily.iloc[k])
