"""What-if scenarios acting on the predicted pay-date distributions.

An analyst asks "what if our top 10 customers pay 5 days later?". The answer comes from the same
distributions the forecast uses, not from a separate toy model: a scenario rewrites the selected
invoices' pmf over the days after as-of (column j = day as-of + 1 + j; the row remainder is
"later than the horizon, or never") and the cash simulation runs on the rewritten pmfs with the
baseline's random draws (common random numbers). A scenario's difference from the baseline is
then its effect, not simulation noise, and a delay moves every simulated payment later or leaves
it where it was — never earlier.

A scenario is a list of rules; each rule selects invoices (``where``) and applies effects, in
this order:

* ``disputes_resolved_by: D`` — invoices with an open dispute pay, from D on, with the daily
  hazard of the same invoice whose dispute was settled on D (scored by the pay-date model, which
  knows how payment follows a settlement); before D they keep the disputed hazard.
* ``slower_pct: X`` — the wait from as-of to payment is stretched by (1 + X/100): an invoice
  expected in 10 days is expected in 12 at X = 20. Negative X means faster.
* ``delay_days: K`` — every pay day moves K days later (negative K: earlier, never before the
  day after as-of).
* ``never_paid_share: s`` — each selected invoice is never paid with probability s (its pmf is
  scaled by 1 − s; the simulation draws which ones, customer-correlated like everything else).

Timing effects conserve each invoice's total probability: mass pushed past the horizon joins the
remainder. Only ``never_paid_share`` removes money.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.cash import weekly_probabilities
from models.cash_lines import CashLines

BASELINE = "baseline"
SCENARIO_LINES = ("open_ar", "total")
"""Lines a scenario reports: cash from today's open invoices, and including expected billing."""

ResolvedPmf = Callable[[np.ndarray, date], np.ndarray]
"""(row positions, settlement date) → pmf of those invoices had their dispute settled then."""


class ScenarioError(ValueError):
    """A scenario file or flag that cannot be applied; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Where(_Strict):
    """Which open invoices a rule acts on; all given conditions must hold (none = every invoice)."""

    top_customers: Annotated[int, Field(ge=1)] | None = None
    customers: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    disputed: bool | None = None

    @field_validator("customers", "segments", "countries", "currencies", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        """One name or a list; numbers are names too (YAML reads ``customers: [1001]`` as ints)."""
        values = [value] if isinstance(value, str | int | float) else value
        return [str(v) for v in values] if isinstance(values, list | tuple) else values

    def describe(self) -> str:
        parts = []
        if self.top_customers:
            parts.append(f"top {self.top_customers} customers by open AR")
        for label, values in (
            ("customers", self.customers),
            ("segment", self.segments),
            ("country", self.countries),
            ("currency", self.currencies),
        ):
            if values:
                parts.append(f"{label} {', '.join(values)}")
        if self.disputed is not None:
            parts.append("disputed invoices" if self.disputed else "undisputed invoices")
        return " and ".join(parts) or "all customers"


MAX_LISTED_VALUES = 12
"""An unknown segment, country or currency is named with the ones open invoices do have (values
match exactly, so "smb" is not "SMB"); a ledger's hundreds of customer ids are not listed."""


class Rule(_Strict):
    """Effects applied to the invoices ``where`` selects (see the module docstring for order)."""

    where: Where = Where()
    disputes_resolved_by: date | None = None
    disputes_resolved_in_days: Annotated[int, Field(ge=1)] | None = None
    slower_pct: Annotated[float, Field(gt=-100)] = 0.0
    delay_days: int = 0
    never_paid_share: Annotated[float, Field(ge=0, le=1)] = 0.0

    @model_validator(mode="after")
    def _one_settlement_date(self) -> Rule:
        if self.disputes_resolved_by and self.disputes_resolved_in_days is not None:
            raise ValueError("give disputes_resolved_by or disputes_resolved_in_days, not both")
        return self

    def settlement(self, as_of: date) -> date | None:
        """The day open disputes are settled, if this rule settles them."""
        if self.disputes_resolved_in_days is not None:
            return as_of + timedelta(days=self.disputes_resolved_in_days)
        return self.disputes_resolved_by

    def describe(self) -> str:
        effects = []
        if self.disputes_resolved_by:
            effects.append(f"disputes resolved by {self.disputes_resolved_by}")
        if self.disputes_resolved_in_days is not None:
            effects.append(f"disputes resolved within {self.disputes_resolved_in_days} days")
        if self.slower_pct:
            effects.append(
                f"pay {abs(self.slower_pct):g}% {'slower' if self.slower_pct > 0 else 'faster'}"
            )
        if self.delay_days:
            word = "later" if self.delay_days > 0 else "earlier"
            effects.append(f"pay {abs(self.delay_days)} days {word}")
        if self.never_paid_share:
            effects.append(f"{self.never_paid_share:.0%} never paid")
        return f"{self.where.describe()}: {', '.join(effects) or 'no change'}"


