"""Backtests: metric definitions on hand-made forecasts, point-in-time baselines, the oracle, the
cutoff rule and the command line."""

from __future__ import annotations

import functools
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from arcast.cli import app
from arcast.generate import load_truth, oracle_sample_pay_dates
from features.warehouse import to_day
from models.backtest import (
    SEGMENTS,
    CutoffRule,
    Forecast,
    baselines,
    choose_cutoffs,
    cutoffs_with_history,
    describe_versus,
    expected_calibration_error,
    metrics_table,
    paired_se,
    refit_dates,
    run_backtest,
    score,
    versus_baselines,
    window_pit,
)
from models.cash_backtest import CASH_COLUMNS, CASH_METHODS
from models.paydate import NoPaymentHistoryError, PayDatePrediction, TrainingConfig
from tests.conftest import open_warehouse

CUTOFF = date(2024, 11, 30)
TINY = TrainingConfig(max_rows=40_000, max_rounds=30, num_threads=1)
TINY_FLAGS = ["--max-rows", "40000", "--max-rounds", "30", "--threads", "1"]
ORACLE_DRAWS = 100
METHODS = {"model", "due_date", "customer_mean", "customer_median", "oracle"}
runner = CliRunner()


def _toy() -> pd.DataFrame:
    """Five invoices open at day 100 (horizon 30, data end 200), outcomes and forecasts by hand.

    a: paid, covered; b: paid late, outside its interval; c: never paid (late, no MAE);
    d: 50 days overdue at the origin, p50/p90 beyond the horizon; e: censored, due + 30 > end.
    """
    inf, nan = np.inf, np.nan
    return pd.DataFrame(
        {
            "origin": 100,
            "horizon_end": 130,
            "end_day": 200,
            "due_day": [90, 110, 120, 50, 190],
            "completion_day": [105, 145, nan, 160, nan],
            "p10": [102, 112, 125, 125, 180],
            "p50": [104, 115, inf, inf, 190],
            "p90": [110, 120, inf, inf, 200],
            "p_late": [0.7, 0.6, 0.9, 1.0, 0.3],
            "pit": [0.5, 0.95, nan, 0.05, nan],
        }
    )


def test_metrics_on_a_hand_made_forecast() -> None:
    m = score(_toy())
    assert m["n_open"] == 5 and m["n_paid"] == 3
    # errors: a 104-105, b 115-145, d scored at the horizon end + 1 = 131 vs 160
    assert m["mae_p50"] == pytest.approx((1 + 30 + 29) / 3)
    assert m["bias_p50"] == pytest.approx(-(1 + 30 + 29) / 3)
    # counting unpaid invoices too: c and e, unpaid at 200, were forecast beyond the horizon
    # (e's 190 is past it), as was d, paid after it: the data contradicts none of the three
    assert m["mae_p50_censored"] == pytest.approx((1 + 30) / 5)
    tomorrow = score(_toy().assign(p50=101.0))  # "pays tomorrow", as a spreadsheet says of debt
    assert tomorrow["mae_p50"] == pytest.approx((4 + 44 + 59) / 3)
    assert tomorrow["mae_p50_censored"] == pytest.approx((4 + 44 + 100 + 59 + 100) / 5)
    assert m["coverage_p10_p90"] == pytest.approx(2 / 3)  # b is outside; d's p90 is open-ended
    assert m["n_pit"] == 3 and m["pit_coverage"] == pytest.approx(1 / 3)
    # late-30 labels: a 0, b 1 (145 > 140), c 1 (never paid), d 1; e unknown (220 > 200)
    assert m["n_late30"] == 4 and m["late30_rate"] == pytest.approx(0.75)
    assert m["auc_late30"] == pytest.approx(2 / 3)  # a (0.7) outranks b (0.6)
    assert m["brier_late30"] == pytest.approx((0.49 + 0.16 + 0.01 + 0.0) / 4)
    assert m["ece_late30"] == pytest.approx((0.7 + 0.4 + 0.1) / 4)  # bins 7, 6 and 9 (0.9, 1.0)
    # fresh: d was already 50 days overdue at the origin, so its answer was known
    assert m["n_late30_fresh"] == 3
    assert m["auc_late30_fresh"] == pytest.approx(0.5)
    assert m["brier_late30_fresh"] == pytest.approx((0.49 + 0.16 + 0.01) / 3)
    assert m["ece_late30_fresh"] == pytest.approx((0.7 + 0.4 + 0.1) / 3)


