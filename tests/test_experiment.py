"""run_experiment: one pure function trains, then evaluates the best policy as selection and evaluate_main see it."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.experiment import run_experiment
from utils.config import load_config
from utils.data_loader import sample_demand, write_demand_folder
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SERIAL = ROOT / "configs" / "train_serial.yaml"


def tiny_test_dir(folder: Path, n_files: int = 3, periods: int = 24) -> Path:
    """A few Merton test files (seeded), so a test evaluates in milliseconds."""
    cfg = load_config(SERIAL).demand
    write_demand_folder(folder, sample_demand(cfg, np.random.default_rng(123), n_files, periods)[:, :, 0])
    return folder


def tiny_overrides(out_dir: Path, test_dir: Path) -> list[str]:
    """5 iterations of 4 chains x 20 periods, 3 validation paths, a small network: ~1 s of training."""
    return [f"out_dir={out_dir}", f"demand.test_dir={test_dir}", "train.n_envs=4", "env.episode_length=20",
            "train.total_env_steps=400", "train.eval_every=2", "demand.validation_episodes=3",
            "train.hidden_sizes=[16]", "residual.enabled=false", "train.n_minibatches=2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("experiment")
    config = load_config(SERIAL, tiny_overrides(tmp / "out", tiny_test_dir(tmp / "test")))
    return config, run_experiment(config)


def test_results_are_the_selected_policy_on_validation_and_test(tiny_run):
    config, result = tiny_run
    run = Path(result["run_dir"])
    # re-running best.pt on the validation paths reproduces the cost the run selected it by, exactly
    assert result["validation"]["cost_mean"] == result["train"]["best_eval_cost"]
    assert result["train"]["best_eval_cost"] == min(c for c in result["curve"]["eval_cost"] if c is not None)
    assert result["train"]["iterations"] == 5 and result["train"]["env_steps"] == 400
    assert len(result["validation"]["episode_cost"]) == 3
    assert result["test_files"] == ["demand_0.txt", "demand_1.txt", "demand_2.txt"]
    assert len(result["test"]["episode_cost"]) == 3
    assert result["curve"]["iteration"] == [0, 1, 2, 3, 4, 5]
    for name in ("result.json", "log.txt", "provenance.yaml", "config.yaml", "best.pt"):
        assert (run / name).is_file(), name
    assert json.loads((run / "result.json").read_text())["test"]["episode_cost"] == result["test"]["episode_cost"]
    log = (run / "log.txt").read_text()
    assert "iter    5/5" in log and "left ~" in log and "test cost" in log
    prov = result["provenance"]
    assert len(prov["commit"]) == 40 and isinstance(prov["dirty"], bool) and prov["packages"]["torch"].startswith("2.13")


def test_test_costs_equal_evaluate_main_on_best_pt(tiny_run, tmp_path, monkeypatch):
    import evaluate_main

    _, result = tiny_run
    run = Path(result["run_dir"])
    out = tmp_path / "eval.json"
    monkeypatch.setattr(sys, "argv", ["evaluate_main.py", "--config", str(run / "config.yaml"),
                                      "--model_path", str(run / "best.pt"), "--output_json", str(out)])
    assert evaluate_main.main() == 0
    (row,) = json.loads(out.read_text())["policies"].values()
    assert row["episode_cost"] == result["test"]["episode_cost"]
    assert row["fill_rate"] == result["test"]["fill_rate"]


def test_a_missing_test_set_fails_before_any_training(tmp_path, monkeypatch):
    # the test files are read at the end; a wrong test_dir used to surface only after the whole training
    monkeypatch.chdir(tmp_path)
    config = load_config(SERIAL, tiny_overrides(tmp_path / "out", Path("test_data/test_demand_merton")))
    with pytest.raises(UserError, match=rf"'test_data/test_demand_merton' not found in the working directory {tmp_path}"):
        run_experiment(config)
    assert not (tmp_path / "out").exists()  # no run folder: nothing was trained
