"""What-if scenarios: they act on the predicted distributions and keep their invariants."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.warehouse import to_day
from models.billing import BillingProjection, project_billing
from models.cash import simulate_weekly_cash, weekly_probabilities
from models.cash_lines import simulate_lines
from models.paydate import settled_dispute_pmf
from models.scenarios import (
    BASELINE,
    OpenBook,
    Rule,
    Scenario,
    ScenarioError,
    apply_scenario,
    apply_to_billing,
    check_scenarios,
    load_scenarios,
    parse_scenarios,
    run_scenarios,
    shift_days,
    splice_hazard,
    stretch_wait,
)
from tests.conftest import MODEL_CUTOFF

AS_OF = date(2025, 3, 31)
H = 182


def _book(n: int = 300, seed: int = 0) -> OpenBook:
    rng = np.random.default_rng(seed)
    pmf = rng.random((n, H)) ** 4
    pmf *= (rng.uniform(0.6, 0.98, n) / pmf.sum(axis=1))[:, None]
    invoices = pd.DataFrame(
        {
            "invoice_id": [f"I{i:04d}" for i in range(n)],
            "customer_id": [f"C{c:02d}" for c in rng.integers(0, 30, n)],
            "segment": rng.choice(["SMB", "Enterprise"], n),
            "country": rng.choice(["US", "DE"], n),
            "currency": rng.choice(["USD", "EUR"], n),
            "disputed": rng.random(n) < 0.1,
            "amount_open_base": rng.lognormal(8, 1, n),
        }
    )
    return OpenBook(invoices, pmf, AS_OF)


def _billing(book: OpenBook, seed: int = 0) -> BillingProjection:
    """A year and a half of billing by the book's customers (a few pay in month-end batches),
    projected at AS_OF, its units carrying their customer's segment and country."""
    rng = np.random.default_rng(seed)
    today = to_day(AS_OF)
    customers = book.invoices.groupby("customer_id").first()
    rows = []
    for i, (customer, row) in enumerate(customers.iterrows()):
        batch = i % 5 == 0
        for issue in range(today - 540, today + 1, int(rng.integers(5, 20))):
            delay = int(rng.integers(10, 60))
            paid = issue + delay
            if batch:  # paid on the last day of the month
                paid = to_day((pd.Timestamp(paid, unit="D") + pd.offsets.MonthEnd(0)).date())
            amount = float(rng.lognormal(7, 0.5))
            rows.append(
                (customer, row["currency"], row["country"], issue, issue + 30, amount, paid)
            )
    ledger = pd.DataFrame(
        rows,
        columns=[
            "customer_id", "currency", "country", "issue_day", "due_day", "amount",
            "completion_day",
        ],
    )  # fmt: skip
    ledger["completion_day"] = ledger["completion_day"].astype(float)
    projection = project_billing(ledger, AS_OF, {"USD": 1.0, "EUR": 1.1})
    units = projection.units.join(customers[["segment", "country"]], on="customer_id")
    return replace(projection, units=units)


def _scenario(**rule) -> Scenario:
    return Scenario(name="s", rules=(Rule(**rule),))


def _run(book: OpenBook, *scenarios: Scenario, billing: BillingProjection | None = None, **kw):
    inv = book.invoices

    def simulate(weekly: np.ndarray, projection: BillingProjection | None):
        amounts = inv["amount_open_base"].to_numpy()
        keys = inv[["segment", "currency"]]
        customers = inv["customer_id"].to_numpy()
        frames = (None, None) if projection is None else projection.frames(400, seed=3)
        return simulate_lines(
            weekly, amounts, customers, keys, *frames, rho=0.3, seed=3, n_sims=400
        )

    return run_scenarios(book, list(scenarios), simulate, daily_sales=1000.0, billing=billing, **kw)


@pytest.mark.parametrize("rule", [{"delay_days": 0}, {"slower_pct": 0}, {"never_paid_share": 0}])
def test_a_scenario_that_changes_nothing_reproduces_the_baseline_exactly(rule: dict) -> None:
    book = _book()
    assert np.array_equal(apply_scenario(_scenario(**rule), book), book.pmf)
    result = _run(book, _scenario(**rule))
    assert set(result.forecast["line"]) == {"open_ar", "total"}
    frames = dict(tuple(result.forecast.groupby("scenario")))
    cols = ["expected", "p10", "p50", "p90"]
    assert frames["s"][cols].to_numpy().tolist() == frames[BASELINE][cols].to_numpy().tolist()
    assert result.summary["s"]["cash_13w_delta"] == 0
    assert result.summary["s"]["invoices_affected"] == 0


