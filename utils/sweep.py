"""Many runs of one experiment: a grid of config overrides x seeds, each cell one call of a pure function.

The engine knows nothing about training: it gets the experiment function (config -> plain result dict) and
runs it once per cell, sequentially in this process, on a local pool of processes (``spawn``, one torch thread
each) or as Ray tasks. Each cell's config has ``out_dir`` = the cell's own folder, ``<sweep folder>/<point>/seed<k>``.
Whatever runs a cell, the result comes back to this process, which writes it as ``<cell folder>/result.json``
(atomically), so

* a rerun of the same command skips every cell that has a ``result.json``, and refuses a folder whose cells
  were run with another config; a cell that was stopped before its result (a killed sweep, worker or node)
  is called again. ``train_main.py`` runs ``agents.experiment.resume_or_run_experiment``, which then
  continues the cell's run from its ``last.pt``, so a killed sweep loses at most each running cell's
  progress since its last checkpoint (one iteration) and ends with the numbers of an uninterrupted sweep;
* ``--index i`` runs only cell i (cells are numbered point by point, seed by seed), for a scheduler's job
  array; the same command without ``--index`` afterwards finds every cell done and writes the tables;
* on a Ray cluster the results land in the driver's sweep folder even when the workers' disks are not shared.

A sweep file is YAML with a ``grid:`` mapping of config keys to lists of values; the cells are the
product of the lists (in the file's order) times the seeds::

    grid:
      env.reward_alpha: [0.0, 0.5]
      env.serial.fixed_order_cost: [0.0, 25.0]
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from utils.config import ExperimentConfig, apply_overrides, config_to_dict, read_yaml_file
from utils.errors import UserError
from utils.files import write_json_atomic
from utils.logger import Progress, info, quiet_console

#: the experiment function a sweep runs: resolved config -> plain (picklable, JSON-ready) result dict
Experiment = Callable[[ExperimentConfig], dict]
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: a grid point (its overrides) and a seed."""

    index: int  # position in the sweep (what --index takes)
    point: str  # the grid point's name: its overrides joined by ',' ('base' without a grid)
    overrides: tuple[str, ...]  # key=value overrides of the point
    seed: int  # the run's seed

    @property
    def folder(self) -> Path:
        """The cell's folder relative to the sweep folder."""
        return Path(self.point) / f"seed{self.seed}"


def parse_seeds(text: str) -> list[int]:
    """'0-9' -> 0..9, '0,3,7' -> [0, 3, 7], '0-2,8' -> [0, 1, 2, 8]; bad text is a one-line UserError."""
    seeds: list[int] = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise UserError(f"--seeds '{text}': give seeds as a range and/or a list, e.g. 0-9 or 0,3,7 or 0-2,8")
        lo, hi = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        seeds += [s for s in range(lo, hi + 1) if s not in seeds]
    return seeds


def read_grid(path: str | os.PathLike | None) -> list[tuple[str, ...]]:
    """The grid points of a sweep file, each a tuple of key=value overrides; no file: one empty point."""
    if path is None:
        return [()]
    data = read_yaml_file(path, "sweep file", "a YAML file with grid: {env.reward_alpha: [0.0, 0.5]}")
    if not isinstance(data, dict) or set(data) != {"grid"} or not isinstance(data["grid"], dict) or not data["grid"]:
        raise UserError(f"sweep file '{path}' must hold one key, grid:, mapping config keys to lists of values, "
                        "e.g. grid: {env.reward_alpha: [0.0, 0.5]}")
    axes = []
    for key, values in data["grid"].items():
        if not isinstance(values, list) or not values:
            raise UserError(f"sweep file '{path}': grid key '{key}' needs a non-empty list of values, e.g. [0.0, 0.5]")
        axes.append([f"{key}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}" for v in values])
    return list(itertools.product(*axes))


def make_cells(points: list[tuple[str, ...]], seeds: list[int]) -> list[Cell]:
    """Cells point by point, seed by seed (the --index order)."""
    cells = []
    for overrides, seed in itertools.product(points, seeds):
        name = ",".join(overrides) if overrides else "base"
        cells.append(Cell(len(cells), re.sub(r"[^\w.,=+-]", "_", name), tuple(overrides), seed))
    return cells


