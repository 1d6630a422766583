"""demand.kind: files: training on a folder of the user's demand histories (seeded windows of them), checked like
a test folder; a model trained on them is evaluated with evaluate_main."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import evaluate_main
from envs import make_env
from train_main import main as train_main
from train_main import train
from utils.config import load_config
from utils.data_loader import demand_sampler, history_windows, sample_demand, validation_demand, write_demand_folder
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SERIAL = str(ROOT / "configs/train_serial.yaml")
POUT = [0.2, 5.25, 9.75, 14.25, 12.0, 6.0, 1.0]  # pout_echelon's parameters (given: no tuning at the start of training)


def contained(window: np.ndarray, history: np.ndarray) -> bool:
    """Whether `window` (T, S) is a run of consecutive periods of one history file (n_files, T_hist, S)."""
    T = window.shape[0]
    return any(np.array_equal(history[f, s:s + T], window) for f in range(history.shape[0]) for s in range(history.shape[1] - T + 1))


def test_windows_are_seeded_stretches_of_the_histories():
    history = np.arange(2 * 30 * 2).reshape(2, 30, 2)  # every value distinct: a window shows where it was cut
    a = history_windows(history, np.random.default_rng(5), 40, 10, 2)
    assert a.shape == (40, 10, 2) and a.dtype == history.dtype
    assert all(contained(w, history) for w in a)
    assert np.array_equal(a, history_windows(history, np.random.default_rng(5), 40, 10, 2))  # same seed, same windows
    assert not np.array_equal(a, history_windows(history, np.random.default_rng(6), 40, 10, 2))
    starts = {int(w[0, 0]) % 60 // 2 for w in history_windows(history, np.random.default_rng(0), 2000, 10, 2)}
    assert starts == set(range(21))  # every start period 0..T_hist-T is drawn
    with pytest.raises(UserError, match="has 2 customer stream"):
        history_windows(history, np.random.default_rng(0), 1, 10, 1)
    with pytest.raises(UserError, match="histories of 30 periods but an episode has 31"):
        history_windows(history, np.random.default_rng(0), 1, 31, 2)


def test_the_folder_is_read_once_and_checked_like_a_test_folder(tmp_path):
    history = np.random.default_rng(1).poisson(7, (3, 250))
    write_demand_folder(tmp_path / "hist", history)
    config = load_config(SERIAL, ["demand.kind=files", f"demand.train_dir={tmp_path / 'hist'}"])
    sampler = demand_sampler(config.demand)
    (tmp_path / "hist" / "demand_0.txt").unlink()  # read once: the sampler keeps working on what it read
    draw = sampler(np.random.default_rng(3), 5, 200, 1)
    assert all(contained(w, history[:, :, None]) for w in draw)
    env = make_env(config.env, n_envs=1, demand_config=config.demand)  # reads the folder now: one file is gone
    env.reset(seed=0)
    assert contained(env.demand[0], history[1:, :, None])
    write_demand_folder(tmp_path / "bad", np.ones((2, 250), dtype=np.int64))
    (tmp_path / "bad" / "demand_1.txt").write_text("3\nthree\n")
    with pytest.raises(UserError, match="demand_1.txt' line 2: 'three' is not a whole number"):
        sample_demand(load_config(SERIAL, ["demand.kind=files", f"demand.train_dir={tmp_path / 'bad'}"]).demand,
                      np.random.default_rng(0), 1, 200, 1)
    with pytest.raises(UserError, match="demand.train_dir is empty"):
        demand_sampler(load_config(SERIAL, ["demand.kind=files"]).demand)


def test_training_on_demand_files_and_its_evaluation(monkeypatch, tmp_path):
    rng = np.random.default_rng(2)
    write_demand_folder(tmp_path / "history", rng.poisson(10, (4, 400)))  # the company's past: training and validation windows
    write_demand_folder(tmp_path / "held_out", rng.poisson(10, (3, 200)))  # a later period kept for the test
    config = load_config(SERIAL, [f"out_dir={tmp_path}", "name=company", "train.n_envs=4", "train.total_env_steps=1600",
                                  f"residual.params={POUT}", "demand.validation_episodes=3", "demand.kind=files",
                                  f"demand.train_dir={tmp_path / 'history'}", f"demand.test_dir={tmp_path / 'held_out'}"])
    history = np.stack([np.loadtxt(tmp_path / "history" / f"demand_{i}.txt", dtype=np.int64) for i in range(4)])[:, :, None]
    assert all(contained(w, history) for w in validation_demand(config.demand, 200, 1))
    result = train(config, log=lambda _: None)
    assert result.trainer.env_steps == 1600 and np.isfinite(result.best_eval_cost)
    model = tmp_path / "company_policy.pt"
    out = tmp_path / "eval.json"
    monkeypatch.setattr(sys, "argv", ["evaluate_main.py", "--model_path", str(model), "--output_json", str(out)])
    assert evaluate_main.main() == 0
    data = json.loads(out.read_text())
    assert data["eval_dir"] == str(tmp_path / "held_out") and len(data["policies"]["happo (correction to pout_echelon)"]["episode_cost"]) == 3


def test_a_bad_history_folder_stops_training_with_one_line(tmp_path):
    write_demand_folder(tmp_path / "short", np.ones((2, 50), dtype=np.int64))
    with pytest.raises(UserError, match="histories of 50 periods but an episode has 200") as err:
        train_main(["--config", SERIAL, "--out", str(tmp_path), "--set", "demand.kind=files",
                    "--set", f"demand.train_dir={tmp_path / 'short'}", "--set", "residual.enabled=false"])
    assert "\n" not in str(err.value) and not list(tmp_path.glob("serial_*"))  # no run folder was started