@pytest.mark.parametrize("rule", [{"delay_days": 5}, {"delay_days": 40}, {"slower_pct": 25}])
def test_a_delay_never_moves_cash_earlier_on_any_simulated_path(rule: dict) -> None:
    book = _book()
    amounts = book.invoices["amount_open_base"].to_numpy()
    groups = book.invoices["customer_id"].to_numpy()
    paths = {}
    for name, pmf in {"base": book.pmf, "late": apply_scenario(_scenario(**rule), book)}.items():
        sims = simulate_weekly_cash(weekly_probabilities(pmf), amounts, groups, rho=0.4, seed=9)
        paths[name] = np.cumsum(sims[:, 0, :], axis=1)
    assert (paths["late"] <= paths["base"] + 1e-6).all()
    assert (paths["late"][:, -1] < paths["base"][:, -1] - 1e-6).any()


@pytest.mark.parametrize("transform", [lambda p: shift_days(p, 9), lambda p: stretch_wait(p, 30)])
def test_timing_effects_conserve_every_invoices_total(transform) -> None:
    pmf = np.zeros((50, H))
    pmf[:, :60] = np.random.default_rng(1).dirichlet(np.ones(60), 50) * 0.9
    np.testing.assert_allclose(transform(pmf).sum(axis=1), pmf.sum(axis=1), rtol=1e-12)


def test_mass_pushed_past_the_horizon_leaves_the_pmf_and_early_shifts_stop_at_tomorrow() -> None:
    pmf = np.zeros((1, H))
    pmf[0, [0, 5, H - 3]] = [0.2, 0.3, 0.4]
    later = shift_days(pmf, 5)
    assert later[0, 5] == 0.2 and later[0, 10] == 0.3 and later.sum() == pytest.approx(0.5)
    earlier = shift_days(pmf, -10)
    assert earlier[0, 0] == pytest.approx(0.5) and earlier[0, H - 13] == 0.4


def test_never_paid_share_removes_exactly_that_share() -> None:
    book = _book()
    pmf = apply_scenario(_scenario(never_paid_share=0.25), book)
    np.testing.assert_allclose(pmf.sum(axis=1), 0.75 * book.pmf.sum(axis=1), rtol=1e-12)
    result = _run(book, _scenario(never_paid_share=0.25))
    base, s = result.summary[BASELINE], result.summary["s"]
    assert s["cash_13w_expected"] == pytest.approx(0.75 * base["cash_13w_expected"])
    assert s["dso_delta_days"] == pytest.approx(-s["cash_13w_delta"] / 1000.0)


def test_rules_act_only_on_what_they_select() -> None:
    book = _book()
    inv = book.invoices
    pmf = apply_scenario(
        _scenario(where={"segments": "SMB", "currencies": ["EUR"]}, delay_days=7), book
    )
    changed = np.abs(pmf - book.pmf).sum(axis=1) > 0
    selected = (inv["segment"] == "SMB") & (inv["currency"] == "EUR")
    assert changed.any() and not changed[~selected.to_numpy()].any()

    exposure = inv.groupby("customer_id")["amount_open_base"].sum().sort_values(ascending=False)
    top = apply_scenario(_scenario(where={"top_customers": 3}, delay_days=7), book)
    touched = set(inv["customer_id"][np.abs(top - book.pmf).sum(axis=1) > 0])
    assert touched == set(exposure.index[:3])


def test_unknown_names_are_errors_that_name_the_file() -> None:
    with pytest.raises(ScenarioError, match=r"plan.yaml: scenario 's' rule 1: .*customer_id C99$"):
        apply_scenario(
            _scenario(where={"customers": ["C99"]}, delay_days=1), _book(), None, "plan.yaml"
        )
    with pytest.raises(
        ScenarioError,
        match=r"no open invoice or projected billing has segment smb "
        r"\(open invoices and projected billing have Enterprise, SMB\)$",
    ):
        apply_scenario(_scenario(where={"segments": ["smb"]}, delay_days=1), _book())


