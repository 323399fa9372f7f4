"""The collections worklist: ranking, tiers, tone, next contact, queues and the customer view."""

from datetime import date

import holidays
import numpy as np
import pandas as pd
import pytest

from arcast.worklist import (
    CUSTOMER_COLUMNS,
    DISPUTE_COLUMNS,
    OUTPUT_COLUMNS,
    build_worklist,
    customer_tone,
    draft_file_name,
    high_value,
    next_contact,
)

AS_OF = date(2024, 3, 31)


def predictions(n: int = 40, seed: int = 0, as_of: date = AS_OF) -> pd.DataFrame:
    """Hand-made scored open invoices (the columns ``invoice_predictions`` provides)."""
    rng = np.random.default_rng(seed)
    days = rng.integers(-30, 150, n)
    due = pd.Timestamp(as_of) - pd.to_timedelta(days, "D")
    amount = rng.uniform(10, 5000, n).round(2)
    return pd.DataFrame(
        {
            "invoice_id": [f"INV{i:03d}" for i in range(n)],
            "customer_id": [f"C{c}" for c in rng.integers(0, 6, n)],
            "currency": "USD",
            "invoice_amount": amount,
            "amount_open": amount,
            "amount_open_base": amount,
            "issue_date": due - pd.Timedelta(days=30),
            "due_date": due,
            "days_overdue": days,
            "pay_date_p10": pd.Timestamp(as_of) + pd.Timedelta(days=2),
            "pay_date_p50": pd.Timestamp(as_of) + pd.to_timedelta(rng.integers(3, 90, n), "D"),
            "pay_date_p90": pd.Timestamp(as_of) + pd.Timedelta(days=120),
            "p_late_30": rng.uniform(0, 1, n),
            "p_paid_4w": rng.uniform(0, 1, n),
            "disputed": rng.random(n) < 0.15,
            "reasons": "overdue 40 days | customer pays late | larger than usual",
        }
    )


def standing(ids, **columns) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "name": [f"Customer {c}" for c in ids],
            "country": "US",
            "email": None,
            "hist_n": 0,
            "hist_mean_late": np.nan,
            "hist_share_late30": np.nan,
        }
    )
    return frame.assign(**columns)


def contact_log(entries: list[tuple], *extra: str) -> pd.DataFrame:
    """A contact log typed as the loader types it, from (customer, day, outcome, invoice,
    until, *extra) tuples; ``extra`` names the columns after ``until`` (note, amount), and
    the log's other columns are empty."""
    columns = ["customer_id", "contact_date", "outcome", "invoice_id", "until", *extra]
    log = pd.DataFrame(entries, columns=columns)
    log = log.assign(**{c: None for c in ("note", "amount") if c not in log})
    return log.astype(
        {"contact_date": "datetime64[us]", "until": "datetime64[us]", "amount": "float64"}
    )


def lines_of(df: pd.DataFrame, as_of: date = AS_OF, **kwargs) -> pd.DataFrame:
    return build_worklist(df, as_of, **kwargs).lines


def priority_of(df: pd.DataFrame, invoice_id: str) -> float:
    out = lines_of(df)
    return float(out.loc[out["invoice_id"] == invoice_id, "priority"].iloc[0])


@pytest.mark.parametrize(
    ("column", "grid"),
    [
        ("p_late_30", np.linspace(0, 1, 11)),
        ("amount_open_base", [0.0, 1.0, 50.0, 1000.0, 1e6]),
        ("days_overdue", [-40, -1, 0, 1, 30, 31, 60, 61, 90, 91, 400]),
    ],
)
def test_priority_never_decreases(column: str, grid: list) -> None:
    base = predictions()
    for row in range(0, len(base), 7):
        invoice = base.loc[row, "invoice_id"]
        values = []
        for value in grid:
            df = base.copy()
            df.loc[row, column] = value
            values.append(priority_of(df, invoice))
        assert np.all(np.diff(values) >= 0), (column, invoice, values)
        if column != "days_overdue" and base.loc[row, "p_late_30"] > 0:
            assert values[-1] > values[0]


def test_priority_formula_and_exposure() -> None:
    df = predictions(5).assign(customer_id=["A", "A", "B", "A", "B"])
    out = lines_of(df).set_index("invoice_id").loc[df["invoice_id"]]
    exposure = df.groupby("customer_id")["amount_open_base"].transform("sum").to_numpy()
    cents = {"rtol": 0, "atol": 0.005}  # money is rounded to cents in the output
    np.testing.assert_allclose(out["customer_exposure"], exposure, **cents)
    age = np.sqrt(1 + np.clip(df["days_overdue"], 0, 90) / 90)
    amount = df["amount_open_base"]
    expected = df["p_late_30"] * (amount + 0.1 * np.minimum(exposure, 10 * amount)) * age
    np.testing.assert_allclose(out["priority"], expected, **cents)
    np.testing.assert_allclose(
        out["expected_cash_4w"], df["amount_open_base"] * df["p_paid_4w"], **cents
    )


