"""The residual action: corrections to a classic rule, in training (ResidualEnv) and evaluation (ResidualPolicy)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agents.baselines import make_baseline, rollout
from agents.happo_agent import HAPPOTrainer
from agents.residual_action import ResidualEnv, ResidualPolicy, RuleCorrection, resolve_rule, start_from_rule, with_residual
from envs import make_env
from utils.config import ExperimentConfig, ResidualConfig, apply_overrides
from utils.data_loader import sample_demand
from utils.errors import UserError

RULE = "forecast_echelon"
PARAMS = [0.2, 3.0, 6.0, 9.0]  # alpha, safety per stage


def serial_config(**residual) -> ExperimentConfig:
    config = apply_overrides(ExperimentConfig(), ["env.episode_length=40", "train.n_envs=4", "train.hidden_sizes=[16]"])
    res = dataclasses.replace(config.residual, enabled=True, policy=RULE, params=PARAMS, width=3, **residual)
    return dataclasses.replace(config, residual=res)


def demand(config: ExperimentConfig, n: int, seed: int = 0) -> np.ndarray:
    return sample_demand(config.demand, np.random.default_rng(seed), n, config.env.episode_length, 1)  # (n, T, 1)


class ZeroCorrection:
    """Baseline-interface policy that always picks delta = 0 (action index = width)."""

    name = "zero"

    def __init__(self, width: int) -> None:
        self.width = width

    def reset(self, env) -> None:
        pass

    def act(self, obs, env):
        return np.full(obs.shape[:2] + (1,), self.width, dtype=np.int64)


def test_zero_correction_is_the_rule_exactly():
    config = serial_config()
    d = demand(config, 6)
    env = make_env(config.env, n_envs=6)
    rule_cost = rollout(make_baseline(RULE, np.array(PARAMS)), env, d, record=False)
    policy = ResidualPolicy(ZeroCorrection(3), RuleCorrection(config.residual, env))
    assert np.array_equal(rollout(policy, env, d, record=False), rule_cost)
    # and the same through the training wrapper
    wrapped = with_residual(make_env(config.env, n_envs=6), config.residual)
    obs, _ = wrapped.reset(demand=d)
    total = np.zeros((6, 3))
    for _ in range(config.env.episode_length):
        obs, _, _, _, info = wrapped.step(np.full((6, 3, 1), 3))
        assert np.array_equal(info["orders"], info["rule_orders"])
        total += info["cost"]
    assert np.array_equal(total, rule_cost)


def test_corrections_shift_and_clip_the_rule_order():
    config = serial_config()
    env = make_env(config.env, n_envs=2)
    correction = RuleCorrection(config.residual, env)
    correction.rule_orders = np.array([[[0], [10], [19]], [[5], [20], [1]]])  # (B, N, D)
    actions = np.array([[[0], [6], [6]], [[3], [4], [1]]])  # deltas -3, +3, +3 / 0, +1, -2
    expected = np.array([[[0], [13], [20]], [[5], [20], [0]]])  # clipped to 0..20
    assert np.array_equal(correction.orders(actions), expected)
    assert correction.action_nvec.tolist() == [[7], [7], [7]]


def test_wrapper_observes_the_rule_order_and_checks_its_own_action_space():
    config = serial_config()
    d = demand(config, 3)
    plain, wrapped = make_env(config.env, n_envs=3), with_residual(make_env(config.env, n_envs=3), config.residual)
    assert isinstance(wrapped, ResidualEnv)
    obs_plain, _ = plain.reset(demand=d)
    obs, _ = wrapped.reset(demand=d)
    assert obs.shape == (3, 3, plain.obs_dim + 1) and wrapped.obs_dim == plain.obs_dim + 1
    assert np.array_equal(obs[:, :, :-1], obs_plain)
    rule = make_baseline(RULE, np.array(PARAMS))
    rule.reset(plain)
    assert np.allclose(obs[:, :, -1] * plain.obs_scale, rule.act(obs_plain, plain)[:, :, 0])
    assert wrapped.state().shape == (3, wrapped.state_dim) and wrapped.state_dim == plain.state_dim + 3
    with pytest.raises(UserError, match="outside the action space 0..6"):
        wrapped.step(np.full((3, 3, 1), 7))  # a legal order, but not a legal correction


def test_untrained_policy_acts_as_the_rule_greedily():
    config = serial_config(start_prob=0.6)
    env = with_residual(make_env(config.env, n_envs=config.train.n_envs), config.residual)
    trainer = HAPPOTrainer(config, env)
    start_from_rule(trainer.actors, env.action_nvec, config.residual.width, config.residual.start_prob)
    obs, _ = env.reset(demand=demand(config, config.train.n_envs))
    logp = trainer.actors.log_probs_all(torch.from_numpy(obs))  # (B, N, D, K)
    assert torch.all(logp.argmax(-1) == config.residual.width)
    # the output weights are near zero, so the probability of delta = 0 is start_prob up to them
    assert torch.allclose(logp[..., config.residual.width].exp(), torch.tensor(0.6), atol=0.02)


def test_resolve_rule_tunes_once_and_deterministically():
    config = serial_config()
    config = dataclasses.replace(config, residual=dataclasses.replace(config.residual, params=[], tune_paths=4))
    a = resolve_rule(config, 1, log=lambda _: None)
    b = resolve_rule(config, 1, log=lambda _: None)
    assert len(a.residual.params) == len(PARAMS) and a.residual.params == b.residual.params
    assert resolve_rule(a, 1, log=lambda _: None) is a  # given parameters are kept as they are
    bad = dataclasses.replace(config, residual=dataclasses.replace(config.residual, policy="no_such_rule"))
    with pytest.raises(UserError, match="residual.policy 'no_such_rule'"):
        resolve_rule(bad, 1)
    # the search's progress reaches the run's log (a network search takes minutes before training starts)
    lines: list[str] = []
    resolve_rule(apply_overrides(config, ["baselines.cache_dir="]), 1, log=lines.append)
    assert any(line.startswith("tuning ") and "sweep 1/" in line for line in lines), lines
    assert lines[-1].startswith("residual rule ")


def test_resolve_rule_searches_with_the_baselines_settings():
    """The rule's search stops after baselines.max_sweeps sweeps, as every baseline's does: one sweep on these
    paths stops at another point than the default 40 (the values of agents.baselines.tune with 1 and 40)."""
    config = serial_config()
    config = dataclasses.replace(config, residual=dataclasses.replace(config.residual, params=[], tune_paths=4))
    one_sweep = apply_overrides(config, ["baselines.max_sweeps=1", "baselines.cache_dir="])
    assert resolve_rule(one_sweep, 1, log=lambda _: None).residual.params == [0.05, 7.0, 9.0, 11.0]
    default = apply_overrides(config, ["baselines.cache_dir="])
    assert resolve_rule(default, 1, log=lambda _: None).residual.params == [0.05, 3.0, 4.0, 3.0]


def test_residual_config_is_validated():
    with pytest.raises(UserError, match="residual.width"):
        apply_overrides(ExperimentConfig(), ["residual.width=0"])
    assert isinstance(ResidualConfig(), ResidualConfig)


POUT = [0.2, 5.25, 9.75, 14.25, 12.0, 6.0, 1.0]  # pout_echelon as tuned on Merton training paths (docs/baselines_table.md)


def test_train_main_starts_at_the_rule_and_evaluate_main_replays_the_training_wrapper(tmp_path, monkeypatch):
    """A residual run's untrained validation cost is the rule's own; evaluate_main (plain env + ResidualPolicy,
    rule read from the model file) costs exactly what the training wrapper does with the same model."""
    import sys

    import evaluate_main
    from agents.baselines import rollout as run_rule
    from agents.happo_agent import evaluate_policy, load_policy
    from train_main import train
    from utils.config import load_config
    from utils.data_loader import validation_demand, write_demand_folder

    config = load_config("configs/train_serial.yaml", [
        f"out_dir={tmp_path}", "train.n_envs=8", "train.total_env_steps=3200", "train.eval_every=1",
        "residual.policy=pout_echelon", f"residual.params={POUT}", "demand.validation_episodes=4",
    ])
    result = train(config, log=lambda _: None)
    val = validation_demand(config.demand, config.env.episode_length, 1)
    rule_cost = run_rule(make_baseline("pout_echelon", np.array(POUT)), make_env(config.env, n_envs=val.shape[0]), val,
                         seed=config.demand.validation_seed, record=False).sum(1).mean()
    assert result.first_eval_cost == pytest.approx(rule_cost, rel=1e-12)

    files = np.random.default_rng(3).poisson(10, (3, 200))
    write_demand_folder(tmp_path / "files", files)
    out = tmp_path / "eval.json"
    monkeypatch.setattr(sys, "argv", ["evaluate_main.py", "--config", "configs/train_serial.yaml", "--model_path",
                                      str(tmp_path / "serial_policy.pt"), "--eval_dir", str(tmp_path / "files"),
                                      "--output_json", str(out)])
    assert evaluate_main.main() == 0
    import json

    (name, row), = json.loads(out.read_text())["policies"].items()
    assert name == "happo (correction to pout_echelon)"
    policy, trained = load_policy(tmp_path / "serial_policy.pt")
    assert trained.residual.params == POUT
    wrapped = with_residual(make_env(config.env, n_envs=3), trained.residual)
    expected = evaluate_policy(policy, wrapped, files[:, :, None], seed=config.seed)["episode_cost"]
    assert row["episode_cost"] == pytest.approx(expected.tolist(), rel=1e-12)


def test_corrections_with_the_planner_start_at_the_planned_rule_and_evaluate_as_trained(tmp_path, monkeypatch):
    """Residual action and planner together: the corrected rule's orders go through the planner. The untrained
    run's validation cost is the rule's through the planner; evaluate_main (plain env, the policy wrapped in its
    rule, then its planner, both read from the model file) costs exactly what the training wrappers do."""
    import json
    import sys

    import evaluate_main
    from agents.happo_agent import evaluate_policy, load_policy
    from agents.planner_wrapper import OrderPlanner, PlannedPolicy, with_planner
    from train_main import train
    from utils.config import load_config
    from utils.data_loader import validation_demand, write_demand_folder

    config = load_config("configs/train_serial_fixed_cost.yaml", [
        f"out_dir={tmp_path}", "train.n_envs=8", "train.total_env_steps=3200", "train.eval_every=1",
        "residual.enabled=true", "residual.policy=pout_echelon", f"residual.params={POUT}", "planner.enabled=true",
        "demand.validation_episodes=4",
    ])
    result = train(config, log=lambda _: None)
    val = validation_demand(config.demand, config.env.episode_length, 1)
    env = make_env(config.env, n_envs=val.shape[0])
    planned_rule = PlannedPolicy(make_baseline("pout_echelon", np.array(POUT)), OrderPlanner(config.planner, env))
    planned_cost = rollout(planned_rule, env, val, seed=config.demand.validation_seed, record=False).sum(1).mean()
    rule_cost = rollout(make_baseline("pout_echelon", np.array(POUT)), env, val, seed=config.demand.validation_seed,
                        record=False).sum(1).mean()
    assert result.first_eval_cost == pytest.approx(planned_cost, rel=1e-12) and planned_cost != pytest.approx(rule_cost)

    files = np.random.default_rng(3).poisson(10, (3, 200))
    write_demand_folder(tmp_path / "files", files)
    out = tmp_path / "eval.json"
    monkeypatch.setattr(sys, "argv", ["evaluate_main.py", "--model_path", str(tmp_path / "serial_fixed_cost_policy.pt"),
                                      "--eval_dir", str(tmp_path / "files"), "--output_json", str(out)])
    assert evaluate_main.main() == 0
    (name, row), = json.loads(out.read_text())["policies"].items()
    assert name == "happo (correction to pout_echelon) + exact planner"
    policy, trained = load_policy(tmp_path / "serial_fixed_cost_policy.pt")
    wrapped = with_residual(with_planner(make_env(trained.env, n_envs=3), trained.planner), trained.residual)
    expected = evaluate_policy(policy, wrapped, files[:, :, None], seed=trained.seed)["episode_cost"]
    assert row["episode_cost"] == pytest.approx(expected.tolist(), rel=1e-12)
    wrapped.reset(demand=files[:, :, None])
    _, _, _, _, info = wrapped.step(np.full((3, 3, 1), trained.residual.width + 2))  # every rule order + 2
    assert np.array_equal(info["proposed"], np.clip(info["rule_orders"] + 2, 0, 20))
    assert not np.array_equal(info["orders"], info["proposed"])  # the planner placed other orders


def test_the_rule_of_a_planner_run_is_tuned_through_the_planner():
    from agents.baselines import tune, tuning_demand
    from utils.config import BaselinesConfig

    config = apply_overrides(serial_config(tune_paths=4), ["residual.params=[]", "env.serial.fixed_order_cost=25",
                                                           "planner.enabled=true", "baselines.max_sweeps=2", "baselines.cache_dir="])
    paths = tuning_demand(config, BaselinesConfig(tune_paths=4, tune_seed=config.residual.tune_seed), 1)
    through = tune(RULE, config.env, paths, 2, config.residual.tune_seed, planner=config.planner).params.tolist()
    alone = tune(RULE, config.env, paths, 2, config.residual.tune_seed).params.tolist()
    assert through != alone  # so the check below can tell them apart
    assert resolve_rule(config, 1, log=lambda _: None).residual.params == through
