"""Atomic output: files and folders are replaced whole, and a failed run is undone."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from arcast.io import (
    _set_aside,
    restore_on_failure,
    write_atomic,
    write_csv,
    write_dir_atomic,
    write_json,
)


def test_folder_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "drafts"
    write_dir_atomic(target, lambda d: (d / "old.eml").write_text("old"))
    write_dir_atomic(target, lambda d: (d / "new.eml").write_text("new"))
    assert [p.name for p in target.iterdir()] == ["new.eml"]

    def fail(d: Path) -> None:
        (d / "half.eml").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_dir_atomic(target, fail)
    assert [p.name for p in target.iterdir()] == ["new.eml"]
    assert [p.name for p in tmp_path.iterdir()] == ["drafts"]  # no temp folder left behind


def test_outputs_get_the_permissions_of_any_other_file(tmp_path: Path) -> None:
    """Temp files are created private; a report meant for a shared folder must not stay so."""
    mask = os.umask(0)
    os.umask(mask)
    plain = tmp_path / "plain.csv"
    plain.write_text("x")
    written = write_atomic(tmp_path / "out.csv", lambda p: p.write_text("x"))
    folder = write_dir_atomic(tmp_path / "drafts", lambda d: (d / "a.eml").write_text("x"))
    mode = stat.S_IMODE(written.stat().st_mode)
    assert mode == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask


def _contents(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def _previous_run(out: Path) -> dict[str, str]:
    write_atomic(out / "predictions.csv", lambda p: p.write_text("old predictions"))
    write_atomic(out / "kpis.json", lambda p: p.write_text("old kpis"))
    write_atomic(out / "quarantine.csv", lambda p: p.write_text("old quarantine"))
    write_dir_atomic(out / "drafts", lambda d: (d / "A.eml").write_text("old draft"))
    (out / "notes.txt").write_text("the user's own file")
    return _contents(out)


def _half_run(out: Path) -> None:
    """What a run that stops midway leaves: some files replaced, some added, one removed."""
    write_atomic(out / "predictions.csv", lambda p: p.write_text("new predictions"))
    write_atomic(out / "quarantine.csv", lambda p: p.write_text("why it failed"))
    write_dir_atomic(out / "drafts", lambda d: (d / "B.eml").write_text("new draft"))
    write_csv(pd.DataFrame({"a": [1]}), out / "report" / "chart.csv")
    (out / "kpis.json").unlink()


PREVIOUS_NAMES = ["drafts", "kpis.json", "notes.txt", "predictions.csv", "quarantine.csv"]
"""What `_previous_run` leaves at the folder's top: a restored folder holds exactly these."""


def test_a_failed_block_puts_back_every_file_it_changed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = _previous_run(out)
    with pytest.raises(RuntimeError), restore_on_failure(out, keep=("quarantine.csv",)):
        _half_run(out)
        raise RuntimeError("step failed")
    assert _contents(out) == before | {"quarantine.csv": "why it failed"}
    assert sorted(p.name for p in out.iterdir()) == PREVIOUS_NAMES  # nothing added or set aside


def test_an_interrupt_is_undone_too_and_success_keeps_the_new_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = _previous_run(out)
    with pytest.raises(KeyboardInterrupt), restore_on_failure(out):
        _half_run(out)
        raise KeyboardInterrupt
    assert _contents(out) == before
    with restore_on_failure(out):
        _half_run(out)
    assert _contents(out) == {
        "predictions.csv": "new predictions",
        "quarantine.csv": "why it failed",
        "drafts/B.eml": "new draft",
        "report/chart.csv": "a\n1\n",
        "notes.txt": "the user's own file",
    }
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_first_run_that_fails_leaves_only_what_it_keeps(tmp_path: Path) -> None:
    out = tmp_path / "new"
    with pytest.raises(RuntimeError), restore_on_failure(out, keep=("quarantine.csv",)):
        write_atomic(out / "quarantine.csv", lambda p: p.write_text("every row refused"))
        write_atomic(out / "predictions.csv", lambda p: p.write_text("half"))
        raise RuntimeError("no accepted invoice")
    assert _contents(out) == {"quarantine.csv": "every row refused"}


def _dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def _killed_run(out: Path, pid: int) -> None:
    """What `kill -9` leaves midway through a run: its links to the previous run's files, its
    outputs half written, and the temp files of the writes it was in."""
    _set_aside(out)
    for aside in out.glob(".before.*"):
        aside.rename(out / aside.name.replace(f".{os.getpid()}.", f".{pid}.", 1))
    _half_run(out)
    (out / ".worklist.xlsx.k2j3h4.tmp").write_text("half a workbook")
    (out / "report" / ".chart.png.x7y8z9.tmp").write_text("half a chart")
    (out / ".drafts.old.a1b2c3.tmp").mkdir()


def test_a_run_killed_midway_is_rolled_back_when_the_next_one_starts(tmp_path: Path) -> None:
    """The killed run's outputs named another model than the files it had not reached yet,
    and its links and temp files stayed for good, through later successful runs."""
    out = tmp_path / "out"
    before = _previous_run(out)
    pid = _dead_pid()
    _killed_run(out, pid)
    with restore_on_failure(out) as rolled_back:
        visible = {name: text for name, text in _contents(out).items() if name[0] != "."}
        assert visible == before  # the run starts from the last complete set
    assert rolled_back and f"process {pid}" in rolled_back and "rolled back" in rolled_back
    assert _contents(out) == before  # the last complete set, quarantine.csv included
    assert sorted(p.name for p in out.iterdir()) == PREVIOUS_NAMES  # no links nor temp files
    with restore_on_failure(out) as rolled_back:
        pass
    assert rolled_back is None  # said once


def test_a_run_still_writing_is_not_rolled_back(tmp_path: Path) -> None:
    """Two runs into one folder are not supported, but one must not undo the other's work."""
    out = tmp_path / "out"
    _previous_run(out)
    _killed_run(out, os.getpid())  # this process: alive
    writing = _contents(out)
    with restore_on_failure(out) as rolled_back:
        pass
    assert rolled_back is None and _contents(out) == writing


def test_json_writes_a_missing_number_as_null(tmp_path: Path) -> None:
    """A metric a window could not measure is null, not a bare NaN strict readers refuse."""
    path = write_json({"mae": float("nan"), "rows": [1.5, float("inf")]}, tmp_path / "s.json")
    assert json.loads(path.read_text()) == {"mae": None, "rows": [1.5, None]}
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()