def test_a_small_residue_of_a_big_customer_is_written_off_not_escalated() -> None:
    """A cent-sized residue of the customer owing most of the AR once outranked every real
    debt and went out as an escalation letter: its concentration bonus is capped at its own
    amount, and below 1.00 it is written off, in no draft."""
    df = predictions(4).assign(
        customer_id=["BIG", "BIG", "BIG", "SMALL"],
        amount_open_base=[0.05, 1_900_000.0, 0.99, 138_000.0],
        amount_open=[0.05, 1_900_000.0, 0.99, 138_000.0],
        days_overdue=[200, 10, 120, 40],
        p_late_30=[0.9, 0.3, 0.9, 0.6],
        disputed=False,
    )
    lines = build_worklist(df, AS_OF).lines.set_index("invoice_id")
    residues = df["invoice_id"].iloc[[0, 2]]
    assert (lines.loc[residues, "action"] == "write off small balance").all()
    assert (lines.loc[residues, "draft"] == "").all()
    bound = 2 * lines.loc[residues, "amount_open"] * np.sqrt(2)  # the bonus ≤ its own amount
    assert (lines.loc[residues, "priority"] <= bound + 0.005).all()
    assert lines.loc[residues, "rank"].min() > lines.loc[df["invoice_id"].iloc[3], "rank"]


def test_ranking_queues_and_columns() -> None:
    df = predictions()
    worklist = build_worklist(df, AS_OF)
    out = worklist.lines
    assert list(out.columns) == OUTPUT_COLUMNS
    assert list(worklist.disputes.columns) == DISPUTE_COLUMNS
    assert list(worklist.customers.columns) == CUSTOMER_COLUMNS
    assert sorted(out["invoice_id"]) == sorted(df["invoice_id"])
    n_dunning = int((~df["disputed"]).sum())
    assert 0 < n_dunning < len(df)
    # each queue is its own list, ranked from 1
    assert out["rank"].tolist() == [*range(1, n_dunning + 1), *range(1, len(df) - n_dunning + 1)]
    assert worklist.disputes["rank"].tolist() == list(range(1, len(df) - n_dunning + 1))
    assert (out["queue"].iloc[:n_dunning] == "dunning").all()
    assert (out["queue"].iloc[n_dunning:] == "dispute").all()
    disputed = out["queue"] == "dispute"
    assert (out.loc[disputed, "action"] == "resolve dispute").all()
    assert "resolve dispute" not in set(out.loc[~disputed, "action"])
    for _, queue in out.groupby("queue"):
        assert queue["priority"].is_monotonic_decreasing


def test_every_open_invoice_is_in_exactly_one_queue_and_customer_totals_add_up() -> None:
    df = predictions(60, seed=4)
    worklist = build_worklist(df, AS_OF)
    dunning, disputes = set(worklist.dunning["invoice_id"]), set(worklist.disputes["invoice_id"])
    assert not dunning & disputes
    assert dunning | disputes == set(df["invoice_id"])
    assert set(disputes) == set(df.loc[df["disputed"], "invoice_id"])
    view = worklist.customers.set_index("customer_id")
    by_customer = df.groupby("customer_id")
    cents = {"rtol": 0, "atol": 0.005}
    np.testing.assert_allclose(
        view.loc[by_customer.size().index, "open_amount"],
        by_customer["amount_open_base"].sum(),
        **cents,
    )
    assert view["invoices"].sum() == len(df)
    overdue = df[df["days_overdue"] > 0].groupby("customer_id")["amount_open_base"].sum()
    np.testing.assert_allclose(
        view["overdue_amount"], overdue.reindex(view.index).fillna(0), **cents
    )
    assert view["disputed_invoices"].sum() == df["disputed"].sum()
    np.testing.assert_allclose(
        view["max_p_late_30"], by_customer["p_late_30"].max().reindex(view.index), atol=5e-5
    )


def test_shares_of_open_ar_are_precise_enough_to_add_up() -> None:
    """Beside one large account, a hundred small customers each hold 0.001% of the open AR:
    every one shows a share, and the shares add up to 1 (at 4 decimals each read 0.0)."""
    df = predictions(101, seed=1).assign(customer_id=[f"C{i:03d}" for i in range(101)])
    df[["amount_open", "amount_open_base"]] = 1_000.0
    df.loc[0, ["amount_open", "amount_open_base"]] = 1e8
    share = build_worklist(df, AS_OF).customers["share_of_open_ar"]
    assert (share > 0).all()
    assert share.sum() == pytest.approx(1.0, abs=101 * 0.5e-6)  # each off by half a unit at most


