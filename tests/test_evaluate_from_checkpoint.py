"""evaluate_main --model_path alone: the model is evaluated on the env, test data and planner it was trained with
(the resolved config stored in the model file); --config and --set override; a model the env cannot serve is refused."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evaluate_main
import train_main
from agents.happo_agent import HAPPOTrainer, save_checkpoint
from envs import make_env
from utils.config import load_config
from utils.data_loader import write_demand_folder
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SERIAL = str(ROOT / "configs/train_serial.yaml")
FIXED = str(ROOT / "configs/train_serial_fixed_cost.yaml")
POUT = [0.2, 5.25, 9.75, 14.25, 12.0, 6.0, 1.0]  # pout_echelon's parameters (given: no tuning at the start of training)


def evaluate(monkeypatch, tmp_path, *args: str) -> dict:
    out = tmp_path / "eval.json"
    monkeypatch.setattr(sys, "argv", ["evaluate_main.py", *args, "--output_json", str(out)])
    assert evaluate_main.main() == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def serial_model(tmp_path_factory) -> Path:
    """A serial policy trained by train_main.py on configs/train_serial.yaml (two short iterations)."""
    out = tmp_path_factory.mktemp("serial_run")
    train_main.main(["--config", SERIAL, "--out", str(out), "--set", "train.n_envs=4", "--set", "train.total_env_steps=1600",
                     "--set", f"residual.params={POUT}", "--set", "demand.validation_episodes=2"])
    return out / "serial_policy.pt"  # configs/train_serial.yaml keeps its file name


def test_model_path_alone_reproduces_the_evaluation_with_the_config(monkeypatch, tmp_path, serial_model):
    monkeypatch.chdir(ROOT)  # the default test folder (demand.test_dir) is relative to the repository
    alone = evaluate(monkeypatch, tmp_path, "--model_path", str(serial_model))
    given = evaluate(monkeypatch, tmp_path, "--config", SERIAL, "--model_path", str(serial_model))
    (name, row), = alone["policies"].items()
    assert name == "happo (correction to pout_echelon)" and len(row["episode_cost"]) == 50
    assert alone["eval_dir"] == given["eval_dir"] == "test_data/test_demand_merton"
    assert row["episode_cost"] == given["policies"][name]["episode_cost"]  # the same number, file by file
    assert alone["config"] == f"{serial_model} (its training config)" and given["config"] == SERIAL
    # --set overrides the stored config: a dearer holding cost gives a dearer evaluation of the same orders
    dearer = evaluate(monkeypatch, tmp_path, "--model_path", str(serial_model), "--set", "env.serial.holding_cost=2")
    assert dearer["policies"][name]["cost_mean"] > row["cost_mean"]


def test_a_model_trained_with_the_planner_keeps_it(monkeypatch, tmp_path):
    config = load_config(FIXED, ["train.n_envs=2", "env.episode_length=20", "planner.enabled=true", "planner.mode=retime", "planner.backend=silver_meal"])
    trainer = HAPPOTrainer(config, make_env(config.env, n_envs=2))  # an untrained policy is enough to test which planner runs
    model = tmp_path / "planned.pt"
    save_checkpoint(trainer.checkpoint(), model)
    write_demand_folder(tmp_path / "demand", np.random.default_rng(0).poisson(8, (3, 20)))
    data = ["--eval_dir", str(tmp_path / "demand")]
    alone = evaluate(monkeypatch, tmp_path, "--model_path", str(model), *data)["policies"]
    assert list(alone) == ["happo + silver_meal planner"] and alone["happo + silver_meal planner"]["planner"]["backend"] == "silver_meal"
    # the preset's YAML has the planner off: the model still gets the planner it was trained with
    yaml = evaluate(monkeypatch, tmp_path, "--config", FIXED, "--set", "env.episode_length=20", "--model_path", str(model), *data)["policies"]
    assert yaml["happo + silver_meal planner"]["episode_cost"] == alone["happo + silver_meal planner"]["episode_cost"]
    off = evaluate(monkeypatch, tmp_path, "--model_path", str(model), "--set", "planner.enabled=false", *data)["policies"]
    assert list(off) == ["happo"] and off["happo"]["episode_cost"] != alone["happo + silver_meal planner"]["episode_cost"]


def test_a_model_the_env_cannot_serve_is_one_line_and_exit_2(monkeypatch, tmp_path, serial_model):
    with pytest.raises(UserError, match="trained on a serial env with 3 agents"):
        evaluate(monkeypatch, tmp_path, "--model_path", str(serial_model), "--set", "env.serial.n_stages=4")
    with pytest.raises(UserError, match="no --config given"):
        evaluate(monkeypatch, tmp_path, "--policy", "pass_through")
    result = subprocess.run([sys.executable, "evaluate_main.py", "--model_path", str(serial_model), "--config", "configs/train_network.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "trained on a serial env with 3 agents" in line and "serial_policy.pt" in line
