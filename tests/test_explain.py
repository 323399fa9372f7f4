"""Plain-language reasons: the right groups are chosen and rendered with the invoice's numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from features.matrix import FEATURES
from features.warehouse import to_day
from models.explain import (
    CONTEXT_FEATURES,
    GROUPS,
    group_contributions,
    reasons,
    representative_days,
    shap_values,
)

AS_OF = date(2024, 4, 1)


def _known(**overrides) -> pd.DataFrame:
    row = {
        "issue_day": to_day(date(2024, 2, 1)),
        "due_day": to_day(date(2024, 3, 2)),
        "hist_n": 12,
        "last6_mean_late": 18.2,
        "hist_mean_late": 15.0,
        "hist_share_late": 0.8,
        "hist_share_late30": 0.25,
        "trend_late_per_30d": 2.5,
        "amount_vs_customer_median": 3.0,
        "dispute_open": True,
        "last_dispute_opened_day": to_day(date(2024, 3, 12)),
        "disputes_total": 1,
        "customer_overdue_count": 2,
        "customer_overdue_open": 5400.0,
        "customer_open_count": 3,
        "paid_share": 0.0,
        "days_since_customer_payment": 9,
    }
    row.update(overrides)
    return pd.DataFrame([row])


def _contributions(**values: float) -> pd.DataFrame:
    return pd.DataFrame([{g: values.get(g, 0.1) for g in GROUPS}])


def test_the_groups_that_delay_payment_most_are_the_reasons() -> None:
    out = reasons(_known(), _contributions(amount=-0.9, late_history=-1.4, dispute=-0.2), AS_OF)
    assert out == [
        [
            "this customer's last 6 invoices were paid 18 days late on average",
            "invoice is 3.0× the customer's usual amount",
            "disputed since 12 March 2024",
        ]
    ]


def test_counts_read_as_a_collector_would_say_them() -> None:
    exposure = _contributions(exposure=-1.0)
    assert reasons(_known(), exposure, AS_OF, base_currency="EUR") == [
        ["customer has 2 overdue invoices, EUR 5,400 in total"]
    ]
    one = _known(customer_overdue_count=1, customer_overdue_open=99.4)
    assert reasons(one, exposure, AS_OF) == [["customer has 1 overdue invoice, 99 in total"]]
    none = _known(customer_overdue_count=0, customer_open_count=1)
    assert reasons(none, exposure, AS_OF) == [["customer has 1 open invoice, none overdue"]]
    first = _known(hist_n=1, last6_mean_late=-7.0, due_day=to_day(AS_OF))
    assert reasons(first, _contributions(late_history=1.0), AS_OF) == [
        ["this customer's last invoice was paid 7 days early"]
    ]
    one_day = _known(last6_mean_late=1.2, hist_n=2, due_day=to_day(AS_OF) - 1)
    assert reasons(one_day, _contributions(late_history=-1.0, overdue=-0.5), AS_OF) == [
        [
            "this customer's last 2 invoices were paid 1 day late on average",
            "invoice is already 1 day overdue",
        ]
    ]


def test_an_invoice_far_past_the_customers_habit_says_so() -> None:
    """30 days overdue against a habit of 18 days late is within the customer's way; 60 is not."""
    history = _contributions(late_history=-1.0)
    assert reasons(_known(), history, AS_OF) == [
        ["this customer's last 6 invoices were paid 18 days late on average"]
    ]
    long_overdue = _known(due_day=to_day(AS_OF) - 60)
    assert reasons(long_overdue, history, AS_OF) == [
        [
            "this customer's last 6 invoices were paid 18 days late on average; "
            "this one is 42 days past that"
        ]
    ]
    both = _contributions(late_history=-1.0, overdue=-0.5)
    assert reasons(long_overdue, both, AS_OF) == [
        [
            "this customer's last 6 invoices were paid 18 days late on average",
            "invoice is already 60 days overdue",
        ]
    ]  # not "42 days past that" next to "60 days overdue": one says it


def test_a_not_yet_due_invoice_is_not_late_because_of_its_due_date() -> None:
    """When it is due says when it will be paid, not a risk a collector can act on."""
    contributions = _contributions(overdue=-2.0, late_history=-0.5, exposure=-0.3)
    for days in (3, 25):
        due_later = _known(due_day=to_day(AS_OF) + days, dispute_open=False)
        assert reasons(due_later, contributions, AS_OF) == [
            [
                "this customer's last 6 invoices were paid 18 days late on average",
                "customer has 2 overdue invoices, 5,400 in total",
            ]
        ]
    due_today = _known(due_day=to_day(AS_OF), dispute_open=False)
    assert reasons(due_today, contributions, AS_OF)[0][0] == "invoice is due today"


def test_reasons_are_asked_a_week_out_or_a_week_past_due() -> None:
    """A week out, an invoice due next month is held back by its due date and nothing else; a
    week past due, what holds it back is what makes it late."""
    known = pd.concat([_known(due_day=to_day(AS_OF) + days) for days in (-30, 0, 25)])
    assert list(representative_days(known, AS_OF)) == [
        to_day(AS_OF) + 7,
        to_day(AS_OF) + 7,
        to_day(AS_OF) + 32,
    ]