def test_ties_broken_by_invoice_id() -> None:
    df = predictions(6).assign(
        customer_id="C",
        amount_open_base=100.0,
        days_overdue=10,
        p_late_30=0.4,
        disputed=False,
        due_date=pd.Timestamp("2024-03-21"),
    )
    df["invoice_id"] = ["f", "b", "e", "a", "d", "c"]
    assert lines_of(df)["invoice_id"].tolist() == list("abcdef")
    shuffled = df.sample(frac=1, random_state=3)
    pd.testing.assert_frame_equal(lines_of(shuffled), lines_of(df))


@pytest.mark.parametrize(
    ("days", "p_late", "action"),
    [
        (-5, 0.2, "monitor"),
        (0, 0.49, "monitor"),
        (-5, 0.5, "friendly reminder"),
        (1, 0.1, "friendly reminder"),
        (30, 0.9, "firm reminder"),
        (31, 0.1, "firm reminder"),
        (45, 0.7, "call"),
        (61, 0.2, "call"),
        (90, 0.6, "escalate to finance manager"),
        (91, 0.0, "escalate to finance manager"),
        (300, 0.99, "escalate to finance manager"),
    ],
)
def test_action_tiers(days: int, p_late: float, action: str) -> None:
    df = predictions(1).assign(days_overdue=days, p_late_30=p_late, disputed=False)
    assert lines_of(df)["action"].iloc[0] == action


@pytest.mark.parametrize(
    ("paid", "mean_late", "share30", "valuable", "tone"),
    [
        (5, 5.0, 0.05, True, "soft"),  # reliable and high value, on every boundary
        (40, -3.0, 0.0, True, "soft"),
        (4, 0.0, 0.0, True, "standard"),  # too little record to judge
        (5, 5.1, 0.0, True, "standard"),  # late on average by more than 5 days
        (5, 0.0, 0.06, True, "standard"),  # too many very late payments for "reliable"
        (5, 0.0, 0.0, False, "standard"),  # reliable but not among the largest
        (5, 20.0, 0.0, False, "firm"),  # chronic: mean days late
        (5, 0.0, 0.25, True, "firm"),  # chronic: share paid 30+ days late, even if large
        (5, 19.9, 0.24, True, "standard"),
        (4, 60.0, 1.0, True, "standard"),  # four bad payments are not yet a pattern
        (0, np.nan, np.nan, True, "standard"),  # no paid invoice yet
    ],
)
def test_tone_rules(paid: int, mean_late: float, share30: float, valuable: bool, tone: str):
    got = customer_tone(
        np.array([paid]), np.array([mean_late]), np.array([share30]), np.array([valuable])
    )
    assert got.tolist() == [tone]


@pytest.mark.parametrize(
    ("paid", "mean_late", "oldest", "tone"),
    [
        (40, 0.0, 30, "soft"),  # a reliable customer who slipped a month: still gentle
        (40, 0.0, 31, "standard"),  # more than 30 days past due today: not "reliable" now
        (40, 0.0, 61, "firm"),  # stopped paying, whatever the record
        (0, np.nan, 61, "firm"),  # even with no record yet
        (40, 0.0, np.nan, "soft"),  # nothing overdue
    ],
)
def test_tone_looks_at_how_the_customer_pays_now(paid, mean_late, oldest, tone) -> None:
    got = customer_tone(
        np.array([paid]),
        np.array([mean_late]),
        np.array([0.0]),
        np.array([True]),
        np.array([oldest]),
    )
    assert got.tolist() == [tone]


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        ([5.0, 1.0, 3.0], [True, False, False]),  # top 10 % of 3 customers: at least one
        (list(range(1, 21)), [a >= 19 for a in range(1, 21)]),  # 2 of 20
        ([7.0, 7.0, 1.0, 1.0], [True, True, False, False]),  # ties share the rank
    ],
)
def test_high_value_is_the_top_tenth_by_open_ar(amounts: list, expected: list) -> None:
    assert high_value(pd.Series(amounts, dtype=float)).tolist() == expected


def test_tone_uses_the_customers_rank_by_open_ar() -> None:
    """Of 20 equally reliable customers only the two with the most open AR get the soft tone."""
    ids = [f"C{i:02d}" for i in range(20)]
    df = predictions(20).assign(
        customer_id=ids,
        amount_open_base=[100.0 * (i + 1) for i in range(20)],
        disputed=False,
        days_overdue=10,  # a slip, not a habit
    )
    record = {"hist_n": 12, "hist_mean_late": 1.0, "hist_share_late30": 0.0}
    view = build_worklist(df, AS_OF, standing(ids, **record)).customers.set_index("customer_id")
    assert sorted(view.index[view["tone"] == "soft"]) == ["C18", "C19"]
    assert set(view["tone"]) == {"soft", "standard"}