def test_currency_codes_match_in_any_case_in_a_file_too(tmp_path: Path) -> None:
    """A file's ``currencies: [eur]`` is EUR, as the inline ``--currency eur`` is."""
    path = tmp_path / "plan.yaml"
    path.write_text(
        "scenarios:\n  - {name: s, rules: [{where: {currencies: [eur]}, delay_days: 5}]}\n"
    )
    (lower,) = load_scenarios(path)
    assert lower.rules[0].where.currencies == ("EUR",)
    book = _book()
    upper = _scenario(where={"currencies": ["EUR"]}, delay_days=5)
    np.testing.assert_array_equal(apply_scenario(lower, book), apply_scenario(upper, book))


def test_a_customer_with_new_billing_only_is_selected_not_refused() -> None:
    """The rule acts on the customer's projected billing; a name neither has is still refused,
    also by the early check, which has the ledger's billed customers in place of the units."""
    book = _book()
    billing = _billing(book)
    newcomer = billing.units["customer_id"].iloc[0]
    units = billing.units.assign(customer_id=billing.units["customer_id"].where(
        billing.units["customer_id"] != newcomer, "NEW"))  # fmt: skip
    billing = replace(billing, units=units)
    late = _scenario(where={"customers": ["NEW"]}, delay_days=20)
    result = _run(book, late, billing=billing)
    s = result.summary["s"]
    assert s["invoices_affected"] == 0 and s["billing_units_affected"] >= 1
    assert s["cash_13w_open_ar_delta"] == 0 and s["cash_13w_new_billing_delta"] < 0
    check_scenarios([late], book, "plan.yaml", units)
    nobody = _scenario(where={"customers": ["NOPE"]}, delay_days=20)
    message = (
        r"^plan.yaml: scenario 's' rule 1: no open invoice or projected billing has customer_id "
        r"NOPE$"
    )
    with pytest.raises(ScenarioError, match=message):
        check_scenarios([nobody], book, "plan.yaml", units)
    with pytest.raises(ScenarioError, match=message.replace("plan.yaml", "scenario")):
        _run(book, nobody, billing=billing)
    with pytest.raises(
        ScenarioError, match=r"rule 1: no open invoice or projected billing matches"
    ):
        check_scenarios([_scenario(where={"customers": ["NEW"], "disputed": True}, delay_days=1)],
                        book, "plan.yaml", units)  # fmt: skip


