"""Train HAPPO (or its MAPPO / IPPO ablations) on the environment a config describes.

    python train_main.py --config configs/train_serial.yaml [--set train.total_env_steps=500000]
                         [--seed N] [--out DIR] [--resume results/serial_20260101-120000]

A run writes ``<out_dir>/<name>_<timestamp>/``: ``config.yaml`` (the resolved config), ``metrics.csv``
(one row per iteration), ``best.pt`` (the policy with the lowest validation cost so far), ``last.pt`` (the
latest state, for ``--resume``) and ``plots/training_curve.png``; the best policy is also written to
``<out_dir>/<env kind>_policy.pt`` for ``evaluate_main.py``. Model selection uses the validation demand
(drawn from the training generator with its own seed), never the test files. ``--resume`` continues a run
from ``last.pt`` exactly as if it had not stopped (``--set`` may raise ``train.total_env_steps``; that
stretches the default linear step-size schedule, so only a constant one extends bit for bit).
With the config's ``planner:`` section enabled (``--set planner.enabled=true``), the hybrid planner
(``agents/planner_wrapper.py``) re-times every order the policy proposes, in training and validation.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from agents.happo_agent import HAPPOTrainer, evaluate_policy, read_checkpoint, save_checkpoint
from agents.planner_wrapper import with_planner
from agents.residual_action import resolve_rule, start_from_rule, with_residual
from envs import make_env
from utils.config import ExperimentConfig, apply_overrides, config_from_dict, load_config, save_config
from utils.data_loader import validation_demand
from utils.errors import UserError, run_cli
from utils.meta_config import META_ALGORITHMS
from utils.plot_tools import plot_training_curves

#: columns of metrics.csv; eval_cost is empty in iterations without an evaluation
METRIC_COLUMNS = [
    "iteration", "env_steps", "wall_time", "steps_per_s", "train_cost", "eval_cost", "best_eval_cost",
    "policy_loss", "entropy", "approx_kl", "clip_frac", "m_mean", "m_max", "critic_loss", "explained_variance",
    "rollout_time", "update_time", "lr_fraction",
]


@dataclass
class TrainResult:
    """What a training run produced."""

    run_dir: Path  # the run folder
    best_eval_cost: float  # lowest validation mean cost per episode seen
    last_eval_cost: float  # validation mean cost per episode of the final policy
    first_eval_cost: float  # validation cost of the untrained policy (nan when resumed)
    trainer: HAPPOTrainer  # the trainer in its final state


def new_run_dir(config: ExperimentConfig) -> Path:
    """<out_dir>/<name>_<UTC timestamp>, with a counter if two runs start in the same second."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(config.out_dir) / f"{config.name}_{stamp}"
    run_dir, k = base, 1
    while run_dir.exists():
        run_dir, k = Path(f"{base}-{k}"), k + 1
    run_dir.mkdir(parents=True)
    return run_dir


def write_metrics(path: Path, rows: list[dict]) -> None:
    """Rewrite metrics.csv atomically (a few hundred rows: rewriting is cheap and never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def read_metrics(path: Path, up_to_iteration: int) -> list[dict]:
    """Rows of an earlier run up to the checkpoint's iteration (later rows were never checkpointed)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [row for row in csv.DictReader(f) if int(row["iteration"]) <= up_to_iteration]


def fmt(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.1f}"


