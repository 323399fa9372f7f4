"""End to end: materialise the whole asset graph on a small generated ledger."""

from __future__ import annotations

import email
import email.policy
import json
import math
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from datetime import date, timedelta
from html import unescape
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import holidays
import openpyxl
import pandas as pd
import pytest
from dagster._core.test_utils import create_run_for_test
from rich.console import Console
from typer.testing import CliRunner

import arcast.cli
from arcast.accuracy import HISTORY_FILE
from arcast.cli import app
from arcast.report import signed_money
from models.tracking import CHAMPION, alias_version, load_recipe, trained_through
from pipelines.defs import build_definitions, schedules
from pipelines.defs.resources import HOST_TAG, PID_TAG, ArcastSettings
from pipelines.defs.schedules import SETTLE_SECONDS, fail_dead_runs
from pipelines.run import (
    DAGSTER_STORAGE_ENV,
    PipelineError,
    execute,
    replay_settings,
    run_pipeline,
    run_whatif,
    run_worklist,
    served_model,
)
from tests.conftest import FAST_TRAINING

OUTPUTS = {
    "predictions.csv": [
        "invoice_id",
        "customer_id",
        "currency",
        "amount_open",
        "due_date",
        "days_overdue",
        "pay_date_p10",
        "pay_date_p50",
        "pay_date_p90",
        "p_late_30",
        "pays_in_runs",
        "cash_rho",
        "reasons",
        "shap_late_history",
        "shap_dispute",
    ],
    "cash_forecast.csv": ["line", "week", "week_start", "expected", "p10", "p50", "p90"],
    "cash_forecast_breakdown.csv": [
        "dimension",
        "key",
        "name",
        "line",
        "week_start",
        "unit",
        "expected",
        "p10",
        "p90",
    ],
    "projected_billing.csv": [
        "customer_id",
        "currency",
        "weekly_run_rate",
        "month_end_batch",
        "billing_13w_base",
    ],
    "kpi_forecast.csv": ["week", "date", "open_amount", "dso", "dso_countback", "aging_90+"],
    "forecast_accuracy.csv": ["as_of", "line", "week", "expected", "actual", "inside_band"],
    "forecast_accuracy_summary.csv": ["line", "week", "wape", "coverage"],
    "worklist.csv": [
        "rank",
        "queue",
        "invoice_id",
        "customer_id",
        "customer_name",
        "currency",
        "amount_open_in_currency",
        "amount_open",
        "days_overdue",
        "pay_date_p10",
        "expected_pay_date",
        "pay_date_p90",
        "p_late_30",
        "priority",
        "action",
        "tone",
        "next_contact",
        "contact_plan",
        "reason_1",
        "reason_2",
        "reason_3",
        "reasons",
        "draft",
    ],
    "dispute_queue.csv": ["rank", "invoice_id", "dispute_opened", "dispute_reason"],
    "customer_view.csv": [
        "customer_id",
        "open_amount",
        "overdue_amount",
        "invoices",
        "oldest_days_overdue",
        "max_p_late_30",
        "expected_cash_4w",
        "action",
        "tone",
        "next_contact",
        "draft",
    ],
    "quarantine.csv": ["file", "row", "column", "reason"],
}


def _run(ledger: Path, root: Path) -> tuple[Path, list[dg.ExecuteInProcessResult]]:
    settings = ArcastSettings(
        data_dir=str(ledger), out_dir=str(root / "out"), home=str(root / "home"), seed=5
    )
    steps: list[tuple[str, str]] = []
    results, refusal = run_pipeline(
        settings,
        training=FAST_TRAINING,
        instance=dg.DagsterInstance.ephemeral(),
        progress=lambda event, step: steps.append((event, step)),
    )
    assert ("success", "run_summary") in steps
    assert refusal is None  # the first model has no champion to beat
    return root / "out", results