class Scenario(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[\w.\- ]+$")]
    description: str = ""
    rules: Annotated[tuple[Rule, ...], Field(min_length=1)]

    @field_validator("name")
    @classmethod
    def _not_baseline(cls, value: str) -> str:
        if value == BASELINE:
            raise ValueError(f"'{BASELINE}' is reserved for the unchanged forecast")
        return value

    def describe(self) -> str:
        return self.description or "; ".join(rule.describe() for rule in self.rules)


class ScenarioSet(_Strict):
    scenarios: Annotated[tuple[Scenario, ...], Field(min_length=1)]

    @field_validator("scenarios")
    @classmethod
    def _unique_names(cls, value: tuple[Scenario, ...]) -> tuple[Scenario, ...]:
        names = [s.name for s in value]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"scenario names must be unique, repeated: {', '.join(duplicated)}")
        return value


def parse_scenarios(raw: Any, source: str) -> list[Scenario]:
    """Validate a scenario document; errors name ``source`` and the offending key, on one line."""
    try:
        return list(ScenarioSet.model_validate(raw).scenarios)
    except ValidationError as exc:
        errors = exc.errors()
        # An invalid item also makes its list "too short"; report only the item.
        nested = [e["loc"] for e in errors]
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'document'}: {err['msg']}"
            for err in errors
            if not (
                err["type"] == "too_short"
                and any(loc[: len(err["loc"])] == err["loc"] != loc for loc in nested)
            )
        ]
        raise ScenarioError(f"{source}: {'; '.join(problems)}") from None


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Read a YAML scenario file (format: README "What-if scenarios")."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{path}:{where} not valid YAML") from None
    return parse_scenarios(raw, str(path))


@dataclass(frozen=True)
class OpenBook:
    """The open invoices a scenario acts on, aligned with the rows of ``pmf``."""

    invoices: pd.DataFrame
    """invoice_id, customer_id, segment, country, currency, disputed, amount_open_base."""
    pmf: np.ndarray
    as_of: date

    def select(self, where: Where, source: str) -> np.ndarray:
        """Boolean mask of the invoices ``where`` selects; unknown names are errors, not no-ops."""
        inv = self.invoices
        mask = np.ones(len(inv), dtype=bool)
        if where.top_customers:
            exposure = inv.groupby("customer_id")["amount_open_base"].sum()
            ranked = exposure.reset_index().sort_values(
                ["amount_open_base", "customer_id"], ascending=[False, True]
            )
            mask &= inv["customer_id"].isin(ranked["customer_id"].head(where.top_customers))
        for column, values in (
            ("customer_id", where.customers),
            ("segment", where.segments),
            ("country", where.countries),
            ("currency", where.currencies),
        ):
            if not values:
                continue
            present = set(inv[column].dropna().astype(str))
            unknown = sorted(set(values) - present)
            if unknown:
                known = f" (open invoices have {', '.join(sorted(present))})"
                raise ScenarioError(
                    f"{source}: no open invoice has {column} {', '.join(unknown)}"
                    + (known if len(present) <= MAX_LISTED_VALUES else "")
                )
            mask &= inv[column].astype(str).isin(values).to_numpy()
        if where.disputed is not None:
            mask &= inv["disputed"].to_numpy(dtype=bool) == where.disputed
        return np.asarray(mask, dtype=bool)


def shift_days(pmf: np.ndarray, days: int) -> np.ndarray:
    """Every pay day ``days`` later (earlier if negative, never before day 1)."""
    offsets = np.arange(1, pmf.shape[1] + 1)
    return _remap(pmf, np.maximum(offsets + days, 1))


