"""The forecast-adaptive (s, S) family: hand-computed orders, alpha = 0 is the static s_S, and on drifting demand
with a fixed order cost its tuned form is no worse than the tuned static (s, S)."""
from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import BaselinesConfig, explicit_params, make_baseline, policy_names, tune
from envs import make_env
from tests.test_pout import lockstep, network_env, random_serial_run, state_after_one_period_of_demand_12
from utils.config import DemandConfig, EnvConfig, SerialConfig
from utils.data_loader import sample_demand
from utils.errors import UserError


def test_forecast_s_S_hand_computed_orders():
    env, obs = state_after_one_period_of_demand_12()  # installation positions 38, 50, 50
    # alpha 0.5, a = 4, 8, 10, b = 2, 3, 2
    policy = make_baseline("forecast_s_S", np.array([0.5, 4, 8, 10, 2, 3, 2]))
    policy.reset(env)
    # period 0: mu = 10 everywhere, s = 40, 80, 100, S = 60, 110, 120 on positions 50, 50, 50:
    # retailer 50 > 40 orders nothing; the others order up to S, cut to the cap 20
    assert policy.act(obs, env)[0, :, 0].tolist() == [0, 20, 20]
    obs, *_ = env.step(np.array([[0, 0, 0]]))
    # own forecasts 0.5 * 12 + 5 = 11 and 0.5 * 0 + 5 = 5, 5: s = 44, 40, 50, S = 66, 55, 60 on positions 38, 50, 50:
    # retailer 38 <= 44: 66 - 38 = 28 -> cap 20; stage 1 50 > 40: 0; stage 2 50 <= 50 (at s orders): 60 - 50 = 10
    assert policy.act(obs, env)[0, :, 0].tolist() == [20, 0, 10]
    np.testing.assert_allclose(policy.mu, [[11.0, 5.0, 5.0]])
    assert policy.act(obs, env)[0, :, 0].tolist() == [20, 0, 10]  # acting twice does not smooth twice


def test_forecast_s_S_with_alpha_0_is_the_static_s_S_on_a_random_run():
    env, demand, rng = random_serial_run(seed=3)
    a = rng.integers(8, 28, (8, 3)) / 4  # quarter steps: a * 10 and (a + b) * 10 are exact in floating point
    b = rng.integers(1, 24, (8, 3)) / 4  # b * 10 >= 2.5, so the static S >= s + 1 reading never applies
    runs = lockstep({
        "forecast_s_S": np.concatenate([np.zeros((8, 1)), a, b], axis=1),
        "s_S": np.concatenate([a * 10.0, (a + b) * 10.0], axis=1),  # the env shows 10 at reset
    }, env, demand, "s_S")
    assert runs["s_S"].std() > 2 and (runs["s_S"] == 0).mean() > 0.2  # real decisions, and it does skip periods
    np.testing.assert_array_equal(runs["forecast_s_S"], runs["s_S"])


def test_tuned_forecast_s_S_is_no_worse_than_tuned_s_S_on_merton_paths_with_a_fixed_cost():
    config = EnvConfig(episode_length=100, serial=SerialConfig(fixed_order_cost=25.0))
    demand = sample_demand(DemandConfig(kind="merton"), np.random.default_rng(5), 6, 100)
    static = tune("s_S", config, demand, max_sweeps=4)
    adaptive = tune("forecast_s_S", config, demand, max_sweeps=4)
    assert adaptive.param_names == ["alpha", "a[retailer]", "a[stage_1]", "a[stage_2]", "b[retailer]", "b[stage_1]", "b[stage_2]"]
    assert adaptive.mean_cost <= static.mean_cost
    assert adaptive.params[0] > 0  # the win comes from following the demand, not from a finer static grid
    assert (adaptive.params[4:] >= 1).all()  # and it batches: every stage orders a period's demand or more past s


def test_forecast_s_S_parameters_network_and_bad_input():
    assert explicit_params("forecast_s_S", BaselinesConfig(forecast_s_S=[0.2, 4, 8, 10, 2, 3, 2]), 7).tolist() == [0.2, 4, 8, 10, 2, 3, 2]
    with pytest.raises(UserError, match="needs 7 parameters"):
        explicit_params("forecast_s_S", BaselinesConfig(forecast_s_S=[0.2, 4]), 7)
    env, obs = state_after_one_period_of_demand_12()
    with pytest.raises(UserError, match="must be >= 0"):
        make_baseline("forecast_s_S", np.array([0.5, 4, 8, 10, 2, -1, 2])).act(obs, env)
    with pytest.raises(UserError, match="needs 7 parameters"):
        make_baseline("forecast_s_S", np.array([0.5, 4, 8, 10])).act(obs, env)
    net = network_env()
    assert "forecast_s_S" not in policy_names(net.graph)  # several suppliers per node, as the static s_S
    net_obs, _ = net.reset(demand=np.full((1, 200, 2), 2))
    with pytest.raises(UserError, match="one supplier per node"):
        make_baseline("forecast_s_S", np.zeros(14)).act(net_obs, net)
    assert make_env(EnvConfig(), n_envs=1).reset_shows_demand  # the serial layout above has no mu_0
