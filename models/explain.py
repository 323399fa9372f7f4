"""Plain-language reasons for each scored invoice, from SHAP values of the hazard model.

SHAP values are taken on one representative row per invoice: a week after the as-of date, or,
for an invoice not due by then, a week after its due date. Asked a week out, an invoice due in a
month is unlikely to be paid because it is not due yet, so the customer's early habit, a trend
towards paying sooner or long terms would read as reasons for *lateness*; a week past due, what
holds the hazard down is what puts the invoice at risk of being late, the collector's question.
Features are grouped into the facts a collector would name; a group's contribution is the sum of
its features' SHAP values, and up to three groups that push payment *later* the most (lowest
hazard contribution, see `reasons` for which count) become the reasons, each rendered with the
invoice's own numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import shap

from features.matrix import FEATURES, Calendar, model_matrix
from features.warehouse import from_day, to_day
from models.paydate import PayDateModel

REPRESENTATIVE_LEAD_DAYS = 7
"""Days after the as-of date, or after the due date if later, of the row the reasons explain."""
PAST_USUAL_DAYS = 14
"""An overdue invoice this many days past the customer's usual lateness is said to be: the gap,
not the customer's habit, is then what holds its payment back."""


def _num(row: Mapping[str, Any], col: str) -> float:
    try:
        return float(row.get(col))
    except (TypeError, ValueError):  # None, pd.NA, text
        return float("nan")


def _invoices(count: float, kind: str = "") -> str:
    """``2 overdue invoices``, ``1 overdue invoice``: counts as a collector would say them."""
    noun = "invoice" if round(count) == 1 else "invoices"
    return f"{count:.0f} {kind} {noun}" if kind else f"{count:.0f} {noun}"


def _days(count: float) -> str:
    """``1 day``, ``0 days``, ``12 days``: rounded as shown, then the noun to match."""
    return f"{count:.0f} {'day' if round(count) in (1, -1) else 'days'}"


def _late_habit(row: Mapping[str, Any]) -> str:
    """How late the customer has been paying: its last six invoices, or its first one."""
    n, last6, mean = _num(row, "hist_n"), _num(row, "last6_mean_late"), _num(row, "hist_mean_late")
    if np.isnan(n) or n == 0:
        return "no payment history yet for this customer"
    last = "last invoice was paid" if n == 1 else f"last {_invoices(min(n, 6))} were paid"
    average = "" if n == 1 else " on average"
    if last6 >= 0.5:
        return f"this customer's {last} {_days(last6)} late{average}"
    if last6 <= -0.5:
        return f"this customer's {last} {_days(-last6)} early{average}"
    return f"this customer usually pays on the due date (average {mean:+.0f} days)"


def _late_history(row: Mapping[str, Any], as_of: date) -> str:
    """The customer's habit and, once this invoice is well past it, by how much."""
    habit = _late_habit(row)
    past = _days_past_usual(row, as_of)
    if _num(row, "hist_n") > 0 and past >= PAST_USUAL_DAYS:
        return f"{habit}; this one is {_days(past)} past that"
    return habit


def _days_past_usual(row: Mapping[str, Any], as_of: date) -> float:
    """Days overdue beyond the customer's recent lateness (its long-run one if it has no recent)."""
    last6 = _num(row, "last6_mean_late")
    usual = last6 if last6 == last6 else _num(row, "hist_mean_late")
    return to_day(as_of) - int(row["due_day"]) - usual


def _share_late(row: Mapping[str, Any], as_of: date) -> str:
    share30, share = _num(row, "hist_share_late30"), _num(row, "hist_share_late")
    if np.isnan(share):
        return "no payment history yet for this customer"
    if share30 >= 0.05:
        return f"{share30:.0%} of this customer's paid invoices were more than 30 days late"
    return f"{share:.0%} of this customer's paid invoices were late"


def _trend(row: Mapping[str, Any], as_of: date) -> str:
    slope = _num(row, "trend_late_per_30d")
    if np.isnan(slope):
        return "too little history to see a trend"
    direction = "later" if slope > 0 else "earlier"
    return f"recent payments are getting {direction} ({slope:+.1f} days per month)"


def _amount(row: Mapping[str, Any], as_of: date) -> str:
    ratio = _num(row, "amount_vs_customer_median")
    if np.isnan(ratio):
        return "first invoices for this customer: no usual amount yet"
    return f"invoice is {ratio:.1f}× the customer's usual amount"


def _overdue(row: Mapping[str, Any], as_of: date) -> str:
    days = to_day(as_of) - int(row["due_day"])
    if days > 0:
        return f"invoice is already {_days(days)} overdue"
    return f"invoice is due in {_days(-days)}" if days else "invoice is due today"


def _dispute(row: Mapping[str, Any], as_of: date) -> str:
    if bool(row.get("dispute_open")):
        opened = from_day(int(row["last_dispute_opened_day"]))
        return f"disputed since {opened.day} {opened:%B %Y}"
    resolved = _num(row, "last_dispute_resolved_day")
    if resolved == resolved:
        day = from_day(int(resolved))
        return f"dispute resolved on {day.day} {day:%B %Y}"
    return "invoice is not disputed"


