"""The command line: plain one-line errors with exit code 2, validate's verdict, generate."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from arcast.cli import app
from models.scenarios import parse_scenarios
from tests.test_dialect import PAID_EXPORT, paid_export

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCAST_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)


def _copy_ledger(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.glob("*.csv"):
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_missing_required_column_exits_2_with_one_line(small_ledger_dir: Path, tmp_path: Path):
    ledger = _copy_ledger(small_ledger_dir, tmp_path / "ledger")
    invoices = pd.read_csv(ledger / "invoices.csv", dtype=str).drop(columns=["due_date"])
    invoices.to_csv(ledger / "invoices.csv", index=False)
    result = runner.invoke(app, ["run", "--data", str(ledger), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if "error" in line]
    assert len(lines) == 1
    assert lines[0].startswith("error: invoices.csv: missing required column 'due_date'")
    assert "Traceback" not in result.output


def test_missing_folder_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "ledger folder not found" in result.output


def test_validate_reports_quarantined_rows(small_ledger_dir: Path, tmp_path: Path) -> None:
    ledger = _copy_ledger(small_ledger_dir, tmp_path / "ledger")
    invoices = pd.read_csv(ledger / "invoices.csv", dtype=str)
    invoices.loc[3, "amount"] = "-5"
    invoices.to_csv(ledger / "invoices.csv", index=False)
    out = tmp_path / "out"
    result = runner.invoke(app, ["validate", "--data", str(ledger), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert f"Quarantined rows: invoices.csv 1 of {len(invoices):,}" in result.output
    quarantine = pd.read_csv(out / "quarantine.csv")
    row = quarantine[quarantine["file"] == "invoices.csv"]
    assert row["row"].tolist()[:1] == [5] and row["column"].tolist()[:1] == ["amount"]


def test_validate_as_of_counts_what_a_run_then_would_not_see(
    small_ledger_dir: Path, tmp_path: Path
) -> None:
    invoices = pd.read_csv(small_ledger_dir / "invoices.csv", parse_dates=["issue_date"])
    as_of = invoices["issue_date"].quantile(0.75).date()
    later = int((invoices["issue_date"] > pd.Timestamp(as_of)).sum())
    args = ["validate", "--data", str(small_ledger_dir), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--as-of", as_of.isoformat()])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert f"│ invoices.csv │ {len(invoices):,} │ {len(invoices):,} │ 0 │ {later:,} │" in output
    result = runner.invoke(app, [*args, "--as-of", "2031-01-01"])
    assert "Warning: the as-of date 2031-01-01 is" in result.output


def test_validate_names_a_misspelt_column_and_counts_every_row(
    small_ledger_dir: Path, tmp_path: Path
) -> None:
    """An optional column under another name is read as absent (no invoice disputed): the
    user must hear of it, with the column it probably meant; the currency's, which would leave
    every invoice in the base currency, stops the run."""
    ledger = _copy_ledger(small_ledger_dir, tmp_path / "ledger")
    invoices = pd.read_csv(ledger / "invoices.csv", dtype=str)
    invoices.rename(columns={"disputed": "Dispute Flag"}).to_csv(ledger / "invoices.csv")
    result = runner.invoke(app, ["validate", "--data", str(ledger), "--out", str(tmp_path / "o")])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert (
        "Warning: invoices.csv: ignored unknown column(s) '(blank)', 'Dispute Flag' (did you "
        "mean 'disputed'?)" in output
    )
    assert f"│ invoices.csv │ {len(invoices):,} │ {len(invoices):,} │ 0 │" in output
    invoices.rename(columns={"currency": "Currency Code"}).to_csv(ledger / "invoices.csv")
    result = runner.invoke(app, ["validate", "--data", str(ledger), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "error: invoices.csv: column 'Currency Code' looks like the invoices' currency" in (
        " ".join(result.output.split())
    )


def test_a_ledger_without_an_accepted_invoice_exits_2_and_says_why(
    small_ledger_dir: Path, tmp_path: Path
) -> None:
    ledger = _copy_ledger(small_ledger_dir, tmp_path / "ledger")
    invoices = pd.read_csv(ledger / "invoices.csv", dtype=str)
    issued = pd.to_datetime(invoices["issue_date"])
    invoices["due_date"] = (issued - pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d")
    invoices.to_csv(ledger / "invoices.csv", index=False)
    out = tmp_path / "out"
    for command in ("validate", "run"):
        result = runner.invoke(app, [command, "--data", str(ledger), "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert (
            f"error: invoices.csv: no row was accepted ({len(invoices)} of {len(invoices)} "
            "quarantined" in " ".join(result.output.split())
        )
        quarantine = pd.read_csv(out / "quarantine.csv")
        assert (quarantine[quarantine["file"] == "invoices.csv"]["column"] == "due_date").all()


def test_dates_in_another_format_name_the_setting_that_reads_them(
    small_ledger_dir: Path, tmp_path: Path
) -> None:
    ledger = _copy_ledger(small_ledger_dir, tmp_path / "ledger")
    invoices = pd.read_csv(ledger / "invoices.csv", dtype=str)
    for column in ("issue_date", "due_date"):
        invoices[column] = pd.to_datetime(invoices[column]).dt.strftime("%m/%d/%Y")
    invoices.to_csv(ledger / "invoices.csv", index=False)
    command = ["validate", "--data", str(ledger), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, command)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "set dates: {invoices: '%m/%d/%Y'} in ledger.yaml" in " ".join(result.output.split())
    (ledger / "ledger.yaml").write_text('dates: {invoices: "%m/%d/%Y"}\n')
    result = runner.invoke(app, command)
    assert result.exit_code == 0 and "All rows accepted." in result.output


def test_validate_accepts_a_clean_ledger(small_ledger_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["validate", "--data", str(small_ledger_dir), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "All rows accepted" in result.output


def test_generate_writes_a_loadable_ledger(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = runner.invoke(
        app, ["generate", "--customers", "15", "--seed", "3", "--months", "6", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    for name in ("customers.csv", "invoices.csv", "payments.csv", "disputes.csv", "fx_rates.csv"):
        assert (out / name).exists()


def test_bad_as_of_exits_2(small_ledger_dir: Path) -> None:
    result = runner.invoke(app, ["run", "--data", str(small_ledger_dir), "--as-of", "31/12/2024"])
    assert result.exit_code == 2
    assert "not an ISO date" in result.output


def test_as_of_before_any_payment_exits_2_with_one_line(small_ledger_dir: Path) -> None:
    result = runner.invoke(app, ["run", "--data", str(small_ledger_dir), "--as-of", "2024-01-01"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if "error" in line]
    assert lines == [
        "error: no invoice was paid by 2024-01-01: nothing to learn pay dates from (choose a "
        "later as-of date, or check that payments.csv holds the payments)"
    ]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "command", [["run"], ["worklist"], ["whatif", "--top", "1", "--delay", "5"]]
)
def test_a_model_from_few_paid_invoices_is_flagged_by_every_scoring_command(
    command: list[str], tmp_path: Path
) -> None:
    young = tmp_path / "young"
    flags = ["--customers", "3", "--months", "2", "--seed", "1", "--out", str(young)]
    assert runner.invoke(app, ["generate", *flags]).exit_code == 0
    args = [command[0], "--data", str(young), "--out", str(tmp_path / "out"), *command[1:]]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # rich wraps long lines
    note = re.search(r"the model learnt from only (\d+) paid invoices", output)
    payments = len(pd.read_csv(young / "payments.csv"))  # an invoice is paid by one or more
    assert note is not None and 0 < int(note.group(1)) <= payments
    # the full run ends on its headline figures
    assert ("Cash in the next 13 weeks (USD, expected)" in output) == (command[0] == "run")


def test_whatif_without_a_scenario_exits_2(small_ledger_dir: Path) -> None:
    result = runner.invoke(app, ["whatif", "--data", str(small_ledger_dir), "--top", "3"])
    assert result.exit_code == 2
    assert "say what changes" in result.output


def test_whatif_with_a_bad_scenario_file_exits_2_naming_it(
    small_ledger_dir: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("scenarios:\n  - name: a\n    rules: [{delay_days: soon}]\n")
    result = runner.invoke(
        app, ["whatif", "--data", str(small_ledger_dir), "--scenario", str(plan)]
    )
    assert result.exit_code == 2
    assert f"{plan}: scenarios.0.rules.0.delay_days" in result.output.replace("\n", "")


class _Stop(Exception):
    pass


@pytest.fixture
def written_scenarios(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The scenario documents `arcast whatif` hands to the pipeline, which then stops (`_Stop`)
    before anything is trained or scored."""
    run: list[dict] = []

    def capture(settings, **_):
        run.append(yaml.safe_load(Path(settings.scenario_file).read_text()))
        raise _Stop

    monkeypatch.setattr("pipelines.run.run_whatif", capture)
    return run


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--top", "0", "--delay", "5"], "inline scenario: --top: Input should be greater than"),
        (["--never-paid", "1.5"], "inline scenario: --never-paid: Input should be less than"),
        (["--disputes-resolved-by", "15/01/2026"], "inline scenario: --disputes-resolved-by:"),
        (["--delay", "5", "--delay", "7"], "inline scenario: --delay given 2 times (5, 7)"),
        (["--delay", "-100000"], "inline scenario: --delay -100000: at most 365 days either way"),
        (["--top", "3", "--top", "4", "--slower", "20"], "--top given 2 times"),
    ],
)
def test_inline_whatif_errors_name_the_flag(
    flags: list[str], message: str, small_ledger_dir: Path
) -> None:
    result = runner.invoke(app, ["whatif", "--data", str(small_ledger_dir), *flags])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_a_zero_inline_effect_is_a_scenario_not_a_missing_flag(
    small_ledger_dir: Path, tmp_path: Path, written_scenarios: list[dict]
) -> None:
    """`--delay 0` asks for the sanity check "nothing changes", not for no scenario."""
    run = written_scenarios
    out = tmp_path / "out"
    args = ["whatif", "--data", str(small_ledger_dir), "--out", str(out), "--top", "3"]
    assert isinstance(runner.invoke(app, [*args, "--delay", "0"]).exception, _Stop)
    (rule,) = run[0]["scenarios"][0]["rules"]
    assert rule == {"where": {"top_customers": 3}, "delay_days": 0}
    assert yaml.safe_load((out / "scenarios.yaml").read_text()) == run[0]  # what failed, kept