def test_a_rule_that_could_change_nothing_is_an_error_not_a_silent_zero() -> None:
    """Names that exist one by one but not together, a settlement among undisputed invoices or
    after the horizon: the analyst would read "no change" as an answer."""
    book = _book()
    book.invoices.loc[book.invoices["currency"] == "EUR", "country"] = "DE"
    book.invoices.loc[book.invoices["currency"] == "USD", "country"] = "US"
    nowhere = _scenario(where={"countries": "US", "currencies": "EUR"}, delay_days=5)
    with pytest.raises(ScenarioError, match=r"billing matches country US and currency EUR$"):
        apply_scenario(nowhere, book)
    undisputed = _scenario(where={"disputed": False}, disputes_resolved_in_days=7)
    with pytest.raises(ScenarioError, match=r"none of the \d+ open invoices .* is in dispute"):
        apply_scenario(undisputed, book, lambda rows, day: book.pmf[rows])
    billing = _billing(book)
    units = billing.units.assign(customer_id="NEW")
    newcomer = _scenario(where={"customers": ["NEW"]}, disputes_resolved_in_days=7)
    with pytest.raises(
        ScenarioError, match=r"rule 1: it selects no open invoice, only projected billing, and no"
    ):
        check_scenarios([newcomer], book, "plan.yaml", units)
    late = _scenario(disputes_resolved_in_days=H + 1)
    with pytest.raises(ScenarioError, match=r"after the forecast's 182-day horizon"):
        apply_scenario(late, book, lambda rows, day: book.pmf[rows])
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Rule(disputes_resolved_in_days=0)  # on the as-of date, as disputes_resolved_by refuses


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scenarios:\n  - name: a\n    rules:\n      - delay: 5\n", "rules.0.delay: Extra inputs"),
        ("scenarios:\n  - name: baseline\n    rules: [{delay_days: 1}]\n", "reserved"),
        (
            "scenarios:\n  - {name: a, rules: [{delay_days: 1}]}\n"
            "  - {name: a, rules: [{delay_days: 2}]}\n",
            "repeated: a",
        ),
        ("scenarios:\n  - name: a\n    rules: [{never_paid_share: 2}]\n", "never_paid_share"),
        ("scenarios: [\n", "line"),
    ],
)
def test_bad_scenario_files_fail_with_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenarios(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_numeric_names_in_yaml_are_names() -> None:
    rule = parse_scenarios(
        {"scenarios": [{"name": "a", "rules": [{"where": {"customers": [1001, "C7"]}}]}]}, "x"
    )[0].rules[0]
    assert rule.where.customers == ("1001", "C7")


def test_settlement_dates_are_exclusive_and_relative_days_count_from_as_of() -> None:
    with pytest.raises(ScenarioError, match="not both"):
        parse_scenarios(
            {
                "scenarios": [
                    {
                        "name": "a",
                        "rules": [
                            {"disputes_resolved_by": "2025-05-01", "disputes_resolved_in_days": 3}
                        ],
                    }
                ]
            },
            "x",
        )
    assert Rule(disputes_resolved_in_days=14).settlement(AS_OF) == AS_OF + timedelta(days=14)


@pytest.mark.parametrize("days", [0, -30])
def test_a_settlement_on_or_before_the_as_of_date_is_refused(days: int) -> None:
    """The past cannot be settled: splicing would start before tomorrow's column."""
    on = AS_OF + timedelta(days=days)
    with pytest.raises(ScenarioError, match=f"rule 1: disputes_resolved_by {on} is not after"):
        apply_scenario(_scenario(disputes_resolved_by=on), _book(), None, "plan.yaml")


def test_splicing_hazards_switches_behaviour_at_the_settlement_day() -> None:
    book = _book(n=20)
    other = _book(n=20, seed=5).pmf
    np.testing.assert_allclose(splice_hazard(book.pmf, book.pmf, 30), book.pmf, atol=1e-12)
    np.testing.assert_allclose(splice_hazard(book.pmf, other, 0), other, atol=1e-12)
    spliced = splice_hazard(book.pmf, other, 30)
    np.testing.assert_array_equal(spliced[:, :30], book.pmf[:, :30])


def test_settling_disputes_with_the_model_brings_disputed_cash_forward(warehouse, trained) -> None:
    model, prediction, calendar = trained
    known = prediction.known
    disputed = known["dispute_open"].to_numpy(dtype=bool)
    assert disputed.sum() >= 3
    invoices = known[["invoice_id", "customer_id", "segment", "country", "currency"]].assign(
        disputed=disputed, amount_open_base=1000.0
    )
    book = OpenBook(invoices, prediction.pmf, MODEL_CUTOFF)

    def resolved(rows: np.ndarray, settled: date) -> np.ndarray:
        ids = invoices["invoice_id"].to_numpy()[rows]
        return settled_dispute_pmf(warehouse, model, MODEL_CUTOFF, calendar, ids, settled)

    settle = _scenario(disputes_resolved_in_days=7)
    pmf = apply_scenario(settle, book, resolved)
    np.testing.assert_array_equal(pmf[~disputed], book.pmf[~disputed])
    np.testing.assert_array_equal(pmf[disputed, :6], book.pmf[disputed, :6])
    result = _run(book, settle, resolved_pmf=resolved)
    assert result.summary["s"]["cash_13w_delta"] > 0
    with pytest.raises(ScenarioError, match="needs the pay-date model"):
        apply_scenario(settle, book)


def _new_billing(result, name: str) -> np.ndarray:
    """Expected weekly cash from new billing: total minus open AR."""
    rows = result.forecast[result.forecast["scenario"] == name]
    lines = {line: g["expected"].to_numpy() for line, g in rows.groupby("line")}
    return lines["total"] - lines["open_ar"]


def test_every_customer_defaulting_collects_nothing_from_new_billing_either() -> None:
    book = _book()
    result = _run(book, _scenario(never_paid_share=1.0), billing=_billing(book))
    base, s = result.summary[BASELINE], result.summary["s"]
    assert base["cash_13w_new_billing_expected"] > 0
    assert s["cash_13w_new_billing_expected"] == 0
    assert s["cash_13w_expected"] == pytest.approx(0.0, abs=1e-6)
    assert s["cash_13w_new_billing_delta"] == -base["cash_13w_new_billing_expected"]
    assert s["billing_units_affected"] == len(_billing(book).units)


def test_a_top_n_delay_moves_their_new_billing_later_and_no_one_elses() -> None:
    book = _book()
    billing = _billing(book)
    late = _scenario(where={"top_customers": 5}, delay_days=20)
    moved = apply_to_billing(late, book, billing)
    top = book.top_customers(5)["customer_id"]
    selected = billing.units["customer_id"].isin(top).to_numpy()
    assert 0 < selected.sum() < len(selected)
    np.testing.assert_array_equal(moved.cash[~selected], billing.cash[~selected])
    np.testing.assert_array_equal(moved.paths[~selected], billing.paths[~selected])
    assert moved.cash[selected].sum() < billing.cash[selected].sum()
    assert (np.cumsum(moved.cash[selected], axis=1) <= np.cumsum(billing.cash[selected], axis=1)
            + 1e-9).all()  # fmt: skip
    np.testing.assert_array_equal(moved.billing, billing.billing)  # payments move, not sales
    result = _run(book, late, billing=billing)
    s = result.summary["s"]
    assert s["cash_13w_new_billing_delta"] < 0 and s["cash_13w_open_ar_delta"] < 0
    assert s["cash_13w_delta"] == pytest.approx(
        s["cash_13w_open_ar_delta"] + s["cash_13w_new_billing_delta"]
    )
    assert [c["customer_id"] for c in s["top_customers"]["5"]] == list(top)
    assert s["biggest_weekly_change"]["delta"] < 0


def test_a_zero_day_delay_reproduces_the_baseline_with_new_billing_exactly() -> None:
    book = _book()
    billing = _billing(book)
    same = apply_to_billing(_scenario(where={"top_customers": 5}, delay_days=0), book, billing)
    np.testing.assert_array_equal(same.paths, billing.paths)
    rebuilt = billing.with_delays(billing.delay_pmf.copy(), billing.lag_pmf.copy())
    np.testing.assert_array_equal(rebuilt.paths, billing.paths)  # project_billing's own code path
    np.testing.assert_array_equal(rebuilt.cash, billing.cash)
    result = _run(book, _scenario(where={"top_customers": 5}, delay_days=0), billing=billing)
    frames = dict(tuple(result.forecast.groupby("scenario")))
    cols = ["expected", "p10", "p50", "p90"]
    assert frames["s"][cols].to_numpy().tolist() == frames[BASELINE][cols].to_numpy().tolist()
    assert result.summary["s"]["cash_13w_delta"] == 0
    assert (
        result.summary["s"]["cash_13w_delta_p10"] == 0 == result.summary["s"]["cash_13w_delta_p90"]
    )


def test_more_delay_never_brings_more_new_billing_cash_by_any_week() -> None:
    book = _book()
    billing = _billing(book)
    cumulative = [
        np.cumsum(apply_to_billing(_scenario(delay_days=k), book, billing).cash.sum(axis=0))
        for k in (-10, 0, 3, 10, 30, 91)
    ]
    for earlier, later in itertools.pairwise(cumulative):
        assert (later <= earlier + 1e-9).all() and later[-1] < earlier[-1]
    assert cumulative[-1][-1] == 0  # 91 days later: past the horizon
    slower = apply_to_billing(_scenario(slower_pct=50), book, billing).cash.sum(axis=0)
    assert (np.cumsum(slower) <= cumulative[1] + 1e-9).all()


def test_disputes_concern_open_invoices_only() -> None:
    """A future invoice is not in dispute: a disputed-only rule leaves new billing alone, an
    undisputed-only rule reaches all of it, and settlements never touch it."""
    book = _book()
    billing = _billing(book)
    disputed = apply_to_billing(_scenario(where={"disputed": True}, delay_days=30), book, billing)
    np.testing.assert_array_equal(disputed.paths, billing.paths)
    result = _run(book, _scenario(where={"disputed": True}, delay_days=30), billing=billing)
    assert result.summary["s"]["cash_13w_new_billing_delta"] == 0
    assert result.summary["s"]["cash_13w_open_ar_delta"] < 0
    undisputed = _scenario(where={"disputed": False}, never_paid_share=1.0)
    assert apply_to_billing(undisputed, book, billing).cash.sum() == 0
    settled = apply_to_billing(_scenario(disputes_resolved_in_days=7), book, billing)
    np.testing.assert_array_equal(settled.paths, billing.paths)


def test_overlapping_rules_stack_and_say_so() -> None:
    book = _book()
    billing = _billing(book)
    both = Scenario(
        name="s",
        rules=(Rule(where={"currencies": "EUR"}, never_paid_share=0.5), Rule(never_paid_share=0.5)),
    )
    assert "rules stack" in both.describe()
    eur = (billing.units["currency"] == "EUR").to_numpy()
    cash = apply_to_billing(both, book, billing).cash
    np.testing.assert_allclose(cash[eur], 0.25 * billing.cash[eur])
    np.testing.assert_allclose(cash[~eur], 0.5 * billing.cash[~eur])
