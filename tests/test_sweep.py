"""Sweeps: the same cells give the same numbers on every backend; a killed sweep resumes each unfinished cell from
its last checkpoint and ends with the same numbers and table as an uninterrupted one."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.experiment import resume_or_run_experiment, run_experiment
from tests.test_experiment import SERIAL, tiny_test_dir
from tests.test_faults import TIMING, rows, start, wait_for
from utils.config import load_config
from utils.errors import UserError
from utils.sweep import make_cells, parse_seeds, read_grid, run_sweep, sweep_main

SEEDS = [0, 1]


def test_seeds_grid_and_cell_order(tmp_path):
    assert parse_seeds("0-3,8,2") == [0, 1, 2, 3, 8]
    assert parse_seeds("7") == [7]
    for bad in ("3-1", "a", "1,,2", "-1"):
        with pytest.raises(UserError, match="--seeds"):
            parse_seeds(bad)
    grid = tmp_path / "grid.yaml"
    grid.write_text("grid:\n  env.reward_alpha: [0.0, 0.5]\n  train.hidden_sizes: [[8], [8, 8]]\n")
    points = read_grid(grid)
    assert points == [("env.reward_alpha=0.0", "train.hidden_sizes=[8]"), ("env.reward_alpha=0.0", "train.hidden_sizes=[8, 8]"),
                      ("env.reward_alpha=0.5", "train.hidden_sizes=[8]"), ("env.reward_alpha=0.5", "train.hidden_sizes=[8, 8]")]
    cells = make_cells(points, [3, 4])
    assert [c.index for c in cells] == list(range(8))
    assert [(c.overrides, c.seed) for c in cells[:3]] == [(points[0], 3), (points[0], 4), (points[1], 3)]
    assert str(cells[3].folder) == "env.reward_alpha=0.0,train.hidden_sizes=_8,_8_/seed4"
    grid.write_text("grid: {env.reward_alpha: 0.5}\n")
    with pytest.raises(UserError, match="non-empty list"):
        read_grid(grid)
    grid.write_text("env.reward_alpha: [0.5]\n")
    with pytest.raises(UserError, match="grid:"):
        read_grid(grid)


def base_overrides(tmp: Path, iterations: int = 2) -> list[str]:
    """iterations of 4 chains x 20 periods, each evaluated on 2 validation paths; 2 test files."""
    return [f"out_dir={tmp / 'out'}", f"demand.test_dir={tiny_test_dir(tmp / 'test', n_files=2)}", "train.n_envs=4",
            "env.episode_length=20", f"train.total_env_steps={80 * iterations}", "train.eval_every=1",
            "demand.validation_episodes=2", "train.hidden_sizes=[8]", "residual.enabled=false", "train.n_minibatches=2"]


def base_config(tmp: Path):
    """A 2 x 2 sweep's base: 2 iterations per cell."""
    return load_config(SERIAL, base_overrides(tmp))


def grid_file(tmp: Path) -> str:
    path = tmp / "alpha.yaml"
    path.write_text("grid:\n  env.reward_alpha: [0.0, 1.0]\n")
    return str(path)


def numbers(results: dict[int, dict]) -> dict:
    """Every per-seed number that decides a table: per-file test and validation costs, the learning curve, the
    training's first, best and last validation costs, iterations and env steps."""
    return {i: (r["cell"]["point"], r["cell"]["seed"], r["test"]["episode_agent_cost"], r["validation"]["episode_agent_cost"],
                r["curve"]["eval_cost"], r["curve"]["train_cost"],
                {k: v for k, v in r["train"].items() if k not in ("wall_time", "resumes")}) for i, r in results.items()}


def run_folder(cell_folder: Path) -> Path:
    """The one run folder of a sweep cell (a cell that was stopped and resumed still has one)."""
    (run,) = [p for p in cell_folder.iterdir() if p.is_dir()]
    return run


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    base = base_config(tmp)
    results = sweep_main(resume_or_run_experiment, base, SEEDS, grid_file(tmp), sweep_dir=tmp / "sequential")
    return tmp, base, results


