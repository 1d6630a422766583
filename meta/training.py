"""Meta-training runs behind ``python train_main.py --config configs/meta_*.yaml`` (train.algorithm picks one):

* ``maml``: MAML / FOMAML / Reptile (``meta.variant``) from a random actor initialisation (``meta.maml``);
* ``hierarchical``: ``meta.n_inits`` initialisations routed by a soft clustering of task embeddings
  (``meta.hierarchical_metalearning``);
* ``multitask``: the obvious alternative, ordinary HAPPO on a fresh training task per chain and episode,
  for the same number of env steps as the meta-learners (meta_iterations x their steps per iteration).

Every method starts from the actors ``HAPPOTrainer`` would build for the config's seed (the same random
initialisation). A run writes ``<out_dir>/<name>_<timestamp>/``: config.yaml, metrics.csv and model.pt,
and copies model.pt to ``<out_dir>/meta_<algorithm>_policy.pt``. The model file holds the
initialisation(s) and, for the hierarchical learner, the clustering; it loads with weights_only=True.
"""
from __future__ import annotations

import csv
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from agents.happo_agent import HAPPOTrainer, read_checkpoint, save_checkpoint
from agents.policy_networks import ActorGroup
from meta.hierarchical_metalearning import SoftClustering, draw_assignment, fit_soft_clustering, task_embeddings
from meta.maml import MetaLearner, meta_env_steps_per_iteration
from meta.rollouts import Params, actor_params
from meta.tasks import MultiTaskSerialEnv, held_out_tasks, sample_training_tasks
from utils.config import ExperimentConfig, config_to_dict, save_config
from utils.errors import UserError
from utils.files import atomic_write
from utils.meta_config import META_ALGORITHMS
from utils.stored_config import stored_config

#: written into every meta model file; loading refuses files without it
META_FORMAT = "inventory-meta-v1"


@dataclass
class MetaModel:
    """What meta-training produces: initialisation(s), the clustering that picks one, and the run's config."""

    config: ExperimentConfig
    inits: list[Params]
    clustering: SoftClustering | None  # hierarchical only
    obs_dim: int
    action_nvec: np.ndarray  # (N, 1)
    meta_env_steps: int  # env periods simulated in meta-training
    train_seconds: float  # wall time of meta-training
    training_tasks: list = dataclasses.field(default_factory=list)  # every task meta-training drew (not saved)


def random_init(config: ExperimentConfig, obs_dim: int, action_nvec: np.ndarray) -> Params:
    """The actors HAPPOTrainer builds first for config.seed: the common random initialisation."""
    init_seed = np.random.SeedSequence([config.seed, 0]).generate_state(3)[0]
    actors = ActorGroup(obs_dim, action_nvec, config.train.hidden_sizes, torch.Generator().manual_seed(int(init_seed)))
    return actor_params(actors)


def meta_budget(config: ExperimentConfig) -> int:
    """Env steps of a meta-training run of this config (the multi-task baseline gets the same)."""
    return config.meta.meta_iterations * meta_env_steps_per_iteration(config.meta, config.env.episode_length)