def test_point_forecasts_have_no_interval_and_segments_split_on_due() -> None:
    rows = _toy().assign(cutoff="2024-01-01", method="due_date", p10=np.nan, p90=np.nan, pit=np.nan)
    table = metrics_table(rows).set_index(["cutoff", "segment"])
    assert list(table.loc["2024-01-01"].index) == list(SEGMENTS)
    assert table["coverage_p10_p90"].isna().all() and table["pit_coverage"].isna().all()
    assert table.loc[("pooled", "overdue"), "n_open"] == 2  # a and d are past due at day 100
    assert table.loc[("pooled", "not_yet_due"), "n_open"] == 3


def test_paired_se_counts_customers_not_invoices() -> None:
    """Each customer's invoices move together: three invoices a customer are one draw, not
    three. The gaps below have mean 0 and a customer-level spread of 1 each side."""
    gap = np.array([1.0, 1.0, 1.0, -1.0, -1.0, -1.0, np.nan])
    customer = np.array(["a", "a", "a", "b", "b", "b", "c"])
    # deviations summed per customer: 3 and -3; sqrt(2 / 1 * 18) / 6 invoices
    assert paired_se(gap, customer) == pytest.approx(1.0)
    assert gap[:6].std(ddof=1) / np.sqrt(6) == pytest.approx(0.447, abs=1e-3)  # invoices alone
    # one customer: its invoices count one by one (spread 0 here); one invoice: no spread at all
    assert paired_se(gap[:3], customer[:3]) == 0.0
    assert paired_se(np.array([0.5, 1.5]), np.array(["a", "a"])) == pytest.approx(0.5)
    assert np.isnan(paired_se(gap[:1], customer[:1]))


def test_baselines_gaps_to_the_model_get_standard_errors() -> None:
    toy = _toy().assign(invoice_id=list("abcde"), customer_id=["x", "x", "y", "z", "z"])
    model = toy.assign(method="model")
    later = toy.assign(method="customer_mean", p50=toy["p50"] + 2.0, p_late=0.5)
    table = metrics_table(pd.concat([model, later], ignore_index=True).assign(cutoff="c"))
    pooled = table[(table["cutoff"] == "pooled") & (table["segment"] == "all")].set_index("method")
    assert pooled.loc["model", ["mae_p50_gap_se", "brier_late30_gap_se"]].isna().all()
    # p50 two days later: a's error stays 1 (104 -> 106 against 105), b's goes 30 -> 28, d's p50
    # is beyond the horizon either way. Gaps 0, -2 (customer x) and 0 (z), mean -2/3: the
    # customers' summed deviations are -2/3 and 2/3, so sqrt(2 / 1 * 8 / 9) / 3 paid invoices
    assert pooled.loc["customer_mean", "mae_p50_gap_se"] == pytest.approx(4 / 9)
    gaps = (0.5 - np.array([0, 1, 1, 1])) ** 2 - (
        np.array([0.7, 0.6, 0.9, 1.0]) - [0, 1, 1, 1]
    ) ** 2
    sums = np.array([gaps[0] + gaps[1], gaps[2], gaps[3]]) - np.array([2, 1, 1]) * gaps.mean()
    expected = np.sqrt(3 / 2 * np.sum(sums**2)) / 4
    assert pooled.loc["customer_mean", "brier_late30_gap_se"] == pytest.approx(expected)


def test_expected_calibration_error() -> None:
    p = np.array([0.05, 0.15, 0.15, 0.95, 1.0])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    # bin 0: |0.05 - 0|; bin 1: |0.30 - 1|; bin 9 (1.0 included): |1.95 - 2|
    assert expected_calibration_error(p, y) == pytest.approx((0.05 + 0.7 + 0.05) / 5)
    assert expected_calibration_error(np.full(4, 0.25), np.array([0, 0, 0, 1.0])) == 0.0


