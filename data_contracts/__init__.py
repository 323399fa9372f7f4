"""Data contracts of the arcast ledger: canonical schema, GX suites, loader.

The public API is re-exported lazily: importing ``data_contracts.schema`` must not pay for
importing Great Expectations (~3 s).
"""

from typing import Any

__all__ = ["LedgerFileError", "LoadedLedger", "load_ledger", "validate_tables"]


def __getattr__(name: str) -> Any:
    if name == "validate_tables":
        from data_contracts.suites import validate_tables

        return validate_tables
    if name in __all__:
        from data_contracts import load

        return getattr(load, name)
    raise AttributeError(f"module 'data_contracts' has no attribute {name!r}")
