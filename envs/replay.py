"""Replay a fixed order plan on demand files and print what it costs.

    python -m envs.replay --config configs/train_serial.yaml --orders plan.csv [--demand_dir DIR] [--set k=v ...]

The orders file has exactly one row per period of an episode and one column per agent and action
dimension (agent-major: agent 0's dimensions first), whole numbers separated by commas or spaces; the
plan is applied open-loop to every demand file of the folder (default: the config's ``demand.test_dir``), all files at once as one batch.
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


def read_order_plan(path: Path, action_nvec: np.ndarray, agent_names: list[str], episode_length: int) -> np.ndarray:
    """Orders file -> int (T, N, D), T = episode_length; every problem is a one-line UserError naming file and line.

    action_nvec (N, D): choices per agent and action dimension; every order must lie in 0..choices-1.
    Strict: digits only, one field per column (commas, or spaces when a row has no comma), every row the
    same width, exactly one row per period of an episode (blank lines only at the end).
    """
    n_agents, n_dims = action_nvec.shape
    width = n_agents * n_dims
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "not found"
        raise UserError(f"orders file '{path}' {problem}; give a CSV with one row of orders per period")
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"orders file '{path}' is not UTF-8 text; give a CSV with one row of whole numbers per period") from None
    while lines and not lines[-1].strip():
        lines.pop()  # blank lines at the end are harmless
    if not lines:
        raise UserError(f"orders file '{path}' is empty; give one row of orders per period")
    if len(lines) != episode_length:
        raise UserError(
            f"{path} has {len(lines)} rows but an episode has {episode_length} periods; give exactly one row per period"
        )
    plan = np.empty((len(lines), width), dtype=np.int64)  # (T, N * D)
    for number, line in enumerate(lines, start=1):
        fields = [f.strip() for f in line.split(",")] if "," in line else line.split()
        if len(fields) != width:
            raise UserError(
                f"{path}, line {number}: {len(fields)} fields but the environment needs {width} "
                f"({n_agents} agents x {n_dims} per agent)"
            )
        for column, text in enumerate(fields):
            if not text.isascii() or not text.isdigit():
                shown = text if len(text) <= 20 else text[:17] + "..."
                what = "an empty field" if not text else f"{shown!r}"
                raise UserError(f"{path}, line {number}, column {column + 1}: {what} is not a whole number (digits only)")
            agent, dim = divmod(column, n_dims)
            value, high = int(text), int(action_nvec[agent, dim]) - 1
            if value > high:
                raise UserError(
                    f"{path}, line {number}: action {value} of agent {agent_names[agent]} (dimension {dim}) is outside "
                    f"the action space 0..{high}"
                )
            plan[number - 1, column] = value
    return plan.reshape(len(lines), n_agents, n_dims)


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
    plan = read_order_plan(args.orders, env.action_nvec, env.agent_names, env.episode_length)  # (T, N, D)
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
