"""Jobs and schedules over the asset graph."""

from __future__ import annotations

import dagster as dg

arcast_job = dg.define_asset_job(
    "arcast_job",
    selection=dg.AssetSelection.all(),
    description="The whole pipeline: ledger → features → model → forecasts → outputs.",
)

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=arcast_job,
    cron_schedule="0 6 * * *",
    description="Rebuild forecasts and the worklist from the latest ledger export every morning.",
)
