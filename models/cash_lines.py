"""Cash forecast lines and breakdowns from joint simulations.

The CFO reads two numbers: cash from what is already billed (``open_ar``) and cash including
expected billing (``total``); ``projected_billing`` is the difference. Bands of a sum are not
sums of bands, so ``total`` is banded from the path-by-path sum of the open-AR and billing
draws, and every breakdown key is banded from the same draws: keys add up to the total in every
path, and their expected values add up exactly.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from models.cash import band_frame

LINES = ("open_ar", "projected_billing", "total")
OTHER = "(other customers)"


def with_total(open_ar: np.ndarray, billing: np.ndarray) -> dict[str, np.ndarray]:
    """The three lines from two same-shaped arrays (expected or draws): total = their sum."""
    return {"open_ar": open_ar, "projected_billing": billing, "total": open_ar + billing}


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
