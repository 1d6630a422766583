"""Config inheritance: presets build on test_data/config.yaml (base:), which also feeds the test-set generator;
editing it changes what training and evaluation use."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import evaluate_main
from agents.baselines import make_baseline
from agents.rollout import rollout
from envs import make_env
from utils.config import load_config
from utils.config_inheritance import deep_merge
from utils.data_loader import write_demand_folder
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
LEVELS = [45.0, 90.0, 140.0]  # echelon base-stock levels: given, so no tuning


def copy_of_the_repository_configs(tmp_path: Path, edit_base) -> Path:
    """tmp/configs/*.yaml and tmp/test_data/config.yaml as shipped, the base file changed by `edit_base(data)`."""
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    (tmp_path / "test_data").mkdir()
    data = yaml.safe_load((ROOT / "test_data" / "config.yaml").read_text())
    edit_base(data)
    (tmp_path / "test_data" / "config.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_deep_merge_merges_mappings_and_replaces_lists():
    base = {"env": {"serial": {"holding_cost": [1.0], "n_stages": 3}, "order_cap": 20}, "name": "a"}
    merged = deep_merge(base, {"env": {"serial": {"holding_cost": [2.0, 3.0, 4.0]}}, "name": "b"})
    assert merged == {"env": {"serial": {"holding_cost": [2.0, 3.0, 4.0], "n_stages": 3}, "order_cap": 20}, "name": "b"}
    assert base["env"]["serial"]["holding_cost"] == [1.0]  # the base is not modified


def test_presets_state_only_what_differs_from_the_base():
    serial = load_config(ROOT / "configs/train_serial.yaml")
    fixed = load_config(ROOT / "configs/train_serial_fixed_cost.yaml")
    stationary = load_config(ROOT / "configs/train_serial_stationary.yaml")
    assert fixed.env.serial.fixed_order_cost == 25.0 and not fixed.residual.enabled and fixed.env.reward_alpha == 0.5
    assert fixed.env.obs_shared_demand == serial.env.obs_shared_demand == 4  # inherited from train_serial.yaml
    assert stationary.demand.kind == "stationary" and stationary.residual.policy == "pout_echelon_static"
    assert stationary.residual.enabled and stationary.env.obs_echelon_position
    for path in (ROOT / "configs").glob("train_*.yaml"):
        text = yaml.safe_load(path.read_text())
        assert "base" in text, path.name
        assert "serial" not in text.get("env", {}) or path.name == "train_serial_fixed_cost.yaml", path.name


def test_editing_the_holding_cost_in_the_base_changes_a_serial_evaluation(monkeypatch, tmp_path):
    edited = copy_of_the_repository_configs(tmp_path / "copy", lambda d: d["env"]["serial"].update(holding_cost=2.0))
    write_demand_folder(tmp_path / "demand", np.random.default_rng(0).poisson(10, (4, 200)))

    def cost(config_path: Path) -> list[float]:
        out = tmp_path / "eval.json"
        monkeypatch.setattr(sys, "argv", ["evaluate_main.py", "--config", str(config_path), "--policy", "echelon_base_stock",
                                          "--set", f"baselines.echelon_levels={LEVELS}", "--eval_dir", str(tmp_path / "demand"),
                                          "--output_json", str(out)])
        assert evaluate_main.main() == 0
        return json.loads(out.read_text())["policies"]["echelon_base_stock"]["episode_cost"]

    shipped, dearer = cost(ROOT / "configs/train_serial.yaml"), cost(edited / "configs/train_serial.yaml")
    assert load_config(edited / "configs/train_serial.yaml").env.serial.holding_cost == [2.0]
    # exactly the cost of the same policy on the chain with h = 2, and more than with h = 1
    config = load_config(ROOT / "configs/train_serial.yaml", ["env.serial.holding_cost=2"])
    from utils.data_loader import read_demand_folder

    demand = read_demand_folder(tmp_path / "demand").demand
    expected = rollout(make_baseline("echelon_base_stock", np.array(LEVELS)), make_env(config.env, n_envs=4), demand, seed=0, record=False)
    assert dearer == pytest.approx(expected.sum(axis=1).tolist(), rel=1e-12)
    assert all(d > s for d, s in zip(dearer, shipped))
    # every preset of the copy picks the value up, the network's env aside
    for path in (edited / "configs").glob("train_serial*.yaml"):
        assert load_config(path).env.serial.holding_cost == [2.0], path.name


def test_the_test_set_generator_reads_the_same_demand_section(tmp_path):
    spec = importlib.util.spec_from_file_location("generate_test_data", ROOT / "test_data" / "generate_test_data.py")
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script
    spec.loader.exec_module(script)
    shipped = {s.name: s for s in script.load_test_set_specs()}
    assert shipped["merton_network"].demand.max_demand == 4 and shipped["merton_network"].demand.merton_jump_rate == 15.0
    edited = copy_of_the_repository_configs(tmp_path, lambda d: d["demand"].update(merton_jump_rate=30.0))
    specs = {s.name: s for s in script.load_test_set_specs(edited / "test_data" / "config.yaml")}
    assert specs["merton_serial"].demand.merton_jump_rate == 30.0 and specs["merton_network"].demand.merton_jump_rate == 30.0
    assert not np.array_equal(script.generate_test_set(specs["merton_serial"]), script.generate_test_set(shipped["merton_serial"]))
    assert load_config(edited / "configs" / "train_serial.yaml").demand.merton_jump_rate == 30.0  # training draws the same


def test_bad_bases_are_one_line_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(UserError, match=r"makes a cycle \(a.yaml -> b.yaml -> a.yaml\)"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(UserError, match="base config 'missing.yaml' not found"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("base: ../test_data/config.yaml\n")
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "d.yaml")
    (tmp_path / "e.yaml").write_text(f"base: {ROOT / 'test_data' / 'config.yaml'}\nenv: {{serial: {{holdin_cost: 2}}}}\n")
    with pytest.raises(UserError, match="unknown key 'env.serial.holdin_cost'"):
        load_config(tmp_path / "e.yaml")
