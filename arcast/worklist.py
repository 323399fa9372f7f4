"""Collections worklist: which open invoices to chase first, and how.

Priority is the money at stake weighted by risk::

    priority = p_late_30 × (amount_open + 0.1 × customer_exposure) × age_factor
    age_factor = √(1 + min(max(days_overdue, 0), 90) / 90)

* ``amount_open × p_late_30`` is the expected amount that slips 30+ days: chasing a large invoice
  that will pay anyway, or a likely-late tiny one, is worth little.
* ``0.1 × customer_exposure`` (the customer's total open amount, this invoice included) adds a
  small concentration term: one contact with a big customer moves all its invoices, and a
  customer holding much of the AR is the larger loss if it fails.
* The age factor grows from 1 (not yet due) to √2 at 90+ days overdue: the older a debt, the
  less likely it is ever collected, so the same expected delay costs more. Capping at 90 days
  keeps stale write-off candidates from crowding out this month's large, recoverable invoices.

Every factor is non-negative and non-decreasing in p_late_30, amount_open and days_overdue, so
priority never decreases when any of them increases with all else equal.

Action (dunning queue) = age tier, moved up one tier when ``p_late_30 ≥ 0.5``:

==================  =============================  =============================
days overdue        p_late_30 < 0.5                p_late_30 ≥ 0.5
==================  =============================  =============================
≤ 0 (not yet due)   monitor                        friendly reminder
1-30                friendly reminder              firm reminder
31-60               firm reminder                  call
61-90               call                           escalate to finance manager
> 90                escalate to finance manager    escalate to finance manager
==================  =============================  =============================

Disputed invoices go to the ``dispute`` queue with action ``resolve dispute``: dunning a
customer over an amount it contests damages the relationship and collects nothing until the
dispute is settled. The dispute queue is ranked after the whole dunning queue, by the same
priority. Ranks run 1..n over the combined list; ties are broken by ``invoice_id``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = (
    "invoice_id",
    "customer_id",
    "amount_open",
    "days_overdue",
    "p_late_30",
    "pay_date_p50",
    "disputed",
    "reasons",
)

OUTPUT_COLUMNS = [
    "rank",
    "invoice_id",
    "customer_id",
    "amount_open",
    "days_overdue",
    "p_late_30",
    "priority",
    "action",
    "reasons",
    "expected_pay_date",
    "days_to_expected_pay",
    "customer_exposure",
    "queue",
]

EXPOSURE_WEIGHT = 0.1
AGE_CAP_DAYS = 90
HIGH_RISK = 0.5
ACTIONS = (
    "monitor",
    "friendly reminder",
    "firm reminder",
    "call",
    "escalate to finance manager",
)
QUEUE_ORDER = {"dunning": 0, "dispute": 1}
AGE_TIER_UPPER_DAYS = (0, 30, 60, 90)
"""Last days-overdue of action tiers 0..3; anything later is tier 4."""


def build_worklist(predictions: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Rank open invoices for collectors (formula and action rules in the module docstring).

    ``predictions`` has one row per open invoice with ``REQUIRED_COLUMNS``; amounts in base
    currency. ``expected_pay_date`` is the predicted median pay date (NaT = not expected within
    the model horizon) and ``days_to_expected_pay`` counts from ``as_of``. Returns
    ``OUTPUT_COLUMNS``, dunning queue first, each queue by descending priority.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions is missing columns: {missing}")
    amount = predictions["amount_open"].to_numpy(dtype=float)
    days = predictions["days_overdue"].to_numpy(dtype=float)
    p_late = predictions["p_late_30"].to_numpy(dtype=float)
    if not (np.isfinite(amount).all() and np.isfinite(days).all()) or (amount < 0).any():
        raise ValueError("amount_open must be finite and ≥ 0; days_overdue must be finite")
    if not ((p_late >= 0) & (p_late <= 1)).all():
        raise ValueError("p_late_30 must be a probability in [0, 1]")

    exposure = predictions.groupby("customer_id", sort=False, dropna=False)["amount_open"]
    exposure = exposure.transform("sum").to_numpy(dtype=float)
    age_factor = np.sqrt(1 + np.clip(days, 0, AGE_CAP_DAYS) / AGE_CAP_DAYS)
    tier = np.searchsorted(AGE_TIER_UPPER_DAYS, days, side="left") + (p_late >= HIGH_RISK)
    disputed = predictions["disputed"].fillna(False).astype(bool).to_numpy()
    expected = pd.to_datetime(predictions["pay_date_p50"])

    out = pd.DataFrame(
        {
            "invoice_id": predictions["invoice_id"].to_numpy(),
            "customer_id": predictions["customer_id"].to_numpy(),
            "amount_open": amount,
            "days_overdue": predictions["days_overdue"].to_numpy(),
            "p_late_30": p_late,
            "priority": p_late * (amount + EXPOSURE_WEIGHT * exposure) * age_factor,
            "action": np.where(
                disputed,
                "resolve dispute",
                np.asarray(ACTIONS)[np.minimum(tier, len(ACTIONS) - 1)],
            ),
            "reasons": predictions["reasons"].fillna("").astype(str).to_numpy(),
            "expected_pay_date": expected.to_numpy(),
            "days_to_expected_pay": (expected - pd.Timestamp(as_of)).dt.days.astype("Int64").array,
            "customer_exposure": exposure,
            "queue": np.where(disputed, "dispute", "dunning"),
        }
    )
    out = out.sort_values(
        ["queue", "priority", "invoice_id"],
        ascending=[True, False, True],
        key=lambda col: col.map(QUEUE_ORDER) if col.name == "queue" else col,
        kind="stable",
    ).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out[OUTPUT_COLUMNS]
