"""Adaptation curves on the held-out tasks: cost after 0, 1, 2, 5, 10 adaptation updates (``meta.eval_updates``).

Protocol, the same for every initialisation: all held-out tasks side by side; an adaptation update is one
rollout of ``meta.episodes_per_update`` episodes of the task with the current parameters (sampled actions)
and one gradient step (``meta.maml.inner_update``, step ``meta.inner_lr``); after the listed numbers of
updates the adapted policy acts greedily on ``meta.eval_paths`` fixed demand paths per task and its mean cost
per episode is recorded. Demand of the adaptation rollouts and of the evaluation paths, and the action
sampling, are seeded by ``meta.eval_seed`` alone, so every method meets the same demand (paired comparisons).
The hierarchical learner picks each task's initialisation from the task embedding (a demand history of
episodes_per_update x embedding_periods periods and the first observation; no action is taken for it).

``python evaluate_main.py --config configs/meta_maml.yaml --model_path results/meta_maml_policy.pt`` runs
this for the model and for the common random initialisation, prints the table and writes
``adaptation_curves.csv`` and ``adaptation_curves.png`` (to ``--plots``, default results/meta_eval).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from meta.hierarchical_metalearning import select_inits, task_embeddings
from meta.maml import inner_update
from meta.rollouts import Params, collect, task_batches
from meta.tasks import MultiTaskSerialEnv, SerialTask
from utils.config import ExperimentConfig
from utils.files import atomic_write
from utils.metrics import confidence_interval


def adaptation_curve(config: ExperimentConfig, inits: list[Params], tasks: list[SerialTask]) -> np.ndarray:
    """Greedy cost per episode of each task after each of meta.eval_updates adaptation updates.

    inits: one initialisation per task.  -> (n_tasks, len(eval_updates))"""
    meta = config.meta
    n = len(tasks)
    seeds = np.random.SeedSequence([meta.eval_seed]).generate_state(3)
    adapt_env = MultiTaskSerialEnv(config, n_envs=n * meta.episodes_per_update, seed=int(seeds[0]))
    adapt_env.set_tasks(tasks, meta.episodes_per_update)
    eval_env = MultiTaskSerialEnv(config, n_envs=n * meta.eval_paths, seed=int(seeds[1]))
    eval_env.set_tasks(tasks, meta.eval_paths)
    eval_demand = evaluation_demand(config, tasks)  # (n * eval_paths, T, 1) fixed for every evaluation
    generator = torch.Generator().manual_seed(int(seeds[2]))
    theta = [{k: v.detach().clone() for k, v in p.items()} for p in inits]
    costs = np.zeros((n, len(meta.eval_updates)))
    for u in range(max(meta.eval_updates) + 1):
        for j in [j for j, e in enumerate(meta.eval_updates) if e == u]:
            greedy = collect(eval_env, theta, None, int(seeds[1]), deterministic=True, demand=eval_demand)
            costs[:, j] = greedy.episode_cost.reshape(n, meta.eval_paths).mean(axis=1)
        if u == max(meta.eval_updates):
            break
        rollout_seed = int(np.random.SeedSequence([meta.eval_seed, 1, u]).generate_state(1)[0])
        roll = collect(adapt_env, theta, generator, rollout_seed)
        batches = task_batches(roll, theta, config.train.gamma, meta.baseline_ridge)
        with torch.no_grad():
            theta = [inner_update(p, b, meta.inner_lr) for p, b in zip(theta, batches)]
    return costs


def evaluation_demand(config: ExperimentConfig, tasks: list[SerialTask]) -> np.ndarray:
    """The fixed evaluation paths: eval_paths per task, task after task.  -> int (n_tasks * eval_paths, T, 1)"""
    seed = int(np.random.SeedSequence([config.meta.eval_seed]).generate_state(3)[1])
    env = MultiTaskSerialEnv(config, n_envs=len(tasks) * config.meta.eval_paths, seed=seed)
    env.set_tasks(tasks, config.meta.eval_paths)
    env.reset(seed=seed)
    return env.demand.copy()


def inits_for_tasks(model, tasks: list[SerialTask]) -> list[Params]:
    """One initialisation per task: the only one, or the one the task embedding selects (hierarchical)."""
    if model.clustering is None:
        return [model.inits[0]] * len(tasks)
    seed = int(np.random.SeedSequence([model.config.meta.eval_seed, 2]).generate_state(1)[0])
    choice = select_inits(model.clustering.responsibilities(task_embeddings(model.config, tasks, seed)))
    return [model.inits[c] for c in choice]


def write_curves_csv(path: Path, curves: dict[str, np.ndarray], updates: list[int], tasks: list[SerialTask]) -> None:
    """One row per method, task and update count: the long format any tool reads."""
    with atomic_write(path) as f:
        writer = csv.writer(f)
        writer.writerow(["method", "task", "demand", "lead_time", "backlog_ratio", "updates", "cost"])
        for method, costs in curves.items():
            for i, task in enumerate(tasks):
                for j, u in enumerate(updates):
                    lead = "-".join(map(str, task.lead_time))
                    writer.writerow([method, i, task.demand_kind, lead, task.backlog_ratio, u, f"{costs[i, j]:.2f}"])


def read_curves(paths: list[str]) -> tuple[dict[str, np.ndarray], list[int]]:
    """Merge curves CSVs (method, seed, task, updates, cost; benchmarks/meta_adaptation.py, meta_scratch.py):
    per method (seeds x tasks, updates), rows seed after seed, task after task. A row met twice (the same
    method, seed, task and update count in two files) is kept once, the later file's; reference lines
    without a seed (tuned classic) have one row per task."""
    cost: dict[tuple[str, str, int, int], float] = {}
    for path in paths:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                cost[(r["method"], r["seed"], int(r["task"]), int(r["updates"]))] = float(r["cost"])
    updates = sorted({k[3] for k in cost})
    stacked = {}
    for method in dict.fromkeys(k[0] for k in cost):
        runs = sorted({(k[1], k[2]) for k in cost if k[0] == method})
        stacked[method] = np.array([[cost[(method, seed, task, u)] for u in updates] for seed, task in runs])
    return stacked, updates


def write_curve_rows(path: str | Path, rows: list[tuple[str, object, int, int, float]]) -> None:
    """Write (method, seed, task, updates, cost) rows in the format ``read_curves`` merges (method names may hold
    commas: csv quotes them); seed "" for a reference line without one."""
    with atomic_write(Path(path)) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["method", "seed", "task", "updates", "cost"])
        writer.writerows([(m, s, t, u, f"{c:.2f}") for m, s, t, u, c in rows])


def per_task_mean(costs: np.ndarray, n_tasks: int) -> np.ndarray:
    """Mean over seeds of each task's cost.  (seeds * n_tasks, U), rows seed after seed -> (n_tasks, U)"""
    if costs.shape[0] % n_tasks:
        raise ValueError(f"{costs.shape[0]} rows are not whole seeds of {n_tasks} tasks")
    return costs.reshape(-1, n_tasks, costs.shape[1]).mean(axis=0)


