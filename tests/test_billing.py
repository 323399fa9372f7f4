"""Projected billing: point-in-time, run-rates, collections and draws on hand-made ledgers."""

from __future__ import annotations

from datetime import date

import holidays
import numpy as np
import pandas as pd
import pytest

from features.warehouse import to_day
from models.billing import STRATA, active_units, month_factors, project_billing

AS_OF = date(2024, 6, 30)
RATES = {"USD": 1.0, "EUR": 1.1}


def weekly_ledger(weeks: int = 40, amount: float = 700.0, delay: int = 10) -> pd.DataFrame:
    """Customer A bills ``amount`` every Monday-ish (one invoice a week) and pays ``delay``
    days after issue; B bills 500 EUR every two weeks and pays as fast."""
    today = to_day(AS_OF)
    rows = []
    for k in range(weeks):
        issue = today - 7 * k
        rows.append(("A", "USD", issue, issue + 30, amount, issue + delay))
        if k % 2 == 0:
            rows.append(("B", "EUR", issue - 3, issue + 27, 500.0, issue - 3 + delay))
    frame = pd.DataFrame(
        rows,
        columns=["customer_id", "currency", "issue_day", "due_day", "amount", "completion_day"],
    )
    frame["completion_day"] = frame["completion_day"].astype(float)
    return frame


def test_constant_weekly_billing_gets_its_run_rate() -> None:
    projection = project_billing(weekly_ledger(), AS_OF, RATES)
    units = projection.units.set_index("customer_id")
    assert units.loc["A", "daily_rate"] * 7 == pytest.approx(700.0)
    assert projection.billing[units.index.get_loc("A")] == pytest.approx(np.full(13, 700.0))
    # B: 500 EUR every 14 days, valued at the as-of rate
    assert projection.billing[units.index.get_loc("B")].sum() == pytest.approx(250 * 1.1 * 13)


def test_collections_follow_the_delay_distribution() -> None:
    projection = project_billing(weekly_ledger(delay=10), AS_OF, RATES)
    a = projection.units.index[projection.units["customer_id"] == "A"][0]
    daily = 100.0  # 700 a week spread over the days; paid 10 days later
    # cash lands from day 11 on: week 2 gets days 11-14, weeks 3.. get 7 days each
    assert projection.cash[a, 0] == pytest.approx(0.0)
    assert projection.cash[a, 1] == pytest.approx(4 * daily)
    assert projection.cash[a, 2:] == pytest.approx(np.full(11, 7 * daily))
    assert projection.paths.mean(axis=1) == pytest.approx(projection.cash)


def test_nothing_after_as_of_is_read() -> None:
    ledger = weekly_ledger()
    base = project_billing(ledger, AS_OF, RATES)
    today = to_day(AS_OF)
    future = pd.DataFrame(
        {
            "customer_id": ["A", "C", "B"],
            "currency": ["USD", "USD", "EUR"],
            "issue_day": [today + 1, today + 5, today - 200],
            "due_day": [today + 31, today + 35, today - 170],
            "amount": [1e6, 5e5, 300.0],
            "completion_day": [today + 2.0, today + 6.0, today + 3.0],  # paid after as-of
        }
    )
    # a late payment of an old invoice too: completion after as-of counts as unpaid
    changed = ledger.copy()
    changed.loc[changed["issue_day"] < today - 150, "completion_day"] += 400
    later = project_billing(pd.concat([changed, future], ignore_index=True), AS_OF, RATES)
    ref = project_billing(
        pd.concat(
            [
                ledger.assign(
                    completion_day=np.where(
                        ledger["issue_day"] < today - 150, np.nan, ledger["completion_day"]
                    )
                ),
                future.iloc[[2]].assign(completion_day=np.nan),
            ],
            ignore_index=True,
        ),
        AS_OF,
        RATES,
    )
    pd.testing.assert_frame_equal(later.units, ref.units)
    np.testing.assert_array_equal(later.billing, ref.billing)
    np.testing.assert_array_equal(later.cash, ref.cash)
    assert later.sigma == ref.sigma
    # and only future invoices: identical to the base projection
    only_future = project_billing(pd.concat([ledger, future.iloc[:2]]), AS_OF, RATES)
    np.testing.assert_array_equal(only_future.billing, base.billing)
    np.testing.assert_array_equal(only_future.cash, base.cash)
    assert len(only_future.units) == len(base.units)


