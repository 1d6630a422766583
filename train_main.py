"""Train HAPPO (or its MAPPO / IPPO ablations) on the environment a config describes.

    python train_main.py --config configs/train_serial.yaml [--set train.total_env_steps=500000]
                         [--seed N] [--out DIR] [--resume results/serial_20260101-120000]
    python train_main.py --config CFG --seeds 0-9 [--sweep SWEEP.yaml] [--workers N] [--index I]
                         [--backend ray [--address ADDR]]      # many runs: utils/sweep.py

A run writes ``<out_dir>/<name>_<timestamp>/``: ``config.yaml`` (the resolved config), ``metrics.csv``
(one row per iteration), ``best.pt`` (the policy with the lowest validation cost so far), ``last.pt`` (the
latest state, for ``--resume``; written from iteration 0 on) and ``plots/training_curve.png``. At the
end of the run its best policy is copied to ``<out_dir>/<name>_policy.pt`` (each preset its own:
``results/serial_policy.pt`` for ``configs/train_serial.yaml``) for ``evaluate_main.py --model_path``, which
reads the resolved config stored in it, but only when that file does not exist or holds a policy with a
higher cost on the same validation set: an interrupted run, or a worse run into the same folder, never replaces a trained policy (the run's own
``best.pt`` keeps its result either way). Model selection uses the validation demand (drawn from the
training generator with its own seed), never the test files; a non-finite validation cost is never a
best. ``--resume`` continues a run from ``last.pt`` exactly as if it had not stopped; it accepts only
changes that cannot invalidate the run (``--set train.total_env_steps`` higher: that stretches the default
linear step-size schedule, so only a constant one extends bit for bit; ``train.torch_threads``), records
each resume with its changes in ``last.pt`` and ``resumes.yaml``, and keeps ``wall_time`` cumulative. A
run folder is locked while a process trains in it. After training, the best policy is evaluated on the
validation set and the test files (``agents.experiment.run_experiment``: ``result.json``, ``log.txt`` and
``provenance.yaml`` in the run folder). The training itself is ``agents.training.train``.
A sweep (``--seeds``/``--sweep``) gives each cell its own folder; the same command run again skips the
finished cells and continues each unfinished one from its run's ``last.pt``
(``agents.experiment.resume_or_run_experiment``), with the checks of ``--resume``.
With the config's ``planner:`` section enabled (``--set planner.enabled=true``), the hybrid planner
(``agents/planner_wrapper.py``) re-times every order the policy proposes, in training and validation.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from agents.experiment import resume_or_run_experiment, run_experiment
from agents.happo_agent import read_checkpoint
from agents.training import TrainResult, resume_config, train  # noqa: F401  (TrainResult, train: importable from here, as before)
from utils.config import apply_overrides, load_config
from utils.errors import UserError, run_cli
from utils.logger import configure
from utils.meta_config import META_ALGORITHMS
from utils.sweep import parse_seeds, sweep_main
from utils.stored_config import stored_config

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="experiment YAML, e.g. configs/train_serial.yaml (optional with --resume)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.lr_actor=3e-4 (repeatable)")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--out", help="override the config's out_dir (run folders and <name>_policy.pt go there)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt")
    parser.add_argument("--quiet", action="store_true", help="console: warnings and errors only (log.txt keeps everything)")
    sweep = parser.add_argument_group("many runs (utils/sweep.py): a grid of overrides x seeds, resumable")
    sweep.add_argument("--seeds", help="run these seeds, e.g. 0-9 or 0,3,7 (a sweep; without it: the config's seed)")
    sweep.add_argument("--sweep", metavar="SWEEP.yaml", help="grid of config overrides, e.g. grid: {env.reward_alpha: [0.0, 0.5]}")
    sweep.add_argument("--workers", type=int, default=1, help="cells run at the same time (1: one after another here)")
    sweep.add_argument("--backend", default="local", choices=["local", "ray"], help="local process pool, or Ray tasks")
    sweep.add_argument("--address", help="--backend ray: address of a running Ray cluster (default: start a local one)")
    sweep.add_argument("--index", type=int, help="run only cell INDEX of the sweep (for job arrays, e.g. $SLURM_ARRAY_TASK_ID)")
    sweep.add_argument("--sweep_dir", help="the sweep's folder (default: <out_dir>/sweep_<name>_<sweep file or 'seeds'>)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure(quiet=args.quiet)
    is_sweep = args.seeds is not None or args.sweep is not None
    if not is_sweep and (args.index is not None or args.backend != "local" or args.workers != 1 or args.sweep_dir):
        raise UserError("--workers, --backend, --index and --sweep_dir belong to a sweep; add --seeds (e.g. --seeds 0-9) or --sweep FILE")
    if is_sweep and (args.resume or args.seed is not None):
        raise UserError("--seeds/--sweep start a sweep (a rerun resumes it); drop --resume and --seed (e.g. --seeds 3 for one seed)")
    overrides = list(args.set)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.out is not None:
        overrides.append(f"out_dir={args.out}")
    if args.resume:
        run_dir = Path(args.resume)
        if not run_dir.is_dir():
            problem = "is a file, not a folder" if run_dir.exists() else "not found"
            raise UserError(f"--resume: run folder '{run_dir}' {problem}; give a folder train_main.py wrote (it holds last.pt)")
        if not (run_dir / "last.pt").is_file():
            raise UserError(f"--resume: '{run_dir}' holds no last.pt, so it is not a run folder of train_main.py; start a new run")
        stored = stored_config(read_checkpoint(run_dir / "last.pt"), run_dir / "last.pt")
        # --config (if given) and --set must describe the same run; only changes that cannot invalidate it pass
        given = load_config(args.config, overrides) if args.config else apply_overrides(stored, overrides) if overrides else stored
        source = f"--resume {run_dir}" + (f" with --config {args.config}" if args.config else "")
        config, changes = resume_config(stored, given, source)
        run_experiment(config, run_dir=run_dir, resume=True, changes=changes)
        return 0
    if not args.config:
        raise UserError("no --config given; pass one, e.g. --config configs/train_serial.yaml (or --resume RUN_DIR)")
    config = load_config(args.config, overrides)
    if config.train.algorithm in META_ALGORITHMS:  # meta-learning (configs/meta_*.yaml): meta/training.py
        from meta.training import train_meta

        if is_sweep:
            raise UserError(f"--seeds/--sweep run trainers of the HAPPO family; train.algorithm '{config.train.algorithm}' "
                            "(meta-learning) runs one seed at a time: drop --seeds/--sweep")
        train_meta(config)
        return 0
    if not is_sweep:
        run_experiment(config)
        return 0
    seeds = parse_seeds(args.seeds) if args.seeds is not None else [config.seed]
    sweep_main(resume_or_run_experiment, config, seeds, args.sweep, args.sweep_dir, args.backend, args.workers, args.address,
               args.index, command={"config": args.config, "set": overrides})
    return 0


def cli() -> None:
    """Console entry point (``inventory-train`` after ``pip install -e .``)."""
    run_cli(main)


if __name__ == "__main__":
    cli()
