from datetime import date

import numpy as np
import pandas as pd
import pytest

from models import cash
from models.cash import cash_forecast, weekly_probabilities

AS_OF = date(2024, 6, 30)
H = 100


def random_pmf(rng: np.random.Generator, n: int, horizon: int = H) -> np.ndarray:
    pmf = rng.random((n, horizon))
    return pmf * (rng.uniform(0.5, 1.0, n) / pmf.sum(axis=1))[:, None]


def point_mass(n: int, day: int, p: float) -> np.ndarray:
    pmf = np.zeros((n, H))
    pmf[:, day] = p
    return pmf


def test_weekly_probabilities_bins_days_into_weeks() -> None:
    pmf = np.zeros((1, H))
    pmf[0, [0, 6, 7, 90, 91]] = [0.1, 0.2, 0.3, 0.15, 0.25]  # day 91 = week 14: dropped
    weekly = weekly_probabilities(pmf)
    assert weekly.shape == (1, 13)
    np.testing.assert_allclose(weekly[0, :2], [0.3, 0.3])
    np.testing.assert_allclose(weekly[0, 12], 0.15)
    assert weekly[0, 2:12].sum() == 0


def test_weekly_probabilities_rejects_short_horizon() -> None:
    with pytest.raises(ValueError, match="horizon"):
        weekly_probabilities(np.zeros((2, 90)))


def test_expected_is_analytic_and_weeks_are_consecutive() -> None:
    rng = np.random.default_rng(1)
    pmf = random_pmf(rng, 40)
    amounts = rng.uniform(100, 1000, 40)
    out = cash_forecast(pmf, amounts, rng.integers(0, 5, 40), AS_OF, n_sims=200, rho=0.3)

    analytic = [
        sum(amounts[i] * pmf[i, 7 * w : 7 * w + 7].sum() for i in range(40)) for w in range(13)
    ]
    np.testing.assert_allclose(out["expected"], analytic, rtol=1e-12)
    assert list(out.columns) == ["week_start", "week_end", "expected", "p10", "p50", "p90"]
    assert out["week_start"].iloc[0] == pd.Timestamp("2024-07-01")
    assert out["week_end"].iloc[-1] == pd.Timestamp("2024-09-29")
    assert (out["week_start"].diff().dropna() == pd.Timedelta(days=7)).all()
    assert (out["week_end"] - out["week_start"] == pd.Timedelta(days=6)).all()


def test_expected_plus_beyond_horizon_equals_total() -> None:
    rng = np.random.default_rng(2)
    pmf = random_pmf(rng, 30, horizon=182)
    amounts = rng.uniform(10, 500, 30)
    out = cash_forecast(pmf, amounts, np.arange(30), AS_OF, n_sims=50, rho=0.3)
    beyond = amounts @ (1 - pmf[:, :91].sum(axis=1))
    assert out["expected"].sum() + beyond == pytest.approx(amounts.sum(), rel=1e-12)


def test_all_mass_in_week_one_lands_in_week_one() -> None:
    rng = np.random.default_rng(3)
    pmf = np.zeros((25, H))
    pmf[:, :7] = rng.dirichlet(np.ones(7), 25)
    amounts = rng.uniform(1, 100, 25)
    out = cash_forecast(pmf, amounts, rng.integers(0, 3, 25), AS_OF, n_sims=300, rho=0.3)
    for col in ("expected", "p10", "p50", "p90"):
        assert out[col].iloc[0] == pytest.approx(amounts.sum())
        assert (out[col].iloc[1:] == 0).all()