def _is_business_day(day: pd.Timestamp, country: str | None) -> bool:
    if day.weekday() >= 5:
        return False
    try:
        return day.date() not in holidays.country_holidays(country, years=day.year)
    except (NotImplementedError, TypeError, KeyError):
        return True


@pytest.mark.parametrize("as_of", [date(2025, 12, 24), date(2025, 4, 17), date(2024, 12, 30)])
@pytest.mark.parametrize("country", ["US", "DE", "GB", "FR", "CA", "AU", "NL", "ZZ", None])
def test_next_contact_is_a_business_day_of_the_customers_country(
    as_of: date, country: str | None
) -> None:
    rng = np.random.default_rng(1)
    n = 120
    days = rng.integers(-45, 120, n)
    due = pd.Series(pd.Timestamp(as_of) - pd.to_timedelta(days, "D"))
    p_late = rng.uniform(0, 1, n)
    action = np.asarray(
        build_worklist(
            predictions(n, as_of=as_of).assign(days_overdue=days, p_late_30=p_late, disputed=False),
            as_of,
        )
        .lines.set_index("invoice_id")
        .loc[[f"INV{i:03d}" for i in range(n)], "action"]
    )
    contact = next_contact(action, due, pd.Series([country] * n, dtype=object), as_of)
    for day, due_day, act in zip(contact, due, action, strict=True):
        assert day > pd.Timestamp(as_of), (day, as_of)
        assert _is_business_day(day, country), (day, country, act)
        if act == "monitor":
            assert day > due_day


@pytest.mark.parametrize(
    ("country", "as_of", "due", "p_late", "expected"),
    [
        # Christmas: 25 and 26 December are holidays in DE and GB, only the 25th in the US
        ("DE", "2025-12-24", "2025-11-30", 0.2, "2025-12-29"),
        ("GB", "2025-12-24", "2025-11-30", 0.2, "2025-12-29"),
        ("US", "2025-12-24", "2025-11-30", 0.2, "2025-12-26"),
        ("ZZ", "2025-12-24", "2025-11-30", 0.2, "2025-12-25"),  # unknown: weekends only
        # pre-due reminder 3 business days before the due date; Ascension Day (29 May 2025)
        # is a holiday in DE, not in the US
        ("DE", "2025-05-15", "2025-05-30", 0.8, "2025-05-26"),
        ("US", "2025-05-15", "2025-05-30", 0.8, "2025-05-27"),
        # pre-due date already past: the next business day (Friday 16 May 2025)
        ("US", "2025-05-15", "2025-05-19", 0.8, "2025-05-16"),
        # monitor: first business day after the due date (due Friday 30 May -> Monday 2 June)
        ("US", "2025-05-15", "2025-05-30", 0.2, "2025-06-02"),
        # Friday as-of, overdue: Monday
        ("FR", "2025-05-16", "2025-05-01", 0.2, "2025-05-19"),
    ],
)
def test_next_contact_rules(country: str, as_of: str, due: str, p_late: float, expected: str):
    as_of_date = date.fromisoformat(as_of)
    days = (pd.Timestamp(as_of) - pd.Timestamp(due)).days
    df = predictions(1, as_of=as_of_date).assign(
        due_date=pd.Timestamp(due), days_overdue=days, p_late_30=p_late, disputed=False
    )
    info = standing(["C0"], country=country)
    df["customer_id"] = "C0"
    line = lines_of(df, as_of_date, standing=info).iloc[0]
    assert line["next_contact"] == pd.Timestamp(expected), line["action"]


def test_customer_view_tier_next_contact_and_drafts() -> None:
    base = {"disputed": False, "p_late_30": 0.2}
    df = pd.concat(
        [
            predictions(1).assign(invoice_id="A1", customer_id="A", days_overdue=70, **base),
            predictions(1).assign(invoice_id="A2", customer_id="A", days_overdue=5, **base),
            predictions(1).assign(invoice_id="A3", customer_id="A", days_overdue=-20, **base),
            predictions(1).assign(invoice_id="A4", customer_id="A", days_overdue=10, disputed=True),
            predictions(1).assign(invoice_id="M1", customer_id="M", days_overdue=-3, **base),
            predictions(1).assign(invoice_id="D1", customer_id="D", days_overdue=40, disputed=True),
        ],
        ignore_index=True,
    )
    df["due_date"] = pd.Timestamp(AS_OF) - pd.to_timedelta(df["days_overdue"], "D")
    worklist = build_worklist(df, AS_OF, standing(["A", "M", "D"]))
    view = worklist.customers.set_index("customer_id")
    assert view.loc["A", "action"] == "call"  # the highest dunning tier
    assert view.loc["M", "action"] == "monitor"
    assert view.loc["D", "action"] == "resolve dispute"
    assert (view.loc["A", "contact_invoices"], view.loc["A", "disputed_invoices"]) == (2, 1)
    assert view.loc["A", "draft"].endswith("-A.eml")
    assert view.loc["M", "draft"] == view.loc["D", "draft"] == ""
    lines = worklist.lines.set_index("invoice_id")
    assert view.loc["A", "next_contact"] == lines.loc[["A1", "A2"], "next_contact"].min()
    assert view.loc["M", "next_contact"] == lines.loc["M1", "next_contact"]
    has_draft = lines[(lines["customer_id"] == "A") & (lines["draft"] != "")]
    assert sorted(has_draft.index) == ["A1", "A2"]
    assert lines.loc[["A3", "A4", "M1", "D1"], "draft"].eq("").all()
    assert view.loc["A", "rank"] == 1 and view.loc["D", "rank"] == 3