@pytest.fixture(scope="module")
def first_run(small_ledger_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return _run(small_ledger_dir, tmp_path_factory.mktemp("run1"))


def test_every_output_is_written_with_its_columns(first_run) -> None:
    out, results = first_run
    assert all(result.success for result in results)
    assert all(r.dagster_run.tags[PID_TAG] == str(os.getpid()) for r in results)  # dead_runs
    for name, columns in OUTPUTS.items():
        frame = pd.read_csv(out / name)
        assert set(columns) <= set(frame.columns), name
    cash = pd.read_csv(out / "cash_forecast.csv", parse_dates=["week_start"])
    assert cash.groupby("line").size().to_dict() == {
        "open_ar": 13,
        "projected_billing": 13,
        "total": 13,
    }
    for _, line in cash.groupby("line"):
        assert (line["week_start"].diff().dropna() == pd.Timedelta(days=7)).all()
    assert (cash["p10"] <= cash["expected"] * 1.5).all() and (cash["p10"] <= cash["p90"]).all()
    kpis = json.loads((out / "kpis.json").read_text())
    assert {"dso", "aging", "open_amount", "collection_effectiveness_index"} <= set(kpis)
    assert kpis["overpaid_amount_base"] >= 0 and isinstance(kpis["overpaid_invoices"], int)
    report = (out / "cfo_report.html").read_text()
    assert f'<p id="open-ar-split">Open AR {kpis["open_amount"]:,.0f}: ' in report
    assert "No rows left out of this forecast: every ledger row passed" in report


def test_total_line_and_breakdowns_add_up(first_run) -> None:
    out, _ = first_run
    cash = pd.read_csv(out / "cash_forecast.csv").pivot(index="week", columns="line")
    expected = cash["expected"]
    assert expected["projected_billing"].sum() > 0
    # exact in expectation (up to the 2-decimal rounding of each line)
    assert (
        expected["total"] - expected["open_ar"] - expected["projected_billing"]
    ).abs().max() <= 0.011
    assert (cash["p10"]["total"] <= cash["p90"]["total"]).all()
    breakdown = pd.read_csv(out / "cash_forecast_breakdown.csv")
    assert set(breakdown["dimension"]) == {"segment", "currency", "currency_local", "customer"}
    for dimension in ("segment", "currency", "customer"):
        rows = breakdown.loc[breakdown["dimension"] == dimension]
        sums = rows.groupby(["week_start", "line"])["expected"].sum().unstack()
        tolerance = 0.006 * rows["key"].nunique() + 0.011
        for line in ("open_ar", "projected_billing", "total"):
            gap = sums[line].to_numpy() - expected[line].to_numpy()
            assert abs(gap).max() <= tolerance, (dimension, line)
    bands = breakdown.loc[breakdown["dimension"] != "customer"]
    assert (bands["p10"] <= bands["p90"]).all()


def test_kpi_forecast_starts_at_todays_kpis(first_run) -> None:
    out, _ = first_run
    kpis = json.loads((out / "kpis.json").read_text())
    path = pd.read_csv(out / "kpi_forecast.csv")
    assert list(path["week"]) == list(range(14))
    for key in ("open_amount", "dso", "dso_countback", "best_possible_dso"):
        assert path.loc[0, key] == pytest.approx(kpis[key], abs=1e-4), key
    assert path.loc[0, "aging_current"] == pytest.approx(
        kpis["aging"]["current"]["amount"], abs=1e-4
    )
    assert path.loc[13, "projected_billing_open"] > 0


@pytest.fixture(scope="module")
def replay(first_run, tmp_path_factory: pytest.TempPathFactory):
    """In a copy of the first run's home: a run at an earlier as-of (a model never scores a date
    before its training data ends, so the earlier date gets its own), then a rescore at the
    latest again."""
    out, _ = first_run
    home = tmp_path_factory.mktemp("replay") / "home"
    shutil.copytree(out.parent / "home", home)
    latest = pd.Timestamp(json.loads((out / "run_summary.json").read_text())["as_of"]).date()
    earlier = latest - timedelta(days=42)
    runs = {}
    for as_of in (earlier, latest):
        target = tmp_path_factory.mktemp(f"replay-{as_of}")
        settings = ArcastSettings(
            data_dir=json.loads((out / "run_summary.json").read_text())["data_dir"],
            out_dir=str(target),
            home=str(home),
            as_of=as_of.isoformat(),
            seed=5,
        )
        instance = dg.DagsterInstance.ephemeral()
        if as_of == earlier:
            run_pipeline(settings, training=FAST_TRAINING, instance=instance)
        else:
            assert execute(settings, "rescore_job", instance=instance).success
        runs[as_of] = target
    return earlier, latest, runs, home


def test_past_forecasts_are_scored_against_the_payments(replay, small_ledger_dir: Path) -> None:
    earlier, latest, runs, home = replay
    history = pd.read_parquet(home / HISTORY_FILE)
    assert history.duplicated(["ledger", "as_of", "line", "week"]).sum() == 0
    assert {pd.Timestamp(earlier), pd.Timestamp(latest)} <= set(history["as_of"])
    assert pd.read_csv(runs[earlier] / "forecast_accuracy.csv").empty
    accuracy = pd.read_csv(runs[latest] / "forecast_accuracy.csv", parse_dates=["as_of"])
    scored = accuracy.loc[accuracy["as_of"] == pd.Timestamp(earlier)]
    assert sorted(scored.loc[scored["line"] == "total", "week"]) == list(range(1, 7))
    assert set(scored["line"]) == {"open_ar", "projected_billing", "total"}

    # hand sum: every payment in the week, at the latest rate known at the forecast's as-of
    invoices = pd.read_csv(small_ledger_dir / "invoices.csv", parse_dates=["issue_date"])
    payments = pd.read_csv(small_ledger_dir / "payments.csv", parse_dates=["payment_date"])
    fx = pd.read_csv(small_ledger_dir / "fx_rates.csv", parse_dates=["date"]).sort_values("date")
    rate = fx[fx["date"] <= pd.Timestamp(earlier)].groupby("currency")["rate_to_base"].last()
    pay = payments.merge(invoices[["invoice_id", "currency"]], on="invoice_id")
    pay["base"] = pay["amount"] * pay["currency"].map(rate).where(pay["currency"] != "USD", 1.0)
    for _, row in scored.loc[scored["line"] == "total"].iterrows():
        start = pd.Timestamp(earlier) + pd.Timedelta(days=7 * (row["week"] - 1) + 1)
        in_week = pay["payment_date"].between(start, start + pd.Timedelta(days=6))
        assert row["actual"] == pytest.approx(pay.loc[in_week, "base"].sum(), abs=0.01)
    summary = pd.read_csv(runs[latest] / "forecast_accuracy_summary.csv")
    assert set(summary["week"]) == set(range(1, 7))
    assert summary["coverage"].between(0, 1).all()


def test_run_summary_accounts_for_every_row(first_run) -> None:
    out, _ = first_run
    summary = json.loads((out / "run_summary.json").read_text())
    assert {"invoices.csv", "payments.csv", "customers.csv"} <= set(summary["rows"])
    for counts in summary["rows"].values():
        assert counts["rows_in"] == counts["accepted"] + counts["quarantined"]
    assert summary["model"]["version"]
    paid = summary["model"]["paid_invoices"]
    assert isinstance(paid, int) and 0 < paid < summary["rows"]["invoices.csv"]["accepted"]
    assert {"ledger", "pay_date_model", "invoice_predictions"} <= set(summary["timings_seconds"])
    versus = summary["model"]["versus_baselines"]
    assert set(versus["scores"]) == {"model", "customer_mean", "customer_median"}
    assert all(s["mae_p50_censored"] > 0 for s in versus["scores"].values())
    predictions = pd.read_csv(out / "predictions.csv")
    assert summary["open_invoices_scored"] == len(predictions) > 0
    # open invoices past every payment the model learnt from are counted, for the CLI's note
    beyond = summary["model"]["beyond_paid_history"]
    oldest = beyond["oldest_paid_days_late"]
    assert isinstance(oldest, int) and 0 < oldest <= beyond["max_days_late"] == 365
    assert beyond["paid_past_panel"] == 0  # the generated ledger pays within a year
    past = predictions.loc[predictions["days_overdue"] > oldest, "amount_open_base"]
    assert beyond["open_invoices"] == len(past)
    assert beyond["amount_open_base"] == pytest.approx(past.sum(), abs=0.01 * (len(past) + 1))
    weekly = predictions.loc[past.index, [f"p_paid_week_{w:02d}" for w in range(1, 14)]]
    expected = (weekly.sum(axis=1) * past).sum()
    assert beyond["expected_13w_base"] == pytest.approx(expected, rel=1e-3, abs=1.0)


def test_contract_checks_ran_and_passed(first_run) -> None:
    out, results = first_run
    evaluations = [e for result in results for e in result.get_asset_check_evaluations()]
    names = {(e.asset_key.to_user_string(), e.check_name) for e in evaluations}
    assert ("invoices", "contract") in names and ("ledger_quarantine", "row_accounting") in names
    assert ("pay_date_model", "promotion_gate") in names
    assert ("pay_date_model", "beats_baselines") in names
    # every blocking check passed; the baseline check only warns, its verdict is the ledger's
    assert all(e.passed for e in evaluations if e.check_name != "beats_baselines")
    (check,) = [e for e in evaluations if e.check_name == "beats_baselines"]
    served = json.loads((out / "run_summary.json").read_text())["model"]["versus_baselines"]
    # a first run's challenger is its champion: the check (on the window in memory) and the
    # summary (read back from MLflow) judge the same window
    assert check.passed == served["beats_baselines"]
    for method, scores in served["scores"].items():
        for metric, value in scores.items():
            if math.isfinite(value):  # the check's metadata leaves out what could not be scored
                assert check.metadata[f"{method}_{metric}"].value == pytest.approx(value)
    assert check.description in unescape((out / "cfo_report.html").read_text())  # one verdict


def test_same_seed_same_outputs(first_run, small_ledger_dir: Path, tmp_path: Path) -> None:
    out, _ = first_run
    again, _ = _run(small_ledger_dir, tmp_path)
    for name in (
        "predictions.csv",
        "cash_forecast.csv",
        "cash_forecast_breakdown.csv",
        "projected_billing.csv",
        "kpi_forecast.csv",
        "worklist.csv",
        "dispute_queue.csv",
        "customer_view.csv",
        "kpis.json",
    ):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    drafts = sorted((out / "drafts").iterdir())
    assert [p.name for p in drafts] == sorted(p.name for p in (again / "drafts").iterdir())
    for path in drafts:
        assert (again / "drafts" / path.name).read_bytes() == path.read_bytes(), path.name


def test_asset_graph_shape(tmp_path: Path) -> None:
    """A snapshot of the graph: an accidental change to groups or lineage fails loudly."""
    defs = build_definitions(ArcastSettings(data_dir=".", out_dir="out", home=str(tmp_path)))
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "customers": "ledger",
        "invoices": "ledger",
        "payments": "ledger",
        "disputes": "ledger",
        "fx_rates": "ledger",
        "contacts": "ledger",
        "ledger_quarantine": "ledger",
        "invoice_facts": "features",
        "customer_history": "features",
        "customer_channel_history": "features",
        "channel_offsets": "features",
        "customer_exposure": "features",
        "invoice_paid_to_date": "features",
        "invoice_dispute_state": "features",
        "pay_date_model": "models",
        "champion_model": "models",
        "invoice_predictions": "forecasts",
        "projected_billing": "forecasts",
        "cash_forecast_13w": "forecasts",
        "scenario_forecast": "forecasts",
        "ar_kpis": "forecasts",
        "kpi_forecast": "forecasts",
        "forecast_accuracy": "forecasts",
        "collections_worklist": "outputs",
        "cfo_report": "outputs",
        "run_summary": "outputs",
    }
    parents = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert parents["pay_date_model"] == sorted(
        [
            "invoice_facts",
            "customer_history",
            "customer_channel_history",
            "channel_offsets",
            "customer_exposure",
            "invoice_paid_to_date",
            "invoice_dispute_state",
        ]
    )
    assert parents["champion_model"] == ["pay_date_model"]
    assert "contacts" not in parents["invoice_facts"]  # the log schedules, it predicts nothing
    # payments keep promises of an amount; the About sheet says what the contract left out
    assert parents["collections_worklist"] == [
        "contacts",
        "invoice_predictions",
        "invoices",
        "ledger_quarantine",
        "payments",
    ]
    assert parents["invoice_predictions"][0] == "champion_model"
    # steps share the DuckDB warehouse (one writer): every job runs them in one process
    for job in ("arcast_job", "retrain_job", "rescore_job", "__ASSET_JOB"):
        assert defs.resolve_job_def(job).executor_def is dg.in_process_executor
    assert defs.resolve_schedule_def("weekly_retrain").job_name == "retrain_job"
    assert defs.resolve_schedule_def("daily_rescore").job_name == "rescore_job"
    assert defs.resolve_sensor_def("new_ledger_export").job_name == "rescore_job"
    retrain = defs.resolve_job_def("retrain_job").asset_layer.selected_asset_keys
    assert dg.AssetKey("invoice_predictions") not in retrain
    assert parents["cash_forecast_13w"] == ["invoice_predictions", "projected_billing"]
    assert parents["forecast_accuracy"] == ["cash_forecast_13w"]
    rescore = defs.resolve_job_def("rescore_job").asset_layer.selected_asset_keys
    for name in ("projected_billing", "kpi_forecast", "forecast_accuracy"):
        assert dg.AssetKey(name) in rescore
    whatif = defs.resolve_job_def("whatif_job").asset_layer.selected_asset_keys
    assert dg.AssetKey("scenario_forecast") in whatif
    assert not {dg.AssetKey("pay_date_model"), dg.AssetKey("run_summary")} & whatif
    worklist = defs.resolve_job_def("worklist_job").asset_layer.selected_asset_keys
    assert {dg.AssetKey("collections_worklist"), dg.AssetKey("invoice_predictions")} <= worklist
    assert (
        not {
            dg.AssetKey("pay_date_model"),
            dg.AssetKey("champion_model"),
            dg.AssetKey("cash_forecast_13w"),
            dg.AssetKey("run_summary"),
        }
        & worklist
    )


