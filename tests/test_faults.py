"""Faults during training (issue 12): interrupted runs (SIGINT at the start and mid-run, SIGKILL mid-run) leave
every existing policy file as it was and resume to exactly the numbers of an uninterrupted run; two trainings
into one folder lose nothing, and the shared policy file ends as the better of the two."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

import train_main

ROOT = Path(__file__).resolve().parents[1]
SERIAL = str(ROOT / "configs" / "train_serial.yaml")
ITERATIONS = 8
#: 8 iterations of 4 envs x 25 periods, evaluated after each: long enough to be stopped half way
SMALL = ["train.n_envs=4", "env.episode_length=25", f"train.total_env_steps={ITERATIONS * 100}", "train.eval_every=1",
         "demand.validation_episodes=4", "train.n_minibatches=2", "train.ppo_epochs=2", "residual.enabled=false",
         "name=fault"]
TIMING = {"wall_time", "steps_per_s", "rollout_time", "update_time"}


def rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "train_main.py", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended before the fault: {proc.communicate()}"
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    return train_main.train(train_main.load_config(SERIAL, SMALL + [f"out_dir={out}"]), log=lambda _: None).run_dir


def test_interrupted_runs_keep_every_policy_file_and_resume_exactly(tmp_path, reference):
    out = tmp_path / "out"
    out.mkdir()
    # an existing trained policy on the same validation set, a little worse than this run will be, and another
    worse = torch.load(reference / "best.pt", weights_only=True)
    worse["best_eval_cost"] = worse["best_eval_cost"] + 1.0
    torch.save(worse, out / "fault_policy.pt")  # this preset's file (name: fault)
    (out / "serial_policy.pt").write_bytes(b"another preset's policy")
    existing = files(out)
    config = train_main.load_config(SERIAL, SMALL + [f"out_dir={out}"])

    # SIGINT as soon as the run folder appears (a real signal, sent by a watcher thread): it holds last.pt
    def watch() -> None:
        while not any(p.is_dir() for p in out.glob("fault_*")):
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGINT)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        train_main.train(config, log=lambda _: None)
    watcher.join()
    (run,) = [p for p in out.glob("fault_*") if p.is_dir()]
    assert files(out) == existing
    assert torch.load(run / "last.pt", weights_only=True)["iteration"] == 0

    # SIGKILL mid-run (a separate process; metrics.csv is written just before last.pt)
    proc = start("--resume", str(run))
    wait_for(lambda: int(rows(run)[-1]["iteration"]) >= 3 if (run / "metrics.csv").is_file() else False, proc)
    proc.kill()
    proc.communicate(timeout=120)
    assert files(out) == existing
    killed_at = torch.load(run / "last.pt", weights_only=True)["iteration"]
    assert 2 <= killed_at < ITERATIONS - 1

    # SIGINT mid-run: the signal arrives while iteration killed_at + 1 is being logged
    def interrupt(line: str) -> None:
        if line.startswith(f"iter {killed_at + 1:4d}"):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train_main.train(config, run_dir=run, resume=True, log=interrupt)
    assert files(out) == existing
    assert not [p for p in run.rglob("*.tmp")], "a temporary file was left behind"

    # the last resume finishes: the same numbers as the uninterrupted run, bit for bit
    assert train_main.main(["--resume", str(run)]) == 0
    a, b = (torch.load(r / "last.pt", weights_only=True) for r in (reference, run))
    assert a["iteration"] == b["iteration"] == ITERATIONS
    for part in ("actors", "critic", "value_norm"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    strip = lambda rs: [{k: v for k, v in r.items() if k not in TIMING} for r in rs]  # noqa: E731
    assert strip(rows(reference)) == strip(rows(run))
    # only now, and because it is better on the same validation set, the shared file is replaced
    assert (out / "fault_policy.pt").read_bytes() == (run / "best.pt").read_bytes()
    assert (out / "serial_policy.pt").read_bytes() == existing["serial_policy.pt"]
    # the three resumes are recorded; wall time adds up over the sessions instead of restarting
    history = yaml.safe_load((run / "resumes.yaml").read_text())
    assert [h["iteration"] for h in history] == [0, killed_at, killed_at + 1] and all(h["changes"] == {} for h in history)
    wall = [float(r["wall_time"]) for r in rows(run)]
    assert wall == sorted(wall) and wall[-1] == pytest.approx(b["wall_time"], abs=0.05)


def test_two_trainings_into_one_folder_lose_nothing(tmp_path):
    """Two trainings at once (threads of this process: the same files, locks and folder names as two processes)."""
    out = tmp_path / "out"
    tiny = ["train.n_envs=2", "env.episode_length=10", "train.total_env_steps=40", "train.eval_every=1",
            "demand.validation_episodes=2", "train.n_minibatches=1", "residual.enabled=false", "name=fault"]
    configs = [train_main.load_config(SERIAL, tiny + [f"out_dir={out}", f"seed={seed}"]) for seed in (1, 2)]
    errors: list[BaseException] = []

    def run(config) -> None:
        try:
            train_main.train(config, log=lambda _: None)
        except BaseException as err:  # noqa: BLE001 (reported below)
            errors.append(err)

    threads = [threading.Thread(target=run, args=(c,)) for c in configs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    runs = sorted(p for p in out.glob("fault_*") if p.is_dir())
    assert len(runs) == 2  # one folder each, even when both start in the same second
    best = {r: torch.load(r / "best.pt", weights_only=True) for r in runs}
    assert {b["config"]["seed"] for b in best.values()} == {1, 2}
    assert best[runs[0]]["best_eval_cost"] != best[runs[1]]["best_eval_cost"]
    winner = min(runs, key=lambda r: best[r]["best_eval_cost"])
    assert (out / "fault_policy.pt").read_bytes() == (winner / "best.pt").read_bytes()
    for r in runs:
        assert {"last.pt", "best.pt", "config.yaml", "metrics.csv"} <= set(files(r))
