"""End-to-end training throughput of HAPPO: environment steps per second, and where the time goes.

    python benchmarks/train_throughput.py [--config configs/train_serial.yaml] [--iterations 5] [--set k=v ...]
    python benchmarks/train_throughput.py --baseline_ref b12b10e [--repeats 5] [--config ...]
    python benchmarks/train_throughput.py --train_main [--repeats 3] [--train_iterations 20] [--config ...]

One iteration = a rollout of one episode in each of train.n_envs envs plus the sequential actor updates
and the critic update; env steps are periods summed over envs. The first iteration is a warm-up and is
not timed. Target on a 2-core laptop CPU for the serial preset: >= 5,000 env steps/s.

Two figures: env steps per second of wall-clock time, and per second of this process's CPU time. On an
idle machine they agree (training is single-threaded); on a shared one the wall-clock figure also measures
how often other processes got the core, so the CPU-time figure is the steadier one to compare code by.

--baseline_ref REF compares this checkout with another commit on the same machine in the same run: REF
is checked out once as a git worktree (``--baseline_dir``, default /tmp/tt_base_<commit>), and this
benchmark runs on each checkout's code (``--code_root``) in a fresh process, alternating new/old (and
which of them goes first) ``--repeats`` times. Both train on the baseline's copy of the preset, so they
do the same work even if the preset changed since. Figures are medians over the repeats; the
speed-up is given as the ratio of the medians and as the median of the ratios of each adjacent pair.

--interleave (with --baseline_ref) measures the two checkouts in two resident child processes that run one
training iteration each in turn, ``--rounds`` times (which goes first alternates), so that both see the same
state of the machine to within a second. On a shared virtual machine whose speed drifts by 20-30% from one
minute to the next, pairs of separate runs scatter widely (serial pairs from 1.5x to 2.7x in one run); per
iteration pairs do not drift apart. Reported: the ratio of total throughputs and the median and quartiles of
the per-round ratios.

--train_main compares a real ``train_main.py`` run of ``--train_iterations`` iterations (validation every
train.eval_every iterations, a checkpoint and metrics.csv every iteration) with this benchmark over as
many iterations (warm-up included), alternating the two. The run's figure covers its training loop from
the first iteration to the last one (after the untrained policy's validation, before the final plot).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: the machine-readable line every measurement prints (parsed from a child process's output)
FIGURES = re.compile(r"^figures: wall ([\d.]+) cpu ([\d.]+)$", re.MULTILINE)


# ----------------------------------------------------------------------------------------------
# Measurements (in this process, on the code of --code_root)
# ----------------------------------------------------------------------------------------------
def training_setup(config: Any) -> tuple[Any, Any]:
    """The env and trainer train_main.py trains on: with the planner and the residual-action wrappers
    when the config turns them on (a checkout from before the residual action has none to turn on)."""
    from agents.happo_agent import HAPPOTrainer
    from agents.planner_wrapper import with_planner
    from envs import make_env

    try:
        from agents.residual_action import resolve_rule, start_from_rule, with_residual
    except ImportError:
        resolve_rule = None
    env = make_env(config.env, n_envs=config.train.n_envs, demand_config=config.demand, seed=config.seed)
    if resolve_rule is not None:
        config = resolve_rule(config, env.n_streams, lambda _: None)
    env = with_planner(env, config.planner)
    if resolve_rule is not None:
        env = with_residual(env, config.residual)
    trainer = HAPPOTrainer(config, env)
    if resolve_rule is not None and config.residual.enabled:
        start_from_rule(trainer.actors, env.action_nvec, config.residual.width, config.residual.start_prob)
    return env, trainer


def measure_trainer(args: argparse.Namespace) -> None:
    """The benchmark: timed training iterations after one warm-up."""
    import platform

    import torch

    from utils.config import load_config

    config = load_config(args.config, args.set)
    cfg = config.train
    env, trainer = training_setup(config)
    trainer.train_iteration()  # warm-up: first calls allocate and pick kernels

    rollout = update = 0.0
    start, cpu_start, steps0 = time.perf_counter(), time.process_time(), trainer.env_steps
    for _ in range(args.iterations):
        stats = trainer.train_iteration()
        rollout += stats["rollout_time"]
        update += stats["update_time"]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    steps = trainer.env_steps - steps0
    print(f"code {args.code_root or ROOT}, config {args.config}: {config.train.algorithm}, {env.n_agents} agents, "
          f"{cfg.n_envs} envs x {config.env.episode_length} periods per iteration, {cfg.ppo_epochs} epochs x "
          f"{cfg.n_minibatches} minibatches, torch threads {torch.get_num_threads()}, {platform.processor() or platform.machine()}")
    print(f"{args.iterations} iterations, {steps:,} env steps in {wall:.2f} s: {steps / wall:,.0f} env steps/s end to end "
          f"({steps / cpu:,.0f} per CPU second)")
    print(f"time share: rollout {rollout / wall:.0%} ({steps / rollout:,.0f} env steps/s while collecting), "
          f"update {update / wall:.0%} ({update / args.iterations:.2f} s per iteration)")
    print(f"figures: wall {steps / wall:.1f} cpu {steps / cpu:.1f}")


def serve_iterations(args: argparse.Namespace) -> None:
    """--interleave's child: set up and warm up, then one timed training iteration per "go" line on stdin,
    each answered by an ``iteration:`` line (env steps, wall and CPU seconds)."""
    from utils.config import load_config

    _, trainer = training_setup(load_config(args.config, args.set))
    trainer.train_iteration()  # warm-up
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        steps0, start, cpu_start = trainer.env_steps, time.perf_counter(), time.process_time()
        trainer.train_iteration()
        print(f"iteration: {trainer.env_steps - steps0} {time.perf_counter() - start:.6f} "
              f"{time.process_time() - cpu_start:.6f}", flush=True)


def measure_train_main(args: argparse.Namespace) -> None:
    """One train_main.train() run of --train_iterations iterations, timed from its log lines: the first
    one follows the untrained policy's validation, then one follows each iteration."""
    import train_main
    from utils.config import load_config

    base = load_config(args.config, args.set)
    steps_per_iteration = base.train.n_envs * base.env.episode_length
    marks: list[tuple[bool, float, float]] = []  # (an iteration's line?, wall, cpu) at each log line

    def log(line: str) -> None:
        marks.append((line.startswith("iter "), time.perf_counter(), time.process_time()))

    with tempfile.TemporaryDirectory(prefix="tt_train_main_") as out_dir:
        overrides = args.set + [f"train.total_env_steps={args.train_iterations * steps_per_iteration}", f"out_dir={out_dir}"]
        train_main.train(load_config(args.config, overrides), log=log)
    first = next(i for i, mark in enumerate(marks) if mark[0])  # the line before it starts the loop
    iterations = sum(mark[0] for mark in marks)
    steps = iterations * steps_per_iteration
    wall, cpu = marks[-1][1] - marks[first - 1][1], marks[-1][2] - marks[first - 1][2]
    print(f"train_main.py, config {args.config}: {iterations} iterations (validation every {base.train.eval_every}), "
          f"{steps:,} env steps in {wall:.2f} s: {steps / wall:,.0f} env steps/s end to end ({steps / cpu:,.0f} per CPU second)")
    print(f"figures: wall {steps / wall:.1f} cpu {steps / cpu:.1f}")