def test_dispute_queue_carries_the_open_dispute() -> None:
    df = predictions(4).assign(disputed=[True, True, False, False])
    disputes = pd.DataFrame(
        {
            "invoice_id": ["INV000", "INV001"],
            "dispute_opened": pd.to_datetime(["2024-03-01", "2024-03-30"]),
            "dispute_reason": ["pricing", "damaged goods"],
        }
    )
    queue = build_worklist(df, AS_OF, disputes=disputes).disputes.set_index("invoice_id")
    assert sorted(queue.index) == ["INV000", "INV001"]
    assert queue.loc["INV000", "days_in_dispute"] == 30
    assert queue.loc["INV001", "dispute_reason"] == "damaged goods"


def test_expected_pay_date_and_missing_forecast() -> None:
    df = predictions(2)
    df["pay_date_p50"] = [pd.Timestamp("2024-04-10"), pd.NaT]
    out = lines_of(df).set_index("invoice_id").loc[df["invoice_id"]]
    assert out["expected_pay_date"].iloc[0] == pd.Timestamp("2024-04-10")
    assert out["days_to_expected_pay"].iloc[0] == 10
    assert pd.isna(out["expected_pay_date"].iloc[1])
    assert pd.isna(out["days_to_expected_pay"].iloc[1])


def test_reasons_are_split_into_three_columns() -> None:
    df = predictions(2)
    df["reasons"] = ["a | b | c", "only one"]
    out = lines_of(df).set_index("invoice_id").loc[df["invoice_id"]]
    assert out[["reason_1", "reason_2", "reason_3"]].iloc[0].tolist() == ["a", "b", "c"]
    assert out[["reason_1", "reason_2", "reason_3"]].iloc[1].tolist() == ["only one", "", ""]


def test_invalid_input_raises() -> None:
    df = predictions(3)
    df.loc[0, "p_late_30"] = 1.2
    with pytest.raises(ValueError, match="p_late_30"):
        build_worklist(df, AS_OF)
    with pytest.raises(ValueError, match="missing columns"):
        build_worklist(predictions(3).drop(columns="currency"), AS_OF)
    with pytest.raises(ValueError, match="duplicate"):
        build_worklist(predictions(3).assign(invoice_id="X"), AS_OF)


def test_disputed_invoices_without_a_dated_dispute_still_queue() -> None:
    """A ledger may flag disputes with no disputes.csv: the queue keeps them, with no date."""
    df = predictions(6).assign(disputed=[True, True, False, False, False, False])
    no_disputes = pd.DataFrame(
        {
            "invoice_id": pd.Series([], dtype=str),
            "dispute_opened": pd.Series([], dtype="datetime64[us]"),
            "dispute_reason": pd.Series([], dtype=str),
        }
    )
    queue = build_worklist(df, AS_OF, disputes=no_disputes).disputes
    assert len(queue) == 2
    assert queue["dispute_opened"].isna().all() and (queue["dispute_reason"] == "").all()


