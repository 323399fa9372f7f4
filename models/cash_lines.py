"""Cash forecast lines and breakdowns from joint simulations.

The CFO reads two numbers: cash from what is already billed (``open_ar``) and cash including
expected billing (``total``); ``projected_billing`` is the difference. Bands of a sum are not
sums of bands, so ``total`` is banded from the path-by-path sum of the open-AR and billing
draws, and every breakdown key is banded from the same draws: keys add up to the total in every
path, and their expected values add up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from models.cash import band_frame, simulate_weekly_cash

LINES = ("open_ar", "projected_billing", "total")
OTHER = "(other customers)"


def with_total(open_ar: np.ndarray, billing: np.ndarray) -> dict[str, np.ndarray]:
    """The three lines from two same-shaped arrays (expected or draws): total = their sum."""
    return {"open_ar": open_ar, "projected_billing": billing, "total": open_ar + billing}


@dataclass(frozen=True)
class CashLines:
    """Expected cash and joint draws per line and breakdown key (segment × currency)."""

    keys: pd.DataFrame
    """segment, currency of each key code."""
    expected: dict[str, np.ndarray]
    """line → (n_keys, weeks)."""
    sims: dict[str, np.ndarray]
    """line → (n_sims, n_keys, weeks), the same paths for every line."""

    def bands(self, as_of: date) -> pd.DataFrame:
        """line, week, week_start, week_end, expected, p10, p50, p90 of the portfolio."""
        frames = [
            band_frame(as_of, self.expected[line].sum(axis=0), self.sims[line].sum(axis=1))
            for line in LINES
        ]
        weeks = frames[0].shape[0]
        out = pd.concat(frames, ignore_index=True)
        out.insert(0, "line", np.repeat(LINES, weeks))
        out.insert(1, "week", np.tile(np.arange(1, weeks + 1), len(LINES)))
        return out


def simulate_lines(
    weekly: np.ndarray,
    amounts: np.ndarray,
    customers: np.ndarray,
    open_keys: pd.DataFrame,
    billing: pd.DataFrame | None,
    billing_sims: pd.DataFrame | None,
    *,
    rho: float | np.ndarray,
    seed: int,
    n_sims: int,
) -> CashLines:
    """Open AR drawn jointly (customer copula), plus the projected billing's own draws.

    ``weekly``/``amounts``/``customers``/``open_keys`` (segment, currency) describe the open
    invoices; ``billing`` holds the expected collections of projected invoices per (segment,
    currency, week) and ``billing_sims`` its draws per (sim, segment, currency, week). The open
    AR is simulated once, split by key, so every line and breakdown shares the same paths, and
    the same ``seed`` gives the same draws for any pmf (what-if scenarios compare path by path).
    ``None`` for both billing frames: no projected billing.
    """
    n_weeks = weekly.shape[1]
    has_billing = billing is not None and billing_sims is not None
    billed_keys = [billing_sims[["segment", "currency"]]] if has_billing else []
    keys = (
        pd.concat([open_keys, *billed_keys])
        .drop_duplicates()
        .sort_values(["segment", "currency"], ignore_index=True)
    )
    index = pd.MultiIndex.from_frame(keys)
    open_codes = index.get_indexer(pd.MultiIndex.from_frame(open_keys))
    groups = pd.factorize(customers, sort=True)[0]
    open_sims = simulate_weekly_cash(
        weekly, amounts, groups, by=open_codes, n_sims=n_sims, rho=rho, seed=seed
    )
    open_sims = np.pad(open_sims, ((0, 0), (0, len(keys) - open_sims.shape[1]), (0, 0)))
    open_expected = np.zeros((len(keys), n_weeks))
    np.add.at(open_expected, open_codes, amounts[:, None] * weekly)
    bill_sims = np.zeros((n_sims, len(keys), n_weeks))
    bill_expected = np.zeros((len(keys), n_weeks))
    if has_billing:
        codes = index.get_indexer(pd.MultiIndex.from_frame(billing_sims[["segment", "currency"]]))
        bill_sims[billing_sims["sim"], codes, billing_sims["week"] - 1] = billing_sims["amount"]
        codes = index.get_indexer(pd.MultiIndex.from_frame(billing[["segment", "currency"]]))
        np.add.at(bill_expected, (codes, billing["week"].to_numpy() - 1), billing["collections"])
    return CashLines(
        keys, with_total(open_expected, bill_expected), with_total(open_sims, bill_sims)
    )


def breakdown_bands(
    as_of: date,
    keys: pd.Series,
    expected: dict[str, np.ndarray],
    sims: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Bands per value of ``keys`` (one label per breakdown code) and line.

    ``expected[line]`` is ``(n_codes, weeks)``, ``sims[line]`` ``(n_sims, n_codes, weeks)``;
    codes sharing a label (e.g. all currencies of one segment) are summed path by path.
    """
    labels, uniques = pd.factorize(keys.to_numpy(), sort=True)
    frames = []
    for line in LINES:
        for j, key in enumerate(uniques):
            members = labels == j
            band = band_frame(
                as_of, expected[line][members].sum(axis=0), sims[line][:, members].sum(axis=1)
            )
            frames.append(band.assign(key=key, line=line))
    return pd.concat(frames, ignore_index=True)


def customer_expected(
    as_of: date, expected: dict[str, pd.DataFrame], top_n: int = 25
) -> pd.DataFrame:
    """Expected cash per customer and line for the ``top_n`` customers by 13-week total; the
    rest are summed into one ``OTHER`` key so the dimension still adds up to the total.

    ``expected[line]`` is indexed by customer_id with one column per week.
    """
    total = expected["total"].sum(axis=1).sort_values(ascending=False, kind="stable")
    top = set(total.index[:top_n])
    frames = []
    for line in LINES:
        by_customer = expected[line]
        key = np.where(by_customer.index.isin(top), by_customer.index, OTHER)
        grouped = by_customer.groupby(key).sum()
        order = [c for c in total.index[:top_n] if c in grouped.index]
        grouped = grouped.loc[order + ([OTHER] if OTHER in grouped.index else [])]
        long = grouped.rename_axis("key").reset_index().melt("key", var_name="week")
        starts = (
            pd.Timestamp(as_of)
            + pd.Timedelta(days=1)
            + 7 * pd.to_timedelta(long["week"].astype(int), unit="D")
        )
        frames.append(
            pd.DataFrame(
                {
                    "key": long["key"],
                    "line": line,
                    "week_start": starts,
                    "week_end": starts + pd.Timedelta(days=6),
                    "expected": long["value"].to_numpy(dtype=float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
