"""Env-steps per second with the hybrid planner placing the orders (one env-step = one period of one chain).

    python benchmarks/planner_throughput.py [--seconds 2.0]

Serial fixed-cost preset (3 stages, fixed cost 25) with 32 envs, the training batch: the raw env, then
the env wrapped by ``PlannerEnv`` in each mode and back end (net_requirements: exact DP over inventory
levels for all rows at once, or the GA per row; retime: default settings, history netting). The 2x3
network (8 envs) with ``dalsa`` (state netting) and a planner setup cost of 5. Proposals are drawn in advance from a seeded generator (uniform over each
action space, 60% of them zero, so lots have something to merge), so the figure is the env plus the
planner (fresh proposals every episode). Wagner-Whitin and Silver-Meal are numpy recursions over all
rows at once; the GA and DALSA run once per row (a Python loop over chains and stages); the exact DP
solves all rows at once. The exact DP, the GA and DALSA keep a cache of rows already solved, so their
figure depends on how often rows repeat: the cache hit rate is printed beside it (random proposals
repeat less than a trained policy's). The exact DP is also timed without its cache, in the same run.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from agents.planner_wrapper import OrderPlanner, PlannerEnv
from envs import make_env
from utils.config import PlannerConfig, load_config

ROOT = Path(__file__).resolve().parents[1]


def steps_per_second(config_path: str, n_envs: int, mode: str, backend: str | None, seconds: float, fixed_order_cost: float = -1.0,
                     cached: bool = True):
    """(env-steps/s, cache hit rate or nan) of one env with (or, backend None, without) the planner."""
    config = load_config(ROOT / config_path)
    env = make_env(config.env, n_envs=n_envs, demand_config=config.demand, seed=0)
    if backend is not None:
        # DALSA on a network plans arrivals and nets by state (history netting is for single-supplier rows)
        netting = "state" if backend == "dalsa" and config.env.kind == "network" else "history"
        settings = PlannerConfig(enabled=True, mode=mode, backend=backend, fixed_order_cost=fixed_order_cost, netting=netting)
        env = PlannerEnv(env, OrderPlanner(settings, env))
        if not cached:
            env.planner._cache = lambda: None  # every row solved afresh: the figure before the cache existed
    rng = np.random.default_rng(0)
    nvec = env.action_nvec
    calls = hits = steps = 0
    counted = cached and backend in ("ga", "dalsa", "exact")
    elapsed = 0.0
    while elapsed < seconds:
        # fresh proposals every episode, drawn outside the timed loop, so no episode repeats another
        shape = (env.episode_length, n_envs) + nvec.shape
        pool = rng.integers(0, nvec[None, None], size=shape) * (rng.random(shape) < 0.4)
        env.reset()
        for t in range(env.episode_length):
            before = len(env.planner.cache) if counted else 0
            start = time.perf_counter()
            env.step(pool[t])
            elapsed += time.perf_counter() - start
            steps += 1
            if counted:
                rows = n_envs * env.n_agents  # one solver row per chain and stage (network: per node)
                calls += rows
                hits += rows - (len(env.planner.cache) - before)
            if elapsed >= seconds:
                break
    return steps * n_envs / elapsed, (hits / calls if calls else float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum time per measurement")
    args = parser.parse_args()
    serial = "configs/train_serial_fixed_cost.yaml"
    cases = [("serial", serial, 32, "", None, -1.0, True)]
    cases += [("serial", serial, 32, "net_requirements", "exact", -1.0, c) for c in (False, True)]
    cases += [("serial", serial, 32, "net_requirements", "ga", -1.0, True)]
    cases += [("serial", serial, 32, "retime", b, -1.0, True) for b in ("wagner_whitin", "silver_meal", "ga", "dalsa")]
    cases += [("network", "configs/train_network.yaml", 8, "", None, 5.0, True),
              ("network", "configs/train_network.yaml", 8, "retime", "dalsa", 5.0, True)]
    print(f"{'env':<8} {'n_envs':>6} {'planner':<30} {'env-steps/s':>12} {'cache hits':>10}")
    for kind, path, n, mode, backend, setup, cached in cases:
        rate, hit = steps_per_second(path, n, mode, backend, args.seconds, setup, cached)
        hits = "-" if hit != hit else f"{hit:.0%}"
        label = (f"{mode} {backend}" + ("" if cached else " (no cache)")) if backend else "none"
        print(f"{kind:<8} {n:>6} {label:<30} {rate:>12,.0f} {hits:>10}")


if __name__ == "__main__":
    main()
