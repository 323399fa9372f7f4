"""Atomic file output: a crash never leaves a half-written file behind."""

from __future__ import annotations

import json
import math
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

TEMP_SUFFIX = ".tmp"
"""What the hidden temp files and folders of an atomic write end in: a process killed while
writing leaves them, and the next run into the folder removes them (`_remove_temp_files`)."""
ASIDE_PREFIX = ".before."
"""`restore_on_failure`'s folder of links to the previous run's files, ``.before.<pid>.<random>``:
the PID tells a run killed midway (its folder is left) from one still writing."""
COMPLETE_MARKER = ".complete"
"""Written into the aside folder once every file is linked: only then may the run have changed
the output folder, and only then is the aside a whole set to restore."""


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over ``path`` on success.

    The temp file lives in the same directory so the final ``os.replace`` is atomic on POSIX.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
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
    fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent))
    try:
        writer(fresh)
        os.chmod(fresh, 0o777 & ~_UMASK)
        old = None
        if target.exists():
            old = Path(
                tempfile.mkdtemp(
                    prefix=f".{target.name}.old.", suffix=TEMP_SUFFIX, dir=target.parent
                )
            )
            os.replace(target, old / target.name)
        os.replace(fresh, target)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return target


def _files(folder: Path) -> dict[Path, tuple[int, int, int]]:
    """Every visible file under ``folder`` (temp files and folders start with a dot) with its
    inode, time and size: arcast replaces a file rather than rewriting it, so a changed
    identity means a new file."""
    found = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.startswith("."):
                path = Path(root, name)
                stat = path.stat()
                found[path.relative_to(folder)] = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return found


def _link(source: Path, target: Path) -> None:
    """A second name for ``source`` (a copy where the file system has no hard links)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@contextmanager
def restore_on_failure(folder: str | Path, keep: tuple[str, ...] = ()) -> Iterator[str | None]:
    """Run the block; if it raises, put back every file of ``folder`` it replaced, added or
    removed, so a failed run leaves the previous run's outputs, not a mix of two runs.

    The files of the folder are hard-linked aside first (no data is copied), and only the files
    the block changed are touched on the way back: anything else the folder holds is left as
    it is. Files named in ``keep`` (at the folder's top) stay as the block left them, e.g. a
    quarantine report that says why the run failed.

    A run killed midway (``kill -9``, a power cut) cannot put anything back: its links and temp
    files stay, and its outputs are a mix. So the block starts by rolling such a run back from
    its links, as if it had failed, and yields a note to tell the user (else None).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    note = _roll_back_killed_run(folder)
    aside, before = _set_aside(folder)
    try:
        yield note
    except BaseException:
        _put_back(folder, aside, before, keep)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def _set_aside(folder: Path) -> tuple[Path, dict[Path, tuple[int, int, int]]]:
    """Link the files of ``folder`` into an aside folder named after this process, marked
    complete once all are in; return it and the files' identities then."""
    before = _files(folder)
    aside = Path(tempfile.mkdtemp(prefix=f"{ASIDE_PREFIX}{os.getpid()}.", dir=folder))
    try:
        for relative in before:
            _link(folder / relative, aside / relative)
    except BaseException:  # nothing changed yet, and a partial set is no set to restore
        shutil.rmtree(aside, ignore_errors=True)
        raise
    (aside / COMPLETE_MARKER).touch()
    return aside, before


def _put_back(
    folder: Path, aside: Path, before: dict[Path, tuple[int, int, int]], keep: tuple[str, ...]
) -> None:
    """Make ``folder`` hold the files ``before`` lists again, from their links in ``aside``:
    the files changed since are put back and those added removed, but for ``keep``."""
    after = _files(folder)
    for relative, identity in after.items():
        if str(relative) not in keep and before.get(relative) != identity:
            (folder / relative).unlink()
    for relative, identity in before.items():
        if str(relative) not in keep and after.get(relative) != identity:
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(aside / relative, folder / relative)
    _remove_empty_folders(folder, set(before))


def _roll_back_killed_run(folder: Path) -> str | None:
    """Restore the outputs a killed run had set aside, whole, and remove its links and the temp
    files of its atomic writes; a note saying so, or None if no run's outputs were rolled back.

    Nothing is touched while the run that set them aside is alive: two runs into one folder are
    not supported, but the other one's set is not this one's to undo.
    """
    asides = [path for path in folder.glob(f"{ASIDE_PREFIX}*") if path.is_dir()]
    if any(process_alive(_owner(aside)) for aside in asides):
        return None
    _remove_temp_files(folder)  # first: a folder the run added may hold nothing else
    killed = []
    for aside in asides:
        if (aside / COMPLETE_MARKER).exists():  # else it died linking, before changing anything
            _put_back(folder, aside, _files(aside), keep=())  # the links keep the identities
            killed.append(str(_owner(aside)))
        shutil.rmtree(aside)
    if not killed:
        return None
    return (
        f"an earlier run into {folder} (process {', '.join(killed)}) was stopped before it "
        "finished; the outputs it had written were rolled back to the run before it"
    )


def _owner(aside: Path) -> int | None:
    """The PID in an aside folder's name; None for one from before PIDs were kept."""
    pid = aside.name.removeprefix(ASIDE_PREFIX).split(".")[0]
    return int(pid) if pid.isdigit() else None


def process_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists on this host (signal 0 checks without sending anything):
    how a run killed midway is told from one still working."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_temp_files(folder: Path) -> None:
    """Remove the hidden temp files and folders of atomic writes a killed run left under
    ``folder`` (``.name.random.tmp``): never renamed into place, they would stay forever."""
    for root, dirs, names in os.walk(folder):
        for name in [*names, *dirs]:
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                path = Path(root, name)
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        dirs[:] = [d for d in dirs if not d.startswith(".")]


def _remove_empty_folders(folder: Path, files: set[Path]) -> None:
    """Remove the visible folders under ``folder`` that are empty now and held none of
    ``files`` before (bottom-up, so a folder emptied of empty folders goes too)."""
    held = {parent for relative in files for parent in relative.parents}
    for root, _, _ in os.walk(folder, topdown=False):
        path = Path(root)
        relative = path.relative_to(folder)
        hidden = any(part.startswith(".") for part in relative.parts)
        if path != folder and not hidden and relative not in held and not any(path.iterdir()):
            path.rmdir()


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV (ISO dates, no index) atomically."""
    return write_atomic(path, lambda p: df.to_csv(p, index=False, date_format="%Y-%m-%d"))


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON (indented, dates as ISO strings, a missing number as null) atomically: a bare
    NaN is not JSON, and strict readers (browsers, jq) refuse the whole file over it."""

    def _write(p: Path) -> None:
        p.write_text(json.dumps(_nulls(obj), indent=2, default=str, allow_nan=False) + "\n")

    return write_atomic(path, _write)


def _nulls(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nulls(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nulls(v) for v in obj]
    return obj
