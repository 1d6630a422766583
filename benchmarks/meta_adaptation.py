"""Adaptation curves of every initialisation on the held-out tasks, and the meta-training time of each method.

    python benchmarks/meta_adaptation.py [--seeds 0 1 2] [--methods maml fomaml reptile hierarchical multitask]
                                         [--baselines pout_echelon echelon_base_stock] [--out results/meta_adaptation]
                                         [--set meta.meta_iterations=100 ...]

For each seed: meta-trains each method from the shipped configs (configs/meta_maml.yaml with meta.variant
maml / fomaml / reptile, configs/meta_hierarchical.yaml, configs/meta_multitask.yaml: the same env-step
budget), printing its meta-training time, then runs the adaptation protocol of ``meta.evaluation`` for it
and for the common random initialisation of that seed. Then, once per held-out task, each named classic
baseline is tuned (agents.baselines.tune, on 100 paths of the task's own demand process, seed 777000) and
run on the same evaluation paths; the best per task is the "tuned classic" reference line.
Writes curves.csv (method, seed, task, updates, cost), curves.png (mean and 95% t-interval over tasks x
seeds) and prints the table and paired differences against the multi-task initialisation.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from meta.evaluation import adaptation_curve, evaluation_demand, inits_for_tasks, plot_curves, summary_table
from meta.tasks import MultiTaskSerialEnv, load_test_tasks
from meta.training import random_init, save_meta_model, train_meta
from utils.config import load_config
from utils.metrics import confidence_interval

CONFIGS = {
    "maml": ("configs/meta_maml.yaml", ["meta.variant=maml"]),
    "fomaml": ("configs/meta_maml.yaml", ["meta.variant=fomaml"]),
    "reptile": ("configs/meta_maml.yaml", ["meta.variant=reptile"]),
    "hierarchical": ("configs/meta_hierarchical.yaml", []),
    "multitask": ("configs/meta_multitask.yaml", []),
}


def tuned_baselines(config, tasks, names: list[str]) -> np.ndarray:
    """Per task: the lowest evaluation cost among the named baselines, each tuned on the task's own process."""
    from agents.baselines import make_baseline, rollout, tune
    from envs import SerialEnv
    from utils.data_loader import sample_demand

    demand = evaluation_demand(config, tasks)
    P = config.meta.eval_paths
    best = np.full(len(tasks), np.inf)
    for i, task in enumerate(tasks):
        env_config = task.env_config(config.env)
        tune_demand = sample_demand(task.demand_config(config.demand), np.random.default_rng(777_000 + i), 100, config.env.episode_length)
        for name in names:
            result = tune(name, env_config, tune_demand)
            env = SerialEnv(env_config, n_envs=P)
            cost = rollout(make_baseline(name, result.params), env, demand[i * P : (i + 1) * P], record=False)
            best[i] = min(best[i], float(cost.sum(axis=1).mean()))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--baselines", nargs="*", default=["pout_echelon", "echelon_base_stock"])
    parser.add_argument("--out", default="results/meta_adaptation")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every method's config")
    parser.add_argument("--combine", nargs="+", metavar="CSV", help="only merge the curves.csv of earlier runs (other seeds) and report")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.combine:
        report(*read_curves(args.combine), out)
        return
    base = load_config("configs/meta_maml.yaml", args.set)
    tasks = load_test_tasks(base)
    updates = list(base.meta.eval_updates)
    rows = []  # (method, seed, task, updates, cost)
    curves: dict[str, list[np.ndarray]] = {}
    times = {}
    for seed in args.seeds:
        for method in args.methods:
            path, extra = CONFIGS[method]
            config = load_config(path, extra + args.set + [f"seed={seed}"])
            model = train_meta(config, log=lambda s: None, write=False)
            save_meta_model(model, out / f"{method}_seed{seed}.pt")  # to re-run the protocol with other settings
            times[(method, seed)] = model.train_seconds
            print(f"seed {seed} {method:<12} meta-training {model.train_seconds:7.0f} s  {model.meta_env_steps:,} env steps", flush=True)
            curves.setdefault(method, []).append(adaptation_curve(config, inits_for_tasks(model, tasks), tasks))
            np.savez(out / "curves_partial.npz", **{m: np.concatenate(c) for m, c in curves.items()})  # survives an interruption
            print(summary_table({m: np.concatenate(c) for m, c in curves.items()}, updates), flush=True)
        config = load_config("configs/meta_maml.yaml", args.set + [f"seed={seed}"])
        env = MultiTaskSerialEnv(config, n_envs=1)
        curves.setdefault("random init", []).append(adaptation_curve(config, [random_init(config, env.obs_dim, env.action_nvec)] * len(tasks), tasks))
    stacked = {m: np.concatenate(c, axis=0) for m, c in curves.items()}  # (seeds * tasks, updates)
    if args.baselines:
        start = time.perf_counter()
        best = tuned_baselines(base, tasks, args.baselines)
        print(f"tuned {', '.join(args.baselines)} on each task in {time.perf_counter() - start:.0f} s")
        stacked["tuned classic (best per task)"] = np.repeat(best[:, None], len(updates), axis=1)
    for method, c in stacked.items():
        for r in range(c.shape[0]):
            seed = args.seeds[r // len(tasks)] if method in curves else ""  # the tuned baselines have no seed
            for j, u in enumerate(updates):
                rows.append(f"{method},{seed},{r % len(tasks)},{u},{c[r, j]:.2f}")
    (out / "curves.csv").write_text("method,seed,task,updates,cost\n" + "\n".join(rows) + "\n")
    report(stacked, updates, out)


def read_curves(paths: list[str]) -> tuple[dict[str, np.ndarray], list[int]]:
    """Curves of several curves.csv files: per method (seeds x tasks, updates); a method's tuned classic
    rows (no seed) are taken once."""
    import csv

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


def report(stacked: dict[str, np.ndarray], updates: list[int], out: Path) -> None:
    """Table, paired differences to the multi-task initialisation, and the plot."""
    plot_curves(out / "curves.png", stacked, updates, "Adaptation on the held-out tasks", "configs/meta_*.yaml",
                "test_data/meta_test_tasks.yaml")
    print(summary_table(stacked, updates))
    if "multitask" in stacked:
        print("\npaired difference to the multi-task init (mean over tasks x seeds, 95% t-interval; negative = cheaper):")
        for method, c in stacked.items():
            if method in ("multitask", "tuned classic (best per task)") or c.shape != stacked["multitask"].shape:
                continue
            cells = []
            for j in range(len(updates)):
                m, h = confidence_interval(c[:, j] - stacked["multitask"][:, j])
                cells.append(f"{updates[j]}: {m:,.0f} [{m - h:,.0f}, {m + h:,.0f}]")
            print(f"  {method:<14} " + "   ".join(cells))
    print(f"\nwrote {out / 'curves.png'}")


if __name__ == "__main__":
    main()