# ----------------------------------------------------------------------------------------------
# Comparisons: every measurement runs in a fresh child process
# ----------------------------------------------------------------------------------------------
def child_env(code_root: Path) -> dict[str, str]:
    """The environment of a child process measuring `code_root`'s code."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # torch itself uses train.torch_threads
    # the child imports the packages of `code_root` (ahead of the installed ones), so each checkout runs its own code
    env["PYTHONPATH"] = os.pathsep.join([str(code_root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def child_command(code_root: Path, config: str, args: argparse.Namespace, *extra: str) -> list[str]:
    """This script run as a child measuring `code_root`'s code on `config`, with the --set overrides."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--code_root", str(code_root), "--config", config, *extra]
    for item in args.set:
        cmd += ["--set", item]
    return cmd


def run_child(code_root: Path, config: str, args: argparse.Namespace, *extra: str) -> tuple[float, float]:
    """(wall, cpu) env steps/s of one measurement on `code_root`'s code; `config` relative to it."""
    cmd = child_command(code_root, config, args, "--iterations", str(args.iterations),
                        "--train_iterations", str(args.train_iterations), *extra)
    out = subprocess.run(cmd, cwd=code_root, env=child_env(code_root), capture_output=True, text=True)
    match = FIGURES.search(out.stdout)
    if out.returncode != 0 or match is None:
        sys.exit(f"error: the measurement on {code_root} failed (exit {out.returncode}): {out.stderr.strip()[-500:]}")
    return float(match.group(1)), float(match.group(2))