def test_randomised_pit_spreads_ties() -> None:
    """Payments on three possible days: the raw interval always covers, the PIT does not lie."""
    rng = np.random.default_rng(0)
    n, origin = 20_000, np.zeros(20_000, dtype=np.int64)
    pmf = np.zeros(10)
    pmf[[2, 4, 7]] = [0.3, 0.4, 0.3]  # days 3, 5, 8
    cdf = np.tile(np.cumsum(pmf), (n, 1))
    y = rng.choice([3, 5, 8], p=[0.3, 0.4, 0.3], size=n).astype(np.float64)
    forecast = Forecast.from_cdf(origin, cdf, due_day=np.zeros(n))
    assert (forecast.p10 == 3).all() and (forecast.p50 == 5).all() and (forecast.p90 == 8).all()
    assert ((forecast.p10 <= y) & (y <= forecast.p90)).mean() == 1.0
    pit = window_pit(origin, cdf, y, np.full(n, 10), rng.random(n))
    assert ((pit >= 0.1) & (pit <= 0.9)).mean() == pytest.approx(0.8, abs=0.01)
    assert abs(np.histogram(pit, bins=5, range=(0, 1))[0] / n - 0.2).max() < 0.01


def test_pit_conditions_on_the_observation_window() -> None:
    """Only payments up to the window end are seen; conditioning keeps a true forecast uniform."""
    rng = np.random.default_rng(1)
    n, horizon, window = 20_000, 200, 11
    origin = np.zeros(n, dtype=np.int64)
    pmf = 0.02 * 0.98 ** np.arange(horizon)  # geometric, F(11) is about 0.2
    cdf = np.tile(np.cumsum(pmf), (n, 1))
    y = (rng.geometric(0.02, n)).astype(np.float64)
    u = rng.random(n)
    pit = window_pit(origin, cdf, y, np.full(n, window), u)
    seen = ~np.isnan(pit)
    assert (seen == (y <= window)).all()
    assert ((pit[seen] >= 0.1) & (pit[seen] <= 0.9)).mean() == pytest.approx(0.8, abs=0.03)
    naive = window_pit(origin, cdf, y, np.full(n, horizon), u)[seen]  # no conditioning
    assert ((naive >= 0.1) & (naive <= 0.9)).mean() < 0.6


def test_forecast_from_cdf_matches_the_model_prediction() -> None:
    rng = np.random.default_rng(2)
    as_of = date(2024, 6, 30)
    pmf = rng.dirichlet(np.full(31, 0.3), size=50)[:, :30]  # some mass beyond the horizon
    known = pd.DataFrame({"due_day": to_day(as_of) + rng.integers(-60, 40, 50)})
    prediction = PayDatePrediction(as_of, known, pmf)
    forecast = Forecast.from_cdf(np.full(50, to_day(as_of)), prediction.cdf, known["due_day"])
    for q, days in ((0.1, forecast.p10), (0.5, forecast.p50), (0.9, forecast.p90)):
        offsets = prediction.quantile_offsets(q)
        np.testing.assert_array_equal(days, np.where(offsets > 0, to_day(as_of) + offsets, np.inf))
    np.testing.assert_allclose(forecast.p_late, prediction.p_late(), atol=1e-12)


