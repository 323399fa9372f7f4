"""Entry point for `dagster dev` (see dagster.yaml / README)."""

from pipelines.defs import build_definitions
from pipelines.defs.resources import ArcastSettings

defs = build_definitions(ArcastSettings.from_env())