def stretch_wait(pmf: np.ndarray, slower_pct: float) -> np.ndarray:
    """Wait from as-of to payment × (1 + slower_pct/100), rounded to whole days (≥ 1)."""
    offsets = np.arange(1, pmf.shape[1] + 1)
    stretched = np.floor(offsets * (1.0 + slower_pct / 100.0) + 0.5).astype(np.int64)
    return _remap(pmf, np.maximum(stretched, 1))


def _remap(pmf: np.ndarray, target_offset: np.ndarray) -> np.ndarray:
    """Move column j's mass to day ``target_offset[j]``; mass past the horizon leaves the pmf."""
    out = np.zeros_like(pmf)
    horizon = pmf.shape[1]
    for j, target in enumerate(target_offset):
        if target <= horizon:
            out[:, target - 1] += pmf[:, j]
    return out


def splice_hazard(pmf: np.ndarray, replacement: np.ndarray, from_column: int) -> np.ndarray:
    """pmf with the daily hazard of ``replacement`` from column ``from_column`` on.

    A hazard model's distribution factorises into daily hazards, so "behave like the other
    invoice from day D on" is: keep the days before D as they are, and let the probability still
    unpaid at D run down with the other invoice's hazards.
    """
    start = int(np.clip(from_column, 0, pmf.shape[1]))
    hazard = _hazards(replacement)[:, start:]
    unpaid = np.clip(1.0 - pmf[:, :start].sum(axis=1, keepdims=True), 0.0, 1.0)
    survival = unpaid * np.cumprod(1.0 - hazard, axis=1)
    before = np.concatenate([unpaid, survival[:, :-1]], axis=1)
    return np.concatenate([pmf[:, :start], before * hazard], axis=1)