def cell_config(base: ExperimentConfig, cell: Cell, sweep_dir: Path) -> ExperimentConfig:
    """The config a cell runs: the point's overrides, its seed, its own output folder (absolute) and the
    tuning cache as an absolute path (a Ray worker runs in a copy of the project, whose cache would be lost)."""
    overrides = [*cell.overrides, f"seed={cell.seed}", f"out_dir={(sweep_dir / cell.folder).resolve()}"]
    if base.baselines.cache_dir:
        overrides.append(f"baselines.cache_dir={Path(base.baselines.cache_dir).resolve()}")
    return apply_overrides(base, overrides, f"sweep cell {cell.index} ({cell.point}, seed {cell.seed})")


def _difference(a: Any, b: Any, prefix: str = "") -> str | None:
    """The first dotted key where two nested dicts differ (None: equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _difference(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
            if found:
                return found
        return None
    return None if a == b else prefix


def finished(sweep_dir: Path, cell: Cell, config: ExperimentConfig) -> dict | None:
    """The stored result of a cell, None when it has not finished; a result of another config is an error."""
    path = sweep_dir / cell.folder / "result.json"
    if not path.is_file():
        return None
    stored = json.loads(path.read_text())
    differs = _difference(stored["cell"]["config"], config_to_dict(config))
    if differs:
        raise UserError(f"sweep folder '{sweep_dir}' holds cell {cell.point} seed {cell.seed} run with another "
                        f"'{differs}'; keep the sweep's config, or give another --out")
    return stored


def run_cell(experiment: Experiment, config: ExperimentConfig) -> dict:
    """What every backend runs for one cell: the experiment with the console kept to warnings (the run's
    log.txt keeps every line; the sweep reports progress)."""
    with quiet_console():
        return experiment(config)


def _init_worker() -> None:
    """Pool worker start: one thread for every numeric library, set before torch is imported by the first task."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"


def _sequential(experiment: Experiment, jobs: list[tuple[Cell, ExperimentConfig]]):
    for cell, config in jobs:
        yield cell, run_cell(experiment, config)


def _local_pool(experiment: Experiment, jobs: list[tuple[Cell, ExperimentConfig]], workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker) as pool:
        futures = {pool.submit(run_cell, experiment, config): cell for cell, config in jobs}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:  # a failed cell or Ctrl-C: cells not started yet are dropped, finished ones are kept
            for future in futures:
                future.cancel()
            raise


