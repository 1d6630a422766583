"""A distribution of serial-chain tasks for meta-learning, and one env object that runs many tasks side by side.

A task is a serial chain of the experiment's env config with its own
* demand process: i.i.d. Poisson with a mean in 4..16, or the Merton jump diffusion with its own jump rate
  and volatility scale (``utils.data_loader``'s generators);
* lead time of every stage (1..6, drawn per stage);
* backlog-to-holding cost ratio b/h (1..19; h = 1 at every stage, b the same at every stage).
Ranges are ``meta.tasks`` keys (``utils/meta_config.py``). Parameters are whole numbers (the Merton scale is
rounded to 4 decimals), so a task is a finite, hashable record that a file can list exactly.

The held-out test tasks are drawn with their own seed (``meta.tasks.test_seed``) and listed in
``meta.tasks.test_tasks_file``; every draw of training tasks skips them, so meta-training never sees one.
``python -m meta.tasks --config configs/meta_maml.yaml [--check]`` writes (or checks) that file.

``MultiTaskSerialEnv`` is a ``SerialEnv`` whose chains carry different tasks: per-env lead times and costs
(``SerialEnv.set_per_env_parameters``) and per-env demand drawn from each chain's own process. Its
observation keeps as many pipeline slots as the longest lead time of the distribution, so every task has the
same observation size and one policy fits all of them.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from envs.serial_env import SerialEnv
from utils.config import DemandConfig, EnvConfig, ExperimentConfig, load_config, read_yaml_file
from utils.data_loader import sample_demand
from utils.errors import UserError, run_cli
from utils.files import write_text_atomic
from utils.meta_config import TaskDistributionConfig

#: the file format's version, written into every task file
TASK_FILE_FORMAT = "inventory-meta-tasks-v1"


@dataclass(frozen=True)
class SerialTask:
    """One supply chain: its demand process, lead time per stage and backlog-to-holding ratio."""

    demand_kind: str  # "stationary" (i.i.d. Poisson) or "merton"
    poisson_mean: int  # Poisson mean (stationary tasks; 0 for Merton tasks)
    merton_jump_rate: int  # Merton jump rate lambda (0 for stationary tasks)
    merton_scale: float  # Merton volatility scale (0 for stationary tasks)
    lead_time: tuple[int, ...]  # per stage, retailer first
    backlog_ratio: int  # b / h, the same at every stage (h = 1)

    def demand_config(self, base: DemandConfig) -> DemandConfig:
        """The experiment's demand config with this task's process (the Merton cap stays base.max_demand)."""
        if self.demand_kind == "stationary":
            return dataclasses.replace(base, kind="stationary", stationary_mean=float(self.poisson_mean))
        return dataclasses.replace(
            base, kind="merton", merton_jump_rate=float(self.merton_jump_rate), merton_scale=self.merton_scale
        )

    def env_config(self, base: EnvConfig) -> EnvConfig:
        """A single-task env config (per-stage lead times and costs), e.g. to tune a classic baseline on it."""
        n = len(self.lead_time)
        serial = dataclasses.replace(
            base.serial, n_stages=n, lead_time=list(self.lead_time), holding_cost=[1.0] * n,
            backlog_cost=[float(self.backlog_ratio)] * n,
        )
        return dataclasses.replace(base, serial=serial)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["lead_time"] = list(self.lead_time)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> "SerialTask":
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            raise UserError(f"{source}: a task must have exactly the keys {', '.join(sorted(names))}")
        return cls(
            demand_kind=str(data["demand_kind"]), poisson_mean=int(data["poisson_mean"]),
            merton_jump_rate=int(data["merton_jump_rate"]), merton_scale=float(data["merton_scale"]),
            lead_time=tuple(int(x) for x in data["lead_time"]), backlog_ratio=int(data["backlog_ratio"]),
        )


def draw_task(dist: TaskDistributionConfig, rng: np.random.Generator, n_stages: int) -> SerialTask:
    """One task from the distribution (every draw from `rng`, in a fixed order)."""
    merton = bool(rng.random() < dist.merton_fraction)
    mean = int(rng.integers(dist.poisson_mean[0], dist.poisson_mean[1] + 1))
    rate = int(rng.integers(dist.merton_jump_rate[0], dist.merton_jump_rate[1] + 1))
    scale = round(float(rng.uniform(dist.merton_scale[0], dist.merton_scale[1])), 4)
    lead = tuple(int(x) for x in rng.integers(dist.lead_time[0], dist.lead_time[1] + 1, size=n_stages))
    ratio = int(rng.integers(dist.backlog_ratio[0], dist.backlog_ratio[1] + 1))
    if merton:
        return SerialTask("merton", 0, rate, scale, lead, ratio)
    return SerialTask("stationary", mean, 0, 0.0, lead, ratio)


def held_out_tasks(dist: TaskDistributionConfig, n_stages: int) -> list[SerialTask]:
    """The test tasks: the first n_test_tasks distinct draws of a generator seeded with test_seed."""
    rng = np.random.default_rng(dist.test_seed)
    tasks: list[SerialTask] = []
    for _ in range(1000 * dist.n_test_tasks):
        task = draw_task(dist, rng, n_stages)
        if task not in tasks:
            tasks.append(task)
        if len(tasks) == dist.n_test_tasks:
            return tasks
    raise UserError(f"meta.tasks holds fewer than {dist.n_test_tasks} distinct tasks; widen its ranges or lower n_test_tasks")


def sample_training_tasks(
    dist: TaskDistributionConfig, rng: np.random.Generator, n: int, held_out: list[SerialTask], n_stages: int
) -> list[SerialTask]:
    """n training tasks drawn from `rng`, redrawing any that is a held-out task."""
    excluded = set(held_out)
    tasks = []
    for _ in range(1000 * n):
        task = draw_task(dist, rng, n_stages)
        if task not in excluded:
            tasks.append(task)
            if len(tasks) == n:
                return tasks
    raise UserError("meta.tasks: almost every task drawn is a held-out task; widen the ranges or lower n_test_tasks")


# ----------------------------------------------------------------------------------------------
# The task file
# ----------------------------------------------------------------------------------------------
def write_task_file(path: str | Path, tasks: list[SerialTask], dist: TaskDistributionConfig) -> None:
    """List the held-out tasks (and the distribution that drew them) in a YAML file."""
    data = {"format": TASK_FILE_FORMAT, "distribution": dataclasses.asdict(dist), "tasks": [t.as_dict() for t in tasks]}
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))


def read_task_file(path: str | Path) -> list[SerialTask]:
    """The tasks a task file lists."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "not found"
        raise UserError(f"task file '{path}' {problem}; write it with python -m meta.tasks --config CFG")
    data = read_yaml_file(path, "task file", "the file python -m meta.tasks writes")  # UTF-8, syntax, repeated keys
    if not isinstance(data, dict) or data.get("format") != TASK_FILE_FORMAT:
        raise UserError(f"'{path}' is not a task file (format {TASK_FILE_FORMAT}); write it with python -m meta.tasks")
    return [SerialTask.from_dict(t, str(path)) for t in data["tasks"]]


