"""Sweeps: the same cells give the same numbers on every backend; a killed sweep resumes to the same table."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.experiment import run_experiment
from tests.test_experiment import SERIAL, tiny_test_dir
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


def base_config(tmp: Path):
    """A 2 x 2 sweep's base: 2 iterations of 4 chains x 20 periods, 2 validation paths, 2 test files."""
    return load_config(SERIAL, [
        f"out_dir={tmp / 'out'}", f"demand.test_dir={tiny_test_dir(tmp / 'test', n_files=2)}", "train.n_envs=4",
        "env.episode_length=20", "train.total_env_steps=160", "train.eval_every=1", "demand.validation_episodes=2",
        "train.hidden_sizes=[8]", "residual.enabled=false", "train.n_minibatches=2"])


def grid_file(tmp: Path) -> str:
    path = tmp / "alpha.yaml"
    path.write_text("grid:\n  env.reward_alpha: [0.0, 1.0]\n")
    return str(path)


def numbers(results: dict[int, dict]) -> dict:
    """Every per-seed number that decides a table: per-file test and validation costs, the learning curve."""
    return {i: (r["cell"]["point"], r["cell"]["seed"], r["test"]["episode_agent_cost"], r["validation"]["episode_agent_cost"],
                r["curve"]["eval_cost"], r["curve"]["train_cost"]) for i, r in results.items()}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    base = base_config(tmp)
    results = sweep_main(run_experiment, base, SEEDS, grid_file(tmp), sweep_dir=tmp / "sequential")
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
    """run_experiment that is interrupted (as by Ctrl-C or a kill) in the middle of training its n-th cell."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self, config):
        self.calls += 1

        def log(line: str) -> None:
            if self.calls == self.n and line.startswith("iter    1/"):
                raise KeyboardInterrupt

        return run_experiment(config, log=log)


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
        return run_experiment(config)

    resumed = sweep_main(counting, base, SEEDS, grid_file(tmp), sweep_dir=folder)
    assert calls == [0, 1]  # only the two unfinished cells ran again
    assert numbers(resumed) == numbers(results)
    assert (folder / "summary.md").read_text() == (tmp / "sequential" / "summary.md").read_text()
    strip_times = lambda text: [r for r in text.splitlines() if ",wall_time_s," not in r]  # noqa: E731
    assert strip_times((folder / "summary.csv").read_text()) == strip_times((tmp / "sequential" / "summary.csv").read_text())
    assert (folder / "paired.csv").read_text() == (tmp / "sequential" / "paired.csv").read_text()


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
