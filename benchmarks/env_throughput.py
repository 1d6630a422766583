"""Env-steps per second of the batched environments (one env-step = one period of one chain).

    python benchmarks/env_throughput.py [--seconds 1.0]

Prints the serial chain at n_envs = 1, 64, 1024, 16384 and the 2x3 network at 1 and 1024, with random
valid actions drawn in advance (so the figure is the environment's cost alone), and each figure as a
ratio to the single serial env measured in the same run.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from envs import make_env
from utils.config import DemandConfig, EnvConfig


def steps_per_second(kind: str, n_envs: int, seconds: float) -> float:
    config = EnvConfig(kind=kind, episode_length=200)
    demand = DemandConfig(kind="stationary", max_demand=20 if kind == "serial" else 4, stationary_mean=10 if kind == "serial" else 2)
    env = make_env(config, n_envs=n_envs, demand_config=demand, seed=0)
    rng = np.random.default_rng(0)
    pool = rng.integers(0, env.action_nvec[None, None], size=(16, n_envs) + env.action_nvec.shape)  # (16, B, N, D)
    env.reset()
    steps, start = 0, time.perf_counter()
    while True:
        for i in range(env.episode_length):
            env.step(pool[i % 16])
        steps += env.episode_length
        env.reset()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps * n_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum time per measurement")
    args = parser.parse_args()
    cases = [("serial", 1), ("serial", 64), ("serial", 1024), ("serial", 16384), ("network", 1), ("network", 1024)]
    results = {case: steps_per_second(*case, args.seconds) for case in cases}
    base = results[("serial", 1)]
    print(f"{'env':<8} {'n_envs':>7} {'env-steps/s':>14} {'vs serial x1':>13}")
    for (kind, n), rate in results.items():
        print(f"{kind:<8} {n:>7} {rate:>14,.0f} {rate / base:>12.1f}x")


if __name__ == "__main__":
    main()