def test_inactive_customers_are_not_projected() -> None:
    ledger = weekly_ledger()
    today = to_day(AS_OF)
    stopped = ledger.loc[ledger["customer_id"] == "A"].assign(
        customer_id="S", issue_day=lambda f: f["issue_day"] - 120
    )
    both = pd.concat([ledger, stopped])
    projection = project_billing(both, AS_OF, RATES)
    assert "S" not in set(projection.units["customer_id"])
    assert today - stopped["issue_day"].max() == 120
    # what-if scenarios check their names against these units before the projection exists
    pd.testing.assert_frame_equal(
        active_units(both, AS_OF), projection.units[["customer_id", "currency"]]
    )


def test_draws_are_seeded_and_have_the_expected_mean_whatever_the_breakdown() -> None:
    projection = project_billing(weekly_ledger(), AS_OF, RATES)
    total = projection.simulate(n_sims=4000, seed=3)
    assert total.shape == (4000, 1, 13)
    np.testing.assert_array_equal(total, projection.simulate(n_sims=4000, seed=3))
    split = projection.simulate(by=np.array([0, 1]), n_sims=4000, seed=3)
    for draws in (total[:, 0], split.sum(axis=1)):
        np.testing.assert_allclose(draws.mean(axis=0), projection.cash.sum(axis=0), rtol=0.05)
        p10, p90 = np.quantile(draws.sum(axis=1), [0.1, 0.9])
        assert p10 < projection.cash.sum() < p90
    assert projection.paths.shape == (2, STRATA, 13)


def test_a_customer_billing_monthly_pays_in_lumps() -> None:
    """Invoices arrive one at a time: a monthly biller's cash lands in a few weeks of the 13,
    not a thirteenth of it every week, and bands must say so."""
    today = to_day(AS_OF)
    issue = today - 31 * np.arange(12)  # six invoices in the 26-week look-back
    amount = np.where(np.arange(12) % 2 == 0, 500.0, 1500.0)
    monthly = pd.DataFrame(
        {
            "customer_id": "M",
            "currency": "USD",
            "issue_day": issue,
            "due_day": issue + 30,
            "amount": amount,
            "completion_day": (issue + 30).astype(float),
        }
    )
    projection = project_billing(monthly, AS_OF, RATES)
    assert projection.units.loc[0, "amount_cv2"] == pytest.approx(0.25)
    weeks = projection.simulate(n_sims=4000, seed=1)[:, 0, 4:]
    expected = projection.cash[0, 4:]
    assert weeks.mean(axis=0) == pytest.approx(expected, rel=0.1)
    assert (weeks < 0.1 * expected).mean() > 0.4  # most weeks bring in (almost) nothing
    assert weeks.std(axis=0).mean() > expected.mean()


def test_month_factors_need_a_year_and_are_shrunk() -> None:
    months = pd.period_range("2023-01", periods=11, freq="M")
    assert month_factors(pd.Series(1.0, index=months)).tolist() == [1.0] * 12
    months = pd.period_range("2023-01", periods=12, freq="M")
    rates = pd.Series(1.0, index=months)
    rates.iloc[11] = 0.5  # a December at half the rate, one year of history
    factors = month_factors(rates)
    raw = 0.5 / rates.mean()
    assert factors[11] == pytest.approx(1 + (raw - 1) / 2)
    assert factors[0] == pytest.approx(1 + (1 / rates.mean() - 1) / 2)