def train_meta(config: ExperimentConfig, log: Callable[[str], None] = print, write: bool = True) -> MetaModel:
    """Meta-train the config's algorithm; with `write`, save the run folder and the model file."""
    if config.train.algorithm not in META_ALGORITHMS:
        raise UserError(f"train.algorithm is {config.train.algorithm!r}; meta-training runs {', '.join(META_ALGORITHMS)}")
    torch.set_num_threads(config.train.torch_threads)
    meta, n_stages = config.meta, config.env.serial.n_stages
    held_out = held_out_tasks(meta.tasks, n_stages)
    task_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 5]))
    env = MultiTaskSerialEnv(config, n_envs=meta.meta_batch_tasks * meta.episodes_per_update, seed=config.seed)
    init = random_init(config, env.obs_dim, env.action_nvec)
    rows: list[dict[str, Any]] = []
    drawn: list = []
    start = time.perf_counter()
    clustering = None
    if config.train.algorithm == "multitask":
        inits, steps = [train_multitask(config, init, held_out, log)], meta_budget(config)
    else:
        n_inits = meta.n_inits if config.train.algorithm == "hierarchical" else 1
        if n_inits > 1:
            fit_tasks = sample_training_tasks(meta.tasks, task_rng, meta.cluster_fit_tasks, held_out, n_stages)
            drawn += fit_tasks
            clustering = fit_soft_clustering(task_embeddings(config, fit_tasks, config.seed), n_inits, task_rng)
        learner = MetaLearner([init] * n_inits, meta, config.train.gamma, config.seed)
        per_iteration = meta_env_steps_per_iteration(meta, config.env.episode_length)
        for it in range(meta.meta_iterations):
            tasks = sample_training_tasks(meta.tasks, task_rng, meta.meta_batch_tasks, held_out, n_stages)
            drawn += tasks
            env.set_tasks(tasks, meta.episodes_per_update)
            assignment = [0] * len(tasks)
            if clustering is not None:
                embedding_seed = int(np.random.SeedSequence([config.seed, 6, it]).generate_state(1)[0])
                assignment = draw_assignment(clustering.responsibilities(task_embeddings(config, tasks, embedding_seed)), task_rng)
            stats = learner.step(env, assignment)
            rows.append({"iteration": it + 1, "env_steps": (it + 1) * per_iteration, "pre_cost": stats.pre_cost,
                         "post_cost": stats.post_cost, "grad_norm": stats.grad_norm, "seconds": stats.seconds,
                         "tasks_per_init": " ".join(str(assignment.count(a)) for a in range(n_inits))})
            if (it + 1) % 10 == 0 or it + 1 == meta.meta_iterations:
                log(f"meta-iter {it + 1:4d}/{meta.meta_iterations}  cost before adaptation {stats.pre_cost:>10,.0f}  "
                    f"after {stats.post_cost:>10,.0f}  grad norm {stats.grad_norm:.3f}  {time.perf_counter() - start:6.0f} s")
        inits, steps = learner.initialisations(), meta.meta_iterations * per_iteration
    model = MetaModel(config, inits, clustering, env.obs_dim, env.action_nvec, steps, time.perf_counter() - start, drawn)
    log(f"{config.name}: {config.train.algorithm} meta-training took {model.train_seconds:.0f} s for {steps:,} env steps")
    if write:
        run_dir = new_run_dir(config)
        save_config(config, run_dir / "config.yaml")
        write_rows(run_dir / "metrics.csv", rows)
        save_meta_model(model, run_dir / "model.pt")
        save_meta_model(model, Path(config.out_dir) / f"meta_{config.train.algorithm}_policy.pt")
        log(f"run folder {run_dir}; model {Path(config.out_dir) / f'meta_{config.train.algorithm}_policy.pt'}")
    return model


def train_multitask(config: ExperimentConfig, init: Params, held_out: list, log: Callable[[str], None]) -> Params:
    """HAPPO (the library's trainer, unchanged) on a fresh training task per chain and episode."""
    budget = meta_budget(config)
    happo = dataclasses.replace(config, train=dataclasses.replace(config.train, algorithm="happo", total_env_steps=budget))
    env = MultiTaskSerialEnv(happo, n_envs=config.train.n_envs, seed=config.seed, resample=True, held_out=held_out)
    trainer = HAPPOTrainer(happo, env)
    trainer.actors.load_state_dict(init)  # already equal (same seed); explicit so the claim cannot drift
    while trainer.iteration < trainer.n_iterations:
        stats = trainer.train_iteration()
        if trainer.iteration % 10 == 0 or trainer.iteration == trainer.n_iterations:
            log(f"multitask HAPPO iter {trainer.iteration:4d}/{trainer.n_iterations}  train cost {stats['train_cost']:>10,.0f}")
    return actor_params(trainer.actors)


def new_run_dir(config: ExperimentConfig) -> Path:
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(config.out_dir) / f"{config.name}_{stamp}"
    run_dir, k = base, 1
    while run_dir.exists():
        run_dir, k = Path(f"{base}-{k}"), k + 1
    run_dir.mkdir(parents=True)
    return run_dir


def write_rows(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    with atomic_write(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def save_meta_model(model: MetaModel, path: str | Path) -> None:
    data = {
        "format": META_FORMAT, "config": config_to_dict(model.config), "obs_dim": model.obs_dim,
        "action_nvec": torch.from_numpy(np.asarray(model.action_nvec).copy()), "inits": model.inits,
        "clustering": model.clustering.to_tensors() if model.clustering is not None else {},
        "meta_env_steps": model.meta_env_steps, "train_seconds": model.train_seconds,
    }
    save_checkpoint(data, path)


def load_meta_model(path: str | Path) -> MetaModel:
    """A model file written by meta-training (weights only); every way it can be wrong is one UserError line."""
    try:
        data = torch.load(Path(path), weights_only=True, map_location="cpu") if Path(path).is_file() else None
    except Exception:
        data = None
    if data is None:
        read_checkpoint(path)  # raises the library's one-line message for a missing or unreadable file
    if not isinstance(data, dict) or data.get("format") != META_FORMAT:
        raise UserError(f"model file '{path}' is not a meta-learned model (format {META_FORMAT}); train one with a configs/meta_*.yaml config")
    config = stored_config(data, path)
    clustering = SoftClustering.from_tensors(data["clustering"]) if data["clustering"] else None
    return MetaModel(config, list(data["inits"]), clustering, int(data["obs_dim"]), data["action_nvec"].numpy(),
                     int(data["meta_env_steps"]), float(data["train_seconds"]))
