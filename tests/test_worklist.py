from datetime import date

import numpy as np
import pandas as pd
import pytest

from arcast.worklist import OUTPUT_COLUMNS, build_worklist

AS_OF = date(2024, 3, 31)


def predictions(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "invoice_id": [f"INV{i:03d}" for i in range(n)],
            "customer_id": [f"C{c}" for c in rng.integers(0, 6, n)],
            "amount_open": rng.uniform(10, 5000, n).round(2),
            "days_overdue": rng.integers(-30, 150, n),
            "p_late_30": rng.uniform(0, 1, n),
            "pay_date_p50": pd.Timestamp(AS_OF) + pd.to_timedelta(rng.integers(1, 90, n), "D"),
            "disputed": rng.random(n) < 0.15,
            "reasons": "overdue 40 days | customer pays late",
        }
    )


def priority_of(df: pd.DataFrame, invoice_id: str) -> float:
    out = build_worklist(df, AS_OF)
    return float(out.loc[out["invoice_id"] == invoice_id, "priority"].iloc[0])


@pytest.mark.parametrize(
    ("column", "grid"),
    [
        ("p_late_30", np.linspace(0, 1, 11)),
        ("amount_open", [0.0, 1.0, 50.0, 1000.0, 1e6]),
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
    out = build_worklist(df, AS_OF).set_index("invoice_id").loc[df["invoice_id"]]
    exposure = df.groupby("customer_id")["amount_open"].transform("sum").to_numpy()
    np.testing.assert_allclose(out["customer_exposure"], exposure)
    age = np.sqrt(1 + np.clip(df["days_overdue"], 0, 90) / 90)
    expected = df["p_late_30"] * (df["amount_open"] + 0.1 * exposure) * age
    np.testing.assert_allclose(out["priority"], expected)


def test_ranking_queues_and_columns() -> None:
    df = predictions()
    out = build_worklist(df, AS_OF)
    assert list(out.columns) == OUTPUT_COLUMNS
    assert out["rank"].tolist() == list(range(1, len(df) + 1))
    assert sorted(out["invoice_id"]) == sorted(df["invoice_id"])
    n_dunning = int((~df["disputed"]).sum())
    assert 0 < n_dunning < len(df)
    assert (out["queue"].iloc[:n_dunning] == "dunning").all()
    assert (out["queue"].iloc[n_dunning:] == "dispute").all()
    disputed = out["queue"] == "dispute"
    assert (out.loc[disputed, "action"] == "resolve dispute").all()
    assert "resolve dispute" not in set(out.loc[~disputed, "action"])
    for _, queue in out.groupby("queue"):
        assert queue["priority"].is_monotonic_decreasing


def test_ties_broken_by_invoice_id() -> None:
    df = predictions(6).assign(
        customer_id="C", amount_open=100.0, days_overdue=10, p_late_30=0.4, disputed=False
    )
    df["invoice_id"] = ["f", "b", "e", "a", "d", "c"]
    assert build_worklist(df, AS_OF)["invoice_id"].tolist() == list("abcdef")
    shuffled = df.sample(frac=1, random_state=3)
    pd.testing.assert_frame_equal(build_worklist(shuffled, AS_OF), build_worklist(df, AS_OF))


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
    assert build_worklist(df, AS_OF)["action"].iloc[0] == action


def test_expected_pay_date_and_missing_forecast() -> None:
    df = predictions(2)
    df["pay_date_p50"] = [pd.Timestamp("2024-04-10"), pd.NaT]
    out = build_worklist(df, AS_OF).set_index("invoice_id").loc[df["invoice_id"]]
    assert out["expected_pay_date"].iloc[0] == pd.Timestamp("2024-04-10")
    assert out["days_to_expected_pay"].iloc[0] == 10
    assert pd.isna(out["expected_pay_date"].iloc[1])
    assert pd.isna(out["days_to_expected_pay"].iloc[1])


def test_invalid_probability_raises() -> None:
    df = predictions(3)
    df.loc[0, "p_late_30"] = 1.2
    with pytest.raises(ValueError, match="p_late_30"):
        build_worklist(df, AS_OF)