def _first_business_day(after: date, country: str) -> date:
    """The first day after ``after`` that is neither a weekend nor a holiday in ``country``."""
    closed = holidays.country_holidays(country) if country else {}
    day = after + timedelta(days=1)
    while day.weekday() >= 5 or day in closed:
        day += timedelta(days=1)
    return day


def test_worklist_queues_drafts_and_workbook(first_run) -> None:
    """Every open invoice in exactly one queue; drafts cover exactly the customers with lines to
    contact the next business day (the generated contact log keeps others waiting or spaced)
    and never a disputed invoice; the workbook has its four sheets."""
    out, results = first_run
    predictions = pd.read_csv(out / "predictions.csv")
    lines = pd.read_csv(out / "worklist.csv", keep_default_na=False)
    disputes = pd.read_csv(out / "dispute_queue.csv", keep_default_na=False)
    customers = pd.read_csv(out / "customer_view.csv", keep_default_na=False)
    assert sorted(lines["invoice_id"]) == sorted(predictions["invoice_id"])
    assert lines["invoice_id"].is_unique
    assert set(disputes["invoice_id"]) == set(lines.loc[lines["queue"] == "dispute", "invoice_id"])
    assert set(disputes["invoice_id"]) == set(
        predictions.loc[predictions["disputed"], "invoice_id"]
    )
    assert customers["invoices"].sum() == len(lines)
    as_of = date.fromisoformat(json.loads((out / "run_summary.json").read_text())["as_of"])
    country = lines["customer_id"].map(customers.set_index("customer_id")["country"])
    tomorrow = country.map(lambda c: _first_business_day(as_of, c).isoformat())
    contact = lines[
        (lines["queue"] == "dunning")
        & (lines["action"] != "monitor")
        & ~lines["contact_status"].isin(["promised", "on hold"])
        & (lines["next_contact"] == tomorrow)
    ]
    assert lines["contact_status"].isin(["promised", "on hold", "promise broken"]).any()
    assert contact.index.equals(lines.index[lines["contact_plan"] == "today"])
    drafts = sorted((out / "drafts").glob("*.eml"))
    assert len(drafts) == contact["customer_id"].nunique() == (customers["draft"] != "").sum() > 0
    disputed = set(disputes["invoice_id"])
    for path in drafts:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert msg["X-Arcast-Draft"] == "never sent by arcast"
        body = msg.get_content()
        mine = contact[contact["draft"] == path.name]
        assert len(mine) > 0
        assert all(f"Invoice {i} for " in body for i in mine["invoice_id"])
        assert body.count("- Invoice ") == len(mine)
        assert not any(f"Invoice {i} " in body for i in disputed)
    wb = openpyxl.load_workbook(out / "worklist.xlsx")
    assert wb.sheetnames == ["Worklist", "Customers", "Disputes", "Drafts", "Changes", "About"]
    assert wb["Worklist"].max_row == (lines["queue"] == "dunning").sum() + 1
    assert wb["Drafts"].max_row == len(drafts) + 1
    # which model scored it, traceable in MLflow after the champion has moved on
    about = dict(wb["About"].iter_rows(min_row=2, values_only=True))
    model = json.loads((out / "run_summary.json").read_text())["model"]
    assert about["model"] == model["name"]
    assert about["model version"] == f"{model['version']} (challenger, champion)"
    assert about["MLflow run"] == model["run_id"]
    assert about["trained through"] == model["trained_through"]
    learnt = model["ledger_fingerprint"]["hash"]
    assert (
        about["learnt from ledger"].startswith(learnt)
        and "(the export scored)" in about["learnt from ledger"]
    )
    assert about["ledger fingerprint"].startswith(learnt)
    assert about["export checked against"] == "the ledger the champion learnt from"
    assert about["rows left out"].startswith("No rows left out of this forecast")
    meta = next(
        m
        for result in results
        for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey("collections_worklist")
    ).materialization.metadata
    assert meta["dunning_queue"].value + meta["dispute_queue"].value == len(lines)
    assert sum(meta["actions"].data.values()) == meta["dunning_queue"].value
    assert meta["drafts"].value == len(drafts)


