"""`arcast`: the command line. A thin front over the Dagster asset graph in `pipelines/`."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from data_contracts.load import LedgerFileError
from pipelines.defs.resources import DEMO_CUSTOMERS, DEMO_OUT, DEMO_SEED, demo_ledger_dir

app = typer.Typer(
    help="AR pay-date forecasting, 13-week cash-in forecasts and collections worklists.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

STAGE_LABELS = {
    "ledger": "Load and validate the ledger",
    "point_in_time_facts": "Build point-in-time features",
    "pay_date_model": "Train the pay-date model",
    "invoice_predictions": "Score open invoices",
    "cash_forecast_13w": "Forecast 13-week cash-in",
    "ar_kpis": "Compute AR KPIs",
    "collections_worklist": "Rank the collections worklist",
    "run_summary": "Write the run summary",
}


def _fail(message: str) -> typer.Exit:
    """Print one unwrapped error line; the caller raises the returned exit (code 2)."""
    console.print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)
    return typer.Exit(2)


def _root_cause(exc: BaseException) -> BaseException:
    """Dagster wraps user errors; find the innermost cause to report it plainly."""
    seen = exc
    while True:
        inner = seen.__cause__ or getattr(seen, "user_exception", None)
        if inner is None or inner is seen:
            return seen
        seen = inner


def _execute(settings, selection: list[str] | None = None, steps: int = len(STAGE_LABELS)):
    """Run the graph with a progress bar; file-level ledger errors exit 2 with one line."""
    from pipelines.run import run_pipeline

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("Starting", total=steps)

        def on_step(event: str, step: str) -> None:
            label = STAGE_LABELS.get(step, step)
            if event == "start":
                progress.update(task, description=label)
            elif event == "success":
                progress.advance(task)

        try:
            return run_pipeline(settings, selection=selection, progress=on_step)
        except Exception as exc:  # reported plainly below; never turned into a result
            cause = _root_cause(exc)
            progress.stop()
            if isinstance(cause, LedgerFileError):
                raise _fail(str(cause)) from None
            raise


def _settings(data: Path, out: Path, as_of: date | None, base_currency: str, seed: int = 42):
    from pipelines.defs.resources import ArcastSettings

    if not data.is_dir():
        raise _fail(f"{data}: ledger folder not found")
    return ArcastSettings(
        data_dir=str(data.resolve()),
        out_dir=str(out.resolve()),
        as_of=as_of.isoformat() if as_of else "",
        base_currency=base_currency.upper(),
        seed=seed,
    )


def _print_outputs(out: Path) -> None:
    summary = json.loads((out / "run_summary.json").read_text())
    table = Table(title=f"arcast run — as of {summary['as_of']}", show_lines=False)
    for col in ("file", "rows in", "accepted", "quarantined", "after as-of"):
        table.add_column(col, justify="right" if col != "file" else "left")
    for name, r in summary["rows"].items():
        table.add_row(
            name,
            str(r["rows_in"]),
            str(r["accepted"]),
            str(r["quarantined"]),
            str(r["after_as_of"]),
        )
    console.print(table)
    console.print(
        f"Scored {summary['open_invoices_scored']} open invoices with model "
        f"{summary['model']['name']} v{summary['model']['version']}."
    )
    console.print(f"Outputs in [bold]{out}[/bold]:")
    for name in summary["outputs"]:
        console.print(f"  {out / name}")


@app.command()
def run(
    data: Annotated[Path, typer.Option("--data", help="Folder with the canonical ledger files.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the output files.")] = Path("out"),
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO date; ledger seen as of the end of it.")
    ] = None,
    base_currency: Annotated[str, typer.Option(help="Reporting currency.")] = "USD",
    seed: Annotated[int, typer.Option(help="Seed for every random choice.")] = 42,
) -> None:
    """Run the whole pipeline on a ledger folder: predictions, cash forecast, worklist, KPIs."""
    settings = _settings(data, out, _parse_date(as_of), base_currency, seed)
    started = time.perf_counter()
    _execute(settings)
    _print_outputs(out.resolve())
    console.print(f"Done in {time.perf_counter() - started:.0f} s.")


@app.command()
def validate(
    data: Annotated[Path, typer.Option("--data", help="Folder with the canonical ledger files.")],
    out: Annotated[Path, typer.Option("--out", help="Where quarantine.csv is written.")] = Path(
        "out"
    ),
    base_currency: Annotated[str, typer.Option(help="Reporting currency.")] = "USD",
) -> None:
    """Check a ledger against the data contract; exit 1 if any row was quarantined."""
    from pipelines.defs.assets.ledger import LEDGER_ASSETS

    settings = _settings(data, out, None, base_currency)
    result = _execute(settings, selection=LEDGER_ASSETS, steps=1)
    table = Table(title="Data contract")
    for col in ("check", "asset", "passed"):
        table.add_column(col)
    for evaluation in result.get_asset_check_evaluations():
        table.add_row(
            evaluation.check_name,
            evaluation.asset_key.to_user_string(),
            "[green]yes[/green]" if evaluation.passed else "[red]no[/red]",
        )
    console.print(table)
    quarantine = out.resolve() / "quarantine.csv"
    rows = max(sum(1 for _ in quarantine.open()) - 1, 0)
    if rows:
        console.print(f"{rows} row(s) quarantined: see {quarantine}")
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

    data = demo_ledger_dir(customers, seed)
    if not (data / "invoices.csv").exists():
        with console.status(f"Generating the demo ledger ({customers} customers)"):
            write_ledger(generate_ledger(GeneratorConfig(n_customers=customers, seed=seed)), data)
    console.print(f"Demo ledger: {data.resolve()}")
    started = time.perf_counter()
    _execute(_settings(data, out, None, "USD", seed))
    _print_outputs(out.resolve())
    console.print(f"Done in {time.perf_counter() - started:.0f} s.")


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


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"'{value}' is not an ISO date (YYYY-MM-DD)") from None