@pytest.mark.parametrize(
    ("command", "entry", "extra"),
    [
        ("run", "run_pipeline", []),
        ("worklist", "run_worklist", []),
        ("whatif", "run_whatif", ["--top", "3", "--delay", "5"]),
    ],
)
def test_ledger_name_names_the_ledger_for_every_scoring_command(
    command: str, entry: str, extra: list[str], small_ledger_dir: Path, monkeypatch
) -> None:
    seen = []

    def capture(settings, **_):
        seen.append(settings)
        raise _Stop

    monkeypatch.setattr(f"pipelines.run.{entry}", capture)
    args = [command, "--data", str(small_ledger_dir), "--ledger-name", "acme", *extra]
    assert isinstance(runner.invoke(app, args).exception, _Stop)
    assert seen[0].ledger_key == "acme"
    assert seen[0].data_dir == str(small_ledger_dir.resolve())


def test_every_command_summary_is_one_line() -> None:
    """`arcast --help` lists each command by its help's first paragraph, line breaks included,
    so a summary wrapped over two source lines shows up broken mid-sentence."""
    import inspect

    import typer

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        summary = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert summary and "\n" not in summary, f"{name}: {summary!r}"


def test_the_model_note_says_when_it_falls_behind_the_spreadsheet(
    capsys: pytest.CaptureFixture,
) -> None:
    from arcast.cli import _print_model_notes

    gap = "p50 MAE 11.27 days against the customer median's 8.46"
    model = {
        "name": "m",
        "version": "1",
        "paid_invoices": 500,
        "versus_baselines": {"scores": {}, "behind": [gap], "level": [], "beats_baselines": False},
    }
    _print_model_notes(model)
    said = " ".join(capsys.readouterr().err.split())
    assert f"did worse than the spreadsheet method ({gap}); on this ledger the" in said
    level = f"{gap}, within the window's noise of ±3.10 days"
    model["versus_baselines"] |= {"behind": [], "level": [level], "beats_baselines": True}
    _print_model_notes(model)
    said = " ".join(capsys.readouterr().err.split())
    assert f"cannot tell the model from the spreadsheet method ({level})" in said
    assert "worse" not in said
    model["versus_baselines"] |= {"level": []}
    _print_model_notes(model)
    assert "spreadsheet" not in capsys.readouterr().err
    model["beyond_paid_history"] = {
        "oldest_paid_days_late": 124,
        "max_days_late": 365,
        "paid_past_panel": 0,
        "open_invoices": 9,
        "amount_open_base": 81_234.5,
        "expected_13w_base": 40_100.0,
    }
    _print_model_notes(model)
    said = " ".join(capsys.readouterr().err.split())
    assert (
        "9 open invoices (81,234 in base currency) are more overdue than any invoice the model "
        "saw paid (124 days late); the 13-week forecast expects 40,100 from them"
    ) in said
    model["beyond_paid_history"] |= {"oldest_paid_days_late": 364, "paid_past_panel": 21}
    _print_model_notes(model)
    said = " ".join(capsys.readouterr().err.split())
    assert (
        "(364 days late; training follows an invoice to 365 days past due, and 21 paid later "
        "are not in its evidence)"
    ) in said
    model["beyond_paid_history"]["paid_past_panel"] = 1
    _print_model_notes(model)
    assert "and 1 paid later is not in its evidence" in " ".join(capsys.readouterr().err.split())
    model["beyond_paid_history"]["open_invoices"] = 0
    _print_model_notes(model)
    assert "more overdue" not in capsys.readouterr().err


