"""Does the hybrid planner lower the env's cost? Policies with and without it on the fixed-cost preset.

On ``configs/train_serial_fixed_cost.yaml`` at each fixed cost K (``--fixed_costs``), on the 50 test
files of ``test_data/test_demand_merton``: every policy alone, then with the planner in each mode
(``net_requirements`` with the exact back end; ``retime`` with Wagner-Whitin and history netting),
with the planner's other settings at their defaults. Printed: cost per episode (mean over the files
and its 95% t half-width) and the paired difference to the policy alone (mean and 95% half-width over
the same files). Policies: classic rules tuned at that K on training-generator paths
(``baselines.tune_seed``; results cached in ``results/tuning_cache``), and a trained model when
``--model_path`` is given (the planner is then added at evaluation only).

Usage: ``python benchmarks/planner_fixed_cost.py [--fixed_costs 5 25 100] [--policies forecast_base_stock s_S]
[--model_path results/serial_fixed_cost_policy.pt]``
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from scipy import stats

from agents.baselines import LearnedPolicy, make_baseline, rollout, tune, tuning_demand
from agents.planner_wrapper import OrderPlanner, PlannedPolicy
from envs import make_env
from utils.config import PlannerConfig, load_config
from utils.data_loader import read_demand_folder
from utils.errors import UserError, run_cli

ROOT = Path(__file__).resolve().parents[1]
PLANNERS = {
    "net_requirements (exact)": PlannerConfig(enabled=True, mode="net_requirements", backend="exact"),
    "retime (wagner_whitin)": PlannerConfig(enabled=True, mode="retime", backend="wagner_whitin"),
}


def half_width(x: np.ndarray) -> float:
    return float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))


def episode_costs(policy, env, demand) -> np.ndarray:
    """Cost per episode summed over stages, one per test file.  -> (B,)"""
    return rollout(policy, env, demand, seed=0, record=False).sum(axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixed_costs", type=float, nargs="+", default=[5.0, 25.0, 100.0])
    parser.add_argument("--policies", nargs="+", default=["forecast_base_stock", "s_S"], help="classic rules, tuned at each K")
    parser.add_argument("--model_path", help="a trained serial policy to evaluate with and without the planner")
    args = parser.parse_args()
    base = load_config(ROOT / "configs/train_serial_fixed_cost.yaml")
    demand = read_demand_folder(ROOT / base.demand.test_dir).demand  # (50, 200, 1)
    learned = None
    if args.model_path:
        from agents.happo_agent import load_policy

        learned = load_policy(args.model_path)[0]
    print(f"planner on the fixed-cost preset: {demand.shape[0]} test files x {demand.shape[1]} periods; "
          f"planner defaults {dataclasses.asdict(PlannerConfig())}")
    for K in args.fixed_costs:
        if K < 0:
            raise UserError(f"--fixed_costs must be >= 0, got {K}")
        env_config = dataclasses.replace(base.env, serial=dataclasses.replace(base.env.serial, fixed_order_cost=K))
        env = make_env(env_config, n_envs=demand.shape[0])
        policies = {}
        for name in args.policies:
            tuned = tune(name, env_config, tuning_demand(base, base.baselines, 1), cache_dir=ROOT / "results/tuning_cache")
            policies[f"{name} (tuned at K)"] = make_baseline(name, tuned.params)
        if learned is not None:
            policies["trained model"] = LearnedPolicy(learned, "trained model")
        print(f"\nK = {K:g}")
        print(f"  {'policy':<34s} {'planner':<26s} {'cost/episode':>16s} {'vs alone (paired)':>26s}")
        for name, policy in policies.items():
            alone = episode_costs(policy, env, demand)
            print(f"  {name:<34s} {'-':<26s} {alone.mean():9,.0f} ± {half_width(alone):5,.0f}")
            for label, settings in PLANNERS.items():
                planned = episode_costs(PlannedPolicy(policy, OrderPlanner(settings, env)), env, demand)
                diff = planned - alone
                print(f"  {'':<34s} {label:<26s} {planned.mean():9,.0f} ± {half_width(planned):5,.0f} "
                      f"{diff.mean():+9,.0f} ± {half_width(diff):5,.0f} ({100 * diff.mean() / alone.mean():+.1f}%)")
    return 0


if __name__ == "__main__":
    run_cli(main)