def _ray(experiment: Experiment, jobs: list[tuple[Cell, ExperimentConfig]], workers: int, address: str | None):
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs ray: pip install -r requirements-ray.txt") from None
    started = not ray.is_initialized()
    if started:
        root = Path(__file__).resolve().parents[1]
        # the project's code (and test_data) go to every worker; run folders and results stay out of the upload
        runtime_env = {"working_dir": str(root), "excludes": [".git", "results", "**/__pycache__", "*.pt", ".*_cache"],
                       "env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}}
        kwargs = {"address": address} if address else {"num_cpus": workers, "include_dashboard": False}
        ray.init(runtime_env=runtime_env, log_to_driver=False, logging_level=logging.WARNING, **kwargs)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_cell)
        refs = {remote.remote(experiment, config): cell for cell, config in jobs}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield refs[done[0]], ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def run_sweep(
    experiment: Experiment, base: ExperimentConfig, cells: list[Cell], sweep_dir: str | os.PathLike,
    backend: str = "local", workers: int = 1, address: str | None = None, only: int | None = None,
    log: Callable[[str], None] = info,
) -> dict[int, dict]:
    """Run every unfinished cell (or only cell `only`) and return {cell index: result} of every finished cell.

    backend 'local': workers == 1 runs the cells one after another in this process, more on a spawn pool;
    backend 'ray': Ray tasks of one CPU each, on a local Ray instance of `workers` CPUs or the cluster at
    `address`. Each result is written to ``<sweep_dir>/<cell folder>/result.json`` as it arrives.
    """
    if backend not in BACKENDS:
        raise UserError(f"--backend '{backend}' is not known; choose one of {', '.join(BACKENDS)}")
    if workers < 1:
        raise UserError(f"--workers {workers}: give at least 1")
    sweep_dir = Path(sweep_dir)
    if only is not None and not 0 <= only < len(cells):
        raise UserError(f"--index {only} is outside the sweep's {len(cells)} cells; give 0..{len(cells) - 1}")
    results, jobs = {}, []
    for cell in cells:
        config = cell_config(base, cell, sweep_dir)
        stored = finished(sweep_dir, cell, config)
        if stored is not None:
            results[cell.index] = stored
        elif only is None or cell.index == only:
            jobs.append((cell, config))
    log(f"sweep {sweep_dir}: {len(cells)} cells, {len(results)} finished before, {len(jobs)} to run"
        + (f" (backend {backend}, {workers} worker{'s' * (workers > 1)})" if jobs else ""))
    if not jobs:
        return results
    if backend == "ray":
        stream = _ray(experiment, jobs, workers, address)
    elif workers == 1 or len(jobs) == 1:
        stream = _sequential(experiment, jobs)
    else:
        stream = _local_pool(experiment, jobs, min(workers, len(jobs)))
    progress = Progress(len(jobs), "cells", log)
    for done, (cell, result) in enumerate(stream, start=1):
        config = dict(jobs)[cell]
        result["cell"] = {"index": cell.index, "point": cell.point, "overrides": list(cell.overrides), "seed": cell.seed,
                          "config": config_to_dict(config)}
        write_json_atomic(sweep_dir / cell.folder / "result.json", result)
        results[cell.index] = result
        progress.update(done, f"last: {cell.point} seed {cell.seed}, test cost {result['test']['cost_mean']:,.1f}")
    return results


def sweep_folder(base: ExperimentConfig, sweep_file: str | None) -> Path:
    """Default folder of a sweep: <out_dir>/sweep_<config name>_<sweep file stem, or 'seeds'> (stable, so a
    rerun of the same command finds it)."""
    return Path(base.out_dir) / f"sweep_{base.name}_{Path(sweep_file).stem if sweep_file else 'seeds'}"


def sweep_main(
    experiment: Experiment, base: ExperimentConfig, seeds: list[int], sweep_file: str | None = None,
    sweep_dir: str | os.PathLike | None = None, backend: str = "local", workers: int = 1, address: str | None = None,
    only: int | None = None, command: dict | None = None, log: Callable[[str], None] = info,
) -> dict[int, dict]:
    """The ``train_main.py --seeds/--sweep`` command: run the cells, then (all finished) write the report.

    command: what the user asked for (config path, --set overrides), stored in sweep.yaml with the grid,
    the seeds and the resolved base config; provenance.yaml records the latest invocation.
    """
    from utils.logger import log_file
    from utils.provenance import write_provenance
    from utils.sweep_report import write_report

    cells = make_cells(read_grid(sweep_file), seeds)
    sweep_dir = Path(sweep_dir) if sweep_dir is not None else sweep_folder(base, sweep_file)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    spec = {"command": command or {}, "sweep_file": sweep_file, "seeds": seeds,
            "grid": [list(c.overrides) for c in cells if c.seed == seeds[0]], "base_config": config_to_dict(base)}
    write_json_atomic(sweep_dir / "sweep.json", spec)
    write_provenance(sweep_dir)
    with log_file(sweep_dir):
        results = run_sweep(experiment, base, cells, sweep_dir, backend, workers, address, only, log)
        if len(results) < len(cells):
            log(f"{len(results)} of {len(cells)} cells finished; run the same command without --index to finish "
                "the rest and write the tables")
            return results
        text = write_report(results, sweep_dir, f"{base.name}: {sweep_file or 'seeds'} ({len(seeds)} seeds)")
        log(text)
        log(f"tables: {sweep_dir / 'summary.md'}, {sweep_dir / 'summary.csv'}, {sweep_dir / 'paired.csv'}; "
            f"curves: {sweep_dir / 'learning_curves.png'}")
    return results