def test_versus_baselines_names_where_the_model_falls_behind() -> None:
    def table(model_mae: float, model_brier: float) -> pd.DataFrame:
        rows = [
            ("model", model_mae, model_brier),
            ("customer_mean", 9.0, 0.10),
            ("customer_median", 8.5, 0.10),
            ("due_date", 15.0, 0.20),  # not a spreadsheet baseline: never compared
        ]
        frame = pd.DataFrame(rows, columns=["method", "mae_p50", "brier_late30"])
        other = frame.assign(segment="overdue", mae_p50=1.0)  # another segment: ignored
        return pd.concat([frame.assign(segment="all"), other], ignore_index=True)

    ahead = versus_baselines(table(8.0, 0.08))
    assert ahead["beats_baselines"] and ahead["behind"] == ahead["level"] == []
    assert describe_versus(ahead) == (
        "Ahead of the spreadsheet method on the backtest window: p50 MAE 8.00 days against the "
        "customer median's 8.50; late-30 Brier 0.080 against the customer mean's 0.100."
    )
    assert ahead["scores"]["customer_median"] == {"mae_p50": 8.5, "brier_late30": 0.10}
    assert "due_date" not in ahead["scores"]

    with_unpaid = table(8.0, 0.08).assign(mae_p50_censored=[12.0, 30.0, 25.0, 40.0] * 2)
    judged = versus_baselines(with_unpaid)  # judged on the MAE that counts unpaid invoices
    assert judged["ahead"][0] == (
        "p50 MAE counting unpaid invoices 12.00 days against the customer median's 25.00"
    )
    assert set(judged["scores"]["model"]) == {"mae_p50_censored", "brier_late30"}

    behind = versus_baselines(table(11.27, 0.08))
    assert not behind["beats_baselines"]
    assert behind["behind"] == ["p50 MAE 11.27 days against the customer median's 8.50"]
    both = versus_baselines(table(9.5, np.nan))  # no decided late-30 outcome: Brier not judged
    assert both["behind"] == ["p50 MAE 9.50 days against the customer median's 8.50"]
    assert versus_baselines(table(8.0, 0.12))["behind"] == [
        "late-30 Brier 0.120 against the customer mean's 0.100"
    ]
    # with the gaps' standard errors, a gap within two of them is level, not behind
    noisy = table(9.5, 0.08).assign(mae_p50_gap_se=0.6, brier_late30_gap_se=0.02)
    level = versus_baselines(noisy)
    assert level["beats_baselines"] and level["behind"] == []
    assert level["level"] == [
        "p50 MAE 9.50 days against the customer median's 8.50, within the window's noise of "
        "±1.20 days"
    ]
    assert level["scores"]["customer_median"]["mae_p50_gap_se"] == 0.6
    assert describe_versus(level).startswith("Level with the spreadsheet method on the backtest")
    assert level["ahead"] == [
        "late-30 Brier 0.080 against the customer mean's 0.100, within the window's noise of ±0.040"
    ]
    clear = versus_baselines(noisy.assign(mae_p50_gap_se=0.4))
    assert clear["behind"] == [
        "p50 MAE 9.50 days against the customer median's 8.50, beyond the window's noise of "
        "±0.80 days"
    ]
    assert clear["level"] == [] and not clear["beats_baselines"]


def test_choose_cutoffs_leave_13_weeks_of_outcomes() -> None:
    six = [date(2025, m, d) for m, d in ((4, 30), (5, 31), (6, 30), (7, 31), (8, 31), (9, 30))]
    assert choose_cutoffs(date(2025, 12, 31)) == six
    assert choose_cutoffs(date(2025, 12, 30)) == six  # 2025-09-30 + 91 days = 2025-12-30
    assert choose_cutoffs(date(2025, 12, 29))[-1] == date(2025, 8, 31)
    assert choose_cutoffs(date(2025, 4, 1), "2M", 3) == [
        date(2024, 8, 31),
        date(2024, 10, 31),
        date(2024, 12, 31),
    ]
    assert CutoffRule(last=2).cutoffs(date(2024, 3, 1)) == [date(2023, 10, 31), date(2023, 11, 30)]
    with pytest.raises(ValueError, match="1M"):
        CutoffRule(every="1W")


def test_cutoffs_before_the_first_payment_are_skipped_by_a_rule_and_refused_if_explicit(
    small_tables: dict,
) -> None:
    con = open_warehouse(small_tables)
    first = con.execute("SELECT min(completion_day) FROM invoice_facts").fetchone()[0]
    early, late = date(2023, 12, 31), date(2024, 6, 30)
    assert to_day(early) < first <= to_day(late)
    assert cutoffs_with_history(con, [early, late], skip=True) == ([late], [early])
    with pytest.raises(NoPaymentHistoryError, match="2023-12-31"):
        cutoffs_with_history(con, [early, late], skip=False)
    with pytest.raises(NoPaymentHistoryError, match="first payment"):
        cutoffs_with_history(con, [early], skip=True)  # nothing left to backtest
    con.execute("DELETE FROM invoice_facts WHERE completion_day IS NOT NULL")
    with pytest.raises(NoPaymentHistoryError, match="ever paid"):
        cutoffs_with_history(con, [late], skip=True)
    con.close()


