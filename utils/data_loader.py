"""Customer demand: seeded generators for training and validation, integer files for testing.

Two generators reproduce the reference implementation of Liu et al.:

* ``merton_paths``: a driftless Merton jump diffusion on the log of demand, started at half the
  cap, with whole-path rejection and a cap (the non-stationary demand of the paper);
* ``stationary_paths``: i.i.d. Poisson demand.

A third source is the user's own data (``demand.kind: files``): a folder of demand histories laid out
and checked like a test set, from which ``history_windows`` cuts seeded windows of one episode each.

``sample_demand`` turns a ``DemandConfig`` into an episode batch ``(n_paths, T, n_streams)``,
``validation_demand`` draws the fixed validation set used for model selection, and
``read_demand_folder`` / ``write_demand_folder`` handle the test sets under ``test_data/``
(one file per episode, one integer per line; a network folder has one sub-folder per customer
stream). Test files are for final evaluation only: nothing here ever reads them for training or
validation.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utils.config import DemandConfig
from utils.errors import UserError
from utils.files import write_text_atomic

#: Rounds of redrawing after which the Merton rejection gives up: with the paper's parameters about
#: 80 % of paths are accepted per round, so reaching this means the parameters almost never give an
#: acceptable path and the user should change them rather than wait.
MAX_REJECTION_ROUNDS = 1000


# ----------------------------------------------------------------------------------------------
# Generators
# ----------------------------------------------------------------------------------------------
def merton_log_increments(
    rng: np.random.Generator,
    n_paths: int,
    length: int,
    jump_rate: float = 15.0,
    scale: float = 0.01,
    jump_sd: float = 2.0,
) -> np.ndarray:
    """Steps of the log-demand walk: diffusion ``scale*sqrt(jump_rate)*Z`` plus jump ``scale*sqrt(N)*Z2``.

    Per step the draws are made in the reference's order (diffusion normal, jump count, jump
    normal), each for all paths at once; so with ``n_paths=1`` and a legacy
    ``np.random.RandomState`` as ``rng`` the reference's own stream is replayed number for number.
    """
    z, n_jumps, z_jump = np.empty((3, length, n_paths))  # (length, n_paths) each
    for k in range(length):  # the draws step by step; the arithmetic below once, on all of them
        z[k] = rng.normal(0.0, 1.0, size=n_paths)
        n_jumps[k] = rng.poisson(jump_rate, size=n_paths)
        z_jump[k] = rng.normal(0.0, jump_sd, size=n_paths)
    # sqrt(N) * Normal: the sum of N i.i.d. jump sizes, drawn in one normal
    return np.ascontiguousarray((scale * np.sqrt(jump_rate) * z + scale * np.sqrt(n_jumps) * z_jump).T)  # (n_paths, length)


def merton_paths_and_attempts(
    rng: np.random.Generator,
    n_paths: int,
    length: int,
    max_demand: int,
    jump_rate: float = 15.0,
    scale: float = 0.01,
    jump_sd: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``merton_paths`` plus, per accepted path, how many candidate paths were drawn for it.

    The attempt counts expose the rejection rate, which the golden statistics record
    (``attempts_per_accepted_path``), so a test can check the rejection rule itself.
    Returns paths ``(n_paths, length + 1)`` int64 and attempts ``(n_paths,)`` int64.
    """
    if max_demand < 2:
        raise UserError(
            f"demand.max_demand is {max_demand} but the Merton generator needs at least 2 "
            "(it starts at max_demand // 2, and a start of 0 stays 0 forever); raise demand.max_demand"
        )
    if n_paths < 0 or length < 0:
        raise ValueError(f"n_paths ({n_paths}) and length ({length}) must be >= 0")
    base = max_demand // 2
    paths = np.empty((n_paths, length + 1), dtype=np.int64)  # (n_paths, length + 1)
    attempts = np.zeros(n_paths, dtype=np.int64)  # (n_paths,)
    pending = np.arange(n_paths)  # indices of paths not yet accepted, in output order
    for _ in range(MAX_REJECTION_ROUNDS):
        if pending.size == 0:
            return paths, attempts
        steps = merton_log_increments(rng, pending.size, length, jump_rate, scale, jump_sd)
        log_level = np.concatenate([np.zeros((pending.size, 1)), np.cumsum(steps, axis=1)], axis=1)
        # floats until the test: a wild path can overflow exp() to inf, which the test then rejects
        with np.errstate(over="ignore"):
            demand = np.floor(base * np.exp(log_level))  # (pending, length + 1), unclipped integers
            path_mean = demand.mean(axis=1)  # inf for an overflowing path, which is then rejected
        accepted = (path_mean > 0) & (path_mean < max_demand)
        attempts[pending] += 1
        paths[pending[accepted]] = np.minimum(demand[accepted], max_demand).astype(np.int64)
        pending = pending[~accepted]
    if pending.size == 0:
        return paths, attempts
    raise UserError(
        f"the Merton generator rejected {pending.size} of {n_paths} paths {MAX_REJECTION_ROUNDS} times in a row "
        f"(jump_rate={jump_rate}, scale={scale}, jump_sd={jump_sd}, max_demand={max_demand}); "
        "lower demand.merton_scale or demand.merton_jump_sd"
    )