def test_sequential_sweep_writes_cells_tables_and_curves(sequential):
    tmp, _, results = sequential
    folder = tmp / "sequential"
    assert sorted(results) == [0, 1, 2, 3]
    assert [(r["cell"]["point"], r["cell"]["seed"]) for r in results.values()] == [
        ("env.reward_alpha=0.0", 0), ("env.reward_alpha=0.0", 1), ("env.reward_alpha=1.0", 0), ("env.reward_alpha=1.0", 1)]
    for r in results.values():
        assert r["config"]["env"]["reward_alpha"] == float(r["cell"]["point"].split("=")[1])
        assert r["config"]["seed"] == r["cell"]["seed"]
    for name in ("summary.md", "summary.csv", "paired.csv", "learning_curves.png", "sweep.json", "provenance.yaml", "log.txt"):
        assert (folder / name).is_file(), name
    # the table's test cost of a point is the mean over its seeds of each seed's mean over files
    rows = (folder / "summary.csv").read_text().splitlines()
    cost_row = next(line for line in rows if line.startswith("env.reward_alpha=0.0,test,cost_mean,"))
    expected = np.mean([results[0]["test"]["cost_mean"], results[1]["test"]["cost_mean"]])
    assert float(cost_row.split(",")[5]) == pytest.approx(expected, rel=1e-12)
    paired = (folder / "paired.csv").read_text().splitlines()
    assert len(paired) == 3  # header, test, validation
    diffs = [results[2 + s]["test"]["cost_mean"] - results[s]["test"]["cost_mean"] for s in (0, 1)]
    assert float(paired[1].split(",")[5]) == pytest.approx(np.mean(diffs), rel=1e-12)


def test_local_pool_gives_the_sequential_numbers(sequential):
    tmp, base, results = sequential
    pool = sweep_main(run_experiment, base, SEEDS, grid_file(tmp), sweep_dir=tmp / "pool", workers=2)
    assert numbers(pool) == numbers(results)
    assert (tmp / "pool" / "summary.md").read_text() == (tmp / "sequential" / "summary.md").read_text()


def test_ray_gives_the_sequential_numbers(sequential):
    pytest.importorskip("ray")
    tmp, base, results = sequential
    on_ray = sweep_main(run_experiment, base, SEEDS, grid_file(tmp), sweep_dir=tmp / "ray", backend="ray", workers=2)
    assert numbers(on_ray) == numbers(results)


