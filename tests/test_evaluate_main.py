"""evaluate_main: per-file costs match direct simulation, the bound sits below every baseline, labels, model files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evaluate_main
from agents.baselines import make_baseline, rollout
from envs import make_env
from utils.config import load_config
from utils.data_loader import read_demand_folder, sample_demand, write_demand_folder
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SERIAL = str(ROOT / "configs/train_serial.yaml")


def run_main(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["evaluate_main.py", *args])
    return evaluate_main.main()


@pytest.fixture
def serial_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "serial_demand"
    write_demand_folder(folder, np.random.default_rng(0).poisson(10, (3, 200)))
    return folder


def test_given_parameters_give_exactly_the_simulated_per_file_costs(monkeypatch, serial_dir, tmp_path, capsys):
    out = tmp_path / "eval.json"
    run_main(monkeypatch, "--config", SERIAL, "--eval_dir", str(serial_dir), "--policy", "echelon_base_stock",
             "--set", "baselines.echelon_levels=[45,90,140]", "--output_json", str(out))
    data = json.loads(out.read_text())
    row = data["policies"]["echelon_base_stock"]
    assert row["tuned_on"] == "given" and row["params"] == [45, 90, 140]
    demand = read_demand_folder(serial_dir).demand
    env = make_env(load_config(SERIAL).env, n_envs=3)
    expected = rollout(make_baseline("echelon_base_stock", np.array([45.0, 90, 140])), env, demand, seed=0, record=False)
    assert row["episode_cost"] == pytest.approx(expected.sum(axis=1).tolist())
    assert data["files"] == ["demand_0.txt", "demand_1.txt", "demand_2.txt"]
    assert "| echelon_base_stock |" in capsys.readouterr().out


def test_all_baselines_are_tuned_off_sample_and_never_beat_the_bound(monkeypatch, serial_dir, tmp_path):
    out, plots = tmp_path / "all.json", tmp_path / "plots"
    run_main(monkeypatch, "--config", SERIAL, "--eval_dir", str(serial_dir), "--baselines", "--set", "env.episode_length=40",
             "--set", "baselines.tune_paths=6", "--set", "baselines.max_sweeps=2", "--output_json", str(out), "--plots", str(plots))
    rows = json.loads(out.read_text())["policies"]
    bound = np.array(rows.pop(evaluate_main.BOUND)["episode_cost"])
    assert set(rows) == {
        "installation_base_stock", "echelon_base_stock", "s_S", "forecast_echelon", "forecast_base_stock", "pass_through",
        "constant_order", "forecast_echelon_proportional", "forecast_installation_proportional", "pout_echelon_static",
        "pout_echelon", "pout_installation_static", "pout_installation", "forecast_s_S",
    }
    for name, row in rows.items():
        assert (bound <= np.array(row["episode_cost"]) + 1e-6).all(), name
        if row["param_names"]:
            assert "training-generator" in row["tuned_on"]
    # the tuner saw the training generator's paths (seed baselines.tune_seed), not these files
    config = load_config(SERIAL, ["env.episode_length=40"])
    tune_demand = sample_demand(config.demand, np.random.default_rng(777_000), 6, 40)
    from agents.baselines import candidate_costs

    tuned = rows["echelon_base_stock"]
    assert candidate_costs("echelon_base_stock", np.array([tuned["params"]]), config.env, tune_demand)[0] == pytest.approx(tuned["tuning_cost"])
    for png in ["bullwhip.png", "cost_bars.png", "trajectory_echelon_base_stock.png"]:
        assert (plots / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_in_sample_tuning_is_labelled(monkeypatch, serial_dir, tmp_path):
    out = tmp_path / "in.json"
    run_main(monkeypatch, "--config", SERIAL, "--eval_dir", str(serial_dir), "--policy", "installation_base_stock",
             "--in_sample", "--set", "env.episode_length=30", "--output_json", str(out))
    rows = json.loads(out.read_text())["policies"]
    assert list(rows) == ["installation_base_stock (in-sample)"]
    assert "in-sample" in rows["installation_base_stock (in-sample)"]["tuned_on"]


def test_tuning_on_a_given_folder_names_it(monkeypatch, serial_dir, tmp_path):
    other = tmp_path / "tune_here"
    write_demand_folder(other, np.random.default_rng(9).poisson(10, (4, 200)))
    out = tmp_path / "dir.json"
    run_main(monkeypatch, "--config", SERIAL, "--eval_dir", str(serial_dir), "--policy", "echelon_base_stock",
             "--tune_dir", str(other), "--set", "env.episode_length=30", "--output_json", str(out))
    (label, row), = json.loads(out.read_text())["policies"].items()
    assert label == f"echelon_base_stock (tuned on {other})"
    from agents.baselines import candidate_costs

    config = load_config(SERIAL, ["env.episode_length=30"])
    tune_demand = read_demand_folder(other).demand[:, :30]
    assert candidate_costs("echelon_base_stock", np.array([row["params"]]), config.env, tune_demand)[0] == pytest.approx(row["tuning_cost"])
    # naming the evaluated folder itself is in-sample tuning, and says so
    run_main(monkeypatch, "--config", SERIAL, "--eval_dir", str(serial_dir), "--policy", "constant_order",
             "--tune_dir", str(serial_dir), "--set", "env.episode_length=30", "--output_json", str(out))
    assert list(json.loads(out.read_text())["policies"]) == ["constant_order (in-sample)"]


def test_network_baseline_and_serial_only_names(monkeypatch, tmp_path):
    folder = tmp_path / "net"
    write_demand_folder(folder, np.random.default_rng(1).integers(0, 5, (2, 200, 2)))
    out = tmp_path / "net.json"
    config = str(ROOT / "configs/train_network.yaml")
    run_main(monkeypatch, "--config", config, "--eval_dir", str(folder), "--policy", "installation_base_stock",
             "--set", "baselines.installation_levels=[4,9,4,9,4,9,4,9,4,9,4,9]", "--output_json", str(out))
    row = json.loads(out.read_text())["policies"]["installation_base_stock"]
    assert len(row["agent_cost"]) == 6 and len(row["episode_cost"]) == 2
    with pytest.raises(UserError, match="baseline 'echelon_base_stock' is not defined on this env's supply graph"):
        run_main(monkeypatch, "--config", config, "--eval_dir", str(folder), "--policy", "echelon_base_stock")
    with pytest.raises(UserError, match="customer stream"):
        run_main(monkeypatch, "--config", SERIAL, "--eval_dir", str(folder), "--policy", "pass_through")


def test_nothing_to_evaluate_and_bad_baseline_settings(monkeypatch, tmp_path):
    with pytest.raises(UserError, match="nothing to evaluate"):
        run_main(monkeypatch, "--config", SERIAL)
    with pytest.raises(UserError, match="unknown key 'baselines.tune_pathz'"):
        run_main(monkeypatch, "--config", SERIAL, "--policy", "pass_through", "--set", "baselines.tune_pathz=3")
    settings = tmp_path / "b.yaml"
    settings.write_text("echelon_levels: [1, 2]\n")
    with pytest.raises(UserError, match="needs 3 parameters but the baseline settings give 2"):
        run_main(monkeypatch, "--config", SERIAL, "--policy", "echelon_base_stock", "--baselines_config", str(settings))


def test_a_trained_policy_file_is_evaluated_like_the_trainer_evaluates_it(monkeypatch, serial_dir, tmp_path):
    from agents.happo_agent import HAPPOTrainer, evaluate_policy, load_policy, save_checkpoint

    config = load_config(SERIAL, ["train.n_envs=2", "residual.enabled=false"])
    trainer = HAPPOTrainer(config, make_env(config.env, n_envs=2, demand_config=config.demand, seed=0))
    model = tmp_path / "policy.pt"
    save_checkpoint(trainer.checkpoint(), model)
    out = tmp_path / "model.json"
    (tmp_path / "metrics.csv").write_text("iteration,env_steps,train_cost,eval_cost\n1,400,9000.0,8000.0\n")
    run_main(monkeypatch, "--config", SERIAL, "--eval_dir", str(serial_dir), "--model_path", str(model), "--output_json", str(out),
             "--plots", str(tmp_path / "plots"))
    assert (tmp_path / "plots" / "training_curves.png").is_file() and (tmp_path / "plots" / "trajectory_happo.png").is_file()
    row = json.loads(out.read_text())["policies"]["happo"]
    policy, _ = load_policy(model)
    expected = evaluate_policy(policy, make_env(config.env, n_envs=3), read_demand_folder(serial_dir).demand, seed=config.seed)
    assert row["episode_cost"] == pytest.approx(expected["episode_cost"].tolist())
    # a model trained with another observation layout is refused with a clear message
    dim = make_env(config.env).obs_dim
    with pytest.raises(UserError, match=f"observations of size {dim} but the env gives {dim + 1}"):
        run_main(monkeypatch, "--config", SERIAL, "--eval_dir", str(serial_dir), "--model_path", str(model),
                 "--set", "env.obs_time_left=true")


def test_sampled_actions_are_seeded_and_differ_from_greedy(monkeypatch, serial_dir, tmp_path):
    from agents.happo_agent import HAPPOTrainer, save_checkpoint

    config = load_config(SERIAL, ["train.n_envs=2", "residual.enabled=false"])
    trainer = HAPPOTrainer(config, make_env(config.env, n_envs=2, demand_config=config.demand, seed=0))
    model = tmp_path / "policy.pt"
    save_checkpoint(trainer.checkpoint(), model)
    costs = []
    for i, extra in enumerate([["--sample_actions"], ["--sample_actions"], []]):
        out = tmp_path / f"run{i}.json"
        run_main(monkeypatch, "--config", SERIAL, "--eval_dir", str(serial_dir), "--model_path", str(model),
                 "--output_json", str(out), *extra)
        (name, row), = json.loads(out.read_text())["policies"].items()
        assert name == ("happo (sampled)" if extra else "happo")
        costs.append(row["episode_cost"])
    assert costs[0] == costs[1]  # the same seeded draws, run after run
    assert costs[0] != costs[2]  # an untrained policy is near uniform: sampling is not its argmax
    with pytest.raises(UserError, match="--sample_actions"):
        run_main(monkeypatch, "--config", SERIAL, "--eval_dir", str(serial_dir), "--policy", "echelon_base_stock",
                 "--sample_actions")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "evaluate_main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("content", ["corrupt", "code"])
def test_bad_model_file_is_one_line_and_exit_2(tmp_path, content):
    model = tmp_path / "bad.pt"
    if content == "corrupt":
        model.write_bytes(b"\x80\x04not a torch file at all")
    else:
        import torch

        torch.save({"format": "x", "payload": subprocess.CompletedProcess(["x"], 0)}, model)  # an arbitrary object: refused by weights_only
    result = _cli("--config", "configs/train_serial.yaml", "--model_path", str(model))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "model file" in lines[0] and "bad.pt" in lines[0]


def test_baseline_only_evaluation_does_not_import_torch():
    # torch takes seconds to import on a laptop; a baseline table should not wait for it
    code = "import sys, evaluate_main, agents.baselines; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1]).returncode == 0


def test_baseline_settings_are_a_section_of_the_experiment_config(tmp_path):
    """A baselines: section in the experiment YAML gives a policy its parameters; a --baselines_config file
    replaces that section, and --set baselines.* overrides still win over the file."""
    from evaluate_main import baseline_settings
    from utils.config import load_config

    exp = tmp_path / "exp.yaml"
    exp.write_text("baselines:\n  echelon_levels: [45, 90, 140]\n  tune_paths: 7\n")
    config = load_config(exp)
    assert config.baselines.echelon_levels == [45.0, 90.0, 140.0] and config.baselines.tune_paths == 7
    settings = tmp_path / "b.yaml"
    settings.write_text("tune_paths: 9\nmax_sweeps: 3\n")
    overrides = ["baselines.max_sweeps=5"]
    replaced = baseline_settings(load_config(exp, overrides), str(settings), overrides)
    assert replaced.baselines.tune_paths == 9 and replaced.baselines.max_sweeps == 5
    assert replaced.baselines.echelon_levels == []  # the file replaces the whole section