def test_the_contact_log_spaces_contacts_keeps_promises_and_escalates_broken_ones() -> None:
    as_of = date(2024, 4, 10)  # a Wednesday
    base = {"disputed": False, "p_late_30": 0.2, "days_overdue": 10}
    df = pd.concat(
        [predictions(1, as_of=as_of).assign(invoice_id=i, customer_id=i[0], **base) for i in
         ("A1", "A2", "B1", "C1", "D1", "E1")],
        ignore_index=True,
    )  # fmt: skip
    later = {"disputed": False, "p_late_30": 0.2, "days_overdue": -10}
    df = pd.concat(
        [df, *(predictions(1, as_of=as_of).assign(invoice_id=i, customer_id=i[0], **later)
               for i in ("A3", "C2", "F1"))],
        ignore_index=True,
    )  # fmt: skip
    df["due_date"] = pd.Timestamp(as_of) - pd.to_timedelta(df["days_overdue"], "D")
    df.loc[df["invoice_id"] == "A3", "issue_date"] = pd.Timestamp("2024-04-09")  # after the call
    log = contact_log(
        [
            ("A", "2024-04-08", "contacted", None, None, "left a voicemail"),
            ("A", "2024-04-05", "promise", "A2", "2024-04-12", None),  # a later call keeps it
            ("F", "2024-04-01", "promise", "F1", "2024-04-05", None),  # broken, not yet due
            ("B", "2024-04-05", "promise", "B1", "2024-04-12", None),
            ("C", "2024-03-25", "promise", None, "2024-04-01", None),
            ("D", "2024-04-01", "hold", None, "2024-05-01", "awaiting PO"),
            ("E", "2024-04-11", "hold", None, "2024-06-01", None),  # after as-of: not seen
        ],
        "note",
    )
    worklist = build_worklist(df, as_of, standing(list("ABCDEF")), contacts=log)
    lines = worklist.lines.set_index("invoice_id")
    contact = lines["next_contact"].dt.strftime("%Y-%m-%d").to_dict()
    assert contact == {
        "A1": "2024-04-15",  # a week after the call
        "A2": "2024-04-15",  # the call's week and the promise's day + 2 agree
        "B1": "2024-04-15",  # 12 April + 2 days' grace, then a business day
        "C1": "2024-04-11",  # broken: tomorrow
        "D1": "2024-05-01",
        "E1": "2024-04-11",
        "F1": "2024-04-11",  # a broken promise is chased at once, due or not
        "A3": "2024-04-22",  # issued after the call: the usual first business day after due
        "C2": "2024-04-22",
    }
    assert lines.loc["A1", "contact_note"] == "contacted 8 April 2024 (left a voicemail)"
    assert lines.loc["B1", "contact_note"] == "promised on 5 April 2024 to pay by 12 April 2024"
    assert lines.loc["C1", "contact_note"].endswith("to pay by 1 April 2024: broken")
    assert lines.loc["D1", "contact_note"] == (
        "on hold since 1 April 2024 until 1 May 2024 (awaiting PO)"
    )
    assert lines.loc["E1", "contact_note"] == lines.loc["A3", "contact_note"] == ""
    # due after the day promised: the promise is not about it, the call was
    assert lines.loc["C2", "contact_note"] == "contacted 25 March 2024"
    assert lines.loc["C2", "action"] == "monitor"
    assert lines.loc["F1", "action"] == "friendly reminder"
    assert lines.loc["C1", "action"] == "firm reminder"  # one tier up from friendly
    assert lines.loc[["A1", "E1"], "action"].eq("friendly reminder").all()
    assert lines.loc[["B1", "D1"], "draft"].eq("").all()  # waiting: no demand drafted
    assert lines.loc[["C1", "E1"], "draft"].ne("").all()  # due for contact tomorrow
    assert lines.loc["A1", "draft"] == ""  # called two days ago: its draft comes on the 15th
    assert lines.loc["A2", "contact_note"] == (
        "promised on 5 April 2024 to pay by 12 April 2024; "
        "contacted 8 April 2024 (left a voicemail)"
    )
    statuses = lines["contact_status"].to_dict()
    assert statuses == {
        "A1": "contacted",
        "A2": "promised",
        "B1": "promised",
        "C1": "promise broken",
        "D1": "on hold",
        "E1": "",
        "F1": "promise broken",
        "A3": "",
        "C2": "contacted",
    }
    view = worklist.customers.set_index("customer_id")
    assert view.loc["B", "contact_invoices"] == 0 and view.loc["B", "draft"] == ""
    assert view.loc["D", "contact_note"] == lines.loc["D1", "contact_note"]
    assert view.loc["A", "contact_note"] == (  # the call once, though two lines name it
        "contacted 8 April 2024 (left a voicemail); "
        "promised on 5 April 2024 to pay by 12 April 2024"
    )
    next_week = build_worklist(df, date(2024, 4, 16), standing(list("ABCDEF")), contacts=log)
    b1 = next_week.lines.set_index("invoice_id").loc["B1"]
    assert b1["contact_note"].endswith(": broken") and b1["draft"] != ""


