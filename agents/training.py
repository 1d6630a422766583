"""One training run: HAPPO (or its MAPPO / IPPO ablations) on the environment a config describes.

``train(config)`` writes ``<out_dir>/<name>_<timestamp>/``: ``config.yaml`` (the resolved config),
``metrics.csv`` (one row per iteration), ``best.pt`` (the policy with the lowest validation cost so far),
``last.pt`` (the latest state, for a resume; written from iteration 0 on) and ``plots/training_curve.png``. At
the end of the run its best policy is copied to ``<out_dir>/<name>_policy.pt`` (one per preset; it carries the
resolved config, so ``evaluate_main.py --model_path`` alone re-creates the env), but only when that file does
not exist or holds a policy with a higher cost on the same validation set (``publish_policy``). Model
selection uses the validation demand (drawn from the training generator with its own seed), never the test
files; a non-finite validation cost is never a best. ``resume=True`` continues a run from ``last.pt`` exactly
as if it had not stopped (``train_main.py --resume`` checks which changes are allowed), records each resume in
``last.pt`` and ``resumes.yaml`` and keeps ``wall_time`` cumulative. A run folder is locked while a process
trains in it. With the config's ``planner:`` section enabled, the hybrid planner
(``agents/planner_wrapper.py``) re-times every order the policy proposes, in training and validation.
``train_main.py`` is the command line around it; ``agents.experiment`` adds the final evaluation on the
validation and test sets.
"""
from __future__ import annotations

import csv
import math
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

from agents.happo_agent import HAPPOTrainer, evaluate_policy, read_checkpoint, save_checkpoint
from agents.planner_wrapper import with_planner
from agents.residual_action import resolve_rule, start_from_rule, with_residual
from envs import make_env
from utils.config import ExperimentConfig, apply_overrides, config_to_dict, save_config
from utils.data_loader import validation_demand
from utils.errors import UserError
from utils.files import atomic_write, check_output_dir, folder_lock, remove_stale_temporaries, write_text_atomic
from utils.logger import Progress, format_duration, info, log_file
from utils.plot_tools import plot_training_curves, save_figure
from utils.validation import resume_changes

#: columns of metrics.csv; eval_cost is empty in iterations without an evaluation
METRIC_COLUMNS = [
    "iteration", "env_steps", "wall_time", "steps_per_s", "train_cost", "eval_cost", "best_eval_cost",
    "policy_loss", "entropy", "approx_kl", "clip_frac", "update_steps", "m_mean", "m_max", "critic_loss", "explained_variance",
    "rollout_time", "update_time", "lr_fraction",
]


@dataclass
class TrainResult:
    """What a training run produced."""

    run_dir: Path  # the run folder
    best_eval_cost: float  # lowest validation mean cost per episode seen
    last_eval_cost: float  # validation mean cost per episode of the final policy
    first_eval_cost: float  # validation cost of the untrained policy (read back from metrics.csv when resumed)
    trainer: HAPPOTrainer  # the trainer in its final state


def new_run_dir(config: ExperimentConfig) -> Path:
    """<out_dir>/<name>_<UTC timestamp>, with a counter if two runs start in the same second."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(config.out_dir) / f"{config.name}_{stamp}"
    Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    run_dir, k = base, 1
    while True:
        try:
            run_dir.mkdir()  # exclusive: two processes never get the same folder
            return run_dir
        except FileExistsError:
            run_dir, k = Path(f"{base}-{k}"), k + 1


def validation_setting(config: dict) -> dict:
    """What a validation cost depends on besides the policy: env, demand generator and seed, planner."""
    demand = {k: v for k, v in config["demand"].items() if k != "test_dir"}
    return {"env": config["env"], "demand": demand, "planner": config["planner"]}


def publish_policy(run_dir: Path, policy_path: Path, log: Callable[[str], None]) -> bool:
    """Copy the run's best.pt to the shared policy file when it is better on the same validation set.

    The output folder is locked for the compare-and-replace, so two runs finishing together never both
    replace; the file that is kept is never touched. Returns whether the file was written.
    """
    best_path = run_dir / "best.pt"
    if not best_path.is_file():
        log(f"no finite validation cost in this run: {policy_path} left as it was")
        return False
    ours = read_checkpoint(best_path)
    with folder_lock(policy_path.parent, "output folder", wait=True):
        if policy_path.exists():
            try:
                theirs = read_checkpoint(policy_path)
            except UserError as err:
                log(f"kept {policy_path}, which this run cannot compare with ({err}); this run's best policy is {best_path}")
                return False
            if validation_setting(theirs["config"]) != validation_setting(ours["config"]):
                log(f"kept {policy_path}: it was selected on another env or validation set; this run's best policy is {best_path}")
                return False
            their_cost = float(theirs.get("best_eval_cost", math.nan))
            if not ours["best_eval_cost"] < their_cost and math.isfinite(their_cost):
                log(f"kept {policy_path}: validation cost {fmt(their_cost)} <= this run's {fmt(ours['best_eval_cost'])}; "
                    f"this run's best policy is {best_path}")
                return False
        with atomic_write(policy_path, binary=True) as f:
            f.write(best_path.read_bytes())
    log(f"best policy (validation cost {fmt(ours['best_eval_cost'])}) written to {policy_path}")
    return True


def write_metrics(path: Path, rows: list[dict]) -> None:
    """Rewrite metrics.csv atomically (a few hundred rows: rewriting is cheap and never leaves half a file)."""
    with atomic_write(path) as f:
        writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def read_metrics(path: Path, up_to_iteration: int) -> list[dict]:
    """Rows of an earlier run up to the checkpoint's iteration (later rows were never checkpointed)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [row for row in csv.DictReader(f) if int(row["iteration"]) <= up_to_iteration]