def _exposure(row: Mapping[str, Any], as_of: date) -> str:
    """The customer's overdue invoices as a collector would quote them: what is still open on
    them at today's rates (``customer_overdue_open``), not the feature's invoice totals at their
    issue dates' rates, which count partial payments as unpaid."""
    count, amount = _num(row, "customer_overdue_count"), _num(row, "customer_overdue_open")
    if count and count > 0:
        money = f"{row.get('base_currency') or ''} {amount:,.0f}".strip()
        return f"customer has {_invoices(count, 'overdue')}, {money} in total"
    return f"customer has {_invoices(_num(row, 'customer_open_count'), 'open')}, none overdue"


def _channel(row: Mapping[str, Any], as_of: date) -> str:
    channel, late = row.get("channel"), _num(row, "channel_mean_late")
    if not isinstance(channel, str) or not channel:
        return "no delivery channel recorded"
    if late != late:  # NaN: nothing sent this way has been paid yet
        reason = f"first invoices sent by {channel} to this customer"
    else:
        reason = (
            f"invoices sent to this customer by {channel} were paid "
            f"{late:+.0f} days vs due on average"
        )
    offset = _num(row, "channel_offset")  # NaN with one channel, or too few to tell
    moved = _num(row, "channel_hist_n") < _num(row, "hist_n")  # part of its history elsewhere
    if moved and abs(offset) >= 0.5:
        direction = "later" if offset > 0 else "earlier"
        reason += f"; customers pay {_days(abs(offset))} {direction} by {channel} than otherwise"
    return reason


def _partial(row: Mapping[str, Any], as_of: date) -> str:
    """Rounded down: an open invoice 99.6% paid is not "100% already paid"."""
    share = _num(row, "paid_share")
    if share and share > 0:
        return f"{np.floor(share * 100):.0f}% already paid in partial payments"
    return "no partial payment received yet"


def _recency(row: Mapping[str, Any], as_of: date) -> str:
    days = _num(row, "days_since_customer_payment")
    if np.isnan(days):
        return "customer has not yet paid any invoice in full"
    return f"customer last paid an invoice in full {_days(days)} ago"


def _terms(row: Mapping[str, Any], as_of: date) -> str:
    return f"payment terms are net {int(row['due_day']) - int(row['issue_day'])}"


GROUPS: dict[str, tuple[tuple[str, ...], Callable[[pd.Series, date], str]]] = {
    "late_history": (
        (
            "hist_mean_late",
            "hist_std_late",
            "last_late",
            "last3_mean_late",
            "last6_mean_late",
            "last10_median_late",
            "last10_p90_late",
            "ewm_late",
            "hist_mean_days_to_pay",
            "gap_to_mean_late",
            "gap_to_median_late",
            "gap_to_last3_late",
            "gap_to_ewm_late",
            "hist_n",
            "customer_prior_invoices",
        ),
        _late_history,
    ),
    "share_late": (("hist_share_late", "hist_share_late30"), _share_late),
    "trend": (("trend_late_per_30d",), _trend),
    "amount": (("amount_vs_customer_median", "log_amount_base"), _amount),
    "overdue": (("days_overdue", "days_overdue_at_knowledge", "age_days"), _overdue),
    "dispute": (
        (
            "dispute_open",
            "days_since_dispute_opened",
            "days_since_dispute_resolved",
            "disputes_total",
        ),
        _dispute,
    ),
    "exposure": (
        (
            "customer_open_count",
            "log_customer_open_amount",
            "customer_overdue_count",
            "log_customer_overdue_amount",
        ),
        _exposure,
    ),
    "channel": (
        (
            "channel",
            "channel_hist_n",
            "channel_mean_late",
            "channel_last10_median_late",
            "channel_adjusted_mean_late",
            "gap_to_channel_adjusted_late",
        ),
        _channel,
    ),
    "partial": (("paid_share", "partial_payments", "days_since_partial_payment"), _partial),
    "recency": (("days_since_customer_payment",), _recency),
    "terms": (("terms_days", "customer_terms_days"), _terms),
}
USUAL_AMOUNT = (2 / 3, 1.5)
"""Invoice amount ÷ the customer's median within this range is its usual size, no reason for
lateness. The group's pull then comes from the invoice's absolute size, or from its sitting
near the average; "invoice is 1.0× the customer's usual amount" reads as no reason at all. On
the demo ledger 1,168 of the worklist's 11,251 reasons said so (205 of them "1.0×"); without
them 492 lines give another reason instead and 676 slots stay empty."""
MIN_REASON_LOG_ODDS = 0.01
"""A group holding the hazard down by less than this (under a 1% change in the odds of payment on
the day) is no reason. Without the floor, on the demo ledger "no partial payment received yet"
filled 1,615 of the worklist's reason slots at a median of 0.005 log-odds, and "payment terms are
net N" 568 at 0.002: padding to three, not reasons."""
FAVOURABLE: dict[str, Callable[[Mapping[str, Any], date], bool]] = {
    "late_history": lambda row, as_of: (
        _num(row, "last6_mean_late") <= -0.5 and _days_past_usual(row, as_of) < PAST_USUAL_DAYS
    ),
    "share_late": lambda row, as_of: (
        _num(row, "hist_share_late") == 0 and _num(row, "hist_share_late30") < 0.05
    ),
    "trend": lambda row, as_of: not _num(row, "trend_late_per_30d") > 0,
    "amount": lambda row, as_of: (
        USUAL_AMOUNT[0] <= _num(row, "amount_vs_customer_median") <= USUAL_AMOUNT[1]
    ),
}
"""Facts that give a collector no cause to expect lateness (paying early, never late, payments
getting earlier or no trend to see, an invoice of the customer's usual size), so never given as
a reason for it. A group's SHAP value is relative to an average invoice: a customer paying 2
days early, or one whose payments are getting earlier more slowly than most, can still hold a
hazard down, but "this customer's payments are getting earlier" would read as the opposite of
a risk."""
CONTEXT_FEATURES = frozenset(
    {
        "lead_days",
        "weekday",
        "weekday_share",
        "month_day_share",
        "day_of_month",
        "days_to_last_business_day",
        "last_business_day",
        "month_end_share",
        "month",
        "business_day",
        "segment",
        "country",
        "currency",
    }
)
"""Features no reason is given for: the calendar of the representative day and who the customer
is, which a collector cannot act on."""