def test_baselines_ignore_payments_after_the_cutoff(small_tables: dict) -> None:
    original = open_warehouse(small_tables)
    facts = original.execute("SELECT * FROM invoice_facts").df()
    c = to_day(CUTOFF)
    open_at_c = facts[(facts["issue_day"] <= c) & ~(facts["completion_day"] <= c)]
    busy = open_at_c["customer_id"].value_counts()
    # an invoice of a customer with several open invoices, completed inside the data after c
    target = open_at_c[
        open_at_c["customer_id"].isin(busy[busy >= 3].index) & open_at_c["completion_day"].notna()
    ].iloc[0]
    payments = small_tables["payments"].copy()
    moved = payments["invoice_id"] == target["invoice_id"]
    payments.loc[moved, "payment_date"] += pd.Timedelta(days=45)
    changed = open_warehouse({**small_tables, "payments": payments})

    keys = open_at_c[["invoice_id"]].assign(k=c)
    before, after = baselines(original, keys), baselines(changed, keys)
    for name in ("due_date", "customer_mean", "customer_median"):
        np.testing.assert_array_equal(before[name].p50, after[name].p50)
        np.testing.assert_array_equal(before[name].p_late, after[name].p_late)

    # The test has power: a lookup made after the payment does see the change.
    end = int(facts["completion_day"].max())
    mine = facts.loc[facts["customer_id"] == target["customer_id"], ["invoice_id"]].assign(k=end)
    seen_before = baselines(original, mine)["customer_mean"].p50
    assert not np.array_equal(seen_before, baselines(changed, mine)["customer_mean"].p50)
    original.close()
    changed.close()


def test_the_baselines_late_30_risk_is_conditioned_on_the_days_overdue(small_tables: dict) -> None:
    """An invoice 20 days overdue and unpaid is judged against the customer's invoices that were
    still unpaid 20 days past due, as the model's p_late_30 and the baselines' dates condition
    on what is known of it; not against its whole record."""
    con = open_warehouse(small_tables)
    facts = con.execute(
        "SELECT invoice_id, customer_id, due_day, completion_day FROM invoice_facts"
    ).df()
    c = to_day(CUTOFF)
    keys = facts[(facts["due_day"] < c) & (facts["due_day"] > c - 30)]
    keys = keys[~(keys["completion_day"] <= c)]
    risk = baselines(con, keys[["invoice_id"]].assign(k=c))["customer_mean"].p_late
    con.close()
    decided = facts[facts["due_day"] + 30 <= c]
    late = decided["completion_day"].isna() | (decided["completion_day"] > decided["due_day"] + 30)
    expected, unconditional = [], []
    for row in keys.itertuples():
        mine = decided["customer_id"] == row.customer_id
        unpaid_then = decided["completion_day"].isna() | (
            decided["completion_day"] - decided["due_day"] > c - row.due_day
        )
        pool = late[mine & unpaid_then]
        if pool.empty:  # the portfolio's, on the same condition
            pool = late[unpaid_then]
        expected.append(float(pool.mean()))
        unconditional.append(float(late[mine].mean()) if mine.any() else np.nan)
    np.testing.assert_allclose(risk, expected)
    assert (np.abs(np.subtract(expected, unconditional)) > 0.05).any()  # it matters


@pytest.fixture(scope="module")
def backtest(small_ledger_dir: Path):
    oracle = functools.partial(oracle_sample_pay_dates, load_truth(small_ledger_dir))
    calls: list[tuple] = []
    result = run_backtest(
        small_ledger_dir,
        [CUTOFF],
        TINY,
        lambda *event: calls.append(event),
        oracle=oracle,
        oracle_samples=ORACLE_DRAWS,
    )
    return result, calls