def resume_config(stored: ExperimentConfig, given: ExperimentConfig, source: str) -> tuple[ExperimentConfig, dict[str, list]]:
    """The config a resume continues with, and what it changes ({key: [before, after]}).

    stored: the config in the run's last.pt; given: the config the caller asks for. Only the differences
    ``utils.validation.resume_changes`` allows (a longer budget, threads) are applied to the stored config; any
    other is a one-line UserError naming source. A rule the run tuned itself is kept (the given config's
    empty ``residual.params`` is no change), so the resume does not tune it again.
    """
    changes = resume_changes(config_to_dict(stored), config_to_dict(given), source)
    config = apply_overrides(stored, [f"{k}={after}" for k, (_, after) in changes.items()]) if changes else stored
    return config, changes


def fmt(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.1f}"


def train(
    config: ExperimentConfig, run_dir: Path | None = None, resume: bool = False, log: Callable[[str], None] = info,
    changes: dict[str, list] | None = None,
) -> TrainResult:
    """Train until config.train.total_env_steps, evaluating every train.eval_every iterations.

    run_dir: the run folder (None: a new one under config.out_dir); resume: continue from run_dir/last.pt;
    changes: what this resume changed ({key: [before, after]}, from ``utils.validation.resume_changes``).
    """
    cfg = config.train
    check_output_dir(run_dir if run_dir is not None else config.out_dir, "run folder" if run_dir else "out_dir")
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
    wall_before, history = 0.0, []  # wall time of earlier sessions of this run; its resumes
    if resume:
        assert run_dir is not None
        data = read_checkpoint(run_dir / "last.pt")
        try:
            trainer.load_checkpoint(data)
        except (RuntimeError, KeyError, ValueError) as err:
            raise UserError(
                f"{run_dir}/last.pt does not match this config ({type(err).__name__}: the model's shapes or parts differ); "
                "resume without changing the model"
            ) from None
        best_cost = float(data["best_eval_cost"])
        last_cost = float(data["last_eval_cost"])
        wall_before, history = float(data.get("wall_time", 0.0)), list(data.get("resume_history", []))
        rows = read_metrics(run_dir / "metrics.csv", trainer.iteration)
        first_cost = float(rows[0]["eval_cost"]) if rows else math.nan  # row 0: the untrained policy
        history.append({"iteration": trainer.iteration, "env_steps": trainer.env_steps,
                        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "changes": changes or {}})
        resuming = (f"resuming {run_dir} at iteration {trainer.iteration} ({trainer.env_steps:,} env steps)"
                    + (f"; changed: {', '.join(f'{k} {a} -> {b}' for k, (a, b) in changes.items())}" if changes else ""))
    policy_copy = Path(config.out_dir) / f"{config.name}_policy.pt"  # one file per preset (its name:)
    start_time, start_steps = time.perf_counter(), trainer.env_steps

    def wall_time() -> float:
        return wall_before + time.perf_counter() - start_time

    def save_last() -> None:
        extra = {"best_eval_cost": best_cost, "last_eval_cost": last_cost, "wall_time": wall_time(), "resume_history": history}
        save_checkpoint(trainer.checkpoint(extra), run_dir / "last.pt")

    with _signals_held():  # the folder never exists without a last.pt to resume from (SIGKILL aside)
        if run_dir is None:
            run_dir = new_run_dir(config)
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            save_last()
    with folder_lock(run_dir, "run folder"), log_file(run_dir):  # the library's log lines also go to run_dir/log.txt
        remove_stale_temporaries(run_dir)  # half-written files of a process killed mid-write (never read)
        save_config(config, run_dir / "config.yaml")
        if history:
            write_text_atomic(run_dir / "resumes.yaml", yaml.safe_dump(history, sort_keys=False))
        if resume:
            log(resuming)  # inside log_file: the run's log.txt records where each session starts

        def evaluate() -> float:
            return evaluate_policy(trainer.policy(), eval_env, val_demand, seed=config.demand.validation_seed)["mean_cost"]

        def improves(cost: float) -> bool:
            """A finite cost below the best so far (any finite cost when there is none yet): NaN never wins."""
            return math.isfinite(cost) and not cost >= best_cost

        def save_best() -> None:
            save_checkpoint(trainer.checkpoint({"best_eval_cost": best_cost, "last_eval_cost": best_cost}), run_dir / "best.pt")

        try:
            if trainer.iteration == 0 and not rows:  # a new run, or one stopped before its first evaluation
                first_cost = last_cost = evaluate()
                if improves(first_cost):
                    best_cost = first_cost
                    save_best()
                rows.append({"iteration": 0, "env_steps": 0, "wall_time": round(wall_time(), 3),
                             "eval_cost": first_cost, "best_eval_cost": best_cost})
                write_metrics(run_dir / "metrics.csv", rows)
                save_last()
                log(f"{config.name}: {config.train.algorithm} on {env.n_agents} agents, {cfg.n_envs} envs; "
                    f"untrained validation cost {fmt(first_cost)}; run folder {run_dir}")

            steps_per_iteration = cfg.n_envs * config.env.episode_length
            n_iterations = trainer.n_iterations
            progress = Progress(n_iterations, "iter", log, start_done=trainer.iteration)  # the time-left estimate
            while trainer.iteration < n_iterations:
                stats = trainer.train_iteration()
                it = trainer.iteration
                eval_cost = math.nan
                if it % cfg.eval_every == 0 or it == n_iterations:
                    eval_cost = last_cost = evaluate()
                    if improves(eval_cost):
                        best_cost = eval_cost
                        save_best()
                speed = (trainer.env_steps - start_steps) / max(time.perf_counter() - start_time, 1e-9)
                row = {
                    "iteration": it, "env_steps": trainer.env_steps, "wall_time": round(wall_time(), 3),
                    "steps_per_s": round(steps_per_iteration / (stats["rollout_time"] + stats["update_time"]), 1),
                    "eval_cost": "" if math.isnan(eval_cost) else eval_cost, "best_eval_cost": best_cost,
                }
                row.update({k: v for k, v in stats.items() if k in METRIC_COLUMNS and k not in row})
                rows.append(row)
                write_metrics(run_dir / "metrics.csv", rows)
                save_last()
                log(
                    f"iter {it:4d}/{n_iterations}  steps {trainer.env_steps:>10,}  {speed:8,.0f} steps/s  "
                    f"train cost {fmt(stats['train_cost'])}  eval cost {fmt(last_cost)} (best {fmt(best_cost)})  "
                    f"entropy {stats['entropy']:.2f}  M max {stats['m_max']:.2f}  left ~{format_duration(progress.seconds_left(it))}"
                )
        except KeyboardInterrupt:
            log(f"interrupted at iteration {trainer.iteration}; continue with: python train_main.py --resume {run_dir}")
            raise
        write_metrics(run_dir / "metrics.csv", rows)  # also when there was nothing left to train
        validation = f"validation: {config.demand.validation_episodes} {config.demand.kind} paths, seed {config.demand.validation_seed}"
        fig = plot_training_curves(run_dir / "metrics.csv", policy=f"{config.name} ({cfg.algorithm})", config=str(run_dir / "config.yaml"),
                                   data=validation)
        save_figure(fig, run_dir / "plots" / "training_curve.png")
        publish_policy(run_dir, policy_copy, log)
    return TrainResult(run_dir, best_cost, last_cost, first_cost, trainer)


class _signals_held:
    """Hold SIGINT and SIGTERM back while the block runs; one that arrived is raised right after it.

    A Python-level handler, not a thread signal mask: a process-directed signal can land on any thread, but
    Python runs its handler in the main thread. Outside the main thread (a library user's worker thread,
    which never receives KeyboardInterrupt) it does nothing.
    """

    def __enter__(self) -> None:
        self.received: list[int] = []
        self.old = {}
        if threading.current_thread() is threading.main_thread():
            self.old = {s: signal.signal(s, lambda n, _: self.received.append(n)) for s in (signal.SIGINT, signal.SIGTERM)}

    def __exit__(self, *exc: Any) -> None:
        for s, handler in self.old.items():
            signal.signal(s, handler)
        if self.received:
            signal.raise_signal(self.received[0])
