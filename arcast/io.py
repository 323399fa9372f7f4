"""Atomic file output: a crash never leaves a half-written file behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()
"""Read once, at import: temp files and folders are created private (0600 / 0700), and an
output should get the permissions any other file written here would."""


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over ``path`` on success.

    The temp file lives in the same directory so the final ``os.replace`` is atomic on POSIX.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_atomic(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result into place atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_dir_atomic(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_dir)`` to fill a fresh folder, then swap it in place of ``path``.

    The new folder is built next to the target; the old one is renamed away, the new one renamed
    in and the old one deleted, so a reader never sees a half-written folder or a mix of two
    runs' files (at worst, for an instant, no folder).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        writer(fresh)
        os.chmod(fresh, 0o777 & ~_UMASK)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
        os.replace(fresh, target)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return target


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV (ISO dates, no index) atomically."""
    return write_atomic(path, lambda p: df.to_csv(p, index=False, date_format="%Y-%m-%d"))


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON (indented, dates as ISO strings) atomically."""

    def _write(p: Path) -> None:
        p.write_text(json.dumps(obj, indent=2, default=str) + "\n")

    return write_atomic(path, _write)
