"""Point-in-time correctness: a feature at knowledge day k must not move when the future does."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from features.matrix import (
    FEATURES,
    Calendar,
    Vocabulary,
    build_scoring_keys,
    build_training_keys,
    holiday_calendar,
    knowledge_features,
    model_matrix,
)
from features.warehouse import to_day
from tests.conftest import open_warehouse

K = date(2024, 11, 15)


def _features_at(tables: dict, k: date) -> pd.DataFrame:
    con = open_warehouse(tables)
    build_scoring_keys(con, k)
    return knowledge_features(con)


def _with_payments(tables: dict, payments: pd.DataFrame) -> dict:
    return {**tables, "payments": payments}


def _with_channels(tables: dict, shift_days: int) -> dict:
    """Every customer moves from paper to e-invoicing on a day of its own; e-invoices are paid
    ``shift_days`` earlier than the generator had them (never before their issue day)."""
    invoices = tables["invoices"].copy()
    customers = sorted(invoices["customer_id"].unique())
    switch = {
        c: pd.Timestamp(2024, 3, 1) + pd.Timedelta(days=5 * i) for i, c in enumerate(customers)
    }
    electronic = invoices["issue_date"] >= invoices["customer_id"].map(switch)
    invoices["delivery_channel"] = np.where(electronic, "electronic", "paper")
    payments = tables["payments"].copy()
    issued = payments["invoice_id"].map(invoices.set_index("invoice_id")["issue_date"])
    moved = payments["invoice_id"].isin(invoices.loc[electronic, "invoice_id"])
    earlier = np.maximum(payments["payment_date"] - pd.Timedelta(days=shift_days), issued)
    payments["payment_date"] = payments["payment_date"].mask(moved, earlier)
    return {**tables, "invoices": invoices, "payments": payments}


@pytest.mark.parametrize("channels", [False, True], ids=["no-channel", "paper-to-e-invoice"])
def test_future_payments_do_not_change_features(small_tables: dict, channels: bool) -> None:
    if channels:
        small_tables = _with_channels(small_tables, shift_days=6)
    base = _features_at(small_tables, K)
    payments = small_tables["payments"]
    future = payments["payment_date"] > pd.Timestamp(K)
    assert future.any() and (~future).any()

    dropped = _with_payments(small_tables, payments[~future])
    shifted = payments.copy()
    shifted.loc[future, "payment_date"] += pd.Timedelta(days=13)
    open_id = base["invoice_id"].iloc[0]
    extra = pd.DataFrame(
        {
            "payment_id": ["P-FUTURE"],
            "invoice_id": [open_id],
            "customer_id": [base["customer_id"].iloc[0]],
            "payment_date": [pd.Timestamp(K) + pd.Timedelta(days=1)],
            "amount": [1e9],
        }
    )
    for variant in (
        dropped,
        _with_payments(small_tables, shifted),
        _with_payments(small_tables, pd.concat([payments, extra], ignore_index=True)),
    ):
        pd.testing.assert_frame_equal(_features_at(variant, K), base)


def test_future_disputes_and_invoices_do_not_change_features(small_tables: dict) -> None:
    base = _features_at(small_tables, K)
    disputes = small_tables["disputes"]
    invoices = small_tables["invoices"]
    later = {
        **small_tables,
        "disputes": disputes[disputes["opened_date"] <= pd.Timestamp(K)],
        "invoices": invoices[invoices["issue_date"] <= pd.Timestamp(K)],
    }
    later["payments"] = later["payments"][
        later["payments"]["invoice_id"].isin(later["invoices"]["invoice_id"])
    ]
    pd.testing.assert_frame_equal(_features_at(later, K), base)
    resolved_later = disputes["resolved_date"] > pd.Timestamp(K)
    assert resolved_later.any()
    unresolved = {
        **small_tables,
        "disputes": disputes.assign(resolved_date=disputes["resolved_date"].where(~resolved_later)),
    }
    pd.testing.assert_frame_equal(_features_at(unresolved, K), base)


def test_a_dispute_resolved_before_the_knowledge_day_is_seen(small_tables: dict) -> None:
    disputes = small_tables["disputes"]
    base = _features_at(small_tables, K)
    opened = (disputes["opened_date"] < pd.Timestamp(K) - pd.Timedelta(days=3)) & (
        disputes["resolved_date"].isna() | (disputes["resolved_date"] > pd.Timestamp(K))
    )
    ids = set(disputes.loc[opened, "invoice_id"]) & set(base["invoice_id"])
    assert ids
    settled = disputes.assign(
        resolved_date=disputes["resolved_date"].mask(opened, pd.Timestamp(K) - pd.Timedelta(days=2))
    )
    after = _features_at({**small_tables, "disputes": settled}, K).set_index("invoice_id")
    changed = after.loc[sorted(ids)]
    assert (changed["last_dispute_resolved_day"] == to_day(K) - 2).all()
    assert not changed["dispute_open"].any()


def test_a_past_payment_does_change_features(small_tables: dict) -> None:
    """The leakage tests above can fail: moving a *past* payment does move features."""
    base = _features_at(small_tables, K)
    payments = small_tables["payments"].copy()
    past = payments.index[payments["payment_date"] <= pd.Timestamp(K) - pd.Timedelta(days=30)]
    payments.loc[past, "payment_date"] -= pd.Timedelta(days=9)
    moved = _features_at(_with_payments(small_tables, payments), K)
    assert not moved["hist_mean_late"].equals(base["hist_mean_late"])


def test_channel_offset_shifts_a_customer_history_to_its_new_channel(small_tables: dict) -> None:
    """Paid 6 days earlier by e-invoice: the portfolio offset says so, and a customer whose paid
    history is all on paper gets that history moved 6 days earlier for its first e-invoices."""
    known = _features_at(_with_channels(small_tables, shift_days=6), K)
    unshifted = _features_at(_with_channels(small_tables, shift_days=0), K)
    offset, before = (
        f.loc[f["channel"] == "electronic", "channel_offset"].unique() for f in (known, unshifted)
    )
    # recent e-invoices already paid are the quicker ones (the rest are still open), so the
    # generator's own offset is not 0: the shift is measured against it
    assert len(offset) == len(before) == 1 and -7 < offset[0] - before[0] < -5, (offset, before)
    assert (known.loc[known["channel"] == "paper", "channel_offset"] == -offset[0]).all()
    calendar = Calendar(sorted(known["country"].unique()), to_day(K) - 800, to_day(K) + 400)
    matrix = model_matrix(known, known["k"].to_numpy() + 1, Vocabulary.fit(known), calendar)
    adjusted = matrix[:, FEATURES.index("channel_adjusted_mean_late")]
    share_elsewhere = 1 - known["channel_hist_n"] / known["hist_n"]
    expected = known["hist_mean_late"] + share_elsewhere * known["channel_offset"]
    np.testing.assert_allclose(adjusted, expected, rtol=1e-5, atol=1e-4)
    paper_only = known["channel"].eq("electronic").fillna(False) & (known["channel_hist_n"] == 0)
    first = (paper_only & known["hist_n"].fillna(0).gt(0)).to_numpy(dtype=bool)
    paper_mean = known["hist_mean_late"].to_numpy(dtype=float)
    assert first.any() and (adjusted[first] < paper_mean[first] - 4).all()
    none = _features_at(small_tables, K)  # one channel everywhere: the feature stays empty
    assert none["channel_offset"].isna().all()


def test_history_uses_only_invoices_paid_before_knowledge_day(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    build_scoring_keys(warehouse, K)
    known = knowledge_features(warehouse).set_index("invoice_id")
    facts = warehouse.execute("SELECT * FROM invoice_facts").df()
    paid = facts[(facts["completion_day"] <= to_day(K)).fillna(False).astype(bool)]
    expected = paid.groupby("customer_id").size()
    got = known.groupby("customer_id")["hist_n"].first().dropna().astype(int)
    pd.testing.assert_series_equal(
        got.sort_index(), expected.reindex(got.index).sort_index(), check_names=False
    )
    late = (paid["completion_day"] - paid["due_day"]).groupby(paid["customer_id"]).mean()
    got_late = known.groupby("customer_id")["hist_mean_late"].first().dropna()
    np.testing.assert_allclose(got_late.sort_index(), late.reindex(got_late.index).sort_index())


def test_open_invoices_are_exactly_those_unpaid_at_as_of(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    n = build_scoring_keys(warehouse, K)
    facts = warehouse.execute("SELECT * FROM invoice_facts").df()
    day = to_day(K)
    paid = (facts["completion_day"] <= day).fillna(False).astype(bool)
    open_ = (facts["issue_day"] <= day) & ~paid
    assert n == int(open_.sum()) > 0


def test_training_rows_respect_time(warehouse: duckdb.DuckDBPyConnection) -> None:
    stats = build_training_keys(
        warehouse, K, horizon_days=60, max_rows=20_000, max_days_late=365, seed=1
    )
    keys = warehouse.execute(
        "SELECT k.*, f.issue_day, f.completion_day FROM feature_keys k JOIN invoice_facts f "
        "USING (invoice_id)"
    ).df()
    day = to_day(K)
    assert stats["rows"] == len(keys) <= 20_000 + stats["events"]
    assert (keys["d"] <= day).all()
    assert (keys["k"] < keys["d"]).all() and (keys["k"] >= keys["issue_day"]).all()
    assert (keys["d"] - keys["k"] <= 60).all()
    events = keys[keys["event"]]
    assert (events["d"] == events["completion_day"]).all()
    assert len(events) == stats["events"]
    survivors = keys[~keys["event"]]
    assert (
        survivors["completion_day"].isna() | (survivors["d"] < survivors["completion_day"])
    ).all()


def test_the_panel_counts_the_invoices_paid_past_its_age_cap(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    """Invoices paid later than ``max_days_late`` past due are censored there: the panel's
    oldest payment is then its cap's doing, not the ledger's, and the count says so."""
    facts = warehouse.execute("SELECT * FROM invoice_facts").df()
    late = facts["completion_day"] - facts["due_day"]
    paid = (facts["completion_day"] <= to_day(K)) & (facts["issue_day"] < to_day(K))
    cap = int(late[paid].quantile(0.9))
    stats = build_training_keys(warehouse, K, 60, 20_000, cap, seed=1)
    assert stats["paid_past_panel"] == int((paid & (late > cap)).sum()) > 0
    assert stats["oldest_paid_days_late"] <= cap


def test_training_rows_are_deterministic(warehouse: duckdb.DuckDBPyConnection) -> None:
    def keys() -> pd.DataFrame:
        build_training_keys(warehouse, K, 60, 20_000, 365, seed=3)
        return warehouse.execute("SELECT * FROM feature_keys ORDER BY row_id").df()

    pd.testing.assert_frame_equal(keys(), keys())


@pytest.mark.parametrize("day_offset", [1, 30])
def test_model_matrix_has_every_feature(warehouse: duckdb.DuckDBPyConnection, day_offset: int):
    build_scoring_keys(warehouse, K)
    known = knowledge_features(warehouse)
    calendar = holiday_calendar(warehouse, to_day(K) - 800, to_day(K) + 400)
    x = model_matrix(
        known, np.full(len(known), to_day(K) + day_offset), Vocabulary.fit(known), calendar
    )
    assert x.shape == (len(known), len(FEATURES))
    lead = x[:, FEATURES.index("lead_days")]
    assert (lead == day_offset).all()
    overdue = x[:, FEATURES.index("days_overdue")]
    np.testing.assert_array_equal(overdue, to_day(K) + day_offset - known["due_day"].to_numpy())


@pytest.mark.parametrize(
    ("country", "month_end_run"),
    [
        ("US", date(2025, 8, 29)),  # Sunday 31st: the run is on Friday
        ("US", date(2024, 3, 29)),
        ("GB", date(2024, 3, 28)),  # Good Friday is a bank holiday in England, not in the US
        ("XX", date(2024, 3, 29)),  # a country the holidays package does not know: weekends only
    ],
)
def test_last_business_day_of_the_month(country: str, month_end_run: date) -> None:
    """Flagged once a month, also when the calendar was asked for only half of that month; the
    days to the month end count to it, so that a run on Friday the 29th is at the month end for
    every calendar feature, as one on a weekday 31st is."""
    first = to_day(month_end_run.replace(day=1))
    calendar = Calendar(["US", "GB"], first, first + 14)
    idx = calendar.country_index(pd.Series([country]))[0]
    month = np.arange(first, first + len(calendar.weekday))
    flagged = month[calendar.last_business_day[idx, calendar.position(month)]]
    assert flagged.tolist() == [to_day(month_end_run)]
    to_end = calendar.days_to_last_business_day[idx, calendar.position(month)]
    np.testing.assert_array_equal(to_end, to_day(month_end_run) - month)


def test_month_day_share_follows_a_run_on_a_fixed_date(small_tables: dict) -> None:
    """A customer that pays on the 10th (the next business day when the 10th is closed): on a
    Tuesday the 10th its share is that of its payments made on a 10th; on Monday the 12th after
    a Saturday 10th it counts the 10th and 11th too, since a run moved off the weekend lands
    there; on a date it never pays on, none."""
    invoices, payments = small_tables["invoices"], small_tables["payments"].copy()
    customer = invoices["customer_id"].value_counts().index[0]
    country = small_tables["customers"].set_index("customer_id").loc[customer, "country"]
    calendar = Calendar([country], to_day(date(2023, 12, 1)), to_day(date(2025, 7, 1)))
    open_days = np.flatnonzero(calendar.business[0]) + calendar.first_day
    mine = payments["customer_id"] == customer
    paid = payments.loc[mine, "payment_date"]
    tenth = paid + pd.offsets.MonthBegin(0) + pd.Timedelta(days=9)
    tenth = tenth.where(tenth >= paid, tenth + pd.offsets.MonthBegin(1))
    days = (tenth - pd.Timestamp(1970, 1, 1)).dt.days.to_numpy()
    run = open_days[np.searchsorted(open_days, days)]
    payments.loc[mine, "payment_date"] = pd.to_datetime(run, unit="D")
    con = open_warehouse(_with_payments(small_tables, payments))
    build_scoring_keys(con, K)
    known = knowledge_features(con)
    known = known[known["customer_id"] == customer].reset_index(drop=True)
    completed = con.execute(
        "SELECT completion_day FROM invoice_facts WHERE customer_id = ? AND completion_day <= ?",
        [customer, to_day(K)],
    ).fetchnumpy()["completion_day"]
    history = pd.to_datetime(completed, unit="D")
    assert len(known) and len(history) > 5

    def share(day: date) -> float:
        x = model_matrix(known, np.full(len(known), to_day(day)), Vocabulary.fit(known), calendar)
        (value,) = set(x[:, FEATURES.index("month_day_share")].round(6))
        return float(value)

    on_tenth = (history.day == 10).mean()
    assert 0.5 < on_tenth < 1
    assert share(date(2024, 12, 10)) == pytest.approx(on_tenth)  # a Tuesday
    assert date(2025, 5, 10).weekday() == 5
    assert share(date(2025, 5, 12)) == pytest.approx(history.day.isin([10, 11, 12]).mean())
    assert share(date(2024, 12, 20)) == 0
