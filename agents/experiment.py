"""One experiment as a pure function: ``run_experiment(config) -> results`` (train, then evaluate).

It trains (``agents.training.train``), then runs the run's best policy (selected on the validation set)
once more on the validation demand and on the config's test files, and returns every metric of
``utils.metrics.summarize`` for both, with the learning curve and the provenance, as plain data (JSON
ready, picklable). It reads no global state and imports no execution engine, so the same call runs in a
notebook, in ``train_main.py``, in a process pool or as a Ray task (``utils.sweep``), and two calls with
the same config return the same numbers wherever they run.

The test evaluation is the one ``evaluate_main.py --model_path RUN/best.pt`` prints: every file of
``demand.test_dir`` one episode, first ``env.episode_length`` periods, env seeded with ``config.seed``.

``resume_or_run_experiment(config)`` is the same experiment for an ``out_dir`` that belongs to this one run,
as each cell of a sweep has (``utils.sweep``): called again after the first call was stopped (Ctrl-C, a
killed worker, a lost node), it continues the run it left there from its ``last.pt``, exactly as if it had
not stopped, instead of training again from the start.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from agents.happo_agent import load_policy, read_checkpoint
from agents.planner_wrapper import OrderPlanner, PlannedPolicy
from agents.residual_action import ResidualPolicy, RuleCorrection
from agents.rollout import LearnedPolicy, rollout
from agents.training import resume_config, train
from envs import make_env
from utils.config import ExperimentConfig, config_to_dict
from utils.data_loader import read_demand_folder, validation_demand
from utils.errors import UserError
from utils.logger import info, log_file
from utils.metrics import summarize
from utils.files import write_json_atomic
from utils.provenance import provenance, write_provenance
from utils.stored_config import stored_config

#: metrics.csv columns kept in the results as the learning curve
CURVE_COLUMNS = ("iteration", "env_steps", "wall_time", "train_cost", "eval_cost", "best_eval_cost")


def trained_policy(
    policy: Any, trained: ExperimentConfig, env: Any, sample_actions: bool = False, planner: bool = True
) -> Any:
    """A trained policy on the plain env (baseline interface), with the rule or planner it was trained with.

    policy: ``agents.happo_agent.HAPPOPolicy``; trained: the config it was trained with; env: the env it acts on.
    A correction policy acts through its rule (``ResidualPolicy``), a planner-trained one through its planner
    (``PlannedPolicy``; with both, the corrected rule's orders go through the planner, as in training), so
    orders, costs and every metric are those of the orders placed. sample_actions:
    act by sampling instead of greedily (the training-time behaviour); planner=False leaves the planner to
    the caller (``evaluate_main.py`` applies the one its --planner options choose)."""
    name = trained.train.algorithm + (" (sampled)" if sample_actions else "")  # happo, mappo or ippo
    acting: Any = LearnedPolicy(policy, name, deterministic=not sample_actions)
    if trained.residual.enabled:
        if not trained.residual.params:
            raise UserError("the model has a residual action but no rule parameters; train it with train_main.py")
        acting = ResidualPolicy(acting, RuleCorrection(trained.residual, env))
    if planner and trained.planner.enabled:
        acting = PlannedPolicy(acting, OrderPlanner(trained.planner, env))
    return acting


def test_demand(config: ExperimentConfig, n_streams: int) -> tuple[np.ndarray, list[str]]:
    """The config's test files, cut to one episode each: (n_files, T, S) and the file names."""
    folder = read_demand_folder(config.demand.test_dir)
    if folder.n_streams != n_streams:
        raise UserError(f"demand.test_dir '{config.demand.test_dir}' has {folder.n_streams} customer stream(s) but the env "
                        f"needs {n_streams}; pick the test set of this env")
    if folder.demand.shape[1] < config.env.episode_length:
        raise UserError(f"demand files in '{config.demand.test_dir}' have {folder.demand.shape[1]} periods but an episode "
                        f"has {config.env.episode_length}")
    return folder.demand[:, : config.env.episode_length], folder.names


def evaluate_trained(policy: Any, trained: ExperimentConfig, demand: np.ndarray, seed: int) -> dict:
    """Every metric (``utils.metrics.summarize``) of a trained policy (``load_policy``'s pair) on demand
    (B, T, S), on the env it was trained for, seeded with seed."""
    env = make_env(trained.env, n_envs=demand.shape[0])
    return summarize(rollout(trained_policy(policy, trained, env), env, demand, seed=seed))


def learning_curve(metrics_csv: Path) -> dict[str, list[float]]:
    """The learning-curve columns of a run's metrics.csv (empty cells: None)."""
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) if r.get(k) not in ("", None) else None for r in rows] for k in CURVE_COLUMNS}