def merton_paths(
    rng: np.random.Generator,
    n_paths: int,
    length: int,
    max_demand: int,
    jump_rate: float = 15.0,
    scale: float = 0.01,
    jump_sd: float = 2.0,
) -> np.ndarray:
    """Non-stationary demand of the paper: ``floor(base * exp(X))`` for a driftless log-level walk X.

    X_0 = 0 and each step adds ``scale*sqrt(jump_rate)*Z + scale*sqrt(N)*Z2`` with Z ~ N(0, 1),
    N ~ Poisson(jump_rate), Z2 ~ N(0, jump_sd). ``base = max_demand // 2``, so every path starts at
    exactly ``base``. A path whose unclipped mean is not strictly between 0 and ``max_demand`` is
    redrawn from scratch (only the rejected paths are redrawn); accepted paths are then clipped
    above at ``max_demand``, which is also the order cap the agents can answer with.

    Args:
        rng: source of every draw (a ``numpy.random.Generator``; a legacy ``RandomState`` also works).
        n_paths: independent paths (episodes x customer streams).
        length: steps of the walk; the path has ``length + 1`` values, X_0 included.
        max_demand: cap of the demand, twice its start level (20 serial, 4 network in the paper).
        jump_rate: Poisson rate of the jump count per step; also sets the diffusion's variance.
        scale: overall size of the log moves (sd of diffusion = scale*sqrt(jump_rate)).
        jump_sd: standard deviation of the normal behind each jump, in units of ``scale``.
    Returns:
        int64 array ``(n_paths, length + 1)`` with values in ``0..max_demand``.
    """
    paths, _ = merton_paths_and_attempts(rng, n_paths, length, max_demand, jump_rate, scale, jump_sd)
    return paths  # (n_paths, length + 1)


def stationary_paths(rng: np.random.Generator, n_paths: int, length: int, mean: float = 10.0) -> np.ndarray:
    """i.i.d. Poisson(``mean``) demand, unclipped: the paper's stationary benchmark demand.

    Returns int64 ``(n_paths, length)``.
    """
    if mean < 0:
        raise UserError(f"demand.stationary_mean is {mean} but a Poisson mean must be >= 0; set it to 0 or more")
    return rng.poisson(mean, size=(n_paths, length)).astype(np.int64)  # (n_paths, length)


