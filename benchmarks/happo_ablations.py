"""Paired comparison of HAPPO variants over training seeds, from the folders ``happo_quality.py`` wrote.

    python benchmarks/happo_ablations.py --reference results/quality/train_serial_alpha0 \\
        --variant results/quality/train_serial_residual_pout [--variant ...] [--reference_costs 7227 7765 7365]

Each folder is one variant of one config (``<config>_<label>``): its ``summary.json`` holds the test cost
of every seed, and every ``seed*/`` run folder its ``metrics.csv`` with the best validation cost. For each
variant it prints one markdown row: validation and test cost per seed, mean ± sd, and the paired
difference to the reference over the seeds both ran (mean and a 95% t interval, so a claim needs an
interval that excludes zero). ``--reference_costs`` gives the reference's test costs per seed instead of a
folder (e.g. the README's table of an earlier commit); its validation costs are then unknown.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path

from scipy import stats


def best_validation(seed_dir: Path) -> float | None:
    """Lowest validation cost of the finished run in seed_dir (None: no run there)."""
    for metrics in sorted(seed_dir.glob("*/metrics.csv")):
        with metrics.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if rows:
            return float(rows[-1]["best_eval_cost"])
    return None


def load_variant(folder: Path) -> dict:
    """{'name', 'test': {seed: cost}, 'validation': {seed: cost}} of one happo_quality output folder."""
    if not (folder / "summary.json").is_file():
        print(f"error: {folder}/summary.json not found: give a folder happo_quality.py has finished", file=sys.stderr)
        raise SystemExit(2)
    summary = json.loads((folder / "summary.json").read_text())
    test = dict(zip(summary["seeds"], summary["test_costs"]))
    validation = {s: best_validation(folder / f"seed{s}") for s in summary["seeds"]}
    return {"name": folder.name, "test": test, "validation": validation, "baseline": summary["best_baseline"],
            "baseline_cost": summary["best_baseline_cost"], "overrides": summary["overrides"]}


def paired(a: dict[int, float], b: dict[int, float]) -> str:
    """Mean of a - b over the shared seeds with a 95% t interval, as text."""
    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds if a[s] is not None and b[s] is not None]
    if len(diffs) < 2:
        return "n/a"
    mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    half = stats.t.ppf(0.975, len(diffs) - 1) * sd / math.sqrt(len(diffs))
    return f"{mean:+,.0f} [{mean - half:+,.0f}, {mean + half:+,.0f}]"


def fmt(values: dict[int, float | None]) -> str:
    return " / ".join("-" if v is None else f"{v:,.0f}" for _, v in sorted(values.items()))


def mean_sd(values: dict[int, float | None]) -> str:
    xs = [v for v in values.values() if v is not None]
    if not xs:
        return "-"
    return f"{statistics.fmean(xs):,.0f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", help="happo_quality output folder of the reference variant")
    parser.add_argument("--reference_costs", type=float, nargs="+", help="test costs of the reference per seed 0, 1, ...")
    parser.add_argument("--reference_name", default="reference", help="row name of --reference_costs")
    parser.add_argument("--variant", action="append", default=[], help="happo_quality output folder (repeatable)")
    args = parser.parse_args()
    if args.reference:
        ref = load_variant(Path(args.reference))
    elif args.reference_costs:
        ref = {"name": args.reference_name, "test": dict(enumerate(args.reference_costs)),
               "validation": {s: None for s in range(len(args.reference_costs))}}
    else:
        parser.error("give --reference or --reference_costs")
    rows = [ref] + [load_variant(Path(v)) for v in args.variant]
    print("| variant | validation per seed | test per seed | test mean ± sd | test minus reference, paired (95% CI) "
          "| validation minus reference, paired |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        is_ref = row is ref
        print(f"| {row['name']} | {fmt(row['validation'])} | {fmt(row['test'])} | {mean_sd(row['test'])} | "
              f"{'(reference)' if is_ref else paired(row['test'], ref['test'])} | "
              f"{'(reference)' if is_ref else paired(row['validation'], ref['validation'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