def load_test_tasks(config: ExperimentConfig) -> list[SerialTask]:
    """The held-out tasks of a config, as its task file lists them; a file that differs from what the seed
    draws (an edited range or seed) is an error, so the file and the seed never disagree."""
    dist = config.meta.tasks
    drawn = held_out_tasks(dist, config.env.serial.n_stages)
    listed = read_task_file(dist.test_tasks_file)
    if listed != drawn:
        raise UserError(
            f"'{dist.test_tasks_file}' does not list the tasks meta.tasks draws (seed {dist.test_seed}); "
            "rewrite it with python -m meta.tasks --config CFG, or point meta.tasks.test_tasks_file elsewhere"
        )
    return listed


# ----------------------------------------------------------------------------------------------
# Many tasks in one env
# ----------------------------------------------------------------------------------------------
def multitask_env_config(config: ExperimentConfig) -> EnvConfig:
    """The experiment's serial env with as many pipeline slots as the longest lead time of the distribution."""
    if config.env.kind != "serial":
        raise UserError("meta-learning tasks are serial chains; set env.kind: serial")
    serial = dataclasses.replace(config.env.serial, lead_time=[config.meta.tasks.lead_time[1]])
    return dataclasses.replace(config.env, serial=serial)


class MultiTaskSerialEnv(SerialEnv):
    """A batched serial chain whose chains carry different tasks.

    ``set_tasks(tasks, k)``: chains i*k .. i*k+k-1 run task i (a task's rollouts side by side). With
    ``resample`` set (a task distribution), every ``reset`` instead draws a fresh training task per chain
    from the env's generator (multi-task training with the ordinary HAPPO trainer).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        n_envs: int,
        seed: int | None = None,
        resample: bool = False,
        held_out: list[SerialTask] | None = None,
    ) -> None:
        super().__init__(multitask_env_config(config), n_envs=n_envs, demand_sampler=self._task_demand, seed=seed)
        self.base_demand = config.demand
        self.distribution = config.meta.tasks if resample else None
        self.held_out = list(held_out or [])
        self.tasks: list[SerialTask] = []
        self.episodes_per_task = n_envs

    def set_tasks(self, tasks: list[SerialTask], episodes_per_task: int) -> None:
        """Task i runs on chains i*k .. i*k+k-1 (k = episodes_per_task); needs len(tasks) * k == n_envs."""
        if len(tasks) * episodes_per_task != self.n_envs:
            raise UserError(f"{len(tasks)} tasks x {episodes_per_task} episodes do not fill {self.n_envs} envs")
        for task in tasks:
            if len(task.lead_time) != self.n_agents:
                raise UserError(f"task {task} has {len(task.lead_time)} stages but the env has {self.n_agents}")
        lead = np.repeat(np.array([t.lead_time for t in tasks], dtype=np.int64), episodes_per_task, axis=0)  # (B, N)
        backlog = np.repeat(np.array([[float(t.backlog_ratio)] * self.n_agents for t in tasks]), episodes_per_task, axis=0)
        self.set_per_env_parameters(lead, np.ones_like(backlog), backlog)
        self.tasks, self.episodes_per_task = list(tasks), episodes_per_task

    def reset(self, seed: int | None = None, demand: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        if self.distribution is not None:  # a fresh training task for every chain, drawn before its demand
            self.set_tasks(sample_training_tasks(self.distribution, self.rng, self.n_envs, self.held_out, self.n_agents), 1)
        if not self.tasks:
            raise UserError("MultiTaskSerialEnv has no tasks; call set_tasks() first (or build it with resample=True)")
        return super().reset(seed=None, demand=demand)

    def _task_demand(self, rng: np.random.Generator, n_envs: int, length: int, n_streams: int) -> np.ndarray:
        """Each task's episodes from its own process, task after task.  -> int (n_envs, length, 1)"""
        parts = [sample_demand(t.demand_config(self.base_demand), rng, self.episodes_per_task, length) for t in self.tasks]
        return np.concatenate(parts, axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the held-out meta-learning test tasks of a config.")
    parser.add_argument("--config", required=True, help="experiment YAML with a meta: section, e.g. configs/meta_maml.yaml")
    parser.add_argument("--check", action="store_true", help="compare the task file with a fresh draw instead of writing it")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    dist = config.meta.tasks
    if args.check:
        load_test_tasks(config)
        print(f"{dist.test_tasks_file}: the {dist.n_test_tasks} tasks of seed {dist.test_seed}, as drawn")
        return 0
    write_task_file(dist.test_tasks_file, held_out_tasks(dist, config.env.serial.n_stages), dist)
    print(f"wrote {dist.n_test_tasks} held-out tasks to {dist.test_tasks_file}")
    return 0


if __name__ == "__main__":
    run_cli(main)
