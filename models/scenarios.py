"""What-if scenarios acting on the predicted pay-date distributions, open AR and new billing.

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

The same rules act on projected new billing (`models.billing.BillingProjection`): "our top 10
pay 5 days later" means every payment of theirs in the horizon, including invoices billed in it.
A rule selects the projection's units (customer × currency) of the customers its ``where``
picks: ``top_customers`` the same customers as among the open invoices (by open AR),
``customers``/``segments``/``countries``/``currencies`` by the customer's attributes; a future
invoice is not in dispute, so ``disputed: true`` selects none and ``disputed: false`` all.
Effects act on the unit's issue-to-payment delay pmf (days 0..90), in the same order:
``slower_pct`` stretches the delay, ``delay_days`` shifts it (never before the issue day),
``never_paid_share`` scales it; a month-end batch payer's intended lag is moved instead and paid
in the batch on or after it, as in the baseline. Settlements do not apply. Cash and paths are
then rebuilt by `BillingProjection.with_delays` and drawn with the baseline's seed.

Rules stack: an invoice or unit selected by several rules gets every rule's effect in turn.
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

from models.billing import BillingProjection
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
    """Which open invoices and billing units a rule acts on; all given conditions must hold
    (none = all of them)."""

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

    @field_validator("currencies")
    @classmethod
    def _upper_case(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """ISO codes in any case: a ledger's are upper case (imports normalise them), so a file's
        ``eur`` and the flag's ``--currency eur`` both mean EUR."""
        return tuple(v.upper() for v in value)

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
"""An unknown segment, country or currency is named with the ones open invoices and projected
billing do have (values match exactly, so "smb" is not "SMB", but currency codes are upper-cased
first); a ledger's hundreds of customer ids are not listed."""


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
        text = self.description or "; ".join(rule.describe() for rule in self.rules)
        if len(self.rules) > 1:
            text += " (rules stack: a customer selected by several rules gets every effect)"
        return text


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

    def top_customers(self, n: int) -> pd.DataFrame:
        """The ``n`` customers with the most open AR (ties by id): customer_id, customer_name
        (if the invoices have it), open_ar — who a ``top_customers`` rule picks, reported."""
        inv = self.invoices
        named = "customer_name" in inv
        columns = {"amount_open_base": "sum"} | ({"customer_name": "first"} if named else {})
        exposure = inv.groupby("customer_id", as_index=False).agg(columns)
        ranked = exposure.sort_values(["amount_open_base", "customer_id"], ascending=[False, True])
        return ranked.head(n).rename(columns={"amount_open_base": "open_ar"})

    def select(self, where: Where, source: str, units: pd.DataFrame | None = None) -> np.ndarray:
        """Boolean mask of the invoices ``where`` selects. Unknown names are errors, not no-ops;
        a name only ``units`` (projected billing, which the same rules act on) has is known."""
        inv = self.invoices
        for column, values in _named(where):
            present = set(inv[column].dropna().astype(str))
            if units is not None:
                present |= set(units[column].dropna().astype(str))
            unknown = sorted(set(values) - present)
            if unknown:
                known = f" (open invoices and projected billing have {', '.join(sorted(present))})"
                raise ScenarioError(
                    f"{source}: no open invoice or projected billing has {column} "
                    f"{', '.join(unknown)}" + (known if len(present) <= MAX_LISTED_VALUES else "")
                )
        mask = _matching(where, self, inv)
        if where.disputed is not None:
            mask &= inv["disputed"].to_numpy(dtype=bool) == where.disputed
        return mask


def _named(where: Where) -> list[tuple[str, tuple[str, ...]]]:
    """The columns ``where`` names values of, with those values."""
    named = (
        ("customer_id", where.customers),
        ("segment", where.segments),
        ("country", where.countries),
        ("currency", where.currencies),
    )
    return [(column, values) for column, values in named if values]