def test_cli_worklist_reuses_the_champion(
    first_run, small_ledger_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`arcast worklist` runs only the worklist job with the trained champion and writes the same
    worklist as the full run."""
    out, _ = first_run
    home = out.parent / "home"
    monkeypatch.setenv("ARCAST_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    as_of = json.loads((out / "run_summary.json").read_text())["as_of"]
    target = tmp_path / "wl"
    result = CliRunner().invoke(
        app,
        ["worklist", "--data", str(small_ledger_dir), "--as-of", as_of, "--out", str(target)],
    )
    assert result.exit_code == 0, result.output
    assert "reminder drafts" in result.output and "Today's contacts by priority" in result.output
    summary = json.loads((out / "run_summary.json").read_text())["model"]
    assert (
        f"Scored by {summary['name']} version {summary['version']} (challenger, champion), "
        f"trained through {summary['trained_through']} (MLflow run {summary['run_id']})"
    ) in " ".join(result.output.split())
    for name in ("worklist.csv", "dispute_queue.csv", "customer_view.csv"):
        assert (target / name).read_bytes() == (out / name).read_bytes(), name
    assert (target / "worklist.xlsx").exists()
    assert sorted(p.name for p in (target / "drafts").iterdir()) == sorted(
        p.name for p in (out / "drafts").iterdir()
    )
    runs = dg.DagsterInstance.from_config(str(home / "dagster")).get_runs()
    assert [r.job_name for r in runs] == ["worklist_job"]
    # a week later, nothing paid (the ledger ends at as-of): lines only grow older
    week_later = str(date.fromisoformat(as_of) + timedelta(days=7))
    command = ["worklist", "--data", str(small_ledger_dir), "--as-of", week_later]
    result = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "later")])
    assert result.exit_code == 0, result.output
    changes = pd.read_csv(tmp_path / "later" / "worklist_changes.csv")
    assert len(changes) > 0 and set(changes["since"]) == {as_of}
    assert set(changes["change"]) <= {"up a tier", "down a tier", "promise broken"}  # none closed
    ups = int((changes["change"] == "up a tier").sum())
    said = " ".join(result.output.split())
    assert ups > 0 and f"since the worklist of {as_of}, " in said and f"{ups} up a tier" in said


@pytest.mark.parametrize("width", [80, 140])
def test_the_worklist_table_fits_the_terminal(
    first_run, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every column whole at 80 columns (the next-contact date was cut to its year); a wider
    terminal also shows each line's first reason."""
    out, _ = first_run
    console = Console(width=width, record=True)
    monkeypatch.setattr(arcast.cli, "console", console)
    arcast.cli._print_worklist(out)
    text = console.export_text()
    table = text[text.index("Today's contacts by") : text.index("Outputs in")].splitlines()
    assert max(len(line.rstrip()) for line in table) <= width
    top = pd.read_csv(out / "worklist.csv").query("contact_plan == 'today'").iloc[0]
    first = next(line for line in table if f" {top['invoice_id']} " in line)
    assert str(top["next_contact"]) in first
    assert (top["reason_1"][:20] in first) == (width == 140)


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_failed_whatif_leaves_the_previous_outputs(
    first_run, small_ledger_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A what-if that fails (here on an unknown customer) puts the folder back as it was, but
    for the scenarios the error names: no mix of two runs' results."""
    out, _ = first_run
    folder, home = tmp_path / "out", tmp_path / "home"
    shutil.copytree(out, folder)
    shutil.copytree(out.parent / "home", home)
    (folder / "scenarios.yaml").write_text("scenarios: []  # the previous what-if\n")
    before = _contents(folder)
    monkeypatch.setenv("ARCAST_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    as_of = json.loads((out / "run_summary.json").read_text())["as_of"]
    args = ["--data", str(small_ledger_dir), "--out", str(folder), "--as-of", as_of]
    result = CliRunner().invoke(app, ["whatif", *args, "--customer", "NOPE", "--delay", "5"])
    assert result.exit_code == 2, result.output
    assert "no open invoice or projected billing has customer_id NOPE" in result.output
    failed = (folder / "scenarios.yaml").read_bytes()
    assert b"- NOPE" in failed  # the scenario the error names is there to read
    assert _contents(folder) == before | {"scenarios.yaml": failed}
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # nothing set aside


def test_an_export_cut_short_is_refused_before_training(
    first_run, small_ledger_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payments file copied while still being written: every remaining row is valid, but
    the months the champion learnt from have lost payments, so nothing is trained or scored."""
    out, _ = first_run
    home = tmp_path / "home"
    shutil.copytree(out.parent / "home", home)
    export = tmp_path / "export"
    shutil.copytree(small_ledger_dir, export)
    lines = (export / "payments.csv").read_text().splitlines(keepends=True)
    (export / "payments.csv").write_text("".join(lines[: len(lines) * 6 // 10]))
    summary = json.loads((out / "run_summary.json").read_text())
    settings = ArcastSettings(
        data_dir=str(export),
        ledger_name=summary["ledger"],
        out_dir=str(tmp_path / "out"),
        home=str(home),
        as_of=summary["as_of"],
        seed=5,
    )
    champion = served_model(settings)["version"]
    with pytest.raises(PipelineError) as failure:
        run_pipeline(settings, training=FAST_TRAINING, instance=dg.DagsterInstance.ephemeral())
    assert failure.value.error_class == "LedgerFileError"
    assert re.search(
        r"payments\.csv: \d{4}-\d{2} holds [\d,]+ payments, the export before", str(failure.value)
    )
    assert re.search(r"are missing \(compared from \d{4}-\d{2}; a file cut", str(failure.value))
    assert alias_version(settings.registry, CHAMPION) == champion  # nothing trained or promoted
    monkeypatch.setenv("ARCAST_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    named = ["--data", str(export), "--ledger-name", summary["ledger"], "--out", str(tmp_path)]
    result = CliRunner().invoke(app, ["validate", *named])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "rows the champion's ledger held are missing" in said
    ledger = shlex.quote(summary["ledger"])
    assert f"arcast validate --data {export} --ledger-name {ledger} --accept-missing-rows" in said


def test_an_export_meant_to_hold_fewer_rows_is_accepted_once(
    first_run, small_ledger_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old months archived out of the export: accepted once, it warns instead of blocking, and
    the next exports are compared with it, so one cut short after it is still refused."""
    out, _ = first_run
    shutil.copytree(out.parent / "home", tmp_path / "home")
    monkeypatch.setenv("ARCAST_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    export = tmp_path / "export"
    shutil.copytree(small_ledger_dir, export)
    payments = pd.read_csv(export / "payments.csv", dtype=str)
    early = (
        payments["payment_date"] < payments["payment_date"].sort_values().iloc[len(payments) // 3]
    )
    payments[~early].to_csv(export / "payments.csv", index=False)  # the oldest payments archived
    summary = json.loads((out / "run_summary.json").read_text())
    named = ["--data", str(export), "--ledger-name", summary["ledger"], "--out", str(tmp_path)]
    assert CliRunner().invoke(app, ["validate", *named]).exit_code == 2
    result = CliRunner().invoke(app, ["validate", *named, "--accept-missing-rows"])
    said = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert re.search(r"ledger_continuity │ payments │ accepted", said)
    assert re.search(r"ledger_continuity │ invoices │ yes", said)  # not the file cut short
    accepted = r"Warning: exports are compared with the one accepted on [\d-]+ with rows missing"
    assert re.search(rf"{accepted} \(payments\.csv: \d{{4}}-\d{{2}} holds", said)
    result = CliRunner().invoke(app, ["validate", *named])
    assert result.exit_code == 0 and re.search(accepted, " ".join(result.output.split()))
    worklist = ["worklist", *named[:4], "--out", str(tmp_path / "wl")]
    assert CliRunner().invoke(app, worklist).exit_code == 0
    about = pd.read_excel(tmp_path / "wl" / "worklist.xlsx", sheet_name="About", dtype=str)
    checked = about.set_index("item")["value"]["export checked against"]
    assert re.match(r"the export accepted on [\d-]+ with rows missing, as of .* holds", checked)
    late = payments[~early]
    recent = late["payment_date"] >= late["payment_date"].sort_values().iloc[len(late) // 2]
    late[~recent].to_csv(export / "payments.csv", index=False)  # then an export cut short
    result = CliRunner().invoke(app, ["validate", *named])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "rows the accepted export held are missing" in said
    # a champion that learns from the accepted export replaces it as the reference
    late.to_csv(export / "payments.csv", index=False)
    settings = ArcastSettings(
        data_dir=str(export),
        ledger_name=summary["ledger"],
        out_dir=str(tmp_path / "out"),
        home=str(tmp_path / "home"),
        seed=5,
    )
    before = served_model(settings)["version"]
    run_pipeline(settings, training=FAST_TRAINING, instance=dg.DagsterInstance.ephemeral())
    assert served_model(settings)["version"] != before
    result = CliRunner().invoke(app, ["validate", *named])
    assert result.exit_code == 0 and not re.search(accepted, " ".join(result.output.split()))


def test_an_older_export_without_an_as_of_date_does_not_replace_todays_model(
    first_run, small_ledger_dir: Path, tmp_path: Path
) -> None:
    """Last month's export run again by mistake: it is whole (continuity passes, as it has not
    yet seen the later months), but a challenger trained on it would replace today's champion
    with an older model. The run stops and says how to replay that date instead."""
    out, _ = first_run
    home = tmp_path / "home"
    shutil.copytree(out.parent / "home", home)
    summary = json.loads((out / "run_summary.json").read_text())
    ends = pd.Timestamp(summary["as_of"]) - pd.Timedelta(days=60)
    export = tmp_path / "export"
    shutil.copytree(small_ledger_dir, export)
    for name, column in (("invoices", "issue_date"), ("payments", "payment_date")):
        table = pd.read_csv(export / f"{name}.csv", dtype=str)
        table[pd.to_datetime(table[column]) <= ends].to_csv(export / f"{name}.csv", index=False)
    settings = ArcastSettings(
        data_dir=str(export),
        ledger_name=summary["ledger"],
        out_dir=str(tmp_path / "out"),
        home=str(home),
        seed=5,
    )
    champion = served_model(settings)["version"]
    with pytest.raises(PipelineError) as failure:
        run_pipeline(settings, training=FAST_TRAINING, instance=dg.DagsterInstance.ephemeral())
    assert failure.value.error_class == "LookAheadError"
    assert "give --as-of" in str(failure.value) and "replace today's model" in str(failure.value)
    assert alias_version(settings.registry, CHAMPION) == champion


def test_a_scenario_naming_no_open_invoice_fails_before_anything_is_trained(
    small_ledger_dir: Path, tmp_path: Path
) -> None:
    """`arcast run --scenario` with a misspelt customer used to train, promote and score for a
    minute before failing; the scenario check on the fact tables stops it first."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "scenarios:\n  - {name: typo, rules: [{where: {customers: NOPE}, delay_days: 5}]}\n"
    )
    settings = ArcastSettings(
        data_dir=str(small_ledger_dir),
        out_dir=str(tmp_path / "out"),
        home=str(tmp_path / "home"),
        scenario_file=str(plan),
    )
    with pytest.raises(PipelineError) as failure:
        run_pipeline(settings, training=FAST_TRAINING, instance=dg.DagsterInstance.ephemeral())
    assert failure.value.error_class == "ScenarioError"
    assert (
        "scenario 'typo' rule 1: no open invoice or projected billing has customer_id NOPE"
        in str(failure.value)
    )
    assert trained_through(settings.registry) is None  # no model, no champion


def test_a_new_ledger_folder_in_a_home_that_keeps_another_says_so(
    first_run, small_ledger_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export in a new folder without --ledger-name starts a ledger line of its own: first
    model, no forecast history, no export to check it against. The user hears of it, with the
    ledgers the home already keeps, from `validate` as from the commands that score."""
    out, _ = first_run
    home = tmp_path / "home"
    shutil.copytree(out.parent / "home", home)
    export = shutil.copytree(small_ledger_dir, tmp_path / "2025-12")
    monkeypatch.setenv("ARCAST_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    checked = CliRunner().invoke(app, ["validate", "--data", str(export), "--out", str(tmp_path)])
    said = " ".join(checked.output.split())
    assert f"'{export}' is a new ledger here (no export of it to compare with)" in said
    args = ["worklist", "--data", str(export), "--out", str(tmp_path / "wl")]
    result = CliRunner().invoke(app, args)
    output = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    first = json.loads((out / "run_summary.json").read_text())["ledger"]
    assert f"'{export}' is a new ledger here" in output and f"'{first}'" in output
    assert "run with --ledger-name" in output
    again = " ".join(CliRunner().invoke(app, args).output.split())
    assert "is a new ledger here" not in again


def test_a_replay_of_an_earlier_date_fits_the_champions_recipe_as_of_then_and_apart(
    first_run, small_ledger_dir: Path, tmp_path: Path
) -> None:
    """Scoring a past date with a champion trained on later data would read the outcomes it
    forecasts; the worklist fits the champion's recipe as of that date instead, keeps that model
    apart (today's champion still serves today) and reuses it for the next replay of the date."""
    out, _ = first_run
    home = tmp_path / "home"
    shutil.copytree(out.parent / "home", home)
    summary = json.loads((out / "run_summary.json").read_text())
    as_of = date.fromisoformat(summary["as_of"])
    earlier = as_of - timedelta(days=30)
    settings = ArcastSettings(
        data_dir=str(small_ledger_dir),
        out_dir=str(tmp_path / "wl"),
        home=str(home),
        seed=5,
        as_of=earlier.isoformat(),
    )
    champion = load_recipe(settings.registry)
    results, refusal = run_worklist(settings, instance=dg.DagsterInstance.ephemeral())
    assert refusal is None
    assert [r.dagster_run.job_name for r in results] == ["retrain_job", "worklist_job"]
    replay = replay_settings(settings)
    assert replay.replay_as_of == earlier.isoformat()
    assert trained_through(replay.registry) == earlier
    assert load_recipe(replay.registry) == champion
    assert trained_through(settings.registry) == as_of  # today's champion is untouched
    assert served_model(settings)["version"] == summary["model"]["version"]
    served = served_model(replay)
    assert served["name"] == replay.registry.model_name != summary["model"]["name"]
    again, _ = run_worklist(settings, instance=dg.DagsterInstance.ephemeral())
    assert [r.dagster_run.job_name for r in again] == ["worklist_job"]


def test_whatif_scores_with_the_champion_and_its_baseline_is_the_cash_forecast(
    first_run, small_ledger_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = first_run
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "scenarios:\n"
        "  - {name: top3-late, rules: [{where: {top_customers: 3}, delay_days: 7}]}\n"
        "  - {name: settled, rules: [{disputes_resolved_in_days: 7}]}\n"
    )
    settings = ArcastSettings(
        data_dir=str(small_ledger_dir),
        out_dir=str(tmp_path / "whatif"),
        home=str(out.parent / "home"),
        seed=5,
        scenario_file=str(plan),
    )
    results, refusal = run_whatif(settings, instance=dg.DagsterInstance.ephemeral())
    assert len(results) == 1 and refusal is None  # the champion serves: no retraining
    scenarios = pd.read_csv(tmp_path / "whatif" / "scenario_forecast.csv")
    baseline = scenarios[scenarios["scenario"] == "baseline"].reset_index(drop=True)
    cash = pd.read_csv(out / "cash_forecast.csv")
    for line in ("open_ar", "total"):
        ours = baseline[baseline["line"] == line].reset_index(drop=True)
        served = cash[cash["line"] == line].reset_index(drop=True)
        columns = ["week_start", "expected", "p10", "p50", "p90"]
        pd.testing.assert_frame_equal(ours[columns], served[columns])
    summary = json.loads((tmp_path / "whatif" / "scenario_summary.json").read_text())
    assert list(summary["scenarios"]) == ["baseline", "top3-late", "settled"]
    assert summary["scenarios"]["top3-late"]["cash_13w_delta"] < 0
    assert summary["scenarios"]["top3-late"]["dso_delta_days"] > 0
    week_13 = pd.read_csv(tmp_path / "whatif" / "kpi_forecast.csv").iloc[-1]
    late = summary["scenarios"]["top3-late"]  # the AR left open at week 13, over its sales
    assert late["dso_delta_days"] == pytest.approx(
        -late["cash_13w_delta"] / week_13["billed_last_period"] * 90
    )
    assert (tmp_path / "whatif" / "scenario_forecast.png").stat().st_size > 10_000
    console = Console(width=80, record=True)
    monkeypatch.setattr(arcast.cli, "console", console)
    arcast.cli._print_scenarios(tmp_path / "whatif")
    text = console.export_text()
    table = text.split("p10 / p90")[0].splitlines()
    assert max(len(line.rstrip()) for line in table) <= 80
    change = signed_money(summary["scenarios"]["top3-late"]["cash_13w_delta"])
    assert any(line.split()[:1] == ["top3-late"] and change in line for line in table)
    big = summary["scenarios"]["top3-late"]["biggest_weekly_change"]
    share = f"({100 * big['delta'] / big['baseline']:+.1f}%)".replace("-", "−")
    assert f"biggest weekly change {big['week_start']}: " in text
    assert share in " ".join(text.split())  # to a tenth: a 0.4% change is no "−0%"


@pytest.fixture
def sensor_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The sensor's clock, moved by hand: a folder settles over ticks minutes apart."""
    now = [time.time()]
    monkeypatch.setattr(schedules, "time", SimpleNamespace(time=lambda: now[0]))
    return now


def _tick(sensor: dg.SensorDefinition, settings: ArcastSettings, cursor: str | None = None):
    context = dg.build_sensor_context(cursor=cursor, resources={"settings": settings})
    return sensor.evaluate_tick(context)


def _settled_tick(
    sensor: dg.SensorDefinition,
    settings: ArcastSettings,
    clock: list[float],
    cursor: str | None = None,
):
    """What the sensor decides on files it has seen unchanged for the settling time."""
    first = _tick(sensor, settings, cursor)
    assert "waiting until they settle" in first.skip_message
    clock[0] += SETTLE_SECONDS
    return _tick(sensor, settings, first.cursor)


def test_sensor_requests_a_rescore_only_when_a_new_export_has_landed(
    tmp_path: Path, sensor_clock: list[float]
) -> None:
    """Not while a file is missing or still being written, not for a file touched unchanged."""
    settings = ArcastSettings(data_dir=str(tmp_path), out_dir="out", home=str(tmp_path / "home"))
    sensor = build_definitions(settings).resolve_sensor_def("new_ledger_export")

    def land(name: str, text: str) -> None:
        (tmp_path / name).write_text(text)

    land("invoices.csv", "invoice_id,customer_id\n")
    assert "waiting for payments" in _tick(sensor, settings).skip_message
    land("payments.csv", "payment_id\nP")  # half written
    half = _tick(sensor, settings)
    assert "waiting until they settle" in half.skip_message
    sensor_clock[0] += SETTLE_SECONDS
    land("payments.csv", "payment_id\n")  # written on: its clock starts again
    written = _tick(sensor, settings, half.cursor)
    assert "unchanged for 0 s" in written.skip_message
    sensor_clock[0] += SETTLE_SECONDS - 1
    assert not _tick(sensor, settings, written.cursor).run_requests
    sensor_clock[0] += 1
    first = _tick(sensor, settings, written.cursor)
    assert len(first.run_requests) == 1 and first.cursor
    assert not _tick(sensor, settings, first.cursor).run_requests
    os.utime(tmp_path / "payments.csv", (time.time() - 60, time.time() - 60))  # same bytes
    touched = _settled_tick(sensor, settings, sensor_clock, first.cursor)
    assert not touched.run_requests and "content unchanged" in touched.skip_message
    land("payments.csv", "payment_id\nP1\n")
    assert len(_settled_tick(sensor, settings, sensor_clock, touched.cursor).run_requests) == 1
    land("ledger.yaml", "files: {payments: Receipts.txt}\n")  # the export's own file names
    assert "waiting for payments" in _tick(sensor, settings).skip_message
    land("Receipts.txt", "Receipt\n")
    mapped = _settled_tick(sensor, settings, sensor_clock)
    assert len(mapped.run_requests) == 1
    land("Receipts.txt", "Receipt\nR1\n")  # a named file is watched whatever its extension
    assert len(_settled_tick(sensor, settings, sensor_clock, mapped.cursor).run_requests) == 1
    land("ledger.yaml", "colums: {}\n")
    assert _tick(sensor, settings).skip_message.startswith("ledger.yaml: unknown key(s) colums")


def test_sensor_follows_a_latest_link_across_export_folders(
    tmp_path: Path, sensor_clock: list[float]
) -> None:
    """Exports that land a folder each (exports/2025-11, exports/2025-12) are watched through a
    link the export job points at the newest, swapped in one rename; the ledger's name keeps
    one line across them, as `--ledger-name` does for the CLI."""
    for rows, month in enumerate(("2025-11", "2025-12"), start=1):
        folder = tmp_path / "exports" / month
        folder.mkdir(parents=True)
        (folder / "invoices.csv").write_text("invoice_id,customer_id\n" + "I,C1\n" * rows)
        (folder / "payments.csv").write_text("payment_id\n")
    latest = tmp_path / "exports" / "latest"
    latest.symlink_to("2025-11")
    settings = ArcastSettings(
        data_dir=str(latest), ledger_name="acme", out_dir="out", home=str(tmp_path / "home")
    )
    sensor = build_definitions(settings).resolve_sensor_def("new_ledger_export")
    november = _settled_tick(sensor, settings, sensor_clock)
    assert len(november.run_requests) == 1
    assert not _tick(sensor, settings, november.cursor).run_requests
    swap = tmp_path / "exports" / "latest.new"
    swap.symlink_to("2025-12")
    os.replace(swap, latest)
    december = _settled_tick(sensor, settings, sensor_clock, november.cursor)
    assert len(december.run_requests) == 1
    assert settings.ledger_key == "acme"


def test_sensor_waits_for_a_copy_that_keeps_the_files_old_times(
    tmp_path: Path, sensor_clock: list[float]
) -> None:
    """`cp -p`, `rsync -a` and unzip keep the source's times: a folder still being copied into
    holds invoices and payments an hour old while customers, FX and disputes are yet to come.
    It fired on each file once invoices and payments were in, scoring without customers or FX."""
    export, watched = tmp_path / "export", tmp_path / "data"
    export.mkdir()
    watched.mkdir()
    names = ["invoices.csv", "payments.csv", "customers.csv", "fx_rates.csv", "disputes.csv"]
    an_hour_ago = time.time() - 3600
    for name in names:
        (export / name).write_text(f"{name}\n")
        os.utime(export / name, (an_hour_ago, an_hour_ago))
    settings = ArcastSettings(data_dir=str(watched), out_dir="out", home=str(tmp_path / "home"))
    sensor = build_definitions(settings).resolve_sensor_def("new_ledger_export")
    cursor, fired_on = None, []
    for name in [*names, None, None, None]:  # a file a minute, then three quiet minutes
        if name:
            shutil.copy2(export / name, watched / name)  # cp -p
        tick = _tick(sensor, settings, cursor)
        cursor = tick.cursor or cursor
        fired_on += [len(list(watched.iterdir()))] * len(tick.run_requests)
        sensor_clock[0] += 60
    assert fired_on == [len(names)]  # once, on the whole export


def test_the_instance_queues_runs_one_at_a_time(tmp_path: Path, monkeypatch) -> None:
    """Schedules and the sensor share one ledger's warehouse and registry: runs must not overlap."""
    (tmp_path / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
    monkeypatch.setenv(DAGSTER_STORAGE_ENV, str(tmp_path / "storage"))
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"


def test_an_as_of_long_after_the_ledger_is_warned_of() -> None:
    from data_contracts.load import LoadedLedger
    from pipelines.defs.assets.ledger import _resolve_as_of

    tables = {
        "invoices": pd.DataFrame({"issue_date": pd.to_datetime(["2025-11-03"])}),
        "payments": pd.DataFrame({"payment_date": pd.to_datetime(["2025-12-31"])}),
    }
    loaded = LoadedLedger(tables, pd.DataFrame(), {}, "USD")
    assert _resolve_as_of(loaded, None) == date(2025, 12, 31) and not loaded.warnings
    assert _resolve_as_of(loaded, date(2026, 1, 31)) == date(2026, 1, 31)
    assert not loaded.warnings  # a month on is an ordinary as-of date
    _resolve_as_of(loaded, date(2030, 1, 1))
    assert loaded.warnings == [
        "the as-of date 2030-01-01 is 1,462 days after the ledger's last invoice or payment "
        "(2025-12-31): every open invoice is scored as if nothing had been paid since"
    ]


def test_contacts_dated_after_the_ledger_are_warned_of() -> None:
    """A call logged after the as-of date is not counted yet: in a replay that is the point, but
    dated after the ledger's last activity too it is a typo or a call the export's as-of date
    misses, and the worklist would ask for it again today."""
    from data_contracts.load import LoadedLedger
    from pipelines.defs.assets.ledger import _resolve_as_of

    contacts = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C2"],
            "contact_date": pd.to_datetime(["2025-12-30", "2026-01-04", "2026-01-05"]),
        }
    )
    tables = {
        "invoices": pd.DataFrame({"issue_date": pd.to_datetime(["2025-11-03"])}),
        "payments": pd.DataFrame({"payment_date": pd.to_datetime(["2025-12-31"])}),
        "contacts": contacts,
    }
    files = {"contacts": Path("contacts.csv")}
    replay = LoadedLedger(tables, pd.DataFrame(), {}, "USD", files=files)
    _resolve_as_of(replay, date(2026, 1, 5))
    _resolve_as_of(replay, date(2025, 12, 1))  # a replay: later calls are not known yet
    assert not replay.warnings
    live = LoadedLedger(tables, pd.DataFrame(), {}, "USD", files=files)
    assert _resolve_as_of(live, None) == date(2025, 12, 31)
    assert live.warnings == [
        "contacts.csv: 2 entries of customer C2 dated after 2025-12-31 (the latest 2026-01-05), "
        "after the as-of date and the ledger's last invoice or payment: the worklist does not "
        "count them before their date; correct a mistyped date, or give the as-of date they "
        "were made by"
    ]


def test_runs_are_logged_next_to_the_state_they_change(tmp_path: Path, monkeypatch) -> None:
    """The repository's dagster.yaml keeps its run storage in ./.arcast: a run against another
    state directory is logged under that one, or the Dagster UI would show runs whose models
    it cannot find."""
    from pipelines.run import dagster_instance

    (tmp_path / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv(DAGSTER_STORAGE_ENV, raising=False)  # dagster_instance sets it: restored
    for home in (tmp_path / ".arcast", tmp_path / "elsewhere"):
        settings = ArcastSettings(data_dir=str(tmp_path), out_dir="out", home=str(home))
        instance = dagster_instance(settings)
        assert Path(instance.root_directory).resolve().is_relative_to((home / "dagster").resolve())
        instance.dispose()
    assert (tmp_path / ".arcast" / "dagster" / "storage" / "history" / "runs.db").exists()


def test_arcast_under_a_dagster_home_finds_its_storage_unasked(tmp_path: Path, monkeypatch) -> None:
    """A shell that sets DAGSTER_HOME (as the README's Dagster section does) but not the storage
    variable still runs `arcast`: the storage is DAGSTER_HOME's .arcast/dagster/storage."""
    from pipelines.run import dagster_instance

    (tmp_path / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.delenv(DAGSTER_STORAGE_ENV, raising=False)
    settings = ArcastSettings(data_dir=str(tmp_path), out_dir="out", home=str(tmp_path / "h"))
    with dagster_instance(settings) as instance:
        create_run_for_test(instance, job_name="arcast_job")
    assert (tmp_path / ".arcast" / "dagster" / "storage" / "history" / "runs.db").exists()


def test_the_instance_is_the_same_from_any_directory(tmp_path: Path, monkeypatch) -> None:
    """A daemon and a webserver started in different directories must share one run history, and
    none of it may land in the directory a process happens to start in."""
    home, storage = tmp_path / "home", tmp_path / "storage"
    home.mkdir()
    (home / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(DAGSTER_STORAGE_ENV, str(storage))
    run_ids = []
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        with dg.DagsterInstance.get() as instance:
            run_ids.append(create_run_for_test(instance, job_name="arcast_job").run_id)
            assert [r.run_id for r in instance.get_runs()] == run_ids[::-1]
        assert not list(cwd.iterdir())
    assert (storage / "history" / "runs.db").exists()
    assert sorted(p.name for p in home.iterdir()) == ["dagster.yaml"]


def test_a_killed_cli_run_is_failed_and_frees_the_queue(tmp_path: Path, monkeypatch) -> None:
    """`arcast run` executes in-process: killed, its run stays STARTED and, one run at a time,
    would stop every schedule and sensor run for good. The dead_runs sensor fails it."""
    from dagster._core.remote_origin import (
        RegisteredCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )

    (tmp_path / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
    monkeypatch.setenv(DAGSTER_STORAGE_ENV, str(tmp_path / "storage"))
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid names no process now
    host = socket.gethostname()

    def started(pid: int, on: str) -> str:
        tags = {PID_TAG: str(pid), HOST_TAG: on}
        run = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED, tags=tags)
        return run.run_id

    killed = started(gone.pid, host)
    location = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("pipelines"), "__repository__")
    scheduled = create_run_for_test(
        instance,
        job_name="rescore_job",
        status=dg.DagsterRunStatus.QUEUED,
        remote_job_origin=RemoteJobOrigin(location, "rescore_job"),
    ).run_id
    queue = QueuedRunCoordinatorDaemon(interval_seconds=1)

    def next_runs() -> list[str]:
        runs = queue._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)
        return [run.run_id for run in runs]

    assert next_runs() == []  # 1 run in progress, maximum 1
    sensor = build_definitions(
        ArcastSettings(data_dir=str(tmp_path), out_dir="out", home=str(tmp_path / "home"))
    ).resolve_sensor_def("dead_runs")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING  # no one has to turn it on
    skip = sensor.evaluate_tick(dg.build_sensor_context(instance=instance)).skip_message
    assert killed in skip
    assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
    failure = instance.all_logs(killed, of_type=dg.DagsterEventType.RUN_FAILURE)[0]
    assert f"pid {gone.pid} on {host}) is gone" in failure.message
    assert next_runs() == [scheduled]
    # alive, or on another host (whose processes this one cannot see): left alone
    alive, elsewhere = started(os.getpid(), host), started(gone.pid, f"not-{host}")
    assert fail_dead_runs(instance) == []
    for run_id in (alive, elsewhere):
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    instance.dispose()


def test_a_run_launched_without_process_tags_tags_itself(tmp_path: Path) -> None:
    """Runs from the UI, a schedule or a sensor run in a worker the default run launcher starts,
    which names no process: the run's settings tag it, so that `dead_runs` can fail it too."""

    @dg.asset
    def probe(settings: ArcastSettings) -> None:
        """Stands in for `ledger`, which every job runs and which uses the settings."""

    settings = ArcastSettings(data_dir=str(tmp_path), out_dir="out", home=str(tmp_path / "home"))
    with dg.instance_for_test() as instance:
        result = dg.materialize([probe], resources={"settings": settings}, instance=instance)
        tags = instance.get_run_by_id(result.run_id).tags
    assert tags[PID_TAG] == str(os.getpid())
    assert tags[HOST_TAG] == socket.gethostname()


def test_sensor_takes_an_invoices_file_with_paid_dates_for_the_whole_export(
    tmp_path: Path, sensor_clock: list[float]
) -> None:
    """Its payments are derived from the paid dates: there is no payments file to wait for."""
    settings = ArcastSettings(data_dir=str(tmp_path), out_dir="out", home=str(tmp_path / "home"))
    sensor = build_definitions(settings).resolve_sensor_def("new_ledger_export")
    (tmp_path / "invoices.csv").write_text("invoice_id,customer_id,Paid Date\n")
    assert len(_settled_tick(sensor, settings, sensor_clock).run_requests) == 1