def batch_ledger() -> pd.DataFrame:
    """Customer E bills 700 a week and pays each invoice in the month-end batch (the month's
    last weekday) of the month 45 days after its issue."""
    today = to_day(AS_OF)  # Sunday 30 June 2024: the batch that month was on Friday the 28th
    issue = today - 7 * np.arange(60)
    paid = pd.to_datetime(issue + 45, unit="D") + pd.offsets.MonthEnd(0)
    paid = paid - pd.to_timedelta(np.maximum(paid.day_of_week - 4, 0), unit="D")
    return pd.DataFrame(
        {
            "customer_id": "E",
            "currency": "USD",
            "issue_day": issue,
            "due_day": issue + 30,
            "amount": 700.0,
            "completion_day": ((paid - pd.Timestamp("1970-01-01")).days).astype(float),
        }
    )


@pytest.mark.parametrize(
    "ledger", [weekly_ledger(delay=10), batch_ledger()], ids=["daily", "batch"]
)
def test_open_invoices_roll_forward(ledger: pd.DataFrame) -> None:
    """What the projected invoices leave open is what they billed less what the cash forecast
    collects from them, week by week, month-end batch payers included (whose AR fell between
    batches by the plain delays before, as if they paid every day)."""
    projection = project_billing(ledger, AS_OF, RATES)
    assert projection.open_invoices(0).empty
    for week in range(1, projection.weeks + 1):
        projected = projection.open_invoices(week)
        billed = projection.billing[:, :week].sum()
        collected = projection.cash[:, :week].sum()
        assert projected["amount_base"].sum() == pytest.approx(billed)
        assert projected["amount_open_base"].sum() == pytest.approx(billed - collected)


def test_a_month_end_batch_payer_is_projected_onto_its_batch_days() -> None:
    """A customer paying everything on the month's last weekday brings its new invoices' cash in
    the weeks holding those days, not spread over every week."""
    today = to_day(AS_OF)
    projection = project_billing(batch_ledger(), AS_OF, RATES)
    assert projection.units.loc[0, "month_end_batch"]
    batch_days = [date(2024, 7, 31), date(2024, 8, 30)]  # Friday 30 August; 30 September is past
    batch_weeks = [(to_day(d) - today - 1) // 7 for d in batch_days]
    cash = projection.cash[0]
    assert cash[batch_weeks].sum() > 0.95 * cash.sum()
    # in the horizon: the invoices issued 1-17 July, meant to be paid by 31 August (100 a day)
    assert cash.sum() == pytest.approx(1700.0, rel=0.1)


def test_month_end_batches_move_before_the_customer_countrys_holidays() -> None:
    """Monday 31 May 2027 is a bank holiday in Great Britain, so a British batch payer's May run
    is on Friday the 28th, a forecast week earlier than a calendar without holidays says."""
    as_of = date(2027, 3, 28)  # forecast weeks run Monday to Sunday: 24-30 May is the 9th
    today = to_day(as_of)
    british = holidays.country_holidays("GB", years=range(2025, 2028))
    issue = today - 7 * np.arange(60)
    paid = []
    for day in pd.to_datetime(issue + 45, unit="D") + pd.offsets.MonthEnd(0):
        while day.day_of_week >= 5 or day in british:
            day -= pd.Timedelta(days=1)
        paid.append(to_day(day))
    ledger = pd.DataFrame(
        {
            "customer_id": "G",
            "country": "GB",
            "currency": "USD",
            "issue_day": issue,
            "due_day": issue + 30,
            "amount": 700.0,
            "completion_day": np.asarray(paid, dtype=float),
        }
    )
    weeks = {"GB": (8, 9), None: (9, 8)}  # of Friday 28 May, and of Monday 31 May
    for country, (may_batch, other) in weeks.items():
        projection = project_billing(ledger.assign(country=country), as_of, RATES)
        assert projection.units.loc[0, "month_end_batch"]
        cash = projection.cash[0]
        assert cash[may_batch] > 0.3 * cash.sum()
        assert cash[other] == 0.0
