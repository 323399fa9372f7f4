"""The CFO report: self-contained, every section sourced, and it renders in a real browser."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from arcast.report import (
    HEADLESS_CHROMIUM_FLAGS,
    ReportData,
    chromium_path,
    days,
    figures,
    money,
    past_forecasts,
    render,
    signed_money,
    weekly_table,
)
from data_contracts.load import load_ledger
from features.warehouse import build_fact_tables, load_tables, save_tables
from pipelines.defs.assets.ledger import left_out
from tests.test_contracts import LEFT_OUT, write_ledger

AS_OF = date(2025, 6, 30)
ARTIFACTS = Path(os.environ.get("ARCAST_TEST_ARTIFACTS", "test-artifacts"))


def _data(with_optional: bool = True) -> ReportData:
    rng = np.random.default_rng(0)
    weeks = pd.date_range("2025-07-01", periods=13, freq="7D")
    lines = []
    for line, scale in (("open_ar", 1.0), ("projected_billing", 0.3), ("total", 1.3)):
        expected = rng.uniform(5e5, 1e6, 13) * scale
        lines.append(
            pd.DataFrame(
                {
                    "line": line,
                    "week_start": weeks,
                    "week_end": weeks + pd.Timedelta(days=6),
                    "expected": expected,
                    "p10": expected * 0.8,
                    "p50": expected,
                    "p90": expected * 1.2,
                }
            )
        )
    aging = {
        name: {"count": 10, "amount": 1e5 * (5 - i), "share": (5 - i) / 15}
        for i, name in enumerate(("current", "1-30", "31-60", "61-90", "90+"))
    }
    kpis = {
        "as_of": AS_OF.isoformat(),
        "period_days": 90,
        "open_amount": 1.5e6,
        "overdue_amount": 6e5,
        "overdue_count": 40,
        "dso": 48.2,
        "dso_countback": 45.1,
        "best_possible_dso": 30.0,
        "average_days_delinquent": 18.2,
        "collection_effectiveness_index": 81.5,
        "aging": aging,
    }
    top = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "name": ["Acme <Ltd>", "Globex"],
            "open": [4e5, 2e5],
            "overdue": [1e5, 5e4],
            "at_risk": [9e4, 3e4],
        }
    )
    data = ReportData(AS_OF, "USD", "7", pd.concat(lines, ignore_index=True), kpis, top)
    if with_optional:
        data.kpi_forecast = pd.DataFrame(
            {
                "week": range(14),
                "date": pd.date_range(AS_OF, periods=14, freq="7D"),
                "open_amount": np.linspace(1.5e6, 1.2e6, 14),
                "dso": np.linspace(48.2, 44.0, 14),
                "dso_countback": np.linspace(45.1, 42.0, 14),
                "best_possible_dso": np.full(14, 30.0),
                "average_days_delinquent": np.linspace(18.2, 14.0, 14),
                "cei_since_as_of": np.linspace(np.nan, 84.68, 14),
            }
        )
        data.model_name = "arcast-pay-date-demo"
        data.totals_13w = pd.DataFrame(
            {
                "line": ["open_ar", "total"],
                "expected": [1e7, 1.3e7],
                "p10": [9e6, 1.2e7],
                "p90": [1.1e7, 1.4e7],
            }
        )
        data.billing_13w = 4_567_890.4
        data.fx_dates = (AS_OF, AS_OF)
        data.forecast_accuracy = _past(date(2025, 3, 31), 13, 1.0).pipe(
            lambda a: pd.concat([a, _past(date(2025, 5, 31), 4, 0.9)], ignore_index=True)
        )
        base = lines[0].drop(columns="line")
        data.scenarios = pd.concat(
            [
                base.assign(scenario="baseline"),
                base.assign(scenario="late", expected=base.expected * 0.9),
            ]
        )
        data.scenario_summary = {
            name: {
                "description": name,
                "cash_13w_expected": 1e6,
                "cash_13w_delta": delta,
                "cash_13w_open_ar_delta": delta * 0.6,
                "cash_13w_new_billing_delta": delta * 0.4,
                "cash_13w_delta_p10": delta * 1.5,
                "cash_13w_delta_p90": delta * 0.5,
                "dso_delta_days": -delta / 1e4,
                "lowest_week": {"week_start": "2025-09-23", "expected": 1e5},
                "biggest_weekly_change": {
                    "week_start": "2025-08-05",
                    "delta": delta / 5,
                    "baseline": 2e5,
                },
            }
            for name, delta in (("baseline", 0.0), ("late", -5e4))
        }
        data.model_accuracy = pd.DataFrame(
            {
                "method": ["model", "customer_mean", "due_date"],
                "mae_p50": [9.7, 10.0, 18.4],
                "pit_coverage": [0.8, np.nan, np.nan],
                "auc_late30": [0.95, 0.9, np.nan],
                "brier_late30": [0.07, 0.09, np.nan],
            }
        )
        data.accuracy_window = "2025-04-01 → 2025-06-30"
        data.accuracy_verdict = "Beats the customer mean and median delay on the backtest window."
    return data


def _past(as_of: date, weeks: int, bias: float) -> pd.DataFrame:
    """A past forecast's scored weeks as ``forecast_accuracy.csv`` has them."""
    rows = []
    for line, expected in (("open_ar", 1_000_000.4), ("total", 1_500_000.6)):
        for week in range(1, weeks + 1):
            start = pd.Timestamp(as_of) + pd.Timedelta(days=7 * week - 6)
            actual = expected * bias * (1.3 if week == 2 else 1.0)
            rows.append(
                {
                    "as_of": as_of.isoformat(),
                    "line": line,
                    "week": week,
                    "week_start": start.date().isoformat(),
                    "week_end": (start + pd.Timedelta(days=6)).date().isoformat(),
                    "expected": expected,
                    "p10": 0.85 * expected,
                    "p90": 1.15 * expected,
                    "actual": actual,
                    "inside_band": 0.85 * expected <= actual <= 1.15 * expected,
                }
            )
    return pd.DataFrame(rows)