def test_the_contact_plan_says_who_is_contacted_today_and_who_waits() -> None:
    """A line is in today's contacts when its customer's draft covers it; otherwise it waits on
    a promise, a hold or a recent call, or is not due for contact yet."""
    as_of = date(2024, 4, 10)  # a Wednesday
    rows = {  # invoice: days overdue, p_late_30, disputed
        "T1": (10, 0.2, False),  # due now
        "T2": (-20, 0.6, False),  # a pre-due reminder later, but its customer is contacted today
        "P1": (10, 0.2, False),  # promised
        "H1": (10, 0.2, False),  # on hold
        "K1": (10, 0.2, False),  # called two days ago
        "X1": (10, 0.2, False),  # called three weeks ago: due again
        "L1": (-20, 0.2, False),  # monitor
        "L2": (-20, 0.6, False),  # a pre-due reminder later
        "G1": (-20, 0.6, False),  # a hold that has ended: a pre-due reminder later, no call
        "D1": (10, 0.2, True),  # disputed: the dispute queue
        "Y1": (10, 0.2, False),  # this invoice called about two days ago ...
        "Y2": (10, 0.2, False),  # ... but not this one, due now: today's draft is Y2's alone
    }
    df = pd.concat(
        [
            predictions(1, as_of=as_of).assign(
                invoice_id=i, customer_id=i[0], days_overdue=d, p_late_30=p, disputed=q
            )
            for i, (d, p, q) in rows.items()
        ],
        ignore_index=True,
    )
    df["due_date"] = pd.Timestamp(as_of) - pd.to_timedelta(df["days_overdue"], "D")
    df["issue_date"] = df["due_date"] - pd.Timedelta(days=60)
    log = contact_log(
        [
            ("P", "2024-04-05", "promise", "P1", "2024-04-12"),
            ("H", "2024-04-01", "hold", None, "2024-05-01"),
            ("K", "2024-04-08", "contacted", None, None),
            ("X", "2024-03-20", "contacted", None, None),
            ("G", "2024-03-01", "hold", None, "2024-04-05"),
            ("Y", "2024-04-08", "contacted", "Y1", None),
        ]
    )
    worklist = build_worklist(df, as_of, standing(list("TPHKXLGDY")), contacts=log)
    plan = worklist.lines.set_index("invoice_id")["contact_plan"].to_dict()
    assert plan == {
        "T1": "today",
        "T2": "today",
        "P1": "promised",
        "H1": "on hold",
        "K1": "after a call",
        "X1": "today",
        "L1": "later",
        "L2": "later",
        "G1": "later",
        "D1": "",
        "Y1": "after a call",
        "Y2": "today",
    }
    today = worklist.lines[worklist.lines["contact_plan"] == "today"]
    assert (today["draft"] != "").all() and set(today["customer_id"]) == set(
        worklist.customers.loc[worklist.customers["draft"] != "", "customer_id"]
    )
    assert "contact_plan" not in worklist.disputes
    # a line in today's draft is contacted today, whatever its own schedule (T2's pre-due day)
    lines = worklist.lines.set_index("invoice_id")
    assert lines.loc["T2", "next_contact"] == lines.loc["T1", "next_contact"]
    assert lines.loc["L2", "next_contact"] > lines.loc["T1", "next_contact"]


def _promise_ledger(as_of: date) -> pd.DataFrame:
    """Open invoices 10 days overdue, one per customer but two for W (customer-wide promise)."""
    ids = ("K1", "U1", "N1", "L1", "W1", "W2", "M1")
    df = pd.concat(
        [
            predictions(1, as_of=as_of).assign(
                invoice_id=i, customer_id=i[0], disputed=False, p_late_30=0.2, days_overdue=10
            )
            for i in ids
        ],
        ignore_index=True,
    )
    df["due_date"] = pd.Timestamp(as_of) - pd.Timedelta(days=10)
    df["issue_date"] = df["due_date"] - pd.Timedelta(days=30)
    df["invoice_amount"] = 12_000.0
    df["amount_open"] = df["amount_open_base"] = 12_000.0
    return df


PROMISE_LOG = contact_log(
    [
        ("K", "2024-04-01", "promise", "K1", "2024-04-05", 5000.0),  # paid 5,000: kept
        ("U", "2024-04-01", "promise", "U1", "2024-04-05", 5000.0),  # paid 3,000: broken
        ("N", "2024-04-01", "promise", "N1", "2024-04-05", None),  # the whole invoice: broken
        ("L", "2024-04-01", "promise", "L1", "2024-04-05", 5000.0),  # paid after as-of
        ("W", "2024-04-01", "promise", None, "2024-04-05", 7000.0),  # on W1 and W2 together
        ("M", "2024-04-01", "promise", "M1", "2024-04-05", 5000.0),  # paid too late
    ],
    "amount",
)
PAYMENTS = pd.DataFrame(
    [
        ("K1", "K", "2024-04-03", 2000.0),
        ("K1", "K", "2024-04-04", 3000.0),
        ("K1", "K", "2024-03-20", 4000.0),  # before the promise: not towards it
        ("U1", "U", "2024-04-05", 3000.0),
        ("N1", "N", "2024-04-05", 5000.0),
        ("L1", "L", "2024-04-20", 5000.0),  # after as-of: never seen
        ("W1", "W", "2024-04-02", 4000.0),
        ("W2", "W", "2024-04-07", 3000.0),  # 5 April + 2 days' grace: in time
        ("M1", "M", "2024-04-08", 5000.0),  # after the grace days
    ],
    columns=["invoice_id", "customer_id", "payment_date", "amount"],
).astype({"payment_date": "datetime64[us]"})