def sample_demand(cfg: DemandConfig, rng: np.random.Generator, n_paths: int, length: int, n_streams: int = 1) -> np.ndarray:
    """Episode demand from the configured generator: ``(n_paths, length, n_streams)`` int64.

    Each (episode, stream) pair is an independent path. A Merton path of ``length`` periods is
    the first ``length`` of the generator's ``length + 1`` values, so period 0 faces the start
    level ``max_demand // 2``, as in the reference. ``n_streams`` exists for the network, where
    every retailer (customer stream) sees its own demand.
    """
    if cfg.kind == "files":
        return demand_sampler(cfg)(rng, n_paths, length, n_streams)
    n_total = n_paths * n_streams
    if cfg.kind == "merton":
        flat = merton_paths(
            rng, n_total, length, cfg.max_demand, cfg.merton_jump_rate, cfg.merton_scale, cfg.merton_jump_sd
        )[:, :length]
    elif cfg.kind == "stationary":
        flat = stationary_paths(rng, n_total, length, cfg.stationary_mean)
    else:
        raise UserError(f"demand.kind is {cfg.kind!r}; use 'merton', 'stationary' or 'files'")
    # path i * n_streams + s is stream s of episode i
    return np.ascontiguousarray(flat.reshape(n_paths, n_streams, length).transpose(0, 2, 1))  # (n_paths, T, S)


def history_windows(
    history: np.ndarray, rng: np.random.Generator, n_paths: int, length: int, n_streams: int, source: str = "demand history"
) -> np.ndarray:
    """Episodes cut from demand histories ``(n_files, T_hist, S)``: each path takes a file and a start period
    drawn uniformly by `rng`, and its next `length` periods (all streams of a network from the same file and
    period, so their co-movement is kept). Returns ``(n_paths, length, n_streams)`` int64."""
    n_files, hist_length, hist_streams = history.shape
    if hist_streams != n_streams:
        raise UserError(f"{source} has {hist_streams} customer stream(s) but the env needs {n_streams}; "
                        "give one sub-folder per customer stream (a network) or plain files (a serial chain)")
    if hist_length < length:
        raise UserError(f"{source} has histories of {hist_length} periods but an episode has {length}; "
                        "give longer histories or a shorter env.episode_length")
    files = rng.integers(0, n_files, size=n_paths)  # (n_paths,)
    starts = rng.integers(0, hist_length - length + 1, size=n_paths)  # (n_paths,)
    periods = starts[:, None] + np.arange(length)  # (n_paths, length)
    return np.ascontiguousarray(history[files[:, None], periods])  # (n_paths, length, S)


def demand_sampler(cfg: DemandConfig):
    """A function ``(rng, n_paths, length, n_streams) -> (n_paths, length, n_streams)`` drawing from the
    configured source; a folder of histories (``kind: files``) is read and checked once, here."""
    if cfg.kind != "files":
        return lambda rng, n_paths, length, n_streams: sample_demand(cfg, rng, n_paths, length, n_streams)
    if not cfg.train_dir:
        raise UserError("demand.kind is 'files' but demand.train_dir is empty; give the folder of your demand histories")
    history = read_demand_folder(cfg.train_dir).demand  # (n_files, T_hist, S)
    source = f"demand.train_dir '{cfg.train_dir}'"
    return lambda rng, n_paths, length, n_streams: history_windows(history, rng, n_paths, length, n_streams, source)


def validation_demand(cfg: DemandConfig, length: int, n_streams: int = 1) -> np.ndarray:
    """The fixed validation set for model selection: ``(validation_episodes, length, n_streams)`` int64.

    Drawn from the training generator with its own seed, so every run and every evaluation of a
    run sees the same episodes, and the test files stay unseen until the final evaluation.
    """
    rng = np.random.default_rng(cfg.validation_seed)
    return sample_demand(cfg, rng, cfg.validation_episodes, length, n_streams)


