"""Config loading: typed values, unknown keys and wrong types rejected with the key and file named."""
from __future__ import annotations

from pathlib import Path

import pytest

from envs import make_env
from utils.config import ExperimentConfig, apply_overrides, config_from_dict, load_config, save_config
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("train_*.yaml"))  # experiment configs (baselines.yaml holds baseline settings)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads_and_builds_its_env(path: Path):
    config = load_config(path)
    env = make_env(config.env, n_envs=2, demand_config=config.demand, seed=0)
    obs, _ = env.reset()
    assert obs.shape == (2, env.n_agents, env.obs_dim)


def test_paper_presets():
    serial = load_config(ROOT / "configs/train_serial.yaml")
    assert (serial.env.kind, serial.env.serial.n_stages, serial.env.serial.lead_time, serial.env.order_cap) == ("serial", 3, [4], 20)
    assert (serial.env.serial.initial_on_hand, serial.env.serial.initial_pipeline, serial.env.episode_length) == (10, 10, 200)
    assert serial.demand.kind == "merton"
    # the default preset learns corrections to POUT on the team reward; the paper-observation preset keeps
    # the paper's reward mixing and flat order action
    assert serial.env.reward_alpha == 0.0 and serial.residual.enabled and serial.residual.policy == "pout_echelon"
    paper = load_config(ROOT / "configs/train_serial_paper_obs.yaml")
    assert paper.env.reward_alpha == 0.5 and not paper.residual.enabled and paper.env.obs_shared_demand == 0
    network = load_config(ROOT / "configs/train_network.yaml")
    assert network.env.kind == "network" and network.demand.max_demand == 4
    # the network preset learns -1..1 corrections to POUT on installation positions, on the team reward
    assert network.env.reward_alpha == 0.0 and network.residual.enabled and network.residual.policy == "pout_installation"
    assert network.residual.width == 1
    env = make_env(network.env, n_envs=1)
    assert env.n_agents == 6 and env.action_nvec.tolist() == [[5, 5]] * 6


def test_unknown_key_names_key_and_file(tmp_path: Path):
    path = tmp_path / "exp.yaml"
    path.write_text("env:\n  serial:\n    holding_cots: 2\n")
    with pytest.raises(UserError, match=r"exp.yaml.*'env.serial.holding_cots'"):
        load_config(path)


@pytest.mark.parametrize(
    "data,needle",
    [
        ({"env": {"serial": {"n_stages": "three"}}}, "env.serial.n_stages"),
        ({"env": {"kind": "tree"}}, "env.kind"),
        ({"train": {"n_envs": 2.5}}, "train.n_envs"),
        ({"env": {"serial": {"lost_sales": "yes"}}}, "env.serial.lost_sales"),
        ({"env": {"serial": {"n_stages": 3, "lead_time": [4, 4]}}}, "env.serial.lead_time"),
        ({"env": {"reward_alpha": 1.5}}, "reward_alpha"),
        ({"env": {"serial": {"discount_factors": [1.0, 0.9]}}}, "discount_factors"),
        ({"env": []}, "env"),
    ],
)
def test_wrong_values_are_rejected(data, needle):
    with pytest.raises(UserError, match=needle.replace(".", r"\.")):
        config_from_dict(data, "x.yaml")


def test_overrides_are_typed_and_checked():
    config = config_from_dict({})
    changed = apply_overrides(config, ["train.lr_actor=3e-4", "env.serial.lead_time=[1,2,3]", "env.kind=network"])
    assert changed.train.lr_actor == pytest.approx(3e-4) and changed.env.serial.lead_time == [1, 2, 3]
    assert changed.env.kind == "network" and config.env.kind == "serial"  # the original is untouched
    with pytest.raises(UserError, match="env.serial.nstages"):
        apply_overrides(config, ["env.serial.nstages=4"])
    with pytest.raises(UserError, match="section.key=value"):
        apply_overrides(config, ["train.lr_actor"])


def test_resolved_config_round_trips(tmp_path: Path):
    config = apply_overrides(load_config(ROOT / "configs/train_network.yaml"), ["seed=7", "env.network.allocation=proportional"])
    save_config(config, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == config and isinstance(again, ExperimentConfig)
    assert again.seed == 7 and again.env.network.allocation == "proportional"


def test_invalid_yaml_is_one_line(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("env: [unclosed\n")
    with pytest.raises(UserError, match="bad.yaml: not valid YAML at line") as err:
        load_config(path)
    assert "\n" not in str(err.value)


def test_a_config_stored_before_a_key_rename_still_loads_but_a_users_yaml_is_told_the_new_name():
    from utils.config import config_to_dict
    from utils.stored_config import stored_config, upgrade_stored_config

    stored = config_to_dict(apply_overrides(ExperimentConfig(), ["planner.fixed_order_cost=7.5"]))
    stored["planner"]["setup_cost"] = stored["planner"].pop("fixed_order_cost")  # as model files of older versions hold it
    upgraded = upgrade_stored_config(stored)
    assert config_from_dict(upgraded, "old model").planner.fixed_order_cost == 7.5
    assert stored_config({"config": stored}, "old.pt").planner.fixed_order_cost == 7.5  # what every model file reader calls
    with pytest.raises(UserError, match="'old.pt' holds no stored config"):
        stored_config({}, "old.pt")
    assert "setup_cost" in stored["planner"]  # the caller's data is not changed
    with pytest.raises(UserError, match="unknown key 'planner.setup_cost'.*fixed_order_cost"):
        config_from_dict(stored, "user.yaml")
