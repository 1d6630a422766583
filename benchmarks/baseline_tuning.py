"""Seconds to tune every baseline of one setting (serial Merton, serial stationary, 2x3 network).

    python benchmarks/baseline_tuning.py [--configs configs/train_serial.yaml ...] [--tune_paths 100]

Each baseline is tuned exactly as ``evaluate_main.py --baselines`` tunes it (batched coordinate search on
``tune_paths`` demand paths drawn from the config's training generator with ``baselines.tune_seed``);
the table gives the parameter sets simulated, the wall time per baseline and the total per setting,
which the project promises stays under 60 s on a 2-core laptop CPU.
"""
from __future__ import annotations

import argparse
import time

from agents.baselines import policy_names, tune, tuning_demand
from envs import make_env
from utils.config import BaselinesConfig, load_config

DEFAULT_CONFIGS = ["configs/train_serial.yaml", "configs/train_serial_stationary.yaml", "configs/train_network.yaml"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, help="experiment YAML files")
    parser.add_argument("--tune_paths", type=int, default=BaselinesConfig().tune_paths, help="demand paths per candidate")
    args = parser.parse_args()
    print(f"{'setting':<34} {'baseline':<24} {'candidates':>10} {'seconds':>8} {'tuning cost':>12}")
    for path in args.configs:
        config = load_config(path)
        bcfg = BaselinesConfig(tune_paths=args.tune_paths)
        graph = make_env(config.env).graph
        start = time.perf_counter()
        demand = tuning_demand(config, bcfg, graph.n_streams)
        for name in policy_names(graph):
            r = tune(name, config.env, demand, bcfg.max_sweeps, config.seed)
            print(f"{path:<34} {name:<24} {r.n_candidates:>10} {r.seconds:>8.2f} {r.mean_cost:>12.1f}")
        total = time.perf_counter() - start
        print(f"{path:<34} {'TOTAL (all baselines)':<24} {'':>10} {total:>8.2f} {'< 60 s' if total < 60 else 'OVER 60 s':>12}")


if __name__ == "__main__":
    main()