def baseline_checkout(ref: str, directory: str | None) -> Path:
    """A git worktree of `ref` (created on first use, then reused); returns its path."""
    def git(*cmd: str, cwd: Path = ROOT) -> str:
        out = subprocess.run(["git", *cmd], cwd=cwd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"error: git {' '.join(cmd)} failed: {out.stderr.strip()}")
        return out.stdout.strip()

    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    path = Path(directory or f"/tmp/tt_base_{commit[:10]}")
    if not path.exists():
        git("worktree", "add", "--detach", str(path), commit)
    elif git("rev-parse", "HEAD", cwd=path) != commit:
        sys.exit(f"error: {path} is a checkout of another commit; remove it (git worktree remove {path}) or pass --baseline_dir")
    return path


def relative_config(config: str) -> str:
    """The config relative to the checkout root when it lies in this checkout (so each checkout reads
    its own copy of the preset), else unchanged."""
    try:
        return str(Path(config).resolve().relative_to(ROOT))
    except ValueError:
        return config


def alternate(args: argparse.Namespace, config: str, a: tuple, b: tuple) -> tuple[list, list]:
    """--repeats rounds of the measurements a and b = (name, code_root, extra flags) on `config`, swapping
    which goes first every round; returns the (wall, cpu) figures of each."""
    first, second = [], []
    for r in range(args.repeats):
        for name, code_root, extra in ((a, b) if r % 2 == 0 else (b, a)):
            (first if name == a[0] else second).append(run_child(code_root, config, args, *extra))
        print(f"repeat {r + 1}: " + "  ".join(
            f"{n} {xs[-1][0]:,.0f} ({xs[-1][1]:,.0f} per CPU s)" for n, xs in ((a[0], first), (b[0], second))
        ) + f"  ratio {first[-1][0] / second[-1][0]:.2f} ({first[-1][1] / second[-1][1]:.2f})", flush=True)
    return first, second


def report(names: tuple[str, str], first: list, second: list) -> None:
    for k, unit in ((0, "env steps/s (wall clock)"), (1, "env steps per CPU second")):
        x, y = [f[k] for f in first], [s[k] for s in second]
        ratios = [u / v for u, v in zip(x, y)]
        print(f"{unit}: {names[0]} median {statistics.median(x):,.0f}  {names[1]} median {statistics.median(y):,.0f}  "
              f"{names[0]}/{names[1]}: {statistics.median(x) / statistics.median(y):.2f} (ratio of medians), "
              f"{statistics.median(ratios):.2f} (median of paired ratios)")


def baseline_and_config(args: argparse.Namespace) -> tuple[Path, str]:
    """The baseline's checkout and the config both checkouts train on: the baseline's copy of the preset,
    so they do the same work even when the preset has changed since (this checkout reads older configs;
    the older code may not read newer ones)."""
    base = baseline_checkout(args.baseline_ref, args.baseline_dir)
    config = relative_config(args.config)
    return base, (str(base / config) if not Path(config).is_absolute() else config)


