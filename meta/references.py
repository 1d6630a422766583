"""The reference lines beside the adaptation curves: per held-out task, the best tuned classic policy of any
family, and a HAPPO policy trained from scratch on that task alone.

Both are scored like the curves: mean cost per episode on the task's ``meta.eval_paths`` fixed evaluation paths
(``meta.evaluation.evaluation_demand``), on the task's own serial chain (``SerialTask.env_config``: a
``MultiTaskSerialEnv`` chain and a plain ``SerialEnv`` of the task give the same costs, tested in test_meta_tasks).

* Classic: every baseline family defined on the chain is tuned by ``agents.baselines.tune`` on
  ``baselines.tune_paths`` paths of the task's own demand process (seed ``baselines.tune_seed`` + task index);
  the family kept for a task is the one with the lowest cost on the task's validation paths
  (``utils.data_loader.validation_demand`` of its process, the set HAPPO selects models on), never on the
  evaluation paths.
* From scratch: the library's trainer (``agents.training.train``) on the task's env and demand process, its best
  validation policy evaluated greedily (``agents.experiment.evaluate_trained``). With a rule given, the actions
  are corrections to that rule (``residual:``), e.g. the task's tuned POUT.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from meta.evaluation import evaluation_demand
from meta.tasks import SerialTask
from utils.config import ExperimentConfig
from utils.data_loader import sample_demand, validation_demand


@dataclass
class ClassicTable:
    """Every tuned family on every task."""

    families: list[str]  # baseline names, registry order
    params: list[list[np.ndarray]]  # [task][family] tuned parameters
    validation_cost: np.ndarray  # (n_tasks, n_families) mean cost per episode on the task's validation paths
    eval_cost: np.ndarray  # (n_tasks, n_families) the same on the task's evaluation paths
    tune_seconds: np.ndarray  # (n_families,) wall time of the searches, summed over tasks (0 when cached)


def classic_tuning_demand(config: ExperimentConfig, task: SerialTask, index: int) -> np.ndarray:
    """The paths a classic policy of held-out task `index` is tuned on.  -> int (tune_paths, T, 1)"""
    rng = np.random.default_rng(config.baselines.tune_seed + index)
    return sample_demand(task.demand_config(config.demand), rng, config.baselines.tune_paths, config.env.episode_length)


def tune_on_task(config: ExperimentConfig, task: SerialTask, demand: np.ndarray, family: str):
    """``agents.baselines.tune`` of one family on a held-out task's chain, on its tuning paths demand
    (``classic_tuning_demand``), with the config's search settings and cache: the one tuning both reference
    lines use.  -> ``TuneResult``"""
    from agents.baselines import tune

    return tune(family, task.env_config(config.env), demand, config.baselines.max_sweeps,
                cache_dir=config.baselines.cache_dir or None, log=lambda s: None)


def task_validation_demand(config: ExperimentConfig, task: SerialTask) -> np.ndarray:
    """The task's validation paths: what the trainer selects on.  -> int (validation_episodes, T, 1)"""
    return validation_demand(task.demand_config(config.demand), config.env.episode_length)


def episode_cost(policy, env_config, demand: np.ndarray) -> float:
    """Mean chain cost per episode of a policy (baseline interface) on demand (B, T, S), via agents.rollout."""
    from agents.rollout import rollout
    from envs import make_env

    cost = rollout(policy, make_env(env_config, n_envs=demand.shape[0]), demand, record=False)  # (B, N)
    return float(cost.sum(axis=1).mean())


def tune_classic_families(
    config: ExperimentConfig, tasks: list[SerialTask], families: list[str] | None = None, log: Callable[[str], None] = print
) -> ClassicTable:
    """Tune every family (None: every baseline defined on the chain) on every task and cost it on its
    validation and evaluation paths."""
    from agents.baselines import make_baseline, policy_names
    from envs import make_env

    if families is None:
        families = policy_names(make_env(tasks[0].env_config(config.env), n_envs=1).graph)
    P = config.meta.eval_paths
    demand = evaluation_demand(config, tasks)  # (n_tasks * P, T, 1)
    n, F = len(tasks), len(families)
    val_cost, eval_cost, seconds = np.zeros((n, F)), np.zeros((n, F)), np.zeros(F)
    params: list[list[np.ndarray]] = []
    for i, task in enumerate(tasks):
        env_config = task.env_config(config.env)
        tune_demand, val_demand = classic_tuning_demand(config, task, i), task_validation_demand(config, task)
        params.append([])
        for f, name in enumerate(families):
            result = tune_on_task(config, task, tune_demand, name)
            seconds[f] += 0.0 if result.cached else result.seconds
            params[i].append(result.params)
            val_cost[i, f] = episode_cost(make_baseline(name, result.params), env_config, val_demand)
            eval_cost[i, f] = episode_cost(make_baseline(name, result.params), env_config, demand[i * P : (i + 1) * P])
        k = int(np.argmin(val_cost[i]))
        log(f"task {i}: best on validation {families[k]} (validation {val_cost[i, k]:,.0f}, evaluation {eval_cost[i, k]:,.0f})")
    return ClassicTable(families, params, val_cost, eval_cost, seconds)


def best_per_task(selection_cost: np.ndarray, reported_cost: np.ndarray, families: list[str]) -> tuple[list[str], np.ndarray]:
    """Per task, the family with the lowest selection cost (ties: the first listed) and its reported cost.

    selection_cost, reported_cost (n_tasks, n_families) -> names (n_tasks,), costs (n_tasks,)"""
    k = np.argmin(selection_cost, axis=1)
    return [families[j] for j in k], reported_cost[np.arange(len(k)), k]


def scratch_config(
    config: ExperimentConfig, task: SerialTask, index: int, steps: int, seed: int, out_dir: str,
    rule: tuple[str, np.ndarray] | None = None,
) -> ExperimentConfig:
    """The HAPPO experiment of one held-out task: its env and demand process, `steps` env steps, the meta config's
    network and train settings; with `rule` (family, tuned parameters), actions correct that rule (residual)."""
    train = dataclasses.replace(config.train, algorithm="happo", total_env_steps=int(steps))
    residual = config.residual
    if rule is not None:
        residual = dataclasses.replace(residual, enabled=True, policy=rule[0], params=[float(p) for p in rule[1]])
    suffix = "_residual" if rule is not None else ""
    return dataclasses.replace(
        config, name=f"meta_scratch_task{index}{suffix}_seed{seed}", seed=int(seed), out_dir=out_dir, train=train,
        env=task.env_config(config.env), demand=task.demand_config(config.demand), residual=residual,
    )


def train_from_scratch(config: ExperimentConfig, demand: np.ndarray, log: Callable[[str], None] = print) -> tuple[float, float, Path]:
    """Train a per-task config (``scratch_config``) with the library's trainer and evaluate its best validation
    policy greedily on demand (P, T, 1).  -> (mean cost per episode, training seconds, run folder)"""
    from agents.experiment import evaluate_trained
    from agents.happo_agent import load_policy
    from agents.training import train

    start = time.perf_counter()
    result = train(config, log=log)
    seconds = time.perf_counter() - start
    policy, resolved = load_policy(result.run_dir / "best.pt")
    return float(evaluate_trained(policy, resolved, demand, seed=resolved.seed)["cost_mean"]), seconds, result.run_dir