def test_the_run_summary_warns_of_credit_balances_from_overpayments(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import json

    from arcast.cli import _print_outputs

    summary = {
        "as_of": "2025-06-30",
        "base_currency": "USD",
        "rows": {},
        "open_invoices_scored": 3,
        "model": {"name": "m", "version": "1", "trained_through": "2025-06-30"},
        "outputs": [],
    }
    (tmp_path / "run_summary.json").write_text(json.dumps(summary))
    pd.DataFrame({"line": ["open_ar", "projected_billing", "total"], "expected": 1.0}).to_csv(
        tmp_path / "cash_forecast.csv", index=False
    )
    pd.DataFrame({"week": [0, 13], "dso": [40.0, 38.0]}).to_csv(
        tmp_path / "kpi_forecast.csv", index=False
    )
    kpis = {"overpaid_invoices": 1, "overpaid_amount_base": 4_927.4}
    (tmp_path / "kpis.json").write_text(json.dumps(kpis))
    _print_outputs(tmp_path)
    said = " ".join(capsys.readouterr().err.split())
    assert (
        "Warning: credit balances from overpayments: 1 invoice, 4,927 USD — not in open AR"
    ) in said
    (tmp_path / "kpis.json").write_text(json.dumps(kpis | {"overpaid_amount_base": 0.0}))
    _print_outputs(tmp_path)
    assert "overpayments" not in capsys.readouterr().err


def write_worklist_outputs(worklist, as_of, out: Path) -> Path:
    """What `arcast worklist` writes and prints from: the CSVs, the drafts, four changes since
    the day before and a workbook with its About sheet."""
    from arcast.drafts import render_drafts, write_drafts
    from arcast.io import write_csv
    from arcast.workbook import ABOUT_SHEET, write_workbook
    from arcast.worklist_changes import CHANGE_COLUMNS

    write_csv(worklist.lines, out / "worklist.csv")
    write_csv(worklist.customers, out / "customer_view.csv")
    write_drafts(render_drafts(worklist, as_of), out / "drafts", "AR <ar@example.com>")
    changes = pd.DataFrame(
        [("paid", "promised"), ("paid", ""), ("gone from the ledger", ""), ("new", "")],
        columns=["change", "contact_status_before"],
    ).assign(since="2024-04-09")
    write_csv(changes.reindex(columns=CHANGE_COLUMNS), out / "worklist_changes.csv")
    about = {
        "model": "arcast-pay-date-acme",
        "model version": "3 (champion)",
        "trained through": "2024-04-09",
        "MLflow run": "0123abcd",
        "ledger fingerprint": "9f8e7d (7 invoices, 3 payments)",
    }
    about = pd.DataFrame({"item": list(about), "value": list(about.values())})
    write_workbook({"Worklist": worklist.dunning, ABOUT_SHEET: about}, out / "worklist.xlsx")
    return out


def test_the_worklist_summary_leads_with_todays_contacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table is the day's contacts by priority, not the top of the list (A1 ranks first but
    waits on a promise); the summary counts who is contacted today and who waits, splits what
    left the list into paid and gone, and names the model that scored it."""
    from datetime import date

    from rich.console import Console

    import arcast.cli
    from arcast.worklist import build_worklist
    from tests.test_worklist import contact_log, predictions, standing

    as_of = date(2024, 4, 10)  # a Wednesday
    rows = {  # invoice: days overdue, p_late_30, amount
        "A1": (40, 0.9, 10_000.0),  # promised
        "B1": (10, 0.5, 5_000.0),
        "B2": (5, 0.2, 100.0),
        "C1": (10, 0.5, 3_000.0),  # called two days ago
        "D1": (-20, 0.1, 2_000.0),  # monitor
        "E1": (20, 0.5, 1_000.0),  # on hold
        "F1": (15, 0.3, 400.0),
    }
    df = pd.concat(
        [
            predictions(1, as_of=as_of).assign(
                invoice_id=i, customer_id=i[0], days_overdue=d, p_late_30=p, disputed=False,
                invoice_amount=a, amount_open=a, amount_open_base=a,
            )
            for i, (d, p, a) in rows.items()
        ],
        ignore_index=True,
    )  # fmt: skip
    df["due_date"] = pd.Timestamp(as_of) - pd.to_timedelta(df["days_overdue"], "D")
    df["issue_date"] = df["due_date"] - pd.Timedelta(days=60)
    log = contact_log(
        [
            ("A", "2024-04-09", "promise", "A1", "2024-04-20"),
            ("C", "2024-04-08", "contacted", None, None),
            ("E", "2024-04-01", "hold", None, "2024-05-01"),
        ]
    )
    worklist = build_worklist(df, as_of, standing(list("ABCDEF")), contacts=log)
    out = write_worklist_outputs(worklist, as_of, tmp_path / "out")
    console = Console(width=140, record=True)
    monkeypatch.setattr(arcast.cli, "console", console)
    arcast.cli._print_worklist(out)
    text = console.export_text()
    said = " ".join(text.split())
    assert (
        "Today's contacts: 2 customers, 3 invoices, 5,500.00 open (base currency). Waiting: 3 "
        "invoices of 3 customers (1 on a promise, 1 on hold, 1 spaced after a call); 1 not due "
        "for contact yet."
    ) in said
    table = text[text.index("Today's contacts by priority") : text.index("Outputs in")]
    shown = sorted((i for i in rows if f" {i} " in table), key=lambda i: table.index(f" {i} "))
    assert shown == ["B1", "F1", "B2"]  # by priority; A1, C1, D1 and E1 wait
    ranks = worklist.lines.set_index("invoice_id")["rank"]
    for invoice in shown:  # each keeps its rank in the whole worklist (the workbook's)
        assert re.search(rf"^\s*{ranks[invoice]}\s+{invoice}\s", table, re.M)
    assert "#: rank in the whole worklist" in " ".join(table.split())
    changed = "since the worklist of 2024-04-09, 2 paid (1 as promised), 1 gone from the ledger"
    assert f"{changed}, 1 new" in said
    assert (
        "Scored by arcast-pay-date-acme version 3 (champion), trained through 2024-04-09 "
        "(MLflow run 0123abcd); ledger fingerprint 9f8e7d (7 invoices, 3 payments)"
    ) in said


def test_the_worklist_summary_keeps_an_ids_leading_zeros(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read back from worklist.csv, an ERP's all-digit ids are text: 00001303, not 1303."""
    from datetime import date

    from rich.console import Console

    import arcast.cli
    from arcast.worklist import build_worklist
    from tests.test_worklist import predictions, standing

    as_of = date(2024, 4, 10)
    df = predictions(2, as_of=as_of).assign(
        invoice_id=["00001303", "00001304"], customer_id="0042", days_overdue=10, disputed=False
    )
    worklist = build_worklist(df, as_of, standing(["0042"]))
    out = write_worklist_outputs(worklist, as_of, tmp_path / "out")
    console = Console(width=140, record=True)
    monkeypatch.setattr(arcast.cli, "console", console)
    arcast.cli._print_worklist(out)
    text = console.export_text()
    assert " 00001303 " in text and " 00001304 " in text


