"""Run settings shared by every asset: where the ledger is, the as-of date, where outputs go."""

from __future__ import annotations

import os
import socket
from datetime import date
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from arcast.drafts import DEFAULT_SENDER
from data_contracts.schema import DEFAULT_BASE_CURRENCY
from models.tracking import Registry, replay_ledger


def default_home() -> str:
    """State directory (warehouse, MLflow store, work files): $ARCAST_HOME or ./.arcast."""
    return os.environ.get("ARCAST_HOME", ".arcast")


INVOCATION_TAG = "arcast/invocation"
"""Run tag shared by the runs of one CLI invocation (retrain + score), for the run summary."""
PID_TAG = "arcast/pid"
HOST_TAG = "arcast/host"
"""Run tags naming the process that executes a run and its host: nothing else notices when that
process is killed, so `dead_runs` checks them (see schedules.py)."""


def process_tags() -> dict[str, str]:
    """`PID_TAG` and `HOST_TAG` for this process."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


DEMO_CUSTOMERS = 1000
DEMO_SEED = 42
DEMO_OUT = "out/demo"


def demo_ledger_dir(customers: int = DEMO_CUSTOMERS, seed: int = DEMO_SEED) -> Path:
    """Where `arcast demo` keeps its generated ledger (reused while it exists)."""
    return Path(default_home()) / "demo" / f"ledger-c{customers}-s{seed}"


class ArcastSettings(dg.ConfigurableResource):
    """What one run of the asset graph works on."""

    data_dir: str = Field(description="Folder with the canonical ledger files (CSV or Parquet).")
    ledger_name: str = Field(
        default="",
        description="Name of the ledger: what its models, warehouse and forecast history are "
        "kept under. Empty: the folder's path, so every folder is a ledger of its own; name it "
        "when each export lands in a new folder, or the folder moves.",
    )
    replay_as_of: str = Field(
        default="",
        description="Set on a replay (an as-of date before the end of the data the ledger's "
        "champion learnt from, see `pipelines.run.replay_settings`): its models and warehouse "
        "are a line of their own, fitted as of this date, so looking back never replaces the "
        "model that serves today. Its forecasts join the ledger's forecast history.",
    )
    out_dir: str = Field(description="Folder the run's output files are written to.")
    home: str = Field(
        default_factory=default_home,
        description="State directory: DuckDB warehouse, MLflow store, work files.",
    )
    as_of: str = Field(
        default="",
        description="ISO date; the ledger is seen as of the end of this day. Empty: latest date.",
    )
    base_currency: str = Field(default=DEFAULT_BASE_CURRENCY)
    seed: int = Field(default=42, description="Seed for every random choice in the run.")
    scenario_file: str = Field(
        default="",
        description="YAML file of what-if scenarios to run on the forecast; empty: none.",
    )
    templates_dir: str = Field(
        default="",
        description="Folder of the user's own reminder templates (Jinja2), taking precedence "
        "over the shipped ones file by file; empty: the shipped templates only.",
    )
    sender: str = Field(
        default=DEFAULT_SENDER,
        description="From header of the reminder drafts (drafts are never sent by arcast).",
    )
    accept_missing_rows: bool = Field(
        default=False,
        description="Accept an export holding fewer rows than the one the champion learnt from "
        "(old months archived): the continuity check warns instead of blocking, and later "
        "exports are compared with this one.",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Tag the run with the process executing it, when its launcher did not: a run launched
        from the UI, a schedule or a sensor runs in a worker of the code server, and when both
        die (`dagster dev` killed or its machine gone mid-run) the run stays STARTED (the default
        run launcher cannot tell Dagster's run monitoring whether its worker is alive); once
        Dagster is back, `dead_runs` fails the tagged runs whose process is gone."""
        run, instance = context.dagster_run, context.instance
        if run is not None and instance is not None and PID_TAG not in run.tags:
            instance.add_run_tags(run.run_id, process_tags())

    @property
    def home_path(self) -> Path:
        path = Path(self.home).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def ledger_key(self) -> str:
        """The ledger's identity: its name, or else its folder's resolved path. Models and the
        forecast history are kept per ledger, so one state directory can serve several ledgers;
        a name keeps one ledger's line (champion, forecasts to score) across export folders."""
        return self.ledger_name.strip() or str(Path(self.data_dir).resolve())

    @property
    def registry(self) -> Registry:
        key = self.ledger_key
        return Registry(
            self.home_path, replay_ledger(key, self.replay_as_of) if self.replay_as_of else key
        )

    @property
    def out_path(self) -> Path:
        path = Path(self.out_dir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def ledger_path(self) -> Path:
        """This ledger's own part of the state directory (warehouse, work files), so runs on two
        ledgers sharing a home never read each other's tables or forecast distributions."""
        path = self.home_path / "ledgers" / self.registry.slug
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def work_path(self) -> Path:
        path = self.ledger_path / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def as_of_date(self) -> date | None:
        return date.fromisoformat(self.as_of) if self.as_of else None

    @classmethod
    def from_env(cls) -> ArcastSettings:
        """Settings for `dagster dev` and schedules: the demo ledger unless env vars say so."""
        home = default_home()
        return cls(
            data_dir=os.environ.get("ARCAST_DATA_DIR", str(demo_ledger_dir())),
            ledger_name=os.environ.get("ARCAST_LEDGER_NAME", ""),
            out_dir=os.environ.get("ARCAST_OUT_DIR", DEMO_OUT),
            home=home,
            as_of=os.environ.get("ARCAST_AS_OF", ""),
            base_currency=os.environ.get("ARCAST_BASE_CURRENCY", DEFAULT_BASE_CURRENCY),
            scenario_file=os.environ.get("ARCAST_SCENARIOS", ""),
            templates_dir=os.environ.get("ARCAST_TEMPLATES_DIR", ""),
            sender=os.environ.get("ARCAST_SENDER", DEFAULT_SENDER),
        )


def warehouse_resource(settings: ArcastSettings) -> DuckDBResource:
    return DuckDBResource(database=str(settings.ledger_path / "warehouse.duckdb"))
