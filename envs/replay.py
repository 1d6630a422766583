"""Replay a fixed order plan on demand files and print what it costs.

    python -m envs.replay --config configs/train_serial.yaml --orders plan.csv [--demand_dir DIR] [--set k=v ...]

The orders file has one row per period and one column per agent and action dimension (agent-major:
agent 0's dimensions first), separated by commas or spaces; the plan is applied open-loop to every
demand file of the folder (default: the config's ``demand.test_dir``), all files at once as one batch.
Useful to price an order plan computed elsewhere (an LP, a spreadsheet, another library) in exactly
the paper's dynamics.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from envs import make_env
from utils.config import load_config
from utils.data_loader import read_demand_folder
from utils.errors import UserError, run_cli


def read_order_plan(path: Path, n_agents: int, n_dims: int) -> np.ndarray:
    """Orders file -> int (T, N, D); every problem is a one-line UserError naming file and line."""
    if not path.is_file():
        raise UserError(f"orders file '{path}' not found; give a CSV with one row of orders per period")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.replace(",", " ").split()
        try:
            values = [int(v) for v in fields]
        except ValueError:
            raise UserError(f"{path}, line {number}: '{line.strip()}' is not a row of whole numbers") from None
        if len(values) != n_agents * n_dims:
            raise UserError(
                f"{path}, line {number}: {len(values)} orders but the environment needs {n_agents * n_dims} "
                f"({n_agents} agents x {n_dims} per agent)"
            )
        rows.append(values)
    if not rows:
        raise UserError(f"orders file '{path}' is empty")
    return np.array(rows, dtype=np.int64).reshape(len(rows), n_agents, n_dims)


def main() -> int:
    parser = argparse.ArgumentParser(description="Replay a fixed order plan on demand files.")
    parser.add_argument("--config", required=True, help="experiment YAML (its env section is used)")
    parser.add_argument("--orders", required=True, type=Path, help="CSV: one row per period, one column per order")
    parser.add_argument("--demand_dir", default=None, help="demand folder (default: the config's demand.test_dir)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    demand = read_demand_folder(args.demand_dir or config.demand.test_dir)
    n_files = demand.demand.shape[0]
    env = make_env(config.env, n_envs=n_files)
    plan = read_order_plan(args.orders, env.n_agents, env.action_nvec.shape[1])  # (T, N, D)
    if plan.shape[0] < env.episode_length:
        raise UserError(f"{args.orders} has {plan.shape[0]} rows but an episode has {env.episode_length} periods")
    env.reset(demand=demand.demand)
    total = np.zeros((n_files, env.n_agents))
    for t in range(env.episode_length):
        _, _, _, _, info = env.step(np.broadcast_to(plan[t], (n_files,) + plan.shape[1:]))
        total += info["cost"]
    header = "file".ljust(16) + "".join(name.rjust(12) for name in env.agent_names) + "total".rjust(12)
    print(header)
    for name, row in zip(demand.names, total):
        print(name.ljust(16) + "".join(f"{c:12.1f}" for c in row) + f"{row.sum():12.1f}")
    print("mean".ljust(16) + "".join(f"{c:12.1f}" for c in total.mean(0)) + f"{total.sum(1).mean():12.1f}")
    return 0


if __name__ == "__main__":
    run_cli(main)