def test_validate_counts_the_payments_derived_from_paid_dates(tmp_path: Path) -> None:
    """Their rows are counted as the paid-date column's, and quarantine.csv points at the
    invoices file's line and that column."""
    invoices = PAID_EXPORT.replace("02/20/2024", "02/31/2024")
    ledger = paid_export(tmp_path / "ledger", invoices)
    out = tmp_path / "out"
    result = runner.invoke(app, ["validate", "--data", str(ledger), "--out", str(out)])
    output = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert re.search(r"│ payments from AR\.csv( 'Clearing Date')? │ 2 │ 1 │ 1 │ 0 │", output)
    assert "Quarantined rows: payments from AR.csv 'Clearing Date' 1 of 2" in output
    quarantine = pd.read_csv(out / "quarantine.csv")
    assert quarantine[["file", "row", "column"]].values.tolist() == [["AR.csv", 3, "Clearing Date"]]


def test_inline_currency_codes_match_in_any_case(
    small_ledger_dir: Path, tmp_path: Path, written_scenarios: list[dict]
) -> None:
    run = written_scenarios
    args = ["whatif", "--data", str(small_ledger_dir), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, [*args, "--currency", "eur", "--never-paid", "0.03"])
    assert isinstance(result.exception, _Stop)
    assert run[0]["scenarios"][0]["rules"][0]["where"] == {"currencies": ["eur"]}  # as given
    (scenario,) = parse_scenarios(run[0], "scenarios.yaml")
    assert scenario.rules[0].where.currencies == ("EUR",)  # the model upper-cases codes