def test_a_promise_of_an_amount_is_kept_when_that_amount_is_paid_in_time() -> None:
    """A customer paying what it promised on an invoice that stays open is no broken promise:
    its line keeps its tier and is contacted a week after the payment; one paying less, too
    late, or after as-of broke it, as does a promise without amount while the invoice is open."""
    as_of = date(2024, 4, 10)  # a Wednesday
    df = _promise_ledger(as_of)
    payments = PAYMENTS.merge(df[["invoice_id", "issue_date", "due_date"]], on="invoice_id")
    worklist = build_worklist(
        df, as_of, standing(list("KUNLWM")), contacts=PROMISE_LOG, payments=payments
    )
    lines = worklist.lines.set_index("invoice_id")
    assert lines["contact_status"].to_dict() == {
        "K1": "promise kept",
        "U1": "promise broken",
        "N1": "promise broken",
        "L1": "promise broken",
        "W1": "promise kept",
        "W2": "promise kept",
        "M1": "promise broken",
    }
    assert lines.loc["K1", "contact_note"] == (
        "promised on 1 April 2024 to pay USD 5,000.00 by 5 April 2024: kept (USD 5,000.00 paid)"
    )
    assert lines.loc["U1", "contact_note"].endswith(": broken (USD 3,000.00 paid)")
    assert lines.loc["N1", "contact_note"].endswith("by 5 April 2024: broken")
    assert lines.loc["L1", "contact_note"].endswith(": broken (USD 0.00 paid)")
    kept, broken = ["K1", "W1", "W2"], ["U1", "N1", "L1", "M1"]
    assert lines.loc[kept, "action"].eq("friendly reminder").all()  # not one tier up
    assert lines.loc[broken, "action"].eq("firm reminder").all()
    contact = lines["next_contact"].dt.strftime("%Y-%m-%d")
    assert contact["K1"] == "2024-04-11"  # paid on the 4th: a week later is the 11th
    assert contact["W1"] == contact["W2"] == "2024-04-15"  # reached on the 7th: the 14th, Sunday
    assert contact[broken].eq("2024-04-11").all()  # chased at once
    assert lines.loc["W1", "contact_plan"] == "after a payment" and lines.loc["K1", "draft"] != ""
    # before as-of reaches the last payment, nothing counted yet is enough: still promised
    early = build_worklist(
        df, date(2024, 4, 3), standing(list("KUNLWM")), contacts=PROMISE_LOG, payments=payments
    ).lines.set_index("invoice_id")
    assert early.loc["K1", "contact_status"] == "promised"
    assert early.loc["K1", "contact_note"].endswith("by 5 April 2024 (USD 2,000.00 paid so far)")
    # without payments, the same log reads as before promises had amounts
    without = build_worklist(df, as_of, standing(list("KUNLWM")), contacts=PROMISE_LOG)
    assert without.lines["contact_status"].eq("promise broken").all()


def test_a_customer_wide_promise_of_an_amount_counts_only_the_invoices_it_covers() -> None:
    as_of = date(2024, 4, 10)
    df = _promise_ledger(as_of)
    # W2 due after the promised day: the promise is not about it, nor are its payments
    df.loc[df["invoice_id"] == "W2", "due_date"] = pd.Timestamp("2024-04-20")
    payments = PAYMENTS.merge(df[["invoice_id", "issue_date", "due_date"]], on="invoice_id")
    lines = build_worklist(
        df, as_of, standing(list("KUNLWM")), contacts=PROMISE_LOG, payments=payments
    ).lines.set_index("invoice_id")
    assert lines.loc["W1", "contact_status"] == "promise broken"
    assert lines.loc["W1", "contact_note"].endswith(": broken (USD 4,000.00 paid)")
    assert lines.loc["W2", "contact_status"] == "contacted"


@pytest.mark.parametrize(
    ("customer_id", "name"),
    [
        ("Café Müller GmbH", "0007-Cafe_Muller_GmbH.eml"),
        ("Łódź Hurt Sp. z o.o.", "0007-_odz_Hurt_Sp._z_o.o..eml"),
        ("../../etc/passwd", "0007-.._.._etc_passwd.eml"),
    ],
)
def test_draft_file_names_keep_letters_and_stay_in_the_folder(customer_id: str, name: str) -> None:
    assert draft_file_name(7, customer_id) == name