def train(
    config: ExperimentConfig, run_dir: Path | None = None, resume: bool = False, log: Callable[[str], None] = print
) -> TrainResult:
    """Train until config.train.total_env_steps, evaluating every train.eval_every iterations.

    run_dir: the run folder (None: a new one under config.out_dir); resume: continue from run_dir/last.pt.
    """
    cfg = config.train
    env = make_env(config.env, n_envs=cfg.n_envs, demand_config=config.demand, seed=config.seed)
    config = resolve_rule(config, env.n_streams, log)  # residual: on without parameters: tune the rule once
    val_demand = validation_demand(config.demand, config.env.episode_length, env.n_streams)  # (n_val, T, S)
    eval_env = make_env(config.env, n_envs=val_demand.shape[0], seed=config.demand.validation_seed)
    # planner: section on: the policy learns, and is selected, with the planner placing its orders;
    # residual: section on: the policy's actions are corrections to the rule's orders
    env, eval_env = with_planner(env, config.planner), with_planner(eval_env, config.planner)
    env, eval_env = with_residual(env, config.residual), with_residual(eval_env, config.residual)
    trainer = HAPPOTrainer(config, env)
    if config.residual.enabled and not resume:
        start_from_rule(trainer.actors, env.action_nvec, config.residual.width, config.residual.start_prob)

    rows: list[dict] = []
    best_cost = first_cost = last_cost = math.nan
    if resume:
        assert run_dir is not None
        data = read_checkpoint(run_dir / "last.pt")
        try:
            trainer.load_checkpoint(data)
        except (RuntimeError, KeyError, ValueError) as err:
            reason = " ".join(str(err).split())[:160]
            raise UserError(f"{run_dir}/last.pt does not match this config ({reason}); resume without changing the model") from None
        best_cost = float(data["best_eval_cost"])
        last_cost = float(data["last_eval_cost"])
        rows = read_metrics(run_dir / "metrics.csv", trainer.iteration)
        log(f"resuming {run_dir} at iteration {trainer.iteration} ({trainer.env_steps:,} env steps)")
    else:
        run_dir = run_dir or new_run_dir(config)
        run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    policy_copy = Path(config.out_dir) / f"{config.env.kind}_policy.pt"

    def evaluate() -> float:
        return evaluate_policy(trainer.policy(), eval_env, val_demand, seed=config.demand.validation_seed)["mean_cost"]

    def save_best(cost: float) -> None:
        data = trainer.checkpoint({"best_eval_cost": cost, "last_eval_cost": cost})
        save_checkpoint(data, run_dir / "best.pt")
        save_checkpoint(data, policy_copy)

    if not resume:
        first_cost = last_cost = best_cost = evaluate()
        save_best(best_cost)
        rows.append({"iteration": 0, "env_steps": 0, "eval_cost": first_cost, "best_eval_cost": best_cost})
        log(f"{config.name}: {config.train.algorithm} on {env.n_agents} agents, {cfg.n_envs} envs; "
            f"untrained validation cost {fmt(first_cost)}; run folder {run_dir}")

    steps_per_iteration = cfg.n_envs * config.env.episode_length
    n_iterations = trainer.n_iterations
    start_time, start_steps = time.perf_counter(), trainer.env_steps
    while trainer.iteration < n_iterations:
        stats = trainer.train_iteration()
        it = trainer.iteration
        eval_cost = math.nan
        if it % cfg.eval_every == 0 or it == n_iterations:
            eval_cost = last_cost = evaluate()
            if not eval_cost >= best_cost:  # also true when best_cost is nan
                best_cost = eval_cost
                save_best(best_cost)
        elapsed = time.perf_counter() - start_time
        speed = (trainer.env_steps - start_steps) / max(elapsed, 1e-9)
        row = {
            "iteration": it, "env_steps": trainer.env_steps, "wall_time": round(elapsed, 3),
            "steps_per_s": round(steps_per_iteration / (stats["rollout_time"] + stats["update_time"]), 1),
            "eval_cost": "" if math.isnan(eval_cost) else eval_cost, "best_eval_cost": best_cost,
        }
        row.update({k: v for k, v in stats.items() if k in METRIC_COLUMNS and k not in row})
        rows.append(row)
        write_metrics(run_dir / "metrics.csv", rows)
        save_checkpoint(trainer.checkpoint({"best_eval_cost": best_cost, "last_eval_cost": last_cost}), run_dir / "last.pt")
        log(
            f"iter {it:4d}/{n_iterations}  steps {trainer.env_steps:>10,}  {speed:8,.0f} steps/s  "
            f"train cost {fmt(stats['train_cost'])}  eval cost {fmt(last_cost)} (best {fmt(best_cost)})  "
            f"entropy {stats['entropy']:.2f}  M max {stats['m_max']:.2f}"
        )
    write_metrics(run_dir / "metrics.csv", rows)  # also when there was nothing left to train
    plot_training_curves(run_dir / "metrics.csv", run_dir / "plots" / "training_curve.png", f"{config.name}: {cfg.algorithm}")
    return TrainResult(run_dir, best_cost, last_cost, first_cost, trainer)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="experiment YAML, e.g. configs/train_serial.yaml (optional with --resume)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.lr_actor=3e-4 (repeatable)")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--out", help="override the config's out_dir (run folders and <env>_policy.pt go there)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = list(args.set)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.out is not None:
        overrides.append(f"out_dir={args.out}")
    if args.resume:
        run_dir = Path(args.resume)
        data = read_checkpoint(run_dir / "last.pt")
        config = config_from_dict(data["config"], f"{run_dir}/last.pt (stored config)")
        if overrides:
            config = apply_overrides(config, overrides)
        train(config, run_dir=run_dir, resume=True)
        return 0
    if not args.config:
        raise UserError("no --config given; pass one, e.g. --config configs/train_serial.yaml (or --resume RUN_DIR)")
    config = load_config(args.config, overrides)
    if config.train.algorithm in META_ALGORITHMS:  # meta-learning (configs/meta_*.yaml): meta/training.py
        from meta.training import train_meta

        train_meta(config)
        return 0
    train(config)
    return 0


if __name__ == "__main__":
    run_cli(main)