def test_backtest_scores_every_method_on_the_same_invoices(backtest) -> None:
    result, calls = backtest
    metrics = result.metrics
    assert set(metrics["method"]) == METHODS
    assert set(metrics["cutoff"]) == {CUTOFF.isoformat(), "pooled"}
    assert len(metrics) == 2 * len(METHODS) * len(SEGMENTS)
    ids = result.rows.groupby("method")["invoice_id"].apply(tuple)
    assert ids.nunique() == 1 and len(ids.iloc[0]) > 100
    assert [c[3] for c in calls] == ["train", "score", "baselines", "oracle", "done"]
    assert calls[-1][:3] == (1, 1, CUTOFF)
    pooled = metrics[(metrics["cutoff"] == "pooled")].set_index(["segment", "method"])
    assert np.isnan(pooled.loc[("all", "customer_mean"), "coverage_p10_p90"])  # no interval
    assert 0.5 < pooled.loc[("all", "model"), "pit_coverage"] <= 1.0
    assert pooled.loc[("all", "oracle"), "mae_p50_vs_oracle"] == 1.0


def test_backtest_scores_the_cash_forecast(backtest) -> None:
    """Every method is compared with the same actual weeks; the oracle's joint simulation beats
    paying on the due date; the model's rho comes from its calibration fold."""
    result, _ = backtest
    cash = result.cash
    weeks = cash.pivot(index="week_start", columns="method", values="actual")
    assert weeks.shape == (13, len(CASH_METHODS)) and (weeks.nunique(axis=1) == 1).all()
    assert weeks["model"].sum() > 0
    assert (cash["p10"] <= cash["p50"] + 1e-6).all() and (cash["p50"] <= cash["p90"] + 1e-6).all()
    due = cash[cash["method"] == "due_date"]
    assert (due["p10"] == due["expected"]).all() and (due["p90"] == due["expected"]).all()
    pooled = result.cash_metrics.set_index(["cutoff", "method"]).loc["pooled"]
    assert pooled.loc["oracle", "cash_wape"] < pooled.loc["due_date", "cash_wape"]
    rho = result.summary["cash"]["rho"][CUTOFF.isoformat()]
    training = result.summary["cutoffs"][0]["training"]
    assert 0.0 <= rho["cash_rho"] <= 0.9 and rho["cash_rho"] == training["cash_rho"]
    assert rho["cash_rho"] <= rho["cash_rho_runs"] <= 0.9
    assert rho["cash_rho_runs"] == training["cash_rho_runs"]


def test_oracle_beats_paying_on_the_due_date(backtest) -> None:
    result, _ = backtest
    metrics = result.metrics.set_index(["cutoff", "segment", "method"])
    for segment in SEGMENTS:
        oracle = metrics.loc[("pooled", segment, "oracle"), "mae_p50"]
        assert oracle <= metrics.loc[("pooled", segment, "due_date"), "mae_p50"]
    assert (
        metrics.loc[("pooled", "all", "model"), "mae_p50"]
        < metrics.loc[("pooled", "all", "due_date"), "mae_p50"]
    )


