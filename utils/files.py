"""Files that matter: atomic writes, output paths checked before any work, one writer per output folder.

* ``atomic_write(path)``: the one way the project writes a file that a reader (or a later run) relies
  on: checkpoints, metrics, configs, JSON results, plots, demand files. The content goes to a hidden
  temporary file in the same folder (``.<name>.<random>.tmp``), is flushed to disk, and is renamed over
  ``path`` only when the writer finished without an exception. A reader sees the old file or the new one,
  never half of one, and a failed write leaves nothing behind.
* ``check_output_file`` / ``check_output_dir``: a command checks every path it will write before it
  starts its work, so a read-only folder or a path naming the wrong kind of thing is a one-line
  ``UserError`` at once, not a traceback after an hour of evaluation.
* ``folder_lock(path)``: an exclusive lock on an output folder for the time a process writes into it,
  so two trainings into one ``--out`` never interleave their updates of the shared policy file.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from utils.errors import UserError


def _default_mode() -> int:
    """Permissions of a new file under this process's umask (mkstemp itself creates 0600 files)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, binary: bool = False) -> Iterator[IO]:
    """Open a temporary file next to ``path`` for writing; on success rename it to ``path``.

    ``binary`` opens in "wb" (torch.save, PNG) instead of text mode (UTF-8, newline="" so csv controls line
    ends). The parent folder is created. The temporary name is unique, so two processes writing the same
    path never write into one temporary file; the last rename wins, and each rename is whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points at it (a crash keeps the old file)
        os.chmod(tmp_name, _default_mode())
        os.replace(tmp_name, path)
    except BaseException:  # KeyboardInterrupt too: never leave a temporary file behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files ``atomic_write`` left in ``folder`` (and below) when a process was killed
    mid-write (SIGKILL, power loss). Call it only while holding the folder's lock. Returns what was removed."""
    stale = [p for p in Path(folder).rglob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path) as f:
        f.write(text)


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """Check that a file can be written at ``path`` (its folder may not exist yet); return it as a Path.

    what: what the file is, for the message ("--output_json").
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} '{path}' is a folder; give a file name, e.g. {path / 'out.json'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{what} '{path}' exists and is read-only; make it writable or choose another path")
    _check_creatable_dir(path.parent, what, path)
    return path


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Check that ``path`` is (or can be created as) a folder this process can write into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} '{path}' is a file; give a folder (it is created if missing)")
    _check_creatable_dir(path, what, path)
    return path


def _check_creatable_dir(folder: Path, what: str, target: Path) -> None:
    """The nearest existing ancestor of ``folder`` must be a writable folder (then ``folder`` can be made)."""
    probe = folder if str(folder) else Path(".")
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{what} '{target}' cannot be created: '{probe}' is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{what} '{target}' cannot be written: folder '{probe}' is read-only; choose another path")


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (a ``.lock`` file in it) while the block runs.

    wait=False (a run folder, held for a whole training): a second process gets a one-line UserError at
    once, so the user sees that the folder is busy. wait=True (a short compare-and-replace): it waits its
    turn. The lock is the kernel's (flock), so it is released when the process ends, even by SIGKILL: a
    crash never leaves a stale lock.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / ".lock"
    handle = open(lock_path, "a")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"{what} '{folder}' is in use by another training run; wait for it to finish or choose another folder"
            ) from None
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock


def json_ready(value: Any) -> Any:
    """NaN (a ratio with a zero denominator) becomes null and numpy scalars plain numbers, so the file is
    strict JSON any tool can read."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write strict JSON (``json_ready``) to ``path`` atomically."""
    write_text_atomic(path, json.dumps(json_ready(data), indent=1, allow_nan=False))
