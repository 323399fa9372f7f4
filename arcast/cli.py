"""`arcast`: the command line. A thin front over the Dagster asset graph in `pipelines/`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from arcast.drafts import DEFAULT_SENDER, DraftTemplateError
from data_contracts.load import LedgerFileError
from models.paydate import (
    THIN_HISTORY_PAYMENTS,
    LookAheadError,
    ModelVersionError,
    NoPaymentHistoryError,
)
from models.scenarios import ScenarioError
from pipelines.defs.resources import DEMO_CUSTOMERS, DEMO_OUT, DEMO_SEED, demo_ledger_dir

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    help="AR pay-date forecasting, 13-week cash-in forecasts and collections worklists.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # a docstring's wrapped lines make one paragraph
)
console = Console(stderr=True)

STAGE_LABELS = {
    "ledger": "Load and validate the ledger",
    "ledger_continuity": "Compare with the last export",
    "point_in_time_facts": "Build point-in-time features",
    "invoice_facts_scenario_selections": "Check the what-if scenarios",
    "pay_date_model": "Train the challenger model",
    "promotion_gate": "Check the promotion gate",
    "champion_model": "Promote the champion",
    "invoice_predictions": "Score open invoices",
    "projected_billing": "Project new billing",
    "cash_forecast_13w": "Forecast 13-week cash-in",
    "scenario_forecast": "Run what-if scenarios",
    "ar_kpis": "Compute AR KPIs",
    "kpi_forecast": "Forecast KPIs week by week",
    "forecast_accuracy": "Score past forecasts",
    "collections_worklist": "Rank the collections worklist",
    "cfo_report": "Write the CFO report",
    "run_summary": "Write the run summary",
}


def _fail(message: str) -> typer.Exit:
    """Print one unwrapped error line; the caller raises the returned exit (code 2)."""
    console.print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)
    return typer.Exit(2)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def _run_with_progress(work, steps: int):
    """Run ``work(on_step)`` under a progress bar; a ledger file error exits 2 with one line."""
    from pipelines.run import PipelineError

    with _progress() as progress:
        task = progress.add_task("Starting", total=steps)

        def on_step(event: str, step: str) -> None:
            if event == "start":
                progress.update(task, description=STAGE_LABELS.get(step, step))
            elif event == "success":
                progress.advance(task)

        try:
            return work(on_step)
        except PipelineError as exc:
            progress.stop()
            one_line = (
                LedgerFileError,
                ScenarioError,
                DraftTemplateError,
                NoPaymentHistoryError,
                LookAheadError,
                ModelVersionError,
            )
            if exc.error_class in {e.__name__ for e in one_line}:
                raise _fail(exc.error_message) from None
            raise


def _other_ledgers(settings) -> list[str]:
    """The ledgers this home keeps, if ``settings``' ledger has no champion yet: the lines a new
    one may have been meant to continue (asked before the run, which may train one). The first
    look at the home's model store: one that cannot follow the home's move stops here."""
    from models.tracking import CHAMPION, HomeStoreError, alias_version, kept_ledgers

    try:
        if alias_version(settings.registry, CHAMPION) is not None:
            return []
    except HomeStoreError as exc:
        raise _fail(str(exc)) from None
    return [k for k in kept_ledgers(settings.home_path) if k != settings.ledger_key]


def _print_new_ledger(settings, others: list[str], what: str) -> None:
    if others:
        console.print(
            f"[yellow]Note: '{settings.ledger_key}' is a new ledger here ({what}); this home "
            f"also keeps {', '.join(map(repr, others[:3]))}{' …' if len(others) > 3 else ''}. "
            "If this export continues one of them, run with --ledger-name.[/yellow]",
            soft_wrap=True,
        )


def _serve(
    work,
    settings,
    show: Callable[[Path], None],
    prepare: Callable[[], None] | None = None,
    inputs: tuple[str, ...] = (),
) -> None:
    """Run a `pipelines.run` entry point under the progress bar, report a refused challenger
    (the champion keeps serving), then show what was written and what to know of the ledger and
    the model. ``prepare`` writes ``inputs``, files the run reads from the output folder (a
    what-if's scenarios). A run that fails leaves the folder as it was, but for those and the
    quarantine report, which say why: no mix of two runs' results; one killed midway is rolled
    back when the next starts."""
    from arcast.io import restore_on_failure
    from data_contracts.load import QUARANTINE_FILE
    from pipelines.run import ledger_notes, replay_settings, served_model

    started = time.perf_counter()
    out = Path(settings.out_dir)
    others = _other_ledgers(settings)
    with restore_on_failure(out, keep=(QUARANTINE_FILE, *inputs)) as rolled_back:
        if rolled_back:
            console.print(f"[yellow]Note: {rolled_back}.[/yellow]", soft_wrap=True)
        if prepare:
            prepare()
        _, refusal = _run_with_progress(
            lambda on_step: work(settings, progress=on_step), steps=len(STAGE_LABELS)
        )
    if refusal:
        console.print(f"[yellow]Challenger not promoted:[/yellow] {refusal}", soft_wrap=True)
    show(out)
    replay = replay_settings(settings)
    _print_ledger_notes(ledger_notes(replay), out)
    _print_model_notes(served_model(replay))
    _print_new_ledger(settings, others, "its first model, no forecast history")
    if replay is not settings:
        console.print(
            f"Replay of {settings.as_of}: scored by a model fitted as of that date and kept "
            f"apart ({replay.registry.model_name}); the ledger's champion, trained on later "
            "data, is untouched.",
            soft_wrap=True,
        )
    console.print(f"Done in {time.perf_counter() - started:.0f} s.")


def _print_model_notes(model: dict) -> None:
    """Warn, whatever the command, when the serving model's numbers rest on little evidence, or
    its latest backtest window did not show it better than the spreadsheet method."""
    paid = model.get("paid_invoices")
    if paid is not None and paid < THIN_HISTORY_PAYMENTS:
        console.print(
            f"[yellow]Note: the model learnt from only {paid} paid invoices; with fewer than "
            f"{THIN_HISTORY_PAYMENTS} its dates and risks rest on little evidence.[/yellow]"
        )
    beyond = model.get("beyond_paid_history") or {}
    if beyond.get("open_invoices"):
        seen = f"{beyond['oldest_paid_days_late']} days late"
        if past := beyond.get("paid_past_panel"):  # evidence the panel's cap left out
            seen += (
                f"; training follows an invoice to {beyond['max_days_late']} days past due, and "
                f"{past:,} paid later {'is' if past == 1 else 'are'} not in its evidence"
            )
        console.print(
            f"[yellow]Note: {beyond['open_invoices']:,} open invoices "
            f"({beyond['amount_open_base']:,.0f} in base currency) are more overdue than any "
            f"invoice the model saw paid ({seen}); the "
            f"13-week forecast expects {beyond['expected_13w_base']:,.0f} from them on younger "
            "debts' evidence: review them for collection or write-off.[/yellow]"
        )
    versus = model.get("versus_baselines")
    if not versus:
        return
    if versus["behind"]:
        console.print(
            "[yellow]Note: on its latest backtest window the model did worse than the "
            f"spreadsheet method ({'; '.join(versus['behind'])}); on this ledger the "
            "customer's own average delay is the better forecast for now.[/yellow]"
        )
    elif versus["level"]:
        console.print(
            "[yellow]Note: its latest backtest window cannot tell the model from the "
            f"spreadsheet method ({'; '.join(versus['level'])}); on this ledger its dates and "
            "risks are not yet measurably better than the customer's own average delay."
            "[/yellow]"
        )


def _settings(
    data: Path,
    out: Path,
    as_of: date | None,
    base_currency: str,
    seed: int = 42,
    scenarios: Path | None = None,
    templates: Path | None = None,
    sender: str = DEFAULT_SENDER,
    ledger_name: str = "",
    accept_missing_rows: bool = False,
):
    from arcast.drafts import load_templates
    from pipelines.defs.resources import ArcastSettings

    if not data.is_dir():
        raise _fail(f"{data}: ledger folder not found")
    try:  # a broken template fails now, not after scoring
        load_templates(templates)
    except DraftTemplateError as exc:
        raise _fail(str(exc)) from None
    return ArcastSettings(
        data_dir=str(data.resolve()),
        ledger_name=ledger_name,
        out_dir=str(out.resolve()),
        as_of=as_of.isoformat() if as_of else "",
        base_currency=base_currency.upper(),
        seed=seed,
        scenario_file=str(scenarios.resolve()) if scenarios else "",
        templates_dir=str(templates.resolve()) if templates else "",
        sender=sender,
        accept_missing_rows=accept_missing_rows,
    )


def _print_accounting(rows: dict[str, dict[str, int]], title: str) -> None:
    """Rows in = accepted + quarantined, per file, and those dated after the as-of date."""
    table = Table(title=title, show_lines=False)
    for col in ("file", "rows in", "accepted", "quarantined", "after as-of"):
        table.add_column(col, justify="right" if col != "file" else "left")
    for name, r in rows.items():
        counts = (r["rows_in"], r["accepted"], r["quarantined"], r["after_as_of"])
        table.add_row(name, *(f"{c:,}" for c in counts))
    console.print(table)


def _print_ledger_notes(notes: dict, out: Path) -> None:
    """The loader's warnings and, in one line, what was quarantined: every command that reads
    the ledger says so, not only the one that prints the accounting table."""
    for warning in notes["warnings"]:
        console.print(f"[yellow]Warning: {warning}.[/yellow]", soft_wrap=True)
    quarantined = [
        f"{name} {r['quarantined']:,} of {r['rows_in']:,}"
        for name, r in notes["rows"].items()
        if r["quarantined"]
    ]
    if quarantined:
        console.print(
            f"[yellow]Quarantined rows: {'; '.join(quarantined)} (reasons in "
            f"{out.resolve() / 'quarantine.csv'}).[/yellow]",
            soft_wrap=True,
        )


def _print_outputs(out: Path) -> None:
    import pandas as pd

    from arcast.report import money

    summary = json.loads((out / "run_summary.json").read_text())
    _print_accounting(summary["rows"], f"arcast run — as of {summary['as_of']}")
    cash = pd.read_csv(out / "cash_forecast.csv").groupby("line")["expected"].sum()
    dso = pd.read_csv(out / "kpi_forecast.csv").set_index("week")["dso"]
    console.print(
        f"Cash in the next 13 weeks ({summary['base_currency']}, expected): "
        f"{cash['open_ar']:,.0f} from open invoices + {cash['projected_billing']:,.0f} from "
        f"invoices not yet issued = [bold]{cash['total']:,.0f}[/bold]. DSO {dso.iloc[0]:.1f} "
        f"days today, {dso.iloc[-1]:.1f} expected in {dso.index[-1]} weeks.",
        soft_wrap=True,
    )
    kpis = json.loads((out / "kpis.json").read_text())
    if kpis["overpaid_amount_base"]:
        n, amount = kpis["overpaid_invoices"], kpis["overpaid_amount_base"]
        console.print(
            f"[yellow]Warning: credit balances from overpayments: {n:,} invoice"
            f"{'' if n == 1 else 's'}, {money(amount, summary['base_currency'])} — not in open "
            "AR (kpis.json overpaid_amount_base).[/yellow]",
            soft_wrap=True,
        )
    console.print(
        f"Scored {summary['open_invoices_scored']:,} open invoices with model "
        f"{summary['model']['name']} v{summary['model']['version']}, trained on data through "
        f"{summary['model']['trained_through']}.",
        soft_wrap=True,
    )
    console.print(f"Outputs in [bold]{out}[/bold]:")
    for name in summary["outputs"]:
        console.print(f"  {out / name}")


TemplatesOption = Annotated[
    Path | None,
    typer.Option(
        "--templates",
        help="Folder of your own reminder templates (Jinja2); each file found there replaces the "
        "shipped one of the same name.",
    ),
]
SenderOption = Annotated[str, typer.Option("--sender", help="From header of the reminder drafts.")]
LedgerNameOption = Annotated[
    str,
    typer.Option(
        "--ledger-name",
        help="Keep this ledger's models and forecast history under a name instead of the "
        "folder's path: for exports that land in a new folder each time.",
    ),
]


@app.command()
def run(
    data: Annotated[Path, typer.Option("--data", help="Folder with the canonical ledger files.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the output files.")] = Path("out"),
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO date; ledger seen as of the end of it.")
    ] = None,
    base_currency: Annotated[str, typer.Option(help="Reporting currency.")] = "USD",
    seed: Annotated[int, typer.Option(help="Seed for every random choice.")] = 42,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="YAML file of what-if scenarios to run too.")
    ] = None,
    templates: TemplatesOption = None,
    sender: SenderOption = DEFAULT_SENDER,
    ledger_name: LedgerNameOption = "",
) -> None:
    """Run the whole pipeline on a ledger folder: predictions, cash forecast, worklist, KPIs."""
    _check_scenarios(scenario)
    settings = _settings(
        data, out, _parse_date(as_of), base_currency, seed, scenario, templates, sender, ledger_name
    )
    from pipelines.run import run_pipeline

    _serve(run_pipeline, settings, _print_outputs)


@app.command()
def validate(
    data: Annotated[Path, typer.Option("--data", help="Folder with the canonical ledger files.")],
    out: Annotated[Path, typer.Option("--out", help="Where quarantine.csv is written.")] = Path(
        "out"
    ),
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="ISO date: also count the rows a run as of that date would not see."
        ),
    ] = None,
    base_currency: Annotated[str, typer.Option(help="Reporting currency.")] = "USD",
    ledger_name: LedgerNameOption = "",
    accept_missing_rows: Annotated[
        bool,
        typer.Option(
            "--accept-missing-rows",
            help="The export is meant to hold fewer rows than the one the champion learnt from "
            "(old months archived): accept it, and compare later exports with it.",
        ),
    ] = False,
) -> None:
    """Check a ledger against the data contract; exit 1 if any row was quarantined.

    With the ledger's name (or its usual folder), also against the export its champion learnt
    from: an export cut short exits 2, unless accepted with --accept-missing-rows.
    """
    import dagster as dg

    from pipelines.defs.assets.ledger import LEDGER_ASSETS

    settings = _settings(
        data,
        out,
        _parse_date(as_of),
        base_currency,
        ledger_name=ledger_name,
        accept_missing_rows=accept_missing_rows,
    )
    from pipelines.run import execute, ledger_notes, raise_failure

    def work(on_step):
        result = execute(settings, selection=LEDGER_ASSETS, progress=on_step)
        if not result.success:
            raise_failure(result)
        return result

    others = _other_ledgers(settings)
    result = _run_with_progress(work, steps=2)  # the ledger, then its continuity check
    table = Table(title="Data contract")
    for col in ("check", "asset", "passed"):
        table.add_column(col)
    for evaluation in result.get_asset_check_evaluations():
        warned = not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        table.add_row(
            evaluation.check_name,
            evaluation.asset_key.to_user_string(),
            "[green]yes[/green]"
            if evaluation.passed
            else "[yellow]accepted[/yellow]"
            if warned
            else "[red]no[/red]",
        )
    console.print(table)
    notes = ledger_notes(settings)
    _print_accounting(notes["rows"], "Rows")
    _print_ledger_notes(notes, out)
    _print_new_ledger(settings, others, "no export of it to compare with")
    if any(r["quarantined"] for r in notes["rows"].values()):
        raise typer.Exit(1)
    console.print("All rows accepted.")


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the ledger to.")],
    customers: Annotated[int, typer.Option(help="Number of customers.")] = DEMO_CUSTOMERS,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same ledger).")] = DEMO_SEED,
    months: Annotated[int, typer.Option(help="Months of history.")] = 24,
    start: Annotated[str, typer.Option(help="First day of the history.")] = "2024-01-01",
) -> None:
    """Write a realistic synthetic AR ledger in the canonical format."""
    from arcast.generate import GeneratorConfig, generate_ledger, write_ledger

    config = GeneratorConfig(
        n_customers=customers, seed=seed, start=_parse_date(start), months=months
    )
    with console.status(f"Generating {customers} customers"):
        ledger = generate_ledger(config)
        paths = write_ledger(ledger, out)
    for name, path in paths.items():
        console.print(f"  {name}: {path}")
    console.print(f"Ledger exported as of {ledger.export_date}.")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the output files.")] = Path(
        DEMO_OUT
    ),
    customers: Annotated[int, typer.Option(help="Customers in the demo ledger.")] = DEMO_CUSTOMERS,
    seed: Annotated[int, typer.Option(help="Seed of the demo ledger.")] = DEMO_SEED,
) -> None:
    """Generate (or reuse) the demo ledger and run the whole pipeline on it."""
    from arcast.generate import GeneratorConfig, generate_ledger, write_ledger
    from data_contracts.schema import TABLES

    data = demo_ledger_dir(customers, seed)
    if not all((data / f"{table.name}.csv").exists() for table in TABLES):  # or an older demo
        with console.status(f"Generating the demo ledger ({customers} customers)"):
            write_ledger(generate_ledger(GeneratorConfig(n_customers=customers, seed=seed)), data)
    console.print(f"Demo ledger: {data.resolve()}")
    from pipelines.run import run_pipeline

    _serve(run_pipeline, _settings(data, out, None, "USD", seed, DEMO_SCENARIOS), _print_outputs)


@app.command("import-ibm")
def import_ibm(
    src: Annotated[Path, typer.Option("--src", help="The IBM 'Accounts Receivable' CSV file.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the canonical ledger.")],
) -> None:
    """Convert the IBM Watson Analytics AR sample into the canonical ledger format."""
    from arcast.ibm import convert_ibm

    if not src.is_file():
        raise _fail(f"{src}: file not found")
    counts = convert_ibm(src, out)
    for name, n in counts.items():
        console.print(f"  {name}: {n} rows")
    console.print(f"Canonical ledger written to {out.resolve()}")


BACKTEST_STAGES = {
    "train": "train the model",
    "score": "score the open invoices",
    "baselines": "baselines",
    "oracle": "sample the oracle",
    "done": "done",
}
BACKTEST_TABLES = {
    "pay date": {
        "n_paid": "paid",
        "mae_p50": "MAE p50",
        "mae_p50_vs_oracle": "÷oracle",
        "coverage_p10_p90": "p10–p90",
        "pit_coverage": "PIT cov.",
    },
    "paid more than 30 days late": {
        "n_late30": "known",
        "auc_late30": "AUC",
        "auc_late30_fresh": "AUC fresh",
        "brier_late30": "Brier",
        "ece_late30": "ECE",
    },
}
CASH_TABLE = {
    "cash_wape": "WAPE",
    "cash_wape_vs_oracle": "÷oracle",
    "cash_wape_vs_due_date": "÷due date",
    "cash_bias": "bias",
    "cash_coverage": "p10–p90 cov.",
    "model_ahead_cutoffs": "model ahead",
}


@app.command()
def backtest(
    data: Annotated[Path, typer.Option("--data", help="Folder with the canonical ledger files.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the backtest files.")] = Path(
        "out/backtest"
    ),
    cutoffs: Annotated[
        str | None, typer.Option(help="ISO dates, comma-separated; taken as given.")
    ] = None,
    every: Annotated[
        str, typer.Option(help="Without --cutoffs: every n month-ends, e.g. 1M.")
    ] = "1M",
    last: Annotated[
        int,
        typer.Option(help="Without --cutoffs: how many, the latest leaving 91 days of outcomes."),
    ] = 6,
    at_issue: Annotated[
        bool,
        typer.Option(
            "--at-issue",
            help="Train once at --train-until, score each invoice issued from --test-from on "
            "as of its issue date.",
        ),
    ] = False,
    train_until: Annotated[str | None, typer.Option(help="With --at-issue: ISO date.")] = None,
    test_from: Annotated[str | None, typer.Option(help="With --at-issue: ISO date.")] = None,
    refit_months: Annotated[
        int,
        typer.Option(help="With --at-issue: refit every n month-ends (walk-forward); 0 = once."),
    ] = 0,
    oracle_samples: Annotated[
        int, typer.Option(help="Oracle draws per invoice if the ledger has _truth/ (0: none).")
    ] = 200,
    max_rows: Annotated[int | None, typer.Option(help="Cap on training rows.")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="Cap on boosting rounds.")] = None,
    threads: Annotated[int | None, typer.Option(help="LightGBM threads.")] = None,
    boosters: Annotated[
        int | None,
        typer.Option(
            min=1, help="Seed-varied boosters averaged (lower variance, that many times slower)."
        ),
    ] = None,
    base_currency: Annotated[str, typer.Option(help="Reporting currency.")] = "USD",
    seed: Annotated[int, typer.Option(help="Seed for every random choice.")] = 42,
) -> None:
    """Replay past cutoffs: train on what was known, score open invoices against what happened.

    Writes backtest_metrics.csv, backtest_invoices.csv (each invoice's forecasts and errors),
    backtest_summary.json and two plots, and (rolling origin) the
    13-week cash forecast's backtest_cash.csv, backtest_cash_metrics.csv and fan chart.
    """
    from functools import partial

    from arcast.generate import load_truth, oracle_sample_pay_dates
    from arcast.io import write_atomic, write_csv, write_json
    from models.backtest import (
        CutoffRule,
        format_metric,
        invoice_rows,
        run_at_issue,
        run_backtest,
    )
    from models.paydate import TrainingConfig
    from models.plots import backtest_figures, cash_fan_figure

    if not data.is_dir():
        raise _fail(f"{data}: ledger folder not found")
    knobs = {
        "max_rows": max_rows,
        "max_rounds": max_rounds,
        "num_threads": threads,
        "boosters": boosters,
    }
    config = TrainingConfig(seed=seed, **{k: v for k, v in knobs.items() if v is not None})
    currency = base_currency.upper()
    if at_issue:
        if not (train_until and test_from):
            raise _fail("--at-issue needs --train-until and --test-from")
        until, start = _parse_date(train_until), _parse_date(test_from)
        run_it = partial(
            run_at_issue, data, until, start, config, refit_months=refit_months, seed=seed
        )
    else:
        if cutoffs:
            chosen = [_parse_date(c.strip()) for c in cutoffs.split(",") if c.strip()]
        else:
            try:
                chosen = CutoffRule(every, last)
            except ValueError as exc:
                raise _fail(str(exc)) from None
        oracle = None
        if oracle_samples > 0 and (data / "_truth").is_dir():
            oracle = partial(oracle_sample_pay_dates, load_truth(data))
        run_it = partial(
            run_backtest,
            data,
            chosen,
            config,
            oracle=oracle,
            oracle_samples=oracle_samples,
            seed=seed,
        )

    started = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("cutoffs"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("Load the ledger and build the facts", total=None)

        def on_progress(done: int, total: int, cutoff: date, stage: str) -> None:
            label = f"{cutoff}: {BACKTEST_STAGES.get(stage, stage)}"
            progress.update(task, total=total, completed=done, description=label)

        try:
            result = run_it(progress=on_progress, base_currency=currency)
        except (LedgerFileError, ValueError) as exc:
            progress.stop()
            raise _fail(str(exc)) from None
    write_csv(result.metrics, out / "backtest_metrics.csv")
    write_csv(invoice_rows(result.rows), out / "backtest_invoices.csv")
    write_json(result.summary, out / "backtest_summary.json")
    figures = backtest_figures(result.rows)
    if not result.cash.empty:
        write_csv(result.cash, out / "backtest_cash.csv")
        write_csv(result.cash_metrics, out / "backtest_cash_metrics.csv")
        figures["cash"] = cash_fan_figure(result.cash)
    for name, fig in figures.items():
        write_atomic(
            out / f"backtest_{name}.png", lambda p, fig=fig: fig.savefig(p, dpi=100, format="png")
        )

    pooled = result.metrics[result.metrics["cutoff"] == "pooled"]
    scope = f"pooled over {len(result.summary['cutoffs'])} cutoff(s)"
    if result.summary["mode"] == "at_issue":  # one test window, walked forward by refits
        test = result.summary["cutoffs"][0]
        scope = (
            f"{test['test_invoices']:,} invoices issued from {test['test_from']}, each scored at "
            f"issue by the latest of {len(test['models'])} model(s)"
        )
    for topic, wanted in BACKTEST_TABLES.items():
        columns = {k: v for k, v in wanted.items() if k in pooled.columns}
        table = Table(title=f"Backtest, {topic}: {scope}", box=box.SIMPLE_HEAD)
        table.add_column("segment", no_wrap=True)
        table.add_column("method", no_wrap=True)
        for label in columns.values():
            table.add_column(label, justify="right")
        names = ["segment", "method", *columns]
        for row in pooled[names].itertuples(index=False):
            cells = zip(names, row, strict=True)
            table.add_row(*(format_metric(v, count=name.startswith("n_")) for name, v in cells))
        console.print(table)
    if not result.cash.empty:
        console.print(_cash_table(result.cash_metrics, result.summary["cash"]["rho"]))
    if result.summary.get("skipped_cutoffs"):
        skipped = ", ".join(result.summary["skipped_cutoffs"])
        console.print(f"Skipped cutoff(s) {skipped}: no invoice had been paid by then.")
    console.print(f"Outputs in [bold]{out.resolve()}[/bold]")
    console.print(f"Done in {time.perf_counter() - started:.0f} s ({scope}).")


DEMO_SCENARIOS = Path(__file__).with_name("demo_scenarios.yaml")


def _check_scenarios(path: Path | None) -> None:
    """Fail fast, before any work, on a scenario file that cannot be read or parsed."""
    from models.scenarios import load_scenarios

    if path is not None:
        try:
            load_scenarios(path)
        except ScenarioError as exc:
            raise _fail(str(exc)) from None


MAX_DELAY_DAYS = 365
"""The longest inline --delay either way: a year moves every payment out of the 13 weeks, or
all of them to the day after the as-of date, so a larger one is a typo."""


@app.command()
def whatif(
    data: Annotated[Path, typer.Option("--data", help="Folder with the canonical ledger files.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the output files.")] = Path(
        "out/whatif"
    ),
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO date; ledger seen as of the end of it.")
    ] = None,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="YAML file of scenarios (see README).")
    ] = None,
    name: Annotated[
        list[str] | None, typer.Option(metavar="NAME", help="Name of the inline scenario.")
    ] = None,
    top: Annotated[
        list[int] | None, typer.Option(metavar="N", help="Inline: the top N customers by open AR.")
    ] = None,
    customer: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ID", help="Inline: this customer id, as in customers.csv (repeatable)."
        ),
    ] = None,
    segment: Annotated[
        list[str] | None,
        typer.Option(metavar="SEGMENT", help="Inline: this segment, exact spelling (repeatable)."),
    ] = None,
    country: Annotated[
        list[str] | None, typer.Option(metavar="COUNTRY", help="Inline: this country.")
    ] = None,
    currency: Annotated[
        list[str] | None,
        typer.Option(metavar="CODE", help="Inline: this currency code, any case (repeatable)."),
    ] = None,
    delay: Annotated[
        list[int] | None,
        typer.Option(
            metavar="DAYS",
            help=f"Inline: pay this many days later (negative: earlier; at most "
            f"{MAX_DELAY_DAYS} either way).",
        ),
    ] = None,
    slower: Annotated[
        list[float] | None,
        typer.Option(
            metavar="PERCENT",
            help="Inline: wait to payment this many percent longer (20 = 20% longer; "
            "negative: faster).",
        ),
    ] = None,
    never_paid: Annotated[
        list[float] | None,
        typer.Option(
            metavar="FRACTION",
            help="Inline: probability that each selected invoice, open or new, is never paid, "
            "0 to 1 (0.03 = 3%).",
        ),
    ] = None,
    disputes_resolved_by: Annotated[
        list[str] | None,
        typer.Option(metavar="DATE", help="Inline: every open dispute settled on this date."),
    ] = None,
    base_currency: Annotated[str, typer.Option(help="Reporting currency.")] = "USD",
    seed: Annotated[int, typer.Option(help="Seed for every random choice.")] = 42,
    ledger_name: LedgerNameOption = "",
) -> None:
    """What-if scenarios on the cash forecast, each compared with the baseline.

    Give scenarios in a YAML file (--scenario), inline with flags (e.g. --top 10 --delay 5),
    or both. Effects apply to the selected customers' open invoices and to the invoices they are
    projected to be billed in the 13 weeks (disputes: open invoices only). Inline flags make one
    scenario of one rule, so each effect flag is given once. Scores with the champion model
    (trains one first if there is none).
    """
    import yaml

    from arcast.io import write_atomic
    from models.scenarios import load_scenarios, parse_scenarios
    from pipelines.run import run_whatif

    _check_scenarios(scenario)
    documents = (
        [s.model_dump(mode="json", exclude_defaults=True) for s in load_scenarios(scenario)]
        if scenario
        else []
    )
    where = {
        "top_customers": _once("--top", top),
        "customers": customer,
        "segments": segment,
        "countries": country,
        "currencies": currency,
    }
    effects = {
        "delay_days": _once("--delay", delay),
        "slower_pct": _once("--slower", slower),
        "never_paid_share": _once("--never-paid", never_paid),
        "disputes_resolved_by": _once("--disputes-resolved-by", disputes_resolved_by),
    }
    inline_name = _once("--name", name) or "inline"
    if any(v is not None for v in effects.values()):
        rule = {"where": {k: v for k, v in where.items() if v is not None}} | {
            k: v for k, v in effects.items() if v is not None
        }
        _check_inline(rule)
        documents.append({"name": inline_name, "rules": [rule]})
    elif any(v is not None for v in where.values()):
        raise _fail("inline scenario: say what changes (--delay, --slower, --never-paid, …)")
    if not documents:
        raise _fail("no scenario: give --scenario FILE or inline flags such as --top 10 --delay 5")
    try:
        parse_scenarios({"scenarios": documents}, "inline scenario")
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    effective = out / "scenarios.yaml"  # what was run, kept with its results
    text = yaml.safe_dump({"scenarios": documents}, sort_keys=False, allow_unicode=True)
    settings = _settings(
        data, out, _parse_date(as_of), base_currency, seed, effective, ledger_name=ledger_name
    )
    inline = f"{settings.scenario_file}: scenario '{inline_name}' rule 1: "

    def show(out: Path) -> None:
        _print_scenarios(out)
        if where["top_customers"] is not None:
            _note_top_all(out, where["top_customers"])

    _serve(
        lambda s, progress: _inline_errors(run_whatif, s, progress, inline, where),
        settings,
        show,
        prepare=lambda: write_atomic(effective, lambda p: p.write_text(text, encoding="utf-8")),
        inputs=(effective.name,),
    )


INLINE_FLAGS = {
    "top_customers": "--top",
    "customers": "--customer",
    "segments": "--segment",
    "countries": "--country",
    "currencies": "--currency",
    "delay_days": "--delay",
    "slower_pct": "--slower",
    "never_paid_share": "--never-paid",
    "disputes_resolved_by": "--disputes-resolved-by",
}
"""The `models.scenarios.Rule` field behind each inline `whatif` flag."""

SELECTION_FLAGS = {
    "customer_id": "--customer",
    "segment": "--segment",
    "country": "--country",
    "currency": "--currency",
    "disputes_resolved_by": "--disputes-resolved-by",
}
"""The flag behind each name a selection error (`models.scenarios.rule_rows`) starts with."""


def _once(flag: str, values: list | None):
    """The one value of a flag an inline rule takes; given twice, it is an error, not the last."""
    if not values:
        return None
    if len(values) > 1:
        raise _fail(
            f"inline scenario: {flag} given {len(values)} times ({', '.join(map(str, values))}); "
            "one inline scenario takes one; write several scenarios in a --scenario file"
        )
    return values[0]


def _check_inline(rule: dict) -> None:
    """Validate the inline scenario's rule, naming the flag (not the rule's field) at fault."""
    from pydantic import ValidationError

    from models.scenarios import Rule

    delay = rule.get("delay_days")
    if delay is not None and abs(delay) > MAX_DELAY_DAYS:
        raise _fail(f"inline scenario: --delay {delay}: at most {MAX_DELAY_DAYS} days either way")
    try:
        Rule.model_validate(rule)
    except ValidationError as exc:
        problems = [
            f"{INLINE_FLAGS.get(str(err['loc'][-1]), str(err['loc'][-1]))}: {err['msg']}"
            for err in exc.errors()
        ]
        raise _fail(f"inline scenario: {'; '.join(problems)}") from None


def _inline_errors(work, settings, progress, inline: str, where: dict):
    """Run ``work``; a selection error in the inline scenario, which the run reports against the
    scenarios.yaml it wrote, names the flag instead, with the hint a misspelling needs: the id of
    a customer given by name, the spelling of a segment given in another case."""
    from pipelines.defs.resources import warehouse_resource
    from pipelines.run import PipelineError, replay_settings

    try:
        return work(settings, progress=progress)
    except PipelineError as exc:
        if exc.error_class != ScenarioError.__name__ or not exc.error_message.startswith(inline):
            raise
        problem = exc.error_message.removeprefix(inline)
        for name, flag in SELECTION_FLAGS.items():
            if problem.startswith(
                (f"no open invoice or projected billing has {name} ", f"{name} ")
            ):
                problem = f"{flag}: {problem}"
        with warehouse_resource(replay_settings(settings)).get_connection() as con:
            exc.error_message = f"inline scenario: {problem}{_selection_hints(con, where)}"
        raise


def _selection_hints(con, where: dict) -> str:
    """Customers given by name (with their ids) and segments given in another case."""
    customers = con.execute("SELECT customer_id, name FROM customers").df()
    segments = [s for (s,) in con.execute("SELECT DISTINCT segment FROM customers").fetchall()]
    hints = []
    ids = set(customers["customer_id"].astype(str))
    for given in where["customers"] or []:
        named = customers.loc[customers["name"].str.casefold() == given.casefold(), "customer_id"]
        if given not in ids and len(named):
            hints.append(f"--customer takes ids: '{given}' is {' or '.join(named.astype(str))}")
    for given in where["segments"] or []:
        spelt = [s for s in segments if s and s != given and s.casefold() == given.casefold()]
        if spelt:
            hints.append(f"segments match exactly: --segment {spelt[0]}")
    return "".join(f"; {hint}" for hint in hints)


def _note_top_all(out: Path, top: int) -> None:
    """Say when --top asks for at least as many customers as have open invoices."""
    import pandas as pd

    holders = pd.read_csv(out / "predictions.csv", usecols=["customer_id"])["customer_id"].nunique()
    if top >= holders:
        console.print(
            f"Note: --top {top} selects all {holders:,} customers with open invoices.",
            soft_wrap=True,
        )


WIDE_SCENARIOS = 100
"""Terminal width from which the what-if table also shows the p10 / p90 of each change."""
LISTED_TOP_CUSTOMERS = 10
"""Customers of a top-N selection named under the table (all of them are in the summary)."""


def _print_scenarios(out: Path) -> None:
    from arcast.report import days, signed_money

    summary = json.loads((out / "scenario_summary.json").read_text())
    base = summary["base_currency"]
    table = Table(
        title=f"What-if — 13 weeks from {summary['as_of']} ({base})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("scenario", overflow="fold")
    for col in ("13-week cash", "change", "open AR", "new billing", "DSO Δ"):
        table.add_column(col, justify="right", no_wrap=True)
    wide = console.width >= WIDE_SCENARIOS
    if wide:
        for col in ("p10", "p90"):
            table.add_column(col, justify="right", no_wrap=True)
    for name, s in summary["scenarios"].items():
        dso = s["dso_delta_days"]
        table.add_row(
            name,
            f"{s['cash_13w_expected']:,.0f}",
            signed_money(s["cash_13w_delta"]),
            signed_money(s["cash_13w_open_ar_delta"]),
            signed_money(s["cash_13w_new_billing_delta"]),
            "n/a" if dso is None else f"{days(dso, signed=True)} d",
            *(
                [signed_money(s["cash_13w_delta_p10"]), signed_money(s["cash_13w_delta_p90"])]
                if wide
                else []
            ),
        )
    console.print(table)
    console.print(
        "p10 / p90: of the change over the simulated paths. A change carried by a few invoices "
        "can lie outside them (most paths do not move). change = open AR (invoices issued by the "
        "as-of date) + new billing (invoices projected to be issued in the 13 weeks).",
        soft_wrap=True,
    )
    for name, s in summary["scenarios"].items():
        console.print(f"  [bold]{name}[/bold]: {s['description']}", soft_wrap=True)
        low, big = s["lowest_week"], s["biggest_weekly_change"]
        weeks = f"    lowest week {low['week_start']}: {low['expected']:,.0f}"
        if round(big["delta"]):
            share = f" ({big['delta'] / big['baseline']:+.1%})" if big["baseline"] else ""
            weeks += (
                f"; biggest weekly change {big['week_start']}: "
                f"{signed_money(big['delta'])}{share.replace('-', '−')}"
            )
        if name != "baseline":
            weeks += (
                f"; change p10 / p90 {signed_money(s['cash_13w_delta_p10'])} / "
                f"{signed_money(s['cash_13w_delta_p90'])}"
            )
        console.print(weeks, soft_wrap=True)
        for n, picked in s.get("top_customers", {}).items():
            names = ", ".join(
                " ".join(filter(None, [c["customer_id"], c.get("customer_name")]))
                + f" ({c['open_ar']:,.0f})"
                for c in picked[:LISTED_TOP_CUSTOMERS]
            )
            more = (
                f", … ({len(picked)} in scenario_summary.json)"
                if len(picked) > LISTED_TOP_CUSTOMERS
                else ""
            )
            console.print(f"    top {n} by open AR: {names}{more}", soft_wrap=True)
    console.print(
        f"Outputs in [bold]{out}[/bold]: scenario_forecast.csv, scenario_summary.json, "
        "scenario_forecast.png, scenarios.yaml; and what they start from: predictions.csv, "
        "projected_billing.csv, kpis.json, kpi_forecast.csv, quarantine.csv",
        soft_wrap=True,
    )


def _cash_table(metrics, rho: dict[str, dict[str, float]]) -> Table:
    """The pooled 13-week cash scores, one row per method."""
    from models.backtest import format_metric

    pooled = metrics[metrics["cutoff"] == "pooled"]
    columns = {k: v for k, v in CASH_TABLE.items() if k in pooled.columns}
    rhos = ", ".join(f"{r['cash_rho']:.2f}/{r['cash_rho_runs']:.2f}" for r in rho.values())
    table = Table(
        title=f"Backtest, 13-week cash-in: pooled over {len(rho)} cutoff(s) "
        f"(model rho / run payers' rho {rhos})",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("method", no_wrap=True)
    for label in columns.values():
        table.add_column(label, justify="right")
    for row in pooled[["method", *columns]].to_dict("records"):
        ahead = row.pop("model_ahead_cutoffs", None)
        cells = [format_metric(v) for v in row.values()]
        if "model_ahead_cutoffs" in columns:  # NaN on the model's own row
            cells.append(f"{ahead:.0f}/{len(rho)}" if ahead == ahead else "–")
        table.add_row(*cells)
    return table


@app.command()
def worklist(
    data: Annotated[Path, typer.Option("--data", help="Folder with the canonical ledger files.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the output files.")] = Path(
        "out/worklist"
    ),
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO date; ledger seen as of the end of it.")
    ] = None,
    templates: TemplatesOption = None,
    sender: SenderOption = DEFAULT_SENDER,
    base_currency: Annotated[str, typer.Option(help="Reporting currency.")] = "USD",
    seed: Annotated[int, typer.Option(help="Seed for every random choice.")] = 42,
    ledger_name: LedgerNameOption = "",
) -> None:
    """The collections worklist: dunning and dispute queues, customer view, drafts, workbook.

    Reminder drafts are .eml files, never sent; the workbook is Excel. Scores with the champion
    model (trains one first if there is none).
    """
    from pipelines.run import run_worklist

    settings = _settings(
        data,
        out,
        _parse_date(as_of),
        base_currency,
        seed,
        templates=templates,
        sender=sender,
        ledger_name=ledger_name,
    )
    _serve(run_worklist, settings, _print_worklist)


MIN_WHY_WIDTH = 24
"""The worklist table shows each line's first reason when the terminal leaves this many columns
for it; at 80 columns it does not, and the table keeps to the terminal's width."""
WIDE_CUSTOMER = 20
"""Characters of the customer's name shown when there is room for the reason too (else 14)."""


IDS = {"invoice_id": "str", "customer_id": "str"}
"""Identifiers are text: ``00001303`` is not the number 1303."""


def _print_worklist(out: Path) -> None:
    """The queues, then the day's contacts (a collector's morning: whom to contact today,
    ranked by priority), what waits and why, where the whole list is, what changed since the
    last worklist and which model scored it (the workbook's About sheet)."""
    import pandas as pd

    from arcast.drafts import PLACEHOLDER_ADDRESS
    from arcast.workbook import ABOUT_SHEET
    from arcast.worklist import ACTIONS, CONTACT_PLANS, TONES
    from arcast.worklist_changes import CHANGES, PAID

    lines = pd.read_csv(out / "worklist.csv", keep_default_na=False, dtype=IDS)
    customers = pd.read_csv(out / "customer_view.csv", keep_default_na=False, dtype=IDS)
    dunning = lines[lines["queue"] == "dunning"]
    drafts = sorted((out / "drafts").glob("*.eml"))
    actions = dunning["action"].value_counts()
    tones = customers["tone"].value_counts()
    console.print(
        f"[bold]{len(dunning)}[/bold] invoices in the dunning queue, "
        f"[bold]{len(lines) - len(dunning)}[/bold] in the dispute queue, "
        f"{len(customers)} customers, {len(drafts)} reminder drafts."
    )
    console.print(
        "By action: "
        + ", ".join(f"{a} {actions.get(a, 0)}" for a in ACTIONS)
        + " · customers by tone: "
        + ", ".join(f"{t} {tones.get(t, 0)}" for t in TONES),
        soft_wrap=True,
    )
    today_, *waits, later = CONTACT_PLANS
    plan = dunning["contact_plan"].value_counts()
    today = dunning[dunning["contact_plan"] == today_]
    waiting = dunning[dunning["contact_plan"].isin(waits)]
    paid = plan.get(waits[3], 0)
    waits_on = (
        f"Waiting: {len(waiting):,} invoices of {waiting['customer_id'].nunique():,} customers "
        f"({plan.get(waits[0], 0):,} on a promise, {plan.get(waits[1], 0):,} on hold, "
        f"{plan.get(waits[2], 0):,} spaced after a call"
        + (f", {paid:,} after a kept promise's payment)" if paid else ")")
        if len(waiting)
        else "Nothing waits on a promise, a hold or a call"
    )
    console.print(
        f"Today's contacts: [bold]{today['customer_id'].nunique():,}[/bold] customers, "
        f"[bold]{len(today):,}[/bold] invoices, {today['amount_open'].sum():,.2f} open (base "
        f"currency). {waits_on}; {plan.get(later, 0):,} not due for contact yet.",
        soft_wrap=True,
    )
    if len(today):
        _print_contacts(today)
    console.print(f"Outputs in [bold]{out}[/bold]:")
    console.print(
        f"  {out / 'worklist.xlsx'} (the whole worklist by priority; filter contact_plan "
        "for today's)",
        soft_wrap=True,
    )
    for name in ("worklist.csv", "dispute_queue.csv", "customer_view.csv"):
        console.print(f"  {out / name}")
    console.print(f"  {out / 'drafts'}/ ({len(drafts)} .eml drafts; arcast never sends them)")
    changes = pd.read_csv(out / "worklist_changes.csv", keep_default_na=False, dtype=IDS)
    if len(changes):
        counts = changes["change"].value_counts()
        kept = int(
            ((changes["change"] == PAID) & (changes["contact_status_before"] == "promised")).sum()
        )
        said = {c: f"{counts[c]} {c}" for c in CHANGES if c in counts}
        if kept:
            said[PAID] += f" ({kept} as promised)"
        console.print(
            f"  {out / 'worklist_changes.csv'}: since the worklist of {changes['since'].iloc[0]}, "
            + ", ".join(said.values()),
            soft_wrap=True,
        )
    about = pd.read_excel(out / "worklist.xlsx", sheet_name=ABOUT_SHEET, dtype=str)
    about = about.set_index("item")["value"]
    console.print(
        f"Scored by {about['model']} version {about['model version']}, trained through "
        f"{about['trained through']} (MLflow run {about['MLflow run']}); ledger fingerprint "
        f"{about['ledger fingerprint']}: the workbook's {ABOUT_SHEET} sheet keeps it.",
        soft_wrap=True,
    )
    unaddressed = int(((customers["draft"] != "") & (customers["email"] == "")).sum())
    if unaddressed:
        console.print(
            f"[yellow]{unaddressed} of the drafts have no recipient[/yellow]: customers.csv "
            f"gives no email for those customers, so they are addressed to {PLACEHOLDER_ADDRESS}",
            soft_wrap=True,
        )


def _print_contacts(today: pd.DataFrame) -> None:
    """The first ten of the day's contacts, as wide as the terminal allows. Each keeps its rank
    in the whole worklist, where a collector finds it in the workbook; the lines that wait in
    between are why the ranks skip."""
    table = Table(
        title=f"Today's contacts by priority (first {min(len(today), 10)} of {len(today):,}; "
        "#: rank in the whole worklist; open amounts in base currency)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    shown = today.head(10)
    widths = {"#": len(str(shown["rank"].max())), "invoice": 10, "customer": 14, "open": 10}
    widths |= {"days": 4, "p_late": 6, "action": 8, "contact": 10}
    spare = console.width - sum(widths.values()) - 2 * len(widths)  # two spaces between columns
    why = spare >= MIN_WHY_WIDTH
    wider = WIDE_CUSTOMER - widths["customer"]
    if why and spare >= MIN_WHY_WIDTH + wider:
        widths["customer"], spare = WIDE_CUSTOMER, spare - wider
    for label, width in widths.items():
        table.add_column(
            label,
            justify="right" if label in ("#", "open", "days", "p_late") else "left",
            no_wrap=True,
            overflow="ellipsis",
            min_width=None if label == "customer" else width,
            max_width=width if label == "customer" else None,
        )
    if why:
        table.add_column("why", no_wrap=True, overflow="ellipsis", max_width=spare - 1)
    for row in shown.itertuples(index=False):
        cells = [
            str(row.rank),
            str(row.invoice_id),
            str(row.customer_name or row.customer_id),
            f"{row.amount_open:,.2f}",
            str(row.days_overdue),
            f"{row.p_late_30:.0%}",
            row.action.split(" ")[0],  # friendly / firm / call / escalate
            str(row.next_contact),
        ]
        table.add_row(*cells, *([str(row.reason_1)] if why else []))
    console.print(table)


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"'{value}' is not an ISO date (YYYY-MM-DD)") from None
