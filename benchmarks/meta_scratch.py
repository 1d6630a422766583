"""HAPPO trained from scratch on each held-out meta-learning task: the "converged specialist" reference line.

    python benchmarks/meta_scratch.py --curve --steps 600000            # learning curve on ONE validation training task
    python benchmarks/meta_scratch.py --steps 300000 --seeds 0 [--tasks 0 1 ...] [--residual] \\
        [--out docs/meta_adaptation/curves_scratch.csv]

Per held-out task (test_data/meta_test_tasks.yaml) and seed: the library's trainer (agents.training.train) on the
task's chain and demand process alone, with the meta configs' network (actor and critic 32-32) and HAPPO's
default train settings, for --steps env steps; the best validation policy acts greedily on the same 16 fixed
evaluation paths as the adaptation curves (meta.references). --residual: the actions are corrections -5..5 to the
task's tuned POUT (echelon) rule, the same tuning as the classic reference line (benchmarks/meta_adaptation.py).
The CSV (method, seed, task, updates, cost) repeats each cost at every update count, like the tuned classic rows,
so ``python benchmarks/meta_adaptation.py --combine docs/meta_adaptation/*.csv`` puts it in the table; it is
rewritten after every task, so an interrupted run keeps what it finished.

--curve trains on the first of the 8 validation training tasks of benchmarks/meta_step_size.py (seed 999, never a
held-out task) and prints its validation cost against env steps: the budget is chosen there, not on the test tasks.
"""
from __future__ import annotations

import argparse
import csv

import numpy as np

from meta.evaluation import evaluation_demand, write_curve_rows
from meta.references import classic_tuning_demand, scratch_config, task_validation_demand, train_from_scratch, tune_on_task
from meta.tasks import held_out_tasks, load_test_tasks, sample_training_tasks
from utils.config import load_config


def method_name(steps: int, residual: bool) -> str:
    """The table's label of a from-scratch line."""
    return f"HAPPO from scratch ({steps // 1000}k steps{', residual on POUT' if residual else ''})"


def tuned_pout(config, task, index) -> tuple[str, np.ndarray]:
    """The task's POUT (echelon) rule, tuned exactly as the classic reference line tunes it (cached)."""
    return "pout_echelon", tune_on_task(config, task, classic_tuning_demand(config, task, index), "pout_echelon").params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/meta_maml.yaml", help="the meta config whose tasks, network and protocol are used")
    parser.add_argument("--steps", type=int, default=300_000, help="env steps per task")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--tasks", type=int, nargs="*", help="held-out task indices (default: all)")
    parser.add_argument("--residual", action="store_true", help="actions correct the task's tuned POUT rule")
    parser.add_argument("--curve", action="store_true", help="learning curve on one validation training task instead")
    parser.add_argument("--runs", default="results/meta_scratch", help="folder of the training runs")
    parser.add_argument("--out", default="docs/meta_adaptation/curves_scratch.csv")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override of the meta config")
    args = parser.parse_args()
    config = load_config(args.config, args.set)
    n_stages = config.env.serial.n_stages
    if args.curve:
        task = sample_training_tasks(config.meta.tasks, np.random.default_rng(999), 8, held_out_tasks(config.meta.tasks, n_stages), n_stages)[0]
        rule = tuned_pout(config, task, 999) if args.residual else None
        run = scratch_config(config, task, 999, args.steps, args.seeds[0], args.runs, rule)
        cost, seconds, run_dir = train_from_scratch(run, task_validation_demand(config, task))
        print(f"validation task {task}: {seconds:.0f} s; validation cost of the best policy {cost:,.0f}")
        with open(run_dir / "metrics.csv", newline="") as f:
            for r in csv.DictReader(f):
                if r["eval_cost"]:
                    print(f"  {int(r['env_steps']):>9,} env steps  validation cost {float(r['eval_cost']):>9,.0f}")
        return
    tasks = load_test_tasks(config)
    chosen = args.tasks if args.tasks else list(range(len(tasks)))
    P = config.meta.eval_paths
    demand = evaluation_demand(config, tasks)  # (n_tasks * P, T, 1): the curves' paths
    name = method_name(args.steps, args.residual)
    rows: list[tuple] = []  # (method, seed, task, updates, cost)
    for seed in args.seeds:
        for i in chosen:
            rule = tuned_pout(config, tasks[i], i) if args.residual else None
            run = scratch_config(config, tasks[i], i, args.steps, seed, args.runs, rule)
            cost, seconds, _ = train_from_scratch(run, demand[i * P : (i + 1) * P], log=lambda s: None)
            print(f"seed {seed} task {i:2d} {tasks[i].demand_kind:<10} L={tasks[i].lead_time} b={tasks[i].backlog_ratio:2d}: "
                  f"{name} cost {cost:>9,.0f}  ({seconds:.0f} s)", flush=True)
            rows += [(name, seed, i, u, cost) for u in config.meta.eval_updates]
            write_curve_rows(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
