"""Quality of trained HAPPO policies on the test sets, over several seeds, next to the tuned baselines.

    python benchmarks/happo_quality.py --config configs/train_serial.yaml [--seeds 0 1 2] [--jobs 2]
        [--label rich_obs] [--set k=v ...] [--out results/quality]

For each seed it runs ``train_main.py --seed S`` (``--jobs`` runs in parallel, one torch thread each; a
seed whose run already finished in the output folder is not trained again, so an interrupted table
can be completed) and ``evaluate_main.py`` on the config's test files; the baselines and the clairvoyant bound
come from one ``evaluate_main.py --baselines`` run per config and set of overrides that change the
baselines' costs (env, demand, baselines keys; cached in the output folder). It prints a
markdown row per config: per-seed test costs, their mean and standard deviation, the best tuned
baseline, the clairvoyant bound and the gap to it, and the training time (the wall-clock of the
training loop, from the run's metrics.csv). Every command it runs is
printed, so the numbers can be reproduced one by one.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import statistics
import subprocess
import sys
from pathlib import Path

from agents.happo_agent import n_iterations
from utils.config import load_config
from utils.errors import run_cli

ROOT = Path(__file__).resolve().parents[1]

BOUND = "clairvoyant bound (LP)"


def set_args(overrides: list[str]) -> list[str]:
    return [arg for kv in overrides for arg in ("--set", kv)]


def run(cmd: list[str], log: Path) -> subprocess.Popen:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait(proc: subprocess.Popen, log: Path) -> None:
    if proc.wait() != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise SystemExit(f"command failed ({log}): {tail[0]}")


def finished_training_seconds(seed_dir: Path, n_iterations: int) -> float | None:
    """Wall-clock of the training loop of a finished run in seed_dir (None: no finished run there)."""
    for metrics in sorted(seed_dir.glob("*/metrics.csv")):
        with metrics.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and int(rows[-1]["iteration"]) == n_iterations and rows[-1]["wall_time"]:
            return float(rows[-1]["wall_time"])
    return None


def train_and_evaluate(args: argparse.Namespace, out: Path) -> dict[int, dict]:
    """Train every seed not trained yet (args.jobs at a time), then evaluate each on the test files."""
    config = load_config(args.config, args.overrides)
    iterations = n_iterations(config.train.total_env_steps, config.train.n_envs, config.env.episode_length)
    pending = [s for s in args.seeds if finished_training_seconds(out / f"seed{s}", iterations) is None]
    running: list[tuple[int, subprocess.Popen, Path]] = []
    while pending or running:
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            seed_dir = out / f"seed{seed}"
            seed_dir.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "train_main.py", "--config", args.config, "--seed", str(seed), "--out", str(seed_dir),
                   *set_args(args.overrides)]
            running.append((seed, run(cmd, seed_dir / "train.log"), seed_dir))
        seed, proc, seed_dir = running.pop(0)
        wait(proc, seed_dir / "train.log")
    results: dict[int, dict] = {}
    for seed in args.seeds:
        seed_dir = out / f"seed{seed}"
        seconds = finished_training_seconds(seed_dir, iterations)
        if seconds is None:
            raise SystemExit(f"{seed_dir} holds no finished run of {iterations} iterations; remove it and run again")
        results[seed] = {"train_seconds": seconds, "dir": seed_dir}
        cmd = [sys.executable, "evaluate_main.py", "--config", args.config, "--model_path", str(seed_dir / f"{config.name}_policy.pt"),
               "--output_json", str(seed_dir / "test.json"), *set_args(args.overrides)]
        wait(run(cmd, seed_dir / "evaluate.log"), seed_dir / "evaluate.log")
        rows = json.loads((seed_dir / "test.json").read_text())["policies"]
        (name, row), = rows.items()
        results[seed].update(name=name, cost=row["cost_mean"], ci95=row["cost_ci95"])
    return results


def baseline_overrides(overrides: list[str]) -> list[str]:
    """The overrides that change what the baselines cost: env, demand and baselines keys, except those only the
    learner sees (reward mixing, observation features, the validation set)."""
    kept = []
    for kv in overrides:
        section, _, name = kv.split("=", 1)[0].strip().partition(".")
        learner_only = name == "reward_alpha" or name.startswith(("obs_", "validation_"))
        if section in ("env", "demand", "baselines") and not learner_only:
            kept.append(kv)
    return kept


def baselines(args: argparse.Namespace, out_root: Path) -> dict[str, dict]:
    """Tuned baselines and the bound on the test files (one run per config and baseline-relevant overrides,
    reused across labels)."""
    relevant = baseline_overrides(args.overrides)
    digest = "_" + hashlib.sha256("\n".join(sorted(relevant)).encode()).hexdigest()[:8] if relevant else ""
    stem = f"baselines_{Path(args.config).stem}{digest}"
    path = out_root / f"{stem}.json"
    if not path.exists():
        log = out_root / f"{stem}.log"
        cmd = [sys.executable, "evaluate_main.py", "--config", args.config, "--baselines", "--output_json", str(path),
               *set_args(relevant)]
        wait(run(cmd, log), log)
    return json.loads(path.read_text())["policies"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="experiment YAML")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at the same time")
    parser.add_argument("--label", default="default", help="name of this variant (a sub-folder of --out)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for training and evaluation (repeatable)")
    parser.add_argument("--out", default="results/quality", help="output folder")
    args = parser.parse_args()
    out_root = ROOT / args.out
    out = out_root / f"{Path(args.config).stem}_{args.label}"
    out.mkdir(parents=True, exist_ok=True)

    runs = train_and_evaluate(args, out)
    base = baselines(args, out_root)
    bound = base.pop(BOUND, None)
    best_name = min(base, key=lambda k: base[k]["cost_mean"])
    best = base[best_name]["cost_mean"]
    costs = [runs[s]["cost"] for s in args.seeds]
    mean = statistics.fmean(costs)
    spread = statistics.stdev(costs) if len(costs) > 1 else 0.0
    minutes = statistics.fmean(r["train_seconds"] for r in runs.values()) / 60
    gap = f"{mean / bound['cost_mean']:.1f}x" if bound else "n/a"
    summary = {
        "config": args.config, "label": args.label, "overrides": args.overrides, "seeds": args.seeds,
        "test_costs": costs, "mean": mean, "std": spread, "best_baseline": best_name, "best_baseline_cost": best,
        "bound": bound["cost_mean"] if bound else None, "train_minutes_mean": minutes, "jobs": args.jobs,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print("| config | variant | test cost per seed | mean ± std | best tuned baseline | vs baseline | bound | "
          "cost / bound | train min |")
    print(f"| {Path(args.config).name} | {args.label} | {' / '.join(f'{c:,.0f}' for c in costs)} | {mean:,.0f} ± {spread:,.0f} "
          f"| {best_name} {best:,.0f} | {mean / best - 1:+.1%} | {bound['cost_mean'] if bound else float('nan'):,.0f} | {gap} "
          f"| {minutes:.1f} |")
    return 0


if __name__ == "__main__":
    run_cli(main)
