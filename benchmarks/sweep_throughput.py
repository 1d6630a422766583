"""Wall time of one sweep of 4 seeds: one after another, on a local pool of 2 workers, and on Ray with 2 CPUs.

    python benchmarks/sweep_throughput.py [--config configs/train_serial.yaml] [--steps 32000] [--seeds 4]
                                          [--set KEY=VALUE ...] [--no_ray]

Each backend runs the same cells (``utils.sweep.run_sweep`` with ``agents.experiment.run_experiment``: train,
then evaluate on the validation set and the test files) into its own temporary folder, and the wall time
includes everything a user waits for: starting the worker processes (spawn: each imports torch) or the Ray
instance, training, evaluation, gathering the results. It prints the wall times, the speed-ups over the
sequential run measured in the same invocation, and checks that every backend produced the same per-seed
test costs. On a machine shared with other work the speed-up understates what two free cores give.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from agents.experiment import run_experiment
from utils.config import load_config
from utils.errors import run_cli
from utils.logger import configure
from utils.sweep import make_cells, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/train_serial.yaml", help="experiment YAML")
    parser.add_argument("--steps", type=int, default=32_000, help="train.total_env_steps of every cell")
    parser.add_argument("--seeds", type=int, default=4, help="cells: seeds 0..N-1")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every cell (repeatable)")
    parser.add_argument("--no_ray", action="store_true", help="leave out the Ray backend")
    args = parser.parse_args()
    configure(quiet=True)
    base = load_config(args.config, [*args.overrides, f"train.total_env_steps={args.steps}"])
    cells = make_cells([()], list(range(args.seeds)))
    backends = [("sequential (1 worker)", "local", 1), ("local pool, 2 workers", "local", 2)]
    if not args.no_ray:
        backends.append(("Ray, 2 CPUs", "ray", 2))
    print(f"{args.config}: {args.seeds} seeds x {args.steps:,} env steps each (+ validation and test evaluation); "
          f"{os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f} at the start")
    walls, costs = {}, {}
    with tempfile.TemporaryDirectory(prefix="sweep_throughput_") as tmp:
        for label, backend, workers in backends:
            start = time.perf_counter()
            results = run_sweep(run_experiment, base, cells, Path(tmp) / backend / str(workers), backend, workers,
                                log=lambda _: None)
            walls[label] = time.perf_counter() - start
            costs[label] = [results[c.index]["test"]["cost_mean"] for c in cells]
            print(f"  {label:24s} {walls[label]:8.1f} s", flush=True)
    reference = walls[backends[0][0]]
    print("| backend | wall time (s) | speed-up over 1 worker |")
    print("|---|---:|---:|")
    for label, _, _ in backends:
        print(f"| {label} | {walls[label]:.1f} | {reference / walls[label]:.2f}x |")
    same = all(costs[label] == costs[backends[0][0]] for label, _, _ in backends)
    print(f"per-seed test costs identical on every backend: {same} ({', '.join(f'{c:,.1f}' for c in costs[backends[0][0]])})")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0 if same else 1


if __name__ == "__main__":
    run_cli(main)
