"""Adaptation curves of every initialisation on the held-out tasks, and the meta-training time of each method.

    python benchmarks/meta_adaptation.py [--seeds 0 1 2] [--methods maml fomaml reptile hierarchical multitask]
                                         [--baselines pout_echelon ...] [--out results/meta_adaptation]
                                         [--set meta.meta_iterations=100 ...]
    python benchmarks/meta_adaptation.py --classic_only --out results/meta_classic    # only the classic reference
    python benchmarks/meta_adaptation.py --combine docs/meta_adaptation/*.csv         # merge earlier runs' CSVs

For each seed: meta-trains each method from the shipped configs (configs/meta_maml.yaml with meta.variant
maml / fomaml / reptile, configs/meta_hierarchical.yaml, configs/meta_multitask.yaml: the same env-step
budget), printing its meta-training time, then runs the adaptation protocol of ``meta.evaluation`` for it
and for the common random initialisation of that seed. Then, once per held-out task, every classic family
defined on the chain (or the ones named by --baselines) is tuned (agents.baselines.tune, on
baselines.tune_paths paths of the task's own demand process) and the family with the lowest cost on the task's
validation paths is run on the curves' evaluation paths: the "tuned classic (any family, per task)" reference
line (meta.references; every family's costs go to classic_families.csv). The HAPPO-from-scratch reference line
comes from benchmarks/meta_scratch.py and joins through --combine.
Writes curves.csv (method, seed, task, updates, cost), curves.png (mean and 95% t-interval over tasks x
seeds) and prints the table, paired differences against the multi-task initialisation and the gaps to each
reference line.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from meta.evaluation import (
    adaptation_curve, inits_for_tasks, per_task_mean, plot_curves, read_curves, reference_gap, summary_table,
    write_curve_rows,
)
from meta.references import best_per_task, tune_classic_families
from meta.tasks import MultiTaskSerialEnv, load_test_tasks
from meta.training import random_init, save_meta_model, train_meta
from utils.config import load_config
from utils.files import write_text_atomic
from utils.metrics import confidence_interval

CONFIGS = {
    "maml": ("configs/meta_maml.yaml", ["meta.variant=maml"]),
    "fomaml": ("configs/meta_maml.yaml", ["meta.variant=fomaml"]),
    "reptile": ("configs/meta_maml.yaml", ["meta.variant=reptile"]),
    "hierarchical": ("configs/meta_hierarchical.yaml", []),
    "multitask": ("configs/meta_multitask.yaml", []),
}
#: the classic reference line: per task, the tuned family with the lowest validation cost
CLASSIC = "tuned classic (any family, per task)"


def classic_reference(base, tasks, families: list[str] | None, out: Path) -> np.ndarray:
    """Every classic family tuned on every held-out task; writes classic_families.csv (task, family, validation
    and evaluation cost, chosen) and returns each task's evaluation cost of the family chosen on validation."""
    start = time.perf_counter()
    table = tune_classic_families(base, tasks, families)
    chosen, best = best_per_task(table.validation_cost, table.eval_cost, table.families)
    lines = ["task,family,validation_cost,eval_cost,chosen,params"]
    for i in range(len(tasks)):
        for f, name in enumerate(table.families):
            params = " ".join(f"{p:g}" for p in np.round(table.params[i][f], 4))
            lines.append(f"{i},{name},{table.validation_cost[i, f]:.2f},{table.eval_cost[i, f]:.2f},{int(name == chosen[i])},{params}")
    write_text_atomic(out / "classic_families.csv", "\n".join(lines) + "\n")
    print(f"tuned {len(table.families)} families on {len(tasks)} tasks in {time.perf_counter() - start:.0f} s; search time per family "
          f"(all tasks, 0 = cached): " + ", ".join(f"{n} {t:.0f} s" for n, t in zip(table.families, table.tune_seconds)))
    oracle = table.eval_cost.min(axis=1)
    print("family chosen on validation per task: " + ", ".join(chosen))
    print(f"mean evaluation cost: chosen on validation {best.mean():,.1f}, best on the evaluation paths themselves "
          f"{oracle.mean():,.1f}; per family " + ", ".join(f"{n} {c:,.0f}" for n, c in zip(table.families, table.eval_cost.mean(axis=0))))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--baselines", nargs="*", help="classic families tuned per task (default: every family on the chain; none: skip)")
    parser.add_argument("--classic_only", action="store_true", help="only tune the classic families per task (no meta-training)")
    parser.add_argument("--out", default="results/meta_adaptation")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every method's config")
    parser.add_argument("--combine", nargs="+", metavar="CSV", help="only merge the curves.csv of earlier runs (other seeds) and report")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.combine:
        stacked, updates = read_curves(args.combine)
        report(stacked, updates, len(load_test_tasks(load_config("configs/meta_maml.yaml", args.set))), out)
        return
    base = load_config("configs/meta_maml.yaml", args.set)
    tasks = load_test_tasks(base)
    updates = list(base.meta.eval_updates)
    rows: list[tuple] = []  # (method, seed, task, updates, cost)
    curves: dict[str, list[np.ndarray]] = {}
    times = {}
    for seed in [] if args.classic_only else args.seeds:
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
    if args.baselines is None or args.baselines:
        best = classic_reference(base, tasks, args.baselines, out)
        stacked[CLASSIC] = np.repeat(best[:, None], len(updates), axis=1)
    for method, c in stacked.items():
        for r in range(c.shape[0]):
            seed = args.seeds[r // len(tasks)] if method in curves else ""  # the tuned classic line has no seed
            rows += [(method, seed, r % len(tasks), u, c[r, j]) for j, u in enumerate(updates)]
    write_curve_rows(out / "curves.csv", rows)
    report(stacked, updates, len(tasks), out)


def is_reference(method: str) -> bool:
    """A per-task reference line (no adaptation): a tuned classic policy or a policy trained from scratch."""
    return method.startswith(("tuned classic", "HAPPO from scratch"))


def report(stacked: dict[str, np.ndarray], updates: list[int], n_tasks: int, out: Path) -> None:
    """Table, paired differences to the multi-task initialisation and to each reference line, and the plot."""
    plot_curves(out / "curves.png", stacked, updates, "Adaptation on the held-out tasks", "configs/meta_*.yaml",
                "test_data/meta_test_tasks.yaml")
    print(summary_table(stacked, updates))
    if "multitask" in stacked:
        print("\npaired difference to the multi-task init (mean over tasks x seeds, 95% t-interval; negative = cheaper):")
        for method, c in stacked.items():
            if method == "multitask" or is_reference(method) or c.shape != stacked["multitask"].shape:
                continue
            cells = []
            for j in range(len(updates)):
                m, h = confidence_interval(c[:, j] - stacked["multitask"][:, j])
                cells.append(f"{updates[j]}: {m:,.0f} [{m - h:,.0f}, {m + h:,.0f}]")
            print(f"  {method:<14} " + "   ".join(cells))
    for ref in [m for m in stacked if is_reference(m)]:
        if any(c.shape[0] % n_tasks for c in stacked.values()):
            print(f"\n(no gaps to {ref}: some method does not cover all {n_tasks} tasks)")
            continue
        reference = per_task_mean(stacked[ref], n_tasks)[:, 0]
        print(f"\ngap to {ref}, mean {reference.mean():,.0f} (method - reference, paired over {n_tasks} tasks, each averaged "
              f"over its seeds; 95% t-interval), and the share of the gap after {updates[0]} updates closed after {updates[-1]}:")
        for method, c in stacked.items():
            if method == ref:
                continue
            g = reference_gap(per_task_mean(c, n_tasks), reference)
            line = f"  {method:<44} after {updates[0]}: {g['start']:>9,.0f} [{g['start'] - g['start_half']:,.0f}, {g['start'] + g['start_half']:,.0f}]"
            if not is_reference(method):  # a reference line does not adapt: its difference is the same at every count
                line += (f"   after {updates[-1]}: {g['end']:>9,.0f} [{g['end'] - g['end_half']:,.0f}, {g['end'] + g['end_half']:,.0f}]"
                         f"   closed {g['closed']:.0%}")
            print(line)
    print(f"\nwrote {out / 'curves.png'}")


if __name__ == "__main__":
    main()
