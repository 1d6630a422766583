"""The meta: section of an experiment config (meta-learning, meta/): the task distribution and meta-training.

Kept apart from utils/config.py, which imports it into ExperimentConfig; every field carries its one-line
documentation, as there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from utils.errors import UserError

#: values of train.algorithm that select a meta-learning trainer (meta/training.py) instead of HAPPO
META_ALGORITHMS = ("maml", "hierarchical", "multitask")


@dataclass
class TaskDistributionConfig:
    """Serial-chain tasks (meta/tasks.py): demand process, lead time per stage, backlog-to-holding ratio."""

    merton_fraction: float = 0.5  # share of tasks with Merton demand; the rest have i.i.d. Poisson demand
    poisson_mean: list[int] = field(default_factory=lambda: [4, 16])  # Poisson mean: whole numbers, uniform in [low, high]
    merton_jump_rate: list[int] = field(default_factory=lambda: [5, 25])  # Merton jump rate lambda: whole numbers, uniform in [low, high]
    merton_scale: list[float] = field(default_factory=lambda: [0.005, 0.015])  # Merton volatility scale: uniform in [low, high], rounded to 4 decimals
    lead_time: list[int] = field(default_factory=lambda: [1, 6])  # lead time of each stage: whole numbers, uniform in [low, high], drawn per stage
    backlog_ratio: list[int] = field(default_factory=lambda: [1, 19])  # backlog cost / holding cost (h = 1 at every stage): whole numbers, uniform in [low, high]
    test_seed: int = 31_000  # seed of the held-out test tasks (meta-training never draws them)
    n_test_tasks: int = 12  # number of held-out test tasks
    test_tasks_file: str = "test_data/meta_test_tasks.yaml"  # where the held-out tasks are listed (written by python -m meta.tasks)


@dataclass
class MetaConfig:
    """Meta-training (meta/maml.py, meta/hierarchical_metalearning.py) and the adaptation protocol."""

    tasks: TaskDistributionConfig = field(default_factory=TaskDistributionConfig)  # the task distribution
    variant: Literal["maml", "fomaml", "reptile"] = "maml"  # maml = second order (torch.func), fomaml = first order, reptile
    meta_iterations: int = 200  # outer updates of the initialisation(s)
    meta_batch_tasks: int = 8  # tasks per outer update (run side by side in one env)
    episodes_per_update: int = 8  # episodes of a task behind one adaptation update (its rollout)
    inner_steps: int = 1  # adaptation updates in the meta-training inner loop (each on a fresh rollout)
    inner_lr: float = 0.5  # step size of an adaptation update (plain gradient step on the policy-gradient loss)
    meta_lr: float = 0.003  # Adam step size of the outer update
    max_grad_norm: float = 1.0  # norm clip of the outer gradient
    baseline_ridge: float = 1e-3  # ridge of the linear feature baseline fitted to each task's returns
    n_inits: int = 2  # hierarchical: number of initialisations (clusters of tasks)
    cluster_fit_tasks: int = 64  # hierarchical: training tasks whose embeddings fit the soft clustering
    embedding_periods: int = 20  # hierarchical: periods of customer demand the task embedding reads
    eval_updates: list[int] = field(default_factory=lambda: [0, 1, 2, 5, 10])  # adaptation updates after which cost is measured
    eval_paths: int = 16  # greedy evaluation episodes per held-out task (fixed demand paths)
    eval_seed: int = 41_000  # seed of the held-out tasks' adaptation rollouts and evaluation paths


def validate_meta(meta: MetaConfig, source: str = "config") -> None:
    """Range checks of the meta: section."""
    t = meta.tasks
    ranges = {"poisson_mean": (t.poisson_mean, 0), "merton_jump_rate": (t.merton_jump_rate, 0),
              "merton_scale": (t.merton_scale, 0), "lead_time": (t.lead_time, 1), "backlog_ratio": (t.backlog_ratio, 0)}
    for key, (pair, lowest) in ranges.items():
        if len(pair) != 2 or pair[0] > pair[1] or pair[0] < lowest:
            raise UserError(f"{source}: meta.tasks.{key} must be [low, high] with {lowest} <= low <= high")
    checks = [
        (0.0 <= t.merton_fraction <= 1.0, "meta.tasks.merton_fraction must be between 0 and 1"),
        (t.n_test_tasks >= 1, "meta.tasks.n_test_tasks must be at least 1"),
        (meta.meta_iterations >= 0, "meta.meta_iterations must be >= 0"),
        (meta.meta_batch_tasks >= 1 and meta.episodes_per_update >= 2, "meta.meta_batch_tasks must be >= 1 and meta.episodes_per_update >= 2"),
        (meta.inner_steps >= 1, "meta.inner_steps must be at least 1"),
        (meta.inner_lr > 0 and meta.meta_lr > 0, "meta.inner_lr and meta.meta_lr must be > 0"),
        (meta.max_grad_norm > 0 and meta.baseline_ridge > 0, "meta.max_grad_norm and meta.baseline_ridge must be > 0"),
        (meta.n_inits >= 1 and meta.cluster_fit_tasks >= meta.n_inits, "meta.n_inits must be >= 1 and <= meta.cluster_fit_tasks"),
        (meta.embedding_periods >= 3, "meta.embedding_periods must be at least 3 (an autocorrelation needs them)"),
        (len(meta.eval_updates) >= 1 and min(meta.eval_updates) >= 0, "meta.eval_updates must list adaptation counts >= 0"),
        (meta.eval_paths >= 1, "meta.eval_paths must be at least 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(f"{source}: {message}")