@pytest.mark.parametrize("block_cells", [None, 1])
def test_simulated_pay_days_land_in_their_weeks(
    block_cells: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if block_cells is not None:  # one simulation per block: exercises the chunked path
        monkeypatch.setattr(cash, "_BLOCK_CELLS", block_cells)
    pmf = np.zeros((2, H))
    pmf[0, 10] = 0.6  # week 2 with 60 %, else beyond the horizon
    pmf[1, 20] = 0.15  # week 3 with 15 %: only the 90th percentile sees it
    out = cash_forecast(pmf, np.array([100.0, 40.0]), ["a", "b"], AS_OF, n_sims=2000, rho=0.3)
    assert out.loc[1, ["p10", "p50", "p90"]].tolist() == [0.0, 100.0, 100.0]
    assert out.loc[2, ["p10", "p50", "p90"]].tolist() == [0.0, 0.0, 40.0]
    assert out.drop(index=[1, 2])[["p10", "p50", "p90"]].to_numpy().sum() == 0


def test_quantiles_are_ordered_and_centred_on_expected() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    out = cash_forecast(random_pmf(rng, n), rng.uniform(1, 10, n), np.arange(n), AS_OF, rho=0.0)
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    assert (out["p10"] < out["p90"]).all()
    np.testing.assert_allclose(out["p50"], out["expected"], rtol=0.05)


def test_shared_customer_factor_widens_bands() -> None:
    pmf = point_mass(300, 3, 0.5)
    amounts = np.full(300, 10.0)
    groups = np.zeros(300, dtype=int)

    def width(rho: float) -> float:
        week1 = cash_forecast(pmf, amounts, groups, AS_OF, n_sims=2000, rho=rho).iloc[0]
        return week1["p90"] - week1["p10"]

    assert width(0.5) > 3 * width(0.0)


def test_independent_customers_ignore_rho() -> None:
    # With one invoice per customer the shared factor changes nothing in distribution.
    pmf = point_mass(300, 3, 0.5)
    amounts = np.full(300, 10.0)
    widths = [
        cash_forecast(pmf, amounts, np.arange(300), AS_OF, n_sims=2000, rho=rho).iloc[0]
        for rho in (0.0, 0.8)
    ]
    assert widths[1]["p90"] - widths[1]["p10"] == pytest.approx(
        widths[0]["p90"] - widths[0]["p10"], rel=0.25
    )


def test_deterministic_per_seed() -> None:
    rng = np.random.default_rng(5)
    args = (random_pmf(rng, 200), rng.uniform(1, 50, 200), rng.integers(0, 20, 200), AS_OF)
    first = cash_forecast(*args, n_sims=300, rho=0.3, seed=7)
    pd.testing.assert_frame_equal(first, cash_forecast(*args, n_sims=300, rho=0.3, seed=7))
    assert not first[["p10", "p90"]].equals(
        cash_forecast(*args, n_sims=300, rho=0.3, seed=8)[["p10", "p90"]]
    )


def test_rejects_rows_summing_above_one() -> None:
    pmf = point_mass(2, 0, 0.7)
    pmf[1, 8] = 0.5
    with pytest.raises(ValueError, match="at most 1"):
        cash_forecast(pmf, np.ones(2), [1, 2], AS_OF, rho=0.3)


def test_rho_per_invoice_correlates_only_its_customers() -> None:
    """One rho per invoice: a run payer's invoices move together, the others stay independent.
    The same value for every invoice gives exactly the draws of that value given once."""
    pmf = point_mass(400, 3, 0.5)
    amounts = np.full(400, 10.0)
    groups = np.repeat([0, 1], 200)
    rho = np.where(groups == 0, 0.9, 0.0)
    sims = cash.simulate_weekly_cash(
        weekly_probabilities(pmf), amounts, groups, rho=rho, by=groups, n_sims=2000
    )[:, :, 0]
    spread = np.quantile(sims, 0.9, axis=0) - np.quantile(sims, 0.1, axis=0)
    assert spread[0] > 3 * spread[1]
    args = (pmf, amounts, groups % 7, AS_OF)
    pd.testing.assert_frame_equal(
        cash_forecast(*args, n_sims=300, rho=np.full(400, 0.3)),
        cash_forecast(*args, n_sims=300, rho=0.3),
    )


@pytest.mark.parametrize("rho", [np.full(3, 0.2), -0.1, np.array([0.2, 1.5])])
def test_rejects_a_bad_rho(rho: float | np.ndarray) -> None:
    with pytest.raises(ValueError, match="rho must be"):
        cash_forecast(point_mass(2, 0, 0.5), np.ones(2), [1, 2], AS_OF, rho=rho)