def test_past_forecasts_show_forecast_received_and_the_13_week_difference() -> None:
    summary, weekly = past_forecasts(_data().forecast_accuracy)
    assert [(r["as_of"], r["line"], r["weeks"]) for r in summary] == [
        (date(2025, 5, 31), "open_ar", 4),
        (date(2025, 5, 31), "total", 4),
        (date(2025, 3, 31), "open_ar", 13),
        (date(2025, 3, 31), "total", 13),
    ]  # latest first
    full = summary[3]
    assert full["forecast"] == pytest.approx(13 * 1_500_000.6)
    assert full["actual"] == pytest.approx(13.3 * 1_500_000.6)
    assert full["off"] == "−2.3%" and full["inside"] == 12  # week 2 fell outside the band
    assert {w["as_of"] for w in weekly} == {date(2025, 3, 31)}  # the one with all 13 weeks
    assert weekly[0]["week_start"] == date(2025, 4, 1) and len(weekly) == 13
    html, _ = render(_data())
    section = html[html.index("Past cash forecasts") :]
    assert (
        "<td>2025-03-31</td><td>Total incl. expected billing</td><td>13 (01 Apr – 30 Jun 2025)</td>"
        in section
    )
    assert "19,500,008" in section and "−2.3%" in section and "12 of 13" in section
    assert "01 Apr – 07 Apr 2025" in section and "1,500,001" in section
    assert not re.search(r"\d\.\d{3}", section), "no raw decimals"
    assert "FX rates known on the forecast's as-of date" in section


def test_headline_names_the_model_the_bands_billing_fx_date_and_a_replay() -> None:
    data = _data()
    html, _ = render(data)
    assert "pay-date model arcast-pay-date-demo v7 (the ledger's champion)" in html
    assert "converted at the FX rates of 2025-06-30" in html
    assert "80% band 12,000,000 – 14,000,000" in html and "80% band 9,000,000 – 11,000,000" in html
    assert "of 4,567,890 new billing assumed" in html
    cei = re.search(r"Collection effectiveness index.*?</tr>", html).group(0)
    assert cei.endswith('<td class="num">84.7</td></tr>')  # the 13-week value, not —
    data.replay_as_of = AS_OF.isoformat()
    html, _ = render(data)
    assert "replay of 2025-06-30" in html
    assert "replay: pay-date model arcast-pay-date-demo v7, fitted as of 2025-06-30" in html
    assert "champion)" not in html


def test_report_is_self_contained_and_every_section_names_its_source() -> None:
    html, charts = render(_data())
    assert set(charts) == {"cash_forecast", "dso_forecast", "aging", "scenarios", "model_accuracy"}
    assert all(png.startswith(b"\x89PNG") for png in charts.values())
    assert html.count('src="data:image/png;base64,') == len(charts)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no network references"
    assert "<script" not in html
    for asset in (
        "cash_forecast_13w",
        "ar_kpis",
        "kpi_forecast",
        "scenario_forecast",
        "forecast_accuracy",
    ):
        assert f"<code>{asset}</code>" in html
    assert "Acme &lt;Ltd&gt;" in html  # ledger text is escaped
    assert '<p id="accuracy-verdict">Beats the customer mean and median' in html
    assert "<tr><td>Customer&#39;s mean delay</td>" in html  # methods as a CFO names them
    bars = figures(_data())["model_accuracy"].axes[0].get_yticklabels()
    assert [t.get_text() for t in bars] == [
        "Pays on the due date",
        "Customer's mean delay",
        "arcast model",
    ]  # the chart too


