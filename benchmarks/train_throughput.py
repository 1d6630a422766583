"""End-to-end training throughput of HAPPO: environment steps per second, and where the time goes.

    python benchmarks/train_throughput.py [--config configs/train_serial.yaml] [--iterations 5] [--set k=v ...]

One iteration = a rollout of one episode in each of train.n_envs envs plus the sequential actor updates
and the critic update; env steps are periods summed over envs. The first iteration is a warm-up and is
not timed. Target on a 2-core laptop CPU for the serial preset: >= 5,000 env steps/s.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from agents.happo_agent import HAPPOTrainer  # noqa: E402
from envs import make_env  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.errors import run_cli  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_serial.yaml"))
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations (after one warm-up)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = parser.parse_args()
    config = load_config(args.config, args.set)
    cfg = config.train
    env = make_env(config.env, n_envs=cfg.n_envs, demand_config=config.demand, seed=config.seed)
    trainer = HAPPOTrainer(config, env)
    trainer.train_iteration()  # warm-up: first calls allocate and pick kernels

    rollout = update = 0.0
    start, steps0 = time.perf_counter(), trainer.env_steps
    for _ in range(args.iterations):
        stats = trainer.train_iteration()
        rollout += stats["rollout_time"]
        update += stats["update_time"]
    wall = time.perf_counter() - start
    steps = trainer.env_steps - steps0
    print(f"config {args.config}: {config.train.algorithm}, {env.n_agents} agents, {cfg.n_envs} envs x "
          f"{config.env.episode_length} periods per iteration, {cfg.ppo_epochs} epochs x {cfg.n_minibatches} minibatches, "
          f"torch threads {torch.get_num_threads()}, {platform.processor() or platform.machine()}")
    print(f"{args.iterations} iterations, {steps:,} env steps in {wall:.2f} s: {steps / wall:,.0f} env steps/s end to end")
    print(f"time share: rollout {rollout / wall:.0%} ({steps / rollout:,.0f} env steps/s while collecting), "
          f"update {update / wall:.0%} ({update / args.iterations:.2f} s per iteration)")
    return 0


if __name__ == "__main__":
    run_cli(main)