def _matching(where: Where, book: OpenBook, rows: pd.DataFrame) -> np.ndarray:
    """Mask of ``rows`` (open invoices or billing units) of the top customers by the open AR
    and with every value ``where`` names; disputes are the caller's."""
    mask = np.ones(len(rows), dtype=bool)
    if where.top_customers:
        top = book.top_customers(where.top_customers)["customer_id"]
        mask &= rows["customer_id"].isin(top).to_numpy()
    for column, values in _named(where):
        mask &= rows[column].astype(str).isin(values).to_numpy()
    return mask


def shift_days(pmf: np.ndarray, days: int, first: int = 1) -> np.ndarray:
    """Every pay day ``days`` later (earlier if negative, never before day ``first``, column 0:
    the day after as-of for open invoices, delay 0 — the issue day — for new billing)."""
    offsets = np.arange(first, first + pmf.shape[1])
    return _remap(pmf, np.maximum(offsets + days, first), first)


def stretch_wait(pmf: np.ndarray, slower_pct: float, first: int = 1) -> np.ndarray:
    """Wait to payment × (1 + slower_pct/100), rounded to whole days (≥ ``first``, the day of
    column 0: from as-of for open invoices, from issue for new billing)."""
    offsets = np.arange(first, first + pmf.shape[1])
    stretched = np.floor(offsets * (1.0 + slower_pct / 100.0) + 0.5).astype(np.int64)
    return _remap(pmf, np.maximum(stretched, first), first)


def _remap(pmf: np.ndarray, target_offset: np.ndarray, first: int) -> np.ndarray:
    """Move column j's mass to day ``target_offset[j]``; mass past the horizon leaves the pmf."""
    out = np.zeros_like(pmf)
    horizon = pmf.shape[1]
    for j, target in enumerate(target_offset - first):
        if target < horizon:
            out[:, target] += pmf[:, j]
    return out


def _timing(rule: Rule, pmf: np.ndarray, first: int) -> np.ndarray:
    """A rule's timing and default effects, in the module docstring's order."""
    if rule.slower_pct:
        pmf = stretch_wait(pmf, rule.slower_pct, first)
    if rule.delay_days:
        pmf = shift_days(pmf, rule.delay_days, first)
    if rule.never_paid_share:
        pmf = pmf * (1.0 - rule.never_paid_share)
    return pmf


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


def rule_rows(
    rule: Rule, book: OpenBook, where: str, units: pd.DataFrame | None = None
) -> np.ndarray:
    """The open invoices a rule acts on (none, if it acts on ``units`` of projected billing
    only). A rule that could change nothing is an error, not a silent zero: a settlement on or
    before the as-of date, names neither the open invoices nor ``units`` have, a combination of
    them neither has, or settling disputes among invoices none of which is disputed."""
    if rule.disputes_resolved_by is not None and rule.disputes_resolved_by <= book.as_of:
        raise ScenarioError(
            f"{where}: disputes_resolved_by {rule.disputes_resolved_by} is not after the "
            f"as-of date {book.as_of}; a settlement can only change what is still to come"
        )
    rows = np.flatnonzero(book.select(rule.where, where, units))
    if rows.size == 0 and (units is None or not billing_units(rule.where, book, units).any()):
        raise ScenarioError(
            f"{where}: no open invoice or projected billing matches {rule.where.describe()}"
        )
    settles = rule.settlement(book.as_of) is not None
    if settles and not book.invoices["disputed"].to_numpy(dtype=bool)[rows].any():
        selected = (
            f"none of the {rows.size} open invoices it selects is"
            if rows.size
            else "it selects no open invoice, only projected billing, and no new invoice is"
        )
        raise ScenarioError(f"{where}: {selected} in dispute, so settling disputes changes nothing")
    return rows


def check_scenarios(
    scenarios: list[Scenario], book: OpenBook, source: str, units: pd.DataFrame
) -> None:
    """Every rule's selection (`rule_rows`) before anything is trained or scored, so a misspelt
    name fails in seconds and leaves nothing changed. The projection is not built yet: ``units``
    are the units it will have (`models.billing.active_units`, with segment and country)."""
    for scenario in scenarios:
        for i, rule in enumerate(scenario.rules, start=1):
            rule_rows(rule, book, f"{source}: scenario '{scenario.name}' rule {i}", units)