def test_facts_that_speak_for_paying_on_time_are_no_reason_for_lateness() -> None:
    """A SHAP value below the average invoice's is not a risk a collector would recognise when
    the fact itself says early, never late or getting earlier."""
    contributions = _contributions(trend=-1.2, late_history=-1.0, share_late=-0.8, amount=-0.5)
    favourable = _known(
        trend_late_per_30d=-6.2,
        last6_mean_late=-3.0,
        hist_share_late=0.0,
        hist_share_late30=0.0,
        due_day=to_day(AS_OF) + 10,
    )
    assert reasons(favourable, contributions, AS_OF) == [
        ["invoice is 3.0× the customer's usual amount"]
    ]
    no_trend = _known(trend_late_per_30d=np.nan)
    assert "trend" not in " ".join(reasons(no_trend, contributions, AS_OF)[0])
    assert reasons(_known(), contributions, AS_OF) == [
        [
            "recent payments are getting later (+2.5 days per month)",
            "this customer's last 6 invoices were paid 18 days late on average",
            "25% of this customer's paid invoices were more than 30 days late",
        ]
    ]
    usual = reasons(_known(amount_vs_customer_median=1.0), _contributions(amount=-0.5), AS_OF)
    assert "usual amount" not in " ".join(usual[0])  # an invoice of its usual size is no cause
    past_habit = _known(last6_mean_late=-3.0, due_day=to_day(AS_OF) - 20)
    assert reasons(past_habit, _contributions(late_history=-1.0), AS_OF) == [
        [
            "this customer's last 6 invoices were paid 3 days early on average; "
            "this one is 23 days past that"
        ]
    ]


def test_a_fact_that_hardly_moves_the_hazard_is_no_reason() -> None:
    contributions = _contributions(late_history=-1.0, partial=-0.005, terms=-0.002)
    assert reasons(_known(), contributions, AS_OF) == [
        ["this customer's last 6 invoices were paid 18 days late on average"]
    ]


def test_only_delaying_groups_are_reasons() -> None:
    out = reasons(_known(), _contributions(overdue=-0.5), AS_OF)
    assert out == [["invoice is already 30 days overdue"]]


def test_an_invoice_on_track_gets_its_strongest_positive_reason() -> None:
    contributions = pd.DataFrame([{g: 0.0 for g in GROUPS}])
    contributions.loc[0, "partial"] = 0.7
    out = reasons(_known(paid_share=0.4), contributions, AS_OF)
    assert out == [["40% already paid in partial payments"]]
    # not its due date either, when that speeds it up most: "due in 30 days" is no reason
    contributions.loc[0, "overdue"] = 1.5
    not_due = _known(paid_share=0.4, due_day=to_day(AS_OF) + 30)
    assert reasons(not_due, contributions, AS_OF) == [["40% already paid in partial payments"]]
    # an open invoice is never "100% already paid"
    nearly = reasons(_known(paid_share=0.996, due_day=to_day(AS_OF) + 30), contributions, AS_OF)
    assert nearly == [["99% already paid in partial payments"]]


def test_new_customer_reason_mentions_missing_history() -> None:
    known = _known(hist_n=np.nan, last6_mean_late=np.nan, hist_mean_late=np.nan)
    out = reasons(known, _contributions(late_history=-1.0), AS_OF)
    assert out == [["no payment history yet for this customer"]]


def test_delivery_channel_reason() -> None:
    known = _known(channel="paper", channel_mean_late=12.0)
    out = reasons(known, _contributions(channel=-1.0), AS_OF)
    assert out == [["invoices sent to this customer by paper were paid +12 days vs due on average"]]
    unknown = reasons(_known(channel=None), _contributions(channel=-1.0), AS_OF)
    assert unknown == [["no delivery channel recorded"]]


def test_a_customer_new_to_a_channel_hears_how_customers_pay_by_it() -> None:
    known = _known(channel="email", channel_mean_late=np.nan, channel_hist_n=0, channel_offset=-6.4)
    out = reasons(known, _contributions(channel=0.8), AS_OF)
    assert out == [
        [
            "first invoices sent by email to this customer; "
            "customers pay 6 days earlier by email than otherwise"
        ]
    ]
    settled = _known(
        channel="email", channel_mean_late=-2.0, channel_hist_n=12, channel_offset=-6.4
    )
    assert reasons(settled, _contributions(channel=0.8), AS_OF) == [
        ["invoices sent to this customer by email were paid -2 days vs due on average"]
    ]


def test_nothing_open_means_nothing_to_explain(trained) -> None:
    model, prediction, calendar = trained
    values = shap_values(model, prediction.known.iloc[:0], date(2024, 12, 31), calendar)
    assert values.shape == (0, len(FEATURES))
    assert list(group_contributions(values).columns) == list(GROUPS)


def test_every_feature_is_a_reason_or_context() -> None:
    """A new feature must be given a reason (or be declared context), or its weight is lost."""
    grouped = [f for features, _ in GROUPS.values() for f in features]
    assert len(grouped) == len(set(grouped))
    assert sorted(set(FEATURES) - CONTEXT_FEATURES) == sorted(grouped)