def _hazards(pmf: np.ndarray) -> np.ndarray:
    left = 1.0 - np.concatenate([np.zeros((len(pmf), 1)), np.cumsum(pmf, axis=1)[:, :-1]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(left > 1e-12, np.clip(pmf / left, 0.0, 1.0), 0.0)


def rule_rows(rule: Rule, book: OpenBook, where: str) -> np.ndarray:
    """The open invoices a rule acts on. A rule that could change nothing is an error, not a
    silent zero: a settlement on or before the as-of date, names no open invoice has, a
    combination of them no invoice has, or settling disputes among invoices none of which is
    disputed."""
    if rule.disputes_resolved_by is not None and rule.disputes_resolved_by <= book.as_of:
        raise ScenarioError(
            f"{where}: disputes_resolved_by {rule.disputes_resolved_by} is not after the "
            f"as-of date {book.as_of}; a settlement can only change what is still to come"
        )
    rows = np.flatnonzero(book.select(rule.where, where))
    if rows.size == 0:
        raise ScenarioError(f"{where}: no open invoice matches {rule.where.describe()}")
    settles = rule.settlement(book.as_of) is not None
    if settles and not book.invoices["disputed"].to_numpy(dtype=bool)[rows].any():
        raise ScenarioError(
            f"{where}: none of the {rows.size} open invoices it selects is in dispute, so "
            "settling disputes changes nothing"
        )
    return rows


def check_scenarios(scenarios: list[Scenario], book: OpenBook, source: str) -> None:
    """Every rule's selection (`rule_rows`) against the open invoices, before anything is
    trained or scored: a misspelt name fails in seconds and leaves nothing changed."""
    for scenario in scenarios:
        for i, rule in enumerate(scenario.rules, start=1):
            rule_rows(rule, book, f"{source}: scenario '{scenario.name}' rule {i}")


def apply_scenario(
    scenario: Scenario,
    book: OpenBook,
    resolved_pmf: ResolvedPmf | None = None,
    source: str = "scenario",
) -> np.ndarray:
    """The scenario's pmf for every open invoice (rows the rules don't select are unchanged)."""
    pmf = book.pmf.copy()
    for i, rule in enumerate(scenario.rules, start=1):
        where = f"{source}: scenario '{scenario.name}' rule {i}"
        rows = rule_rows(rule, book, where)
        settle = rule.settlement(book.as_of)
        sub = pmf[rows]
        if settle is not None:
            first_column = (settle - book.as_of).days - 1
            if first_column >= pmf.shape[1]:
                raise ScenarioError(
                    f"{where}: disputes settled on {settle}, after the forecast's "
                    f"{pmf.shape[1]}-day horizon, change nothing it can show"
                )
            if resolved_pmf is None:
                raise ScenarioError(f"{where}: settling disputes needs the pay-date model")
            hit = np.flatnonzero(book.invoices["disputed"].to_numpy(dtype=bool)[rows])
            sub[hit] = splice_hazard(sub[hit], resolved_pmf(rows[hit], settle), first_column)
        if rule.slower_pct:
            sub = stretch_wait(sub, rule.slower_pct)
        if rule.delay_days:
            sub = shift_days(sub, rule.delay_days)
        if rule.never_paid_share:
            sub = sub * (1.0 - rule.never_paid_share)
        pmf[rows] = sub
    return pmf


@dataclass(frozen=True)
class ScenarioResult:
    """Weekly bands per scenario (baseline first) and the per-scenario summary."""

    forecast: pd.DataFrame
    """week_start, week_end, scenario, line, expected, p10, p50, p90."""
    summary: dict[str, dict[str, Any]]


def run_scenarios(
    book: OpenBook,
    scenarios: list[Scenario],
    simulate: Callable[[np.ndarray], CashLines],
    *,
    daily_sales: float | None,
    weeks: int = 13,
    resolved_pmf: ResolvedPmf | None = None,
    source: str = "scenario",
) -> ScenarioResult:
    """Simulate the baseline and every scenario with the same draws and compare them.

    ``simulate`` turns weekly pay probabilities of the open invoices into cash lines
    (`models.cash_lines.simulate_lines` with the run's seed, rho and projected billing), so
    scenarios see exactly the draws of the served forecast. Scenarios act on the open AR;
    projected billing is the same in all of them. Per scenario, on the ``total`` line: expected
    13-week cash and its p10/p90, the change against the baseline (path by path, so its band is
    the scenario's effect, not simulation noise), the lowest week, the change in open-AR cash
    expected within the pmf horizon (delays past it and defaults), and the DSO change at the end
    of the horizon: billing is the same in every scenario, so the AR at week ``weeks`` differs
    by minus the cash change, i.e. ΔDSO = −Δcash / average daily sales.
    """
    amounts = book.invoices["amount_open_base"].to_numpy(dtype=float)
    pmfs = {BASELINE: book.pmf} | {
        s.name: apply_scenario(s, book, resolved_pmf, source) for s in scenarios
    }
    described = {BASELINE: "The forecast as predicted"} | {s.name: s.describe() for s in scenarios}
    frames, summary = [], {}
    base_paths = base_horizon = base_expected = None
    for name, pmf in pmfs.items():
        cash = simulate(weekly_probabilities(pmf, weeks))
        bands = cash.bands(book.as_of)
        bands = bands[bands["line"].isin(SCENARIO_LINES)].drop(columns="week")
        frames.append(bands.assign(scenario=name))
        total = bands[bands["line"] == "total"].reset_index(drop=True)
        paths = cash.sims["total"].sum(axis=(1, 2))
        horizon_cash = float(amounts @ pmf.sum(axis=1))
        expected = float(total["expected"].sum())
        if base_paths is None:
            base_paths, base_horizon, base_expected = paths, horizon_cash, expected
        delta = paths - base_paths
        low = total.loc[total["expected"].idxmin()]
        summary[name] = {
            "description": described[name],
            "invoices_affected": int((np.abs(pmf - book.pmf).sum(axis=1) > 1e-12).sum()),
            "cash_13w_expected": expected,
            "cash_13w_open_ar_expected": float(cash.expected["open_ar"].sum()),
            "cash_13w_p10": float(np.quantile(paths, 0.1)),
            "cash_13w_p90": float(np.quantile(paths, 0.9)),
            "cash_13w_delta": expected - base_expected,
            "cash_13w_delta_p10": float(np.quantile(delta, 0.1)),
            "cash_13w_delta_p90": float(np.quantile(delta, 0.9)),
            "open_ar_cash_in_horizon_delta": horizon_cash - base_horizon,
            "lowest_week": {
                "week_start": low["week_start"].date().isoformat(),
                "expected": float(low["expected"]),
                "p10": float(low["p10"]),
            },
            "dso_delta_days": (base_expected - expected) / daily_sales if daily_sales else None,
        }
    forecast = pd.concat(frames, ignore_index=True)
    columns = ["week_start", "week_end", "scenario", "line", "expected", "p10", "p50", "p90"]
    return ScenarioResult(forecast[columns], summary)