def apply_scenario(
    scenario: Scenario,
    book: OpenBook,
    resolved_pmf: ResolvedPmf | None = None,
    source: str = "scenario",
    units: pd.DataFrame | None = None,
) -> np.ndarray:
    """The scenario's pmf for every open invoice (rows the rules don't select are unchanged);
    ``units``: the projected billing units the rules also act on, for checking their names."""
    pmf = book.pmf.copy()
    for i, rule in enumerate(scenario.rules, start=1):
        where = f"{source}: scenario '{scenario.name}' rule {i}"
        rows = rule_rows(rule, book, where, units)
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
        pmf[rows] = _timing(rule, sub, first=1)
    return pmf


def billing_units(where: Where, book: OpenBook, units: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the projected billing units (customer_id, currency, and the customer's
    segment and country) ``where`` selects: top customers as among the open invoices, and no
    invoice not yet issued is in dispute. A customer with new billing only is selected too
    (`rule_rows` checks names against open invoices and units alike)."""
    mask = _matching(where, book, units)
    if where.disputed:
        mask[:] = False
    return mask


def apply_to_billing(
    scenario: Scenario, book: OpenBook, projection: BillingProjection
) -> BillingProjection:
    """The projection with the scenario's effects on its units' delay (and batch lag) pmfs;
    billed amounts are unchanged. Units no rule selects keep their pmfs, so their cash is the
    baseline's; a scenario that changes no unit (disputes only) returns ``projection`` itself,
    whose draws the caller may reuse."""
    delay, lag = projection.delay_pmf.copy(), projection.lag_pmf.copy()
    for rule in scenario.rules:
        rows = np.flatnonzero(billing_units(rule.where, book, projection.units))
        delay[rows] = _timing(rule, delay[rows], first=0)
        lag[rows] = _timing(rule, lag[rows], first=0)
    if np.array_equal(delay, projection.delay_pmf) and np.array_equal(lag, projection.lag_pmf):
        return projection
    return projection.with_delays(delay, lag)


@dataclass(frozen=True)
class ScenarioResult:
    """Weekly bands per scenario (baseline first) and the per-scenario summary."""

    forecast: pd.DataFrame
    """week_start, week_end, scenario, line, expected, p10, p50, p90."""
    summary: dict[str, dict[str, Any]]


def run_scenarios(
    book: OpenBook,
    scenarios: list[Scenario],
    simulate: Callable[[np.ndarray, BillingProjection | None], CashLines],
    *,
    daily_sales: float | None,
    weeks: int = 13,
    billing: BillingProjection | None = None,
    resolved_pmf: ResolvedPmf | None = None,
    source: str = "scenario",
) -> ScenarioResult:
    """Simulate the baseline and every scenario with the same draws and compare them.

    ``simulate`` turns weekly pay probabilities of the open invoices and a billing projection
    (``billing``, or the scenario's `apply_to_billing` of it; None: no projected billing) into
    cash lines (`models.cash_lines.simulate_lines` with the run's seed and rho), so scenarios
    see exactly the draws of the served forecast. Per scenario, on the ``total`` line: expected
    13-week cash and its p10/p90, the change against the baseline split into open AR and new
    billing (path by path, so its band is the scenario's effect, not simulation noise), the
    lowest week and the week that changes most, the change in open-AR cash expected within the
    pmf horizon (delays past it and defaults), who each ``top_customers`` rule picked, and the
    DSO change at the end of the horizon. Scenarios move payments, not sales: billed amounts
    are the baseline's, so the AR at week ``weeks`` differs by minus the cash change (open AR
    and new billing alike) and ΔDSO = −Δcash / average daily sales.
    """
    amounts = book.invoices["amount_open_base"].to_numpy(dtype=float)
    units = None if billing is None else billing.units
    pmfs = {BASELINE: book.pmf} | {
        s.name: apply_scenario(s, book, resolved_pmf, source, units) for s in scenarios
    }
    projections = {BASELINE: billing} | {
        s.name: None if billing is None else apply_to_billing(s, book, billing) for s in scenarios
    }
    described = {BASELINE: "The forecast as predicted"} | {s.name: s.describe() for s in scenarios}
    picked = {BASELINE: {}} | {s.name: _top_customers(s, book) for s in scenarios}
    frames, summary = [], {}
    base: dict[str, Any] = {}
    for name, pmf in pmfs.items():
        projection = projections[name]
        cash = simulate(weekly_probabilities(pmf, weeks), projection)
        bands = cash.bands(book.as_of)
        bands = bands[bands["line"].isin(SCENARIO_LINES)].drop(columns="week")
        frames.append(bands.assign(scenario=name))
        total = bands[bands["line"] == "total"].reset_index(drop=True)
        current = {
            "paths": cash.sims["total"].sum(axis=(1, 2)),
            "horizon": float(amounts @ pmf.sum(axis=1)),
            "weekly": total["expected"].to_numpy(),
            "open_ar": float(cash.expected["open_ar"].sum()),
            "new_billing": float(cash.expected["projected_billing"].sum()),
        }
        base = base or current
        expected, base_total = float(current["weekly"].sum()), float(base["weekly"].sum())
        delta = current["paths"] - base["paths"]
        low = total.loc[total["expected"].idxmin()]
        weekly_delta = current["weekly"] - base["weekly"]
        biggest = int(np.argmax(np.abs(weekly_delta)))
        summary[name] = {
            "description": described[name],
            "invoices_affected": int((np.abs(pmf - book.pmf).sum(axis=1) > 1e-12).sum()),
            "billing_units_affected": _units_changed(billing, projection),
            "top_customers": picked[name],
            "cash_13w_expected": expected,
            "cash_13w_open_ar_expected": current["open_ar"],
            "cash_13w_new_billing_expected": current["new_billing"],
            "cash_13w_p10": float(np.quantile(current["paths"], 0.1)),
            "cash_13w_p90": float(np.quantile(current["paths"], 0.9)),
            "cash_13w_delta": expected - base_total,
            "cash_13w_open_ar_delta": current["open_ar"] - base["open_ar"],
            "cash_13w_new_billing_delta": current["new_billing"] - base["new_billing"],
            "cash_13w_delta_p10": float(np.quantile(delta, 0.1)),
            "cash_13w_delta_p90": float(np.quantile(delta, 0.9)),
            "open_ar_cash_in_horizon_delta": current["horizon"] - base["horizon"],
            "lowest_week": {
                "week_start": low["week_start"].date().isoformat(),
                "expected": float(low["expected"]),
                "p10": float(low["p10"]),
            },
            "biggest_weekly_change": {
                "week_start": total.loc[biggest, "week_start"].date().isoformat(),
                "delta": float(weekly_delta[biggest]),
                "baseline": float(base["weekly"][biggest]),
            },
            "dso_delta_days": (base_total - expected) / daily_sales if daily_sales else None,
        }
    forecast = pd.concat(frames, ignore_index=True)
    columns = ["week_start", "week_end", "scenario", "line", "expected", "p10", "p50", "p90"]
    return ScenarioResult(forecast[columns], summary)


def _top_customers(scenario: Scenario, book: OpenBook) -> dict[str, list[dict[str, Any]]]:
    """Who each ``top_customers: N`` of the scenario is: N → customers with their open AR."""
    sizes = sorted({r.where.top_customers for r in scenario.rules if r.where.top_customers})
    return {
        str(n): [
            {
                k: float(v) if k == "open_ar" else None if pd.isna(v) else str(v)
                for k, v in row.items()
            }
            for row in book.top_customers(n).to_dict(orient="records")
        ]
        for n in sizes
    }


def _units_changed(base: BillingProjection | None, other: BillingProjection | None) -> int:
    if base is None or other is None:
        return 0
    changed = np.abs(other.delay_pmf - base.delay_pmf) + np.abs(other.lag_pmf - base.lag_pmf)
    return int((changed.sum(axis=1) > 1e-12).sum())