def run_experiment(
    config: ExperimentConfig, run_dir: str | os.PathLike | None = None, resume: bool = False,
    log: Callable[[str], None] = info, changes: dict[str, list] | None = None,
) -> dict[str, Any]:
    """Train on `config`, then evaluate the best policy on the validation set and on the test files.

    run_dir: the run folder (None: a new ``<out_dir>/<name>_<timestamp>``); resume: continue the run in run_dir;
    changes: what a resume changed (``agents.training.train``).
    Returns plain data: ``config`` (resolved, as trained), ``run_dir``, ``train`` (best/first/last
    validation cost, iterations, env steps, wall time, resumes), ``validation`` and ``test`` (``summarize`` of the
    best policy: cost_mean, cost_ci95, per-agent costs, paper figure, fluctuation, bullwhip, fill rate,
    service level, stock, per-episode costs), ``test_files``, ``curve`` (learning curve) and ``provenance``.
    The run folder also gets ``log.txt``, ``provenance.yaml`` and this dict as ``result.json``.
    """
    record = provenance()
    # read now, so a missing or unfit test set fails before the training; used only at the end
    n_streams = make_env(config.env, n_envs=1).n_streams
    test, names = test_demand(config, n_streams)
    trained = train(config, run_dir=Path(run_dir) if run_dir is not None else None, resume=resume, log=log, changes=changes)
    run_dir = trained.run_dir
    write_provenance(run_dir, record)
    with log_file(run_dir):
        # the config as trained (a residual rule tuned at the start is filled in); best.pt carries it
        best = run_dir / "best.pt"
        if not best.is_file():  # train() keeps no policy whose validation cost was never finite
            raise UserError(f"run {run_dir} never had a finite validation cost, so it has no best.pt to evaluate; "
                            "check the config's costs and step sizes")
        policy, resolved = load_policy(best)  # training fills in only the residual rule: env and demand are config's
        val = validation_demand(resolved.demand, resolved.env.episode_length, n_streams)  # (n_val, T, S)
        validation = evaluate_trained(policy, resolved, val, seed=resolved.demand.validation_seed)
        tested = evaluate_trained(policy, resolved, test, seed=resolved.seed)
        log(f"{resolved.name} seed {resolved.seed}: best validation cost {validation['cost_mean']:,.1f}, "
            f"test cost {tested['cost_mean']:,.1f} ± {tested['cost_ci95']:,.1f} ({len(names)} files of {resolved.demand.test_dir})")
    curve = learning_curve(run_dir / "metrics.csv")
    result = {
        "config": config_to_dict(resolved),
        "run_dir": str(run_dir),
        "train": {"best_eval_cost": trained.best_eval_cost, "first_eval_cost": trained.first_eval_cost,
                  "last_eval_cost": trained.last_eval_cost, "iterations": trained.trainer.iteration,
                  "env_steps": trained.trainer.env_steps, "wall_time": curve["wall_time"][-1],
                  "resumes": yaml.safe_load((run_dir / "resumes.yaml").read_text()) if (run_dir / "resumes.yaml").is_file() else []},
        "validation": validation,
        "test": tested,
        "test_dir": resolved.demand.test_dir,
        "test_files": names,
        "curve": curve,
        "provenance": record,
    }
    write_json_atomic(run_dir / "result.json", result)
    return result


def stopped_run(out_dir: str | os.PathLike, name: str) -> Path | None:
    """The run folder of `name` that an earlier call left in out_dir with a last.pt (the furthest on, if there
    are several), None when there is none. A folder without last.pt never trained an iteration."""
    runs = [p.parent for p in Path(out_dir).glob(f"{name}_*/last.pt")]
    return max(runs, key=lambda run: (int(read_checkpoint(run / "last.pt")["iteration"]), run.name)) if runs else None


def resume_or_run_experiment(config: ExperimentConfig, log: Callable[[str], None] = info) -> dict[str, Any]:
    """``run_experiment`` for a config whose out_dir holds this one run (a sweep cell's folder): the run an
    earlier, stopped call left there continues from its last.pt; without one a new run starts.

    The resumed run must be of this config: only the changes ``train_main.py --resume`` accepts pass
    (``agents.training.resume_config``); the resume is recorded in the result (``train.resumes``).
    """
    run_dir = stopped_run(config.out_dir, config.name)
    if run_dir is None:
        return run_experiment(config, log=log)
    stored = stored_config(read_checkpoint(run_dir / "last.pt"), run_dir / "last.pt")
    resumed, changes = resume_config(stored, config, f"the unfinished run {run_dir}")
    return run_experiment(resumed, run_dir=run_dir, resume=True, log=log, changes=changes)