def test_cli_backtest_writes_its_files(small_ledger_dir: Path, tmp_path: Path, backtest) -> None:
    out = tmp_path / "bt"
    args = ["backtest", "--data", str(small_ledger_dir), "--out", str(out)]
    args += ["--cutoffs", CUTOFF.isoformat(), "--oracle-samples", str(ORACLE_DRAWS)]
    result = runner.invoke(app, [*args, *TINY_FLAGS])
    assert result.exit_code == 0, result.output
    assert "oracle" in result.output and "Done in" in result.output
    assert "13-week cash-in" in result.output
    for plot in ("backtest_reliability.png", "backtest_pit.png", "backtest_cash.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
    written = pd.read_csv(out / "backtest_metrics.csv")
    summary = json.loads((out / "backtest_summary.json").read_text())
    assert summary["cutoffs"][0]["cutoff"] == CUTOFF.isoformat()
    assert set(summary["pooled"]) == METHODS
    cash = pd.read_csv(out / "backtest_cash.csv")
    assert list(cash.columns) == list(CASH_COLUMNS)
    assert set(cash["method"]) == set(CASH_METHODS) and len(cash) == 13 * len(CASH_METHODS)
    cash_metrics = pd.read_csv(out / "backtest_cash_metrics.csv")
    assert set(cash_metrics["cutoff"]) == {CUTOFF.isoformat(), "pooled"}
    for column in ("cash_wape", "cash_coverage", "cash_bias", "cash_wape_vs_oracle"):
        assert cash_metrics[column].notna().all(), column
    assert summary["cash"]["model_wape_vs_due_date"] is not None
    assert set(summary["cash"]["rho"]) == {CUTOFF.isoformat()}
    # same seed and settings as the in-process run: the same numbers
    expected = backtest[0].metrics
    numeric = expected.select_dtypes("number").columns
    np.testing.assert_allclose(written[numeric], expected[numeric], rtol=1e-12)
    # each invoice's errors, which the pooled MAEs are the means of
    invoices = pd.read_csv(out / "backtest_invoices.csv", dtype={"invoice_id": str})
    assert len(invoices) == len(backtest[0].rows)
    model = invoices[invoices["method"] == "model"]
    pooled = expected.set_index(["cutoff", "segment", "method"]).loc[("pooled", "all", "model")]
    assert model["error_p50"].mean() == pytest.approx(pooled["mae_p50"])
    assert model["error_p50_censored"].mean() == pytest.approx(pooled["mae_p50_censored"])
    assert (model["paid_date"].notna() == model["error_p50"].notna()).all()


def test_cli_backtest_at_issue(small_ledger_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "issue"
    result = runner.invoke(
        app,
        [
            *("backtest", "--data", str(small_ledger_dir), "--out", str(out), "--at-issue"),
            *("--train-until", "2024-09-30", "--test-from", "2024-10-01", *TINY_FLAGS),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(out / "backtest_metrics.csv")
    assert set(metrics["segment"]) == {"all"}
    assert set(metrics["method"]) == METHODS - {"oracle"}
    summary = json.loads((out / "backtest_summary.json").read_text())
    assert summary["mode"] == "at_issue"

    walk = tmp_path / "walk"
    args = ["backtest", "--data", str(small_ledger_dir), "--out", str(walk), "--at-issue"]
    args += ["--train-until", "2024-09-30", "--test-from", "2024-10-01", "--refit-months", "1"]
    walking = runner.invoke(app, [*args, *TINY_FLAGS])
    assert walking.exit_code == 0
    walked = json.loads((walk / "backtest_summary.json").read_text())["cutoffs"][0]
    trained = [m["trained_until"] for m in walked["models"]]
    scope = (
        f"{walked['test_invoices']:,} invoices issued from 2024-10-01, each scored at issue by "
        f"the latest of {len(trained)} model(s)"
    )
    assert f"({scope})." in " ".join(walking.output.split())  # not "1 cutoff(s)"
    assert trained[:3] == ["2024-09-30", "2024-10-31", "2024-11-30"]
    assert walked["test_invoices"] == summary["cutoffs"][0]["test_invoices"]  # each scored once


def test_refit_dates_walk_forward_by_month_ends() -> None:
    assert refit_dates(date(2012, 12, 31), date(2013, 1, 1), date(2013, 4, 10), 0) == [
        date(2012, 12, 31)
    ]
    assert refit_dates(date(2012, 12, 31), date(2013, 1, 1), date(2013, 4, 10), 1) == [
        date(2012, 12, 31),
        date(2013, 1, 31),
        date(2013, 2, 28),
        date(2013, 3, 31),
    ]
    assert refit_dates(date(2012, 12, 31), date(2013, 1, 1), date(2013, 7, 10), 3) == [
        date(2012, 12, 31),
        date(2013, 3, 31),
        date(2013, 6, 30),
    ]


def test_cli_backtest_rejects_a_bad_rule(small_ledger_dir: Path) -> None:
    result = runner.invoke(app, ["backtest", "--data", str(small_ledger_dir), "--every", "2W"])
    assert result.exit_code == 2
    assert "'1M'" in result.output
