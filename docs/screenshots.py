"""Re-take the README tour's screenshots after `make demo`: `make screenshots`.

Starts `dagster dev` and `mlflow ui` on loopback against the demo's state (.arcast), drives the
system Chromium with Playwright (no browser download), writes PNGs to docs/img/ and stops the
servers again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mlflow.tracking import MlflowClient
from playwright.sync_api import Page, sync_playwright

from arcast.report import HEADLESS_CHROMIUM_FLAGS, chromium_path
from models.tracking import CHAMPION, EXPERIMENT, Registry, alias_version, tracking_uri
from pipelines.defs.resources import demo_ledger_dir
from pipelines.run import DAGSTER_STORAGE_ENV

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
BIN = Path(sys.executable).parent
DAGSTER = "http://127.0.0.1:3000"
MLFLOW = "http://127.0.0.1:5000"


def _wait(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {seconds:.0f} s")


def _dismiss(page: Page) -> None:
    """Dagster greets a new browser profile with a newsletter dialog; MLflow with an assistant."""
    for name in ("Skip", "Close"):
        button = page.get_by_role("button", name=name, exact=True)
        if button.count():
            button.first.click()
            page.wait_for_timeout(500)


def _shot(page: Page, url: str, name: str, full_page: bool = False) -> None:
    page.goto(url, wait_until="load", timeout=90_000)  # both UIs poll: never network-idle
    page.wait_for_timeout(6000)
    _dismiss(page)
    page.screenshot(path=str(IMG / f"{name}.png"), full_page=full_page)
    print(f"docs/img/{name}.png")


def main() -> None:
    report = ROOT / "out" / "demo" / "cfo_report.html"
    if not report.exists():
        sys.exit("run `make demo` first")
    chromium = chromium_path()
    IMG.mkdir(parents=True, exist_ok=True)
    home = ROOT / ".arcast"
    env = os.environ | {
        "DAGSTER_HOME": str(ROOT),
        DAGSTER_STORAGE_ENV: str(home / "dagster" / "storage"),
    }
    store = tracking_uri(home)
    registry = Registry(home, str((ROOT / demo_ledger_dir()).resolve()))
    servers = [
        subprocess.Popen(
            [
                BIN / "dagster",
                "dev",
                "-m",
                "pipelines.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                "3000",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [BIN / "mlflow", "ui", "--backend-store-uri", store, "-h", "127.0.0.1", "-p", "5000"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        _wait(DAGSTER)
        _wait(MLFLOW)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium, args=list(HEADLESS_CHROMIUM_FLAGS)
            )
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            _shot(page, report.as_uri(), "cfo_report")
            _shot(page, f"{DAGSTER}/asset-groups", "dagster_groups")
            _shot(page, f"{DAGSTER}/assets/cash_forecast_13w", "dagster_asset")
            _shot(page, f"{DAGSTER}/assets/pay_date_model?view=checks", "dagster_checks")
            _shot(page, f"{DAGSTER}/automation", "dagster_automation")
            _shot(page, f"{MLFLOW}/#/models/{registry.model_name}", "mlflow_model")
            client = MlflowClient(store)
            experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
            version = alias_version(registry, CHAMPION)
            run = client.get_model_version(registry.model_name, version).run_id
            _shot(page, f"{MLFLOW}/#/experiments/{experiment}/runs/{run}", "mlflow_run")
            browser.close()
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