def reference_gap(curve: np.ndarray, reference: np.ndarray, start: int = 0, end: int = -1) -> dict[str, float]:
    """How a method's curve compares with a per-task reference line (tuned classic, trained from scratch).

    curve (n_tasks, U) and reference (n_tasks,), each already averaged over its seeds (``per_task_mean``), so
    the pairs are tasks. Returns the paired differences curve - reference at columns start and end (mean and
    95% t-half-width over tasks) and ``closed``: the share of the mean gap at start that the updates up to end
    close, (mean c_start - mean c_end) / (mean c_start - mean reference) (1 = reaches the reference on
    average, negative = moves away from it)."""
    d_start, d_end = curve[:, start] - reference, curve[:, end] - reference
    m0, h0 = confidence_interval(d_start)
    m1, h1 = confidence_interval(d_end)
    closed = (curve[:, start].mean() - curve[:, end].mean()) / d_start.mean()
    return {"start": m0, "start_half": h0, "end": m1, "end_half": h1, "closed": float(closed)}


def summary_table(curves: dict[str, np.ndarray], updates: list[int]) -> str:
    """Markdown: mean cost over tasks and its 95% t-interval after each number of updates."""
    lines = ["| method | " + " | ".join(f"after {u}" for u in updates) + " |", "|---|" + "---:|" * len(updates)]
    for method, costs in curves.items():
        cells = [f"{m:,.0f} ± {h:,.0f}" for m, h in (confidence_interval(costs[:, j]) for j in range(len(updates)))]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(path: Path, curves: dict[str, np.ndarray], updates: list[int], title: str, config: str, data: str) -> None:
    """Mean cost over tasks (and seeds, when rows repeat per seed) with its 95% interval, against updates, as a PNG."""
    from utils.plot_tools import plot_adaptation_curves, save_figure

    save_figure(plot_adaptation_curves(curves, updates, subject=title, config=config, data=data), path)


def evaluate_meta(config: ExperimentConfig, model_path: str, out_dir: str | None) -> int:
    """evaluate_main.py for a meta config: the model's adaptation curve beside the random initialisation's."""
    from meta.tasks import load_test_tasks
    from meta.training import load_meta_model, random_init

    model = load_meta_model(model_path)
    if model.obs_dim != MultiTaskSerialEnv(config, n_envs=1).obs_dim:
        from utils.errors import UserError

        raise UserError(f"model file '{model_path}' expects another observation size; evaluate with the config it was trained with")
    tasks = load_test_tasks(config)
    updates = list(config.meta.eval_updates)
    name = model.config.train.algorithm + (f" ({model.config.meta.variant})" if model.config.train.algorithm == "maml" else "")
    curves = {
        "random init": adaptation_curve(config, [random_init(config, model.obs_dim, model.action_nvec)] * len(tasks), tasks),
        name: adaptation_curve(config, inits_for_tasks(model, tasks), tasks),
    }
    out = Path(out_dir or Path(config.out_dir) / "meta_eval")
    print(f"{len(tasks)} held-out tasks of {config.meta.tasks.test_tasks_file}; cost per episode of {config.env.episode_length} periods")
    print(summary_table(curves, updates))
    write_curves_csv(out / "adaptation_curves.csv", curves, updates, tasks)
    plot_curves(out / "adaptation_curves.png", curves, updates, f"Adaptation on held-out tasks: {name}", f"{config.name}, model {Path(model_path).name}",
                f"{len(tasks)} tasks of {Path(config.meta.tasks.test_tasks_file).name}")
    print(f"wrote {out / 'adaptation_curves.csv'} and {out / 'adaptation_curves.png'}")
    return 0