class KilledDuringCell:
    """The sweep's experiment, interrupted (as by Ctrl-C) in the middle of training its n-th cell, after iteration 1."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self, config):
        self.calls += 1

        def log(line: str) -> None:
            if self.calls == self.n and line.startswith("iter    1/"):
                raise KeyboardInterrupt

        return resume_or_run_experiment(config, log=log)


def test_killed_sweep_resumes_to_the_same_table(sequential):
    tmp, base, results = sequential
    folder = tmp / "killed"
    with pytest.raises(KeyboardInterrupt):
        sweep_main(KilledDuringCell(3), base, SEEDS, grid_file(tmp), sweep_dir=folder)
    done = sorted(p.parent.relative_to(folder).as_posix() for p in folder.glob("*/*/result.json"))
    assert done == ["env.reward_alpha=0.0/seed0", "env.reward_alpha=0.0/seed1"]  # the third cell died in training
    assert not (folder / "summary.md").exists()
    calls = []

    def counting(config):
        calls.append(config.seed)
        return resume_or_run_experiment(config)

    resumed = sweep_main(counting, base, SEEDS, grid_file(tmp), sweep_dir=folder)
    assert calls == [0, 1]  # only the two unfinished cells ran again
    # the third cell continued its run from iteration 1 (one run folder, the resume recorded); the fourth started
    assert [r["train"]["resumes"] and r["train"]["resumes"][0]["iteration"] for r in resumed.values()] == [[], [], 1, []]
    third = run_folder(folder / "env.reward_alpha=1.0" / "seed0")
    assert "resuming" in (third / "log.txt").read_text()
    untimed = lambda run: [{k: v for k, v in r.items() if k not in TIMING} for r in rows(run)]  # noqa: E731
    assert untimed(third) == untimed(run_folder(tmp / "sequential" / "env.reward_alpha=1.0" / "seed0"))
    assert numbers(resumed) == numbers(results)
    assert (folder / "summary.md").read_text() == (tmp / "sequential" / "summary.md").read_text()
    strip_times = lambda text: [r for r in text.splitlines() if ",wall_time_s," not in r]  # noqa: E731
    assert strip_times((folder / "summary.csv").read_text()) == strip_times((tmp / "sequential" / "summary.csv").read_text())
    assert (folder / "paired.csv").read_text() == (tmp / "sequential" / "paired.csv").read_text()


def test_sigkilled_sweep_continues_its_cell_from_the_last_checkpoint(tmp_path):
    """train_main.py runs a one-cell sweep in a subprocess, killed (SIGKILL) after a few of its 8 iterations; the
    rerun trains only the iterations after the last checkpoint and gives the uninterrupted sweep's numbers."""
    iterations = 8
    overrides = base_overrides(tmp_path, iterations)
    base = load_config(SERIAL, overrides)
    reference = sweep_main(resume_or_run_experiment, base, [0], sweep_dir=tmp_path / "reference")
    folder = tmp_path / "killed"
    cell = folder / "base" / "seed0"
    proc = start("--config", str(SERIAL), *[a for o in overrides for a in ("--set", o)], "--seeds", "0", "--sweep_dir", str(folder))
    trained_to = lambda: max((int(rows(m.parent)[-1]["iteration"]) for m in cell.glob("*/metrics.csv")), default=-1)  # noqa: E731
    wait_for(lambda: trained_to() >= 3, proc)
    proc.kill()
    proc.communicate(timeout=120)
    killed_at = torch.load(run_folder(cell) / "last.pt", weights_only=True)["iteration"]
    assert 2 <= killed_at < iterations and not (cell / "result.json").exists()  # metrics.csv is written just before last.pt

    other = load_config(SERIAL, overrides + ["train.lr_actor=1e-3"])  # a rerun of another config continues nothing
    with pytest.raises(UserError, match=r"the unfinished run .*'train.lr_actor' is 0.001 but the run used"):
        sweep_main(resume_or_run_experiment, other, [0], sweep_dir=folder)
    resumed = sweep_main(resume_or_run_experiment, base, [0], sweep_dir=folder)
    # the run's log: iterations 1..killed_at before the kill (the last line may have been lost with it), then
    # the resume, then only the iterations after the checkpoint
    log = (run_folder(cell) / "log.txt").read_text()
    before, after = log.split(f"resuming {run_folder(cell)} at iteration {killed_at} ")
    trained = lambda text: [int(i) for i in re.findall(rf" iter +(\d+)/{iterations} ", text)]  # noqa: E731
    assert trained(before) in (list(range(1, killed_at + 1)), list(range(1, killed_at)))
    assert trained(after) == list(range(killed_at + 1, iterations + 1))
    assert [r["iteration"] for r in resumed[0]["train"]["resumes"]] == [killed_at]
    assert numbers(resumed) == numbers(reference)
    assert (folder / "summary.md").read_text() == (tmp_path / "reference" / "summary.md").read_text()


def test_a_folder_of_another_config_is_refused_and_index_runs_one_cell(sequential):
    tmp, base, _ = sequential
    other = load_config(SERIAL, [f"out_dir={tmp / 'out'}"])  # another config into the sequential sweep's folder
    cells = make_cells(read_grid(grid_file(tmp)), SEEDS)
    with pytest.raises(UserError, match="run with another"):
        run_sweep(run_experiment, other, cells, tmp / "sequential")
    with pytest.raises(UserError, match="--index 4 is outside"):
        run_sweep(run_experiment, base, cells, tmp / "sequential", only=4)
    results = run_sweep(run_experiment, base, cells, tmp / "one", only=2)
    assert sorted(results) == [2]
    assert json.loads((tmp / "one" / cells[2].folder / "result.json").read_text())["cell"]["index"] == 2


def test_train_main_refuses_sweep_options_that_do_not_fit():
    import train_main

    with pytest.raises(UserError, match="belong to a sweep"):
        train_main.main(["--config", str(SERIAL), "--workers", "2"])
    with pytest.raises(UserError, match="drop --resume and --seed"):
        train_main.main(["--config", str(SERIAL), "--seeds", "0-1", "--seed", "3"])
    with pytest.raises(UserError, match="--seeds '2-1'"):
        train_main.main(["--config", str(SERIAL), "--seeds", "2-1"])
    with pytest.raises(UserError, match="meta-learning"):
        train_main.main(["--config", str(SERIAL.parent / "meta_maml.yaml"), "--seeds", "0-1"])