def compare_with_baseline(args: argparse.Namespace) -> None:
    base, config = baseline_and_config(args)
    print(f"{config}: this checkout (new) against {args.baseline_ref} in {base} (old), "
          f"{args.iterations} timed iterations per run; load average {os.getloadavg()[0]:.1f}", flush=True)
    new, old = alternate(args, config, ("new", ROOT, ()), ("old", base, ()))
    report(("new", "old"), new, old)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def compare_interleaved(args: argparse.Namespace) -> None:
    """--baseline_ref with --interleave: one iteration of each checkout in turn, in two resident processes."""
    base, config = baseline_and_config(args)
    print(f"{config}: this checkout (new) against {args.baseline_ref} in {base} (old), {args.rounds} rounds of one "
          f"iteration each, in turn; load average {os.getloadavg()[0]:.1f}", flush=True)
    children = {}
    for name, code_root in (("new", ROOT), ("old", base)):
        children[name] = subprocess.Popen(child_command(code_root, config, args, "--serve"), cwd=code_root,
                                          env=child_env(code_root), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def answer(name: str, prefix: str) -> str:
        for line in children[name].stdout:  # type: ignore[union-attr]
            if line.startswith(prefix):
                return line
        sys.exit(f"error: the {name} checkout's process ended (exit {children[name].wait()})")

    for name in children:  # setup and warm-up one after the other, not at the same time
        answer(name, "ready")
    figures: dict[str, list[tuple[float, float, float]]] = {"new": [], "old": []}  # (steps, wall, cpu) per round
    for r in range(args.rounds):
        for name in (("new", "old") if r % 2 == 0 else ("old", "new")):
            children[name].stdin.write("go\n")  # type: ignore[union-attr]
            children[name].stdin.flush()  # type: ignore[union-attr]
            steps, wall, cpu = answer(name, "iteration:").split()[1:]
            figures[name].append((float(steps), float(wall), float(cpu)))
    for child in children.values():
        child.stdin.close()  # type: ignore[union-attr]
        child.wait()
    for k, unit in ((1, "env steps/s (wall clock)"), (2, "env steps per CPU second")):
        rate = {n: [f[0] / f[k] for f in figures[n]] for n in figures}
        total = {n: sum(f[0] for f in figures[n]) / sum(f[k] for f in figures[n]) for n in figures}
        ratios = sorted(u / v for u, v in zip(rate["new"], rate["old"]))
        q1, median, q3 = statistics.quantiles(ratios, n=4)
        print(f"{unit}: new {total['new']:,.0f}  old {total['old']:,.0f}  new/old {total['new'] / total['old']:.2f} "
              f"(ratio of totals); per round {median:.2f} (median), quartiles {q1:.2f}-{q3:.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def compare_with_train_main(args: argparse.Namespace) -> None:
    # the same number of iterations in both: the benchmark's warm-up and timed ones, train_main's run
    args.iterations = args.train_iterations - 1
    print(f"{relative_config(args.config)}: train_main.py ({args.train_iterations} iterations) against the benchmark "
          f"(1 + {args.iterations} timed iterations); load average {os.getloadavg()[0]:.1f}", flush=True)
    full, bench = alternate(args, relative_config(args.config), ("train_main", ROOT, ("--run_train_main",)),
                            ("benchmark", ROOT, ()))
    report(("train_main", "benchmark"), full, bench)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_serial.yaml"))
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations (after one warm-up)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--baseline_ref", help="compare with this commit (e.g. b12b10e), measured alternately")
    parser.add_argument("--baseline_dir", help="the baseline's worktree (default /tmp/tt_base_<commit>)")
    parser.add_argument("--train_main", action="store_true", help="compare a train_main.py run with the benchmark")
    parser.add_argument("--train_iterations", type=int, default=20, help="iterations of a train_main.py run")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds of a comparison")
    parser.add_argument("--code_root", help="measure the code of this checkout (what the comparisons run)")
    parser.add_argument("--run_train_main", action="store_true", help="measure one train_main.py run (what --train_main runs)")
    parser.add_argument("--interleave", action="store_true", help="with --baseline_ref: one iteration of each in turn, in two resident processes")
    parser.add_argument("--rounds", type=int, default=40, help="rounds of --interleave")
    parser.add_argument("--serve", action="store_true", help="run iterations on request (what --interleave runs)")
    args = parser.parse_args()
    for bad, message in ((args.baseline_ref and args.train_main, "give --baseline_ref or --train_main, not both"),
                         (args.interleave and not args.baseline_ref, "--interleave compares with a commit; give --baseline_ref too")):
        if bad:
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)
    if args.baseline_ref:
        compare_interleaved(args) if args.interleave else compare_with_baseline(args)
    elif args.train_main:
        compare_with_train_main(args)
    else:
        # a measurement, of the installed code or (a comparison's child process) of the checkout whose folder
        # run_child put first on PYTHONPATH
        from utils.errors import run_cli

        if args.serve:
            run_cli(lambda: serve_iterations(args))
        else:
            run_cli(lambda: measure_train_main(args) if args.run_train_main else measure_trainer(args))


if __name__ == "__main__":
    main()