def test_the_headline_ties_open_ar_to_the_13_week_cash_and_shows_credit_balances() -> None:
    data = _data()
    within = float(data.cash.loc[data.cash["line"] == "open_ar", "expected"].sum())
    data.kpis |= {"open_amount": 12_345_678.6, "overpaid_invoices": 0, "overpaid_amount_base": 0.0}
    html, _ = render(data)
    later = 12_345_679 - round(within)  # the parts add up to the whole as shown
    assert (
        f'<p id="open-ar-split">Open AR 12,345,679: {money(within)} expected within 13 weeks, '
        f"{later:,} later or never.</p>"
    ) in html
    assert "credit-balances" not in html
    data.kpis |= {"overpaid_invoices": 1, "overpaid_amount_base": 4_927.4}
    html, _ = render(data)
    assert (
        '<p id="credit-balances">Credit balances from overpayments: 1 invoice, 4,927 — not in '
        "open AR.</p>"
    ) in html


def _left_out(ledger: Path) -> str:
    """`left_out` on a warehouse that holds the ledger and its facts as the pipeline does."""
    loaded = load_ledger(ledger)
    with duckdb.connect() as con:
        load_tables(con, loaded.tables)
        save_tables(con, {"ledger_quarantine": loaded.quarantine})
        build_fact_tables(con, "USD")
        con.execute(
            "CREATE TABLE run_context AS SELECT DATE '2024-03-31' AS as_of, 'USD' AS base_currency"
        )
        return left_out(con)


def test_the_report_says_which_rows_were_left_out_and_the_money_they_carried(
    tmp_path: Path,
) -> None:
    """Invoices and payments valued at the as-of rates (EUR 1.08, not June's 1.50), those in a
    currency without a rate or without an amount counted apart."""
    line = _left_out(write_ledger(tmp_path / "bad", LEFT_OUT))
    assert line == (
        "10 rows left out of this forecast (quarantine.csv): 5 invoices (580 USD; 3 of them not "
        "valued: no amount or no FX rate), 4 payments (221 USD; 2 of them not valued: no amount "
        "or no FX rate), 1 FX rate."
    )
    data = _data()
    data.left_out = line
    html, _ = render(data)
    assert f'<p id="left-out">{line}</p>' in html and "<code>ledger_quarantine</code>" in html
    clean = _left_out(write_ledger(tmp_path / "good"))
    assert clean == "No rows left out of this forecast: every ledger row passed the data contract."


def test_scenario_table_splits_the_change_and_names_the_biggest_week() -> None:
    html, _ = render(_data())
    table = html[html.index('<table id="scenario-table">') :]
    table = table[: table.index("</table>")]
    assert '<th class="num">of which open AR</th><th class="num">of which new billing</th>' in table
    late = table[table.index("<b>late</b>") :]
    assert (
        '<td class="num">−50,000</td><td class="num">−30,000</td><td class="num">−20,000</td>'
        in late
    )
    assert "<td>2025-08-05 (−10,000, −5.0%)</td>" in late
    baseline = table[table.index("<b>baseline</b>") : table.index("<b>late</b>")]
    assert baseline.count('<td class="num">0</td>') == 3 and "<td>—</td>" in baseline


def test_optional_sections_are_left_out_when_not_produced() -> None:
    html, charts = render(_data(with_optional=False))
    assert set(charts) == {"cash_forecast", "aging"}
    assert 'id="scenarios"' not in html and "No backtest evaluation" in html


def test_weekly_table_sums_the_main_line() -> None:
    data = _data()
    table = weekly_table(data.cash)
    total = data.cash[data.cash["line"] == "total"]["expected"].to_numpy()
    np.testing.assert_allclose(table["cumulative"], np.cumsum(total))
    assert list(table.columns[:4]) == ["week_start", "open_ar", "projected_billing", "total"]
    assert signed_money(-1234.4) == "−1,234" and signed_money(0.2) == "0"
    assert days(-1.46, signed=True) == "−1.5" and days(-0.04, signed=True) == "0.0"  # no −0.0
    assert days(2.0, signed=True) == "+2.0" and days(2.0) == "2.0"


def _chromium() -> str:
    path = chromium_path()
    if not path:
        pytest.fail("Chromium not found: `make browser` installs Debian's package")
    return path


def test_report_renders_in_headless_chromium_without_errors(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    html, charts = render(_data())
    page_file = tmp_path / "report.html"
    page_file.write_text(html, encoding="utf-8")
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=_chromium(), args=list(HEADLESS_CHROMIUM_FLAGS)
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on(
            "console",
            lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto(page_file.as_uri())
        drawn = page.evaluate(
            "Array.from(document.querySelectorAll('img.chart'))"
            ".filter(i => i.complete && i.naturalWidth > 0).length"
        )
        headline = page.inner_text("#headline")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "cfo_report.png"), full_page=True)
        browser.close()
    assert problems == []
    assert drawn == len(charts)
    assert "CASH NEXT 13 WEEKS" in headline.upper()
    assert (ARTIFACTS / "cfo_report.png").stat().st_size > 50_000