def test_inline_selection_errors_name_the_flag_and_hint_ids_and_spelling(monkeypatch) -> None:
    """The run checks selections against the open invoices and names the scenarios.yaml it
    wrote; for inline flags the user never wrote one, so the error names the flag."""
    import duckdb
    from dagster._utils.error import SerializableErrorInfo

    from arcast.cli import _inline_errors, _selection_hints
    from pipelines.run import PipelineError

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE customers AS SELECT * FROM (VALUES ('C1', 'Delta Partners LLC', 'SMB'), "
        "('C2', 'Orbit Corp.', 'Enterprise')) AS t(customer_id, name, segment)"
    )
    where = {"customers": ["delta partners llc", "C2"], "segments": ["smb"]}
    assert _selection_hints(con, where) == (
        "; --customer takes ids: 'delta partners llc' is C1; segments match exactly: --segment SMB"
    )

    inline = "/out/scenarios.yaml: scenario 'inline' rule 1: "
    problem = "no open invoice or projected billing has customer_id delta partners llc"
    message = f"ScenarioError: {inline}{problem}"

    def failing(settings, progress=None):
        raise PipelineError("check", SerializableErrorInfo(message, [], "ScenarioError"))

    monkeypatch.setattr("pipelines.run.replay_settings", lambda settings: settings)
    monkeypatch.setattr("pipelines.defs.resources.warehouse_resource", lambda settings: settings)
    settings = type("Warehouse", (), {"get_connection": lambda self: _Borrowed(con)})()
    with pytest.raises(PipelineError) as caught:
        _inline_errors(failing, settings, None, inline, where)
    assert caught.value.error_message.startswith(
        f"inline scenario: --customer: {problem}; --customer takes ids: 'delta partners llc' is C1"
    )


class _Borrowed:
    def __init__(self, con) -> None:
        self.con = con

    def __enter__(self):
        return self.con

    def __exit__(self, *_) -> None:
        pass