def representative_days(known: pd.DataFrame, as_of: date) -> np.ndarray:
    """The day each invoice's reasons are asked about: a week out, or a week past due if later."""
    due = known["due_day"].to_numpy(dtype=np.int64)
    return np.maximum(to_day(as_of), due) + REPRESENTATIVE_LEAD_DAYS


def shap_values(
    model: PayDateModel, known: pd.DataFrame, as_of: date, calendar: Calendar
) -> np.ndarray:
    """SHAP values (log-odds of the daily hazard) on each invoice's representative row."""
    if known.empty:  # nothing open: LightGBM cannot explain zero rows
        return np.zeros((0, len(FEATURES)))
    x = model_matrix(known, representative_days(known, as_of), model.vocab, calendar)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightGBM binary classifier")
        per_booster = [shap.TreeExplainer(b).shap_values(x) for b in model.boosters]
    # the model averages its boosters' log-odds, so its SHAP values are their mean
    return np.mean([v[1] if isinstance(v, list) else v for v in per_booster], axis=0)


def group_contributions(values: np.ndarray) -> pd.DataFrame:
    """Sum SHAP values into the named reason groups (columns) for every invoice (rows)."""
    index = {f: i for i, f in enumerate(FEATURES)}
    return pd.DataFrame(
        {g: values[:, [index[f] for f in feats]].sum(axis=1) for g, (feats, _) in GROUPS.items()}
    )


def reasons(
    known: pd.DataFrame,
    contributions: pd.DataFrame,
    as_of: date,
    top: int = 3,
    base_currency: str = "",
) -> list[list[str]]:
    """Up to ``top`` groups that delay payment most, rendered as sentences, per invoice.

    Only groups that push payment later, by at least `MIN_REASON_LOG_ODDS`, are reasons, and
    neither a not-yet-due invoice's timing (in either direction) nor a `FAVOURABLE` fact is one;
    an invoice with none gets the one other group that speeds it up most, so every line still
    says why the model sees it as it does. Customer-wide amounts are in ``base_currency``, which
    labels them; ``customer_overdue_open``, what is open on the customer's overdue invoices,
    comes with ``known`` (the features hold invoice totals). Next to "invoice is already 718
    days overdue", the customer's habit does not add "711 days past that".
    """
    values = contributions.to_numpy()
    names = list(contributions.columns)
    # A not-yet-due invoice's age and days to due are when it is due, not why it is at risk: no
    # reason a collector could act on.
    not_due = known["due_day"].to_numpy() > to_day(as_of)
    timing = names.index("overdue")
    order = np.argsort(values, axis=1, kind="stable")
    out = []
    for i, row in enumerate(known.itertuples(index=False)):
        facts = row._asdict() | {"base_currency": base_currency}
        candidates = [j for j in order[i] if not (not_due[i] and j == timing)]
        delaying = [
            j
            for j in candidates
            if values[i, j] < -MIN_REASON_LOG_ODDS
            and not (names[j] in FAVOURABLE and FAVOURABLE[names[j]](facts, as_of))
        ]
        chosen = [names[j] for j in delaying[:top] or candidates[-1:]]
        out.append(
            [
                _late_habit(facts)  # the days overdue are said next to it: no sum to read
                if name == "late_history" and "overdue" in chosen
                else GROUPS[name][1](facts, as_of)
                for name in chosen
            ]
        )
    return out