# ----------------------------------------------------------------------------------------------
# Demand files
# ----------------------------------------------------------------------------------------------
@dataclass
class DemandSet:
    """Demand read from a folder: one episode per file, one column per customer stream."""

    demand: np.ndarray  # (n_files, T, n_streams) int64
    names: list[str]  # file names in the order of the first axis (natural order)

    @property
    def n_streams(self) -> int:
        """Customer streams: 1 for a serial folder, the number of sub-folders for a network folder."""
        return int(self.demand.shape[2])


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs by value, so ``d2`` comes before ``d10``."""
    # re.split with a capture group alternates text, number, text, ..., so positions never mix types
    return tuple(int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name)))


def _visible_entries(folder: Path) -> list[Path]:
    """Entries of a folder a user put there: hidden files (.gitkeep, .DS_Store, temp files) are skipped."""
    return sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: natural_key(p.name))


#: one count per line: digits, optionally followed by a zero fraction ("4.0": the reference wrote network
#: demand as floats); no sign, exponent, underscore or other fraction
WHOLE_NUMBER = re.compile(r"[0-9]+(\.0*)?")
#: the largest demand (or order) a file may hold: sums over an episode of up to a million periods then
#: stay far inside 64-bit integers
MAX_UNITS = 10**12


def parse_units(text: str) -> int | None:
    """The non-negative whole number written in `text` (digits only, up to MAX_UNITS), or None."""
    if not WHOLE_NUMBER.fullmatch(text):
        return None
    value = int(text.split(".")[0])
    return value if value <= MAX_UNITS else None


def read_demand_file(path: Path) -> np.ndarray:
    """One episode of one stream: a non-negative integer per line -> ``(T,)`` int64."""
    if path.is_dir():
        raise UserError(f"demand file '{path}' is a folder; a demand set is a folder of files with one integer per line")
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"demand file '{path}' is not UTF-8 text; put one non-negative integer per line") from None
    except OSError as err:
        raise UserError(f"demand file '{path}' cannot be read ({err.strerror}); check its permissions") from None
    while lines and not lines[-1].strip():
        lines.pop()  # blank lines at the end are harmless
    if not lines:
        raise UserError(f"demand file '{path}' is empty; put one non-negative integer per line")
    values = np.empty(len(lines), dtype=np.int64)
    for i, line in enumerate(lines):
        text = line.strip()
        value = parse_units(text)
        if value is None:
            shown = text if len(text) <= 40 else text[:37] + "..."
            problem = "is negative; demand must be >= 0" if re.fullmatch(r"-[0-9]+", text) else (
                "is not a whole number of units (digits only, at most 10**12)")
            raise UserError(f"demand file '{path}' line {i + 1}: {shown!r} {problem}; put one non-negative integer per line")
        values[i] = value
    return values  # (T,)


def _read_flat_folder(folder: Path) -> tuple[np.ndarray, list[str]]:
    """All files of a folder holding files only -> ``(n_files, T)`` and their names."""
    files = _visible_entries(folder)
    if not files:
        raise UserError(f"demand folder '{folder}' holds no demand files; add files with one integer per line")
    sub_folders = [p.name for p in files if p.is_dir()]
    if sub_folders:
        raise UserError(
            f"demand folder '{folder}' mixes files and sub-folders ({sub_folders[0]}); put either demand files "
            "(serial) or one sub-folder per customer stream (network) in it"
        )
    columns = [read_demand_file(p) for p in files]
    first = files[0]
    for p, values in zip(files, columns):
        if values.size != columns[0].size:
            raise UserError(
                f"demand file '{p}' has {values.size} periods but '{first}' has {columns[0].size}; "
                "give every file of a set the same number of lines"
            )
    return np.stack(columns), [p.name for p in files]  # (n_files, T)


def read_demand_folder(path: str | os.PathLike) -> DemandSet:
    """Read a test set: a folder of files (serial) or of one sub-folder per customer stream (network).

    Files are ordered naturally (``d2`` before ``d10``), and so are the sub-folders, which give the
    stream order. Every problem is a one-line ``UserError`` naming the file (and line).
    """
    folder = Path(path)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "not found"
        # configs name the project's sets relative to the repository root: say where a relative path was looked for
        where = "" if folder.is_absolute() else f" in the working directory {Path.cwd()} (run from the repository root or give an absolute path)"
        raise UserError(
            f"demand folder '{folder}' {what}{where}; pass a folder of demand files such as test_data/test_demand_merton "
            "(python test_data/generate_test_data.py writes the project's test sets)"
        )
    entries = _visible_entries(folder)
    if not entries:
        raise UserError(f"demand folder '{folder}' is empty; add files with one integer per line")
    if not any(p.is_dir() for p in entries):
        demand, names = _read_flat_folder(folder)
        return DemandSet(demand=demand[:, :, None], names=names)  # (n_files, T, 1)

    loose = [p.name for p in entries if not p.is_dir()]
    if loose:
        raise UserError(
            f"demand folder '{folder}' mixes sub-folders and files ({loose[0]}); a network set holds only "
            "one sub-folder per customer stream"
        )
    streams = [_read_flat_folder(p) for p in entries]
    demand0, names0 = streams[0]
    for sub, (demand, names) in zip(entries, streams):
        if names != names0:
            missing = sorted(set(names0) - set(names), key=natural_key)
            extra = sorted(set(names) - set(names0), key=natural_key)
            detail = f"lacks '{missing[0]}'" if missing else f"has extra file '{extra[0]}'"
            raise UserError(
                f"demand sub-folder '{sub}' {detail} compared with '{entries[0]}'; every stream sub-folder must hold "
                "the same file names"
            )
        if demand.shape[1] != demand0.shape[1]:
            raise UserError(
                f"demand files in '{sub}' have {demand.shape[1]} periods but those in '{entries[0]}' have "
                f"{demand0.shape[1]}; give every file of a set the same number of lines"
            )
    demand = np.stack([d for d, _ in streams], axis=2)  # (n_files, T, n_streams)
    return DemandSet(demand=demand, names=names0)


def write_demand_folder(path: str | os.PathLike, demand: np.ndarray, names: list[str] | None = None) -> None:
    """Write demand ``(n_files, T)`` or ``(n_files, T, n_streams)`` so ``read_demand_folder`` returns it.

    One stream gives files directly in ``path``; several give sub-folders ``stream_0``, ``stream_1``,
    ... with the same file names. ``names`` defaults to ``demand_0.txt``, ``demand_1.txt``, ... .
    An existing folder may be rewritten (regenerating a test set) but not one that holds other
    entries, which would otherwise be read back as part of the set.
    """
    folder = Path(path)
    demand = np.asarray(demand)
    if demand.ndim == 2:
        demand = demand[:, :, None]  # (n_files, T, 1)
    if demand.ndim != 3 or demand.shape[0] == 0 or demand.shape[1] == 0:
        raise ValueError(f"demand must be (n_files, T) or (n_files, T, n_streams) with n_files, T >= 1; got {demand.shape}")
    if not np.issubdtype(demand.dtype, np.integer) or (demand < 0).any():
        raise ValueError("demand to write must be non-negative integers")
    n_files, _, n_streams = demand.shape
    names = list(names) if names is not None else [f"demand_{i}.txt" for i in range(n_files)]
    if len(names) != n_files or len(set(names)) != n_files:
        raise ValueError(f"names must be {n_files} distinct file names, got {len(names)} ({len(set(names))} distinct)")
    if sorted(names, key=natural_key) != names:
        # the reader returns files in natural order; any other order would not read back as written
        raise ValueError("names must be in natural order (d2 before d10) so the folder reads back in the same order")

    stream_dirs = [folder] if n_streams == 1 else [folder / f"stream_{s}" for s in range(n_streams)]
    expected = set(names) if n_streams == 1 else {d.name for d in stream_dirs}
    for d in [folder] + ([] if n_streams == 1 else stream_dirs):
        if d.is_dir():
            allowed = expected if d == folder else set(names)
            others = [p.name for p in _visible_entries(d) if p.name not in allowed]
            if others:
                raise UserError(
                    f"folder '{d}' already holds '{others[0]}', which is not part of this demand set; "
                    "remove it or write to an empty folder"
                )
    for s, d in enumerate(stream_dirs):
        d.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            write_text_atomic(d / name, "".join(f"{int(v)}\n" for v in demand[i, :, s]))
