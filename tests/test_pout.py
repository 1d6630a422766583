"""The forecast-proportional and POUT families: hand-computed orders, their special cases (T = 1 is
base-stock, alpha = 0 is static levels), lockstep runs against the families they generalise, tuning."""
from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import (
    POLICIES,
    BaselinesConfig,
    candidate_costs,
    explicit_params,
    make_baseline,
    policy_names,
    tune,
)
from envs import make_env
from utils.config import DemandConfig, EnvConfig
from utils.data_loader import sample_demand
from utils.errors import UserError


def serial_env(n_envs: int = 1, **kw) -> "object":
    return make_env(EnvConfig(**kw), n_envs=n_envs)


def network_env(n_envs: int = 1):
    return make_env(EnvConfig(kind="network"), n_envs=n_envs)


# ---------------------------------------------------------------- forecast-proportional levels and POUT
def lockstep(names_params: dict, env, demand: np.ndarray, drive: str) -> dict:
    """Run env with the orders of policy `drive`; record every policy's orders each period (all see the same
    states).  -> {name: orders (T, B, N, D)}"""
    policies = {n: make_baseline(n, np.asarray(p, dtype=float)) for n, p in names_params.items()}
    obs, _ = env.reset(demand=demand)
    for p in policies.values():
        p.reset(env)
    seen = {n: [] for n in policies}
    for _ in range(env.episode_length):
        for n, p in policies.items():
            seen[n].append(p.act(obs, env))
        obs, *_ = env.step(seen[drive][-1])
    return {n: np.stack(v) for n, v in seen.items()}


def random_serial_run(B: int = 8, T: int = 120, seed: int = 0):
    """A chain and demand mixing Poisson(10) and uniform 0..20 paths."""
    rng = np.random.default_rng(seed)
    env = serial_env(n_envs=B, episode_length=T)
    demand = np.concatenate([rng.poisson(10, (B // 2, T)), rng.integers(0, 21, (B - B // 2, T))])
    return env, demand, rng


@pytest.mark.parametrize("position", ["echelon", "installation"])
def test_pout_with_T_1_and_static_levels_is_base_stock_on_a_random_run(position):
    env, demand, rng = random_serial_run()
    base = rng.integers(30, 60, (8, 1)) * np.array([[1, 2, 3]]) if position == "echelon" else rng.integers(30, 70, (8, 3))
    alpha = rng.uniform(0, 1, (8, 1))  # the forecast only feeds forward, and with T = 1 it cancels
    pout = np.concatenate([alpha, base, np.ones((8, 3))], axis=1)
    runs = lockstep({f"{position}_base_stock": base, f"pout_{position}_static": pout}, env, demand, f"{position}_base_stock")
    assert runs[f"{position}_base_stock"].std() > 2  # a run with real decisions, not a constant
    np.testing.assert_array_equal(runs[f"pout_{position}_static"], runs[f"{position}_base_stock"])


@pytest.mark.parametrize("position", ["echelon", "installation"])
def test_pout_with_T_1_is_the_proportional_base_stock(position):
    env, demand, rng = random_serial_run(seed=1)
    k = rng.uniform(3, 14, (8, 3)).round(2)
    alpha = rng.uniform(0, 1, (8, 1)).round(2)
    runs = lockstep({
        f"forecast_{position}_proportional": np.concatenate([alpha, k], axis=1),
        f"pout_{position}": np.concatenate([alpha, k, np.ones((8, 3))], axis=1),
    }, env, demand, f"pout_{position}")
    np.testing.assert_array_equal(runs[f"pout_{position}"], runs[f"forecast_{position}_proportional"])


@pytest.mark.parametrize("position", ["echelon", "installation"])
def test_proportional_levels_with_alpha_0_are_static_levels_k_times_the_starting_forecast(position):
    env, demand, rng = random_serial_run(seed=2)
    k = rng.uniform(3, 14, (8, 3)).round(2)
    T = rng.choice([1.0, 1.5, 2.0, 4.0, 8.0], (8, 3))
    zero = np.zeros((8, 1))
    runs = lockstep({
        f"pout_{position}": np.concatenate([zero, k, T], axis=1),
        f"pout_{position}_static": np.concatenate([zero, k * 10.0, T], axis=1),  # the env shows 10 at reset
    }, env, demand, f"pout_{position}")
    np.testing.assert_array_equal(runs[f"pout_{position}"], runs[f"pout_{position}_static"])
    assert (runs[f"pout_{position}"][1:] != runs[f"pout_{position}"][:-1]).any()  # orders do move


def state_after_one_period_of_demand_12():
    """The state of test_forecast_echelon_smooths_demand_into_its_levels: echelon positions 38, 88, 138,
    installation positions 38, 50, 50; the retailer saw 12, stages 1 and 2 saw orders of 0."""
    env = serial_env()
    obs, _ = env.reset(demand=np.full((1, 200), 12))
    return env, obs


def test_pout_echelon_hand_computed_order():
    env, obs = state_after_one_period_of_demand_12()
    # alpha 0.5, k = 5, 9, 13, T = 2, 2, 3
    policy = make_baseline("pout_echelon", np.array([0.5, 5, 9, 13, 2, 2, 3]))
    policy.reset(env)
    # at reset mu = 10 (the demand shown), levels 50, 90, 130 on echelon positions 50, 100, 150:
    # 10 + (50 - 50 - 10) / 2 = 5;  10 + (90 - 100 - 10) / 2 = 0;  10 + (130 - 150 - 10) / 3 = 0
    assert policy.act(obs, env)[0, :, 0].tolist() == [5, 0, 0]
    obs, *_ = env.step(np.array([[0, 0, 0]]))
    # mu = 0.5 * 12 + 0.5 * 10 = 11, levels 55, 99, 143, echelon positions 38, 88, 138:
    # 11 + (55 - 38 - 11) / 2 = 14;  11 + (99 - 88 - 11) / 2 = 11;  11 + (143 - 138 - 11) / 3 = 9  (base-stock: 17, 11, 5)
    assert policy.act(obs, env)[0, :, 0].tolist() == [14, 11, 9]
    assert policy.act(obs, env)[0, :, 0].tolist() == [14, 11, 9]  # acting twice does not smooth twice
    static = make_baseline("pout_echelon_static", np.array([0.5, 55, 99, 143, 2, 2, 3]))
    static.reset(env)
    static.mu = np.array([[11.0]])  # the forecast of a policy that saw the period before
    static.t_seen = env.t
    assert static.act(obs, env)[0, :, 0].tolist() == [14, 11, 9]


def test_pout_installation_hand_computed_order_uses_each_stages_own_demand():
    env, obs = state_after_one_period_of_demand_12()
    policy = make_baseline("pout_installation", np.array([0.5, 5, 9, 13, 2, 2, 3]))
    policy.reset(env)
    obs, *_ = env.step(np.array([[0, 0, 0]]))
    policy.act(obs, env)
    # own forecasts: retailer 0.5 * 12 + 5 = 11; stages 1, 2 saw orders 0: 5.  Levels 55, 45, 65 on positions 38, 50, 50:
    # 11 + (55 - 38 - 11) / 2 = 14;  5 + (45 - 50 - 5) / 2 = 0;  5 + (65 - 50 - 5) / 3 = 8.33 -> 8
    np.testing.assert_allclose(policy.mu, [[11.0, 5.0, 5.0]])
    assert policy.act(obs, env)[0, :, 0].tolist() == [14, 0, 8]


@pytest.mark.parametrize("name", ["forecast_echelon_proportional", "pout_echelon", "pout_installation"])
def test_the_forecast_smooths_last_periods_demand_not_this_periods(name):
    env = serial_env()
    demand = np.full((1, 200), 30)
    demand[0, 0] = 12  # period 0: 12, period 1 onwards: 30
    obs, _ = env.reset(demand=demand)
    params = [1.0, 4, 8, 12] + ([1, 1, 1] if name.startswith("pout") else [])  # alpha 1: mu = last demand seen
    policy = make_baseline(name, np.array(params, dtype=float))
    policy.reset(env)
    np.testing.assert_allclose(policy.mu, 10.0)  # what the env shows at reset
    policy.act(obs, env)
    np.testing.assert_allclose(policy.mu, 10.0)  # nothing happened yet: no update
    obs, *_ = env.step(np.array([[7, 9, 0]]))
    a = policy.act(obs, env)  # period 1 (demand 30 is not known yet)
    if name == "pout_installation":
        np.testing.assert_allclose(policy.mu, [[12.0, 7.0, 9.0]])  # each stage: the demand it saw in period 0
    else:
        np.testing.assert_allclose(policy.mu, [[12.0]])  # the customer demand of period 0
        # installation positions: retailer 8 on hand + pipeline 10, 10, 10, 7 = 45; stage 1 13 + 39 = 52; stage 2
        # 11 + 30 = 41; echelon 45, 97, 138.  Levels 4, 8, 12 x 12 = 48, 96, 144 -> 3, 0, 6 (with mu = 30: 20, 20, 20)
        assert a[0, :, 0].tolist() == [3, 0, 6]


def test_pout_network_hand_computed_order():
    env = network_env()
    obs, _ = env.reset(demand=np.full((1, 200, 2), 2))
    # the multi-index case above with mu_0 = 2, k = 4 (fast, level 8) and 6.5 (slow, level 13), T = 2 at every node.
    # Fast (no feed-forward): 0 + (8 - 6 - 0) / 2 = 1.  Slow (the node's slowest: feed-forward mu = 2):
    # position 10 + 1 just ordered = 11, 2 + (13 - 11 - 2) / 2 = 2.  (Base-stock: fast 2, slow 1.)
    params = np.concatenate([[0.5, 2.0], np.tile([4.0, 6.5], 6), np.full(6, 2.0)])
    policy = make_baseline("pout_installation", params)
    policy.reset(env)
    a = policy.act(obs, env)
    assert (a[0, :, 1] == 1).all() and (a[0, :, 0] == 2).all()


def test_network_pout_with_T_1_is_multi_index_base_stock_with_levels_k_times_the_smoothed_demand():
    B, T = 6, 80
    rng = np.random.default_rng(4)
    env = make_env(EnvConfig(kind="network", episode_length=T), n_envs=B)
    demand = rng.poisson(1.5, (B, T, 2))
    alpha, mu0 = rng.uniform(0, 1, B), rng.integers(0, 5, B).astype(float)
    k = rng.uniform(0, 6, (B, 12)).round(2)
    params = np.concatenate([alpha[:, None], mu0[:, None], k, np.ones((B, 6))], axis=1)
    policy = make_baseline("pout_installation", params)
    obs, _ = env.reset(demand=demand)
    policy.reset(env)
    lay = env.graph.supplier_layout
    mu = np.repeat(mu0[:, None], 6, axis=1)  # (B, N) each node's own forecast, tracked by hand
    moved = 0
    for t in range(T):
        if t > 0:
            mu = alpha[:, None] * env.demand_seen + (1 - alpha[:, None]) * mu
        expected = make_baseline("installation_base_stock", k * mu[:, lay.node]).act(obs, env)
        a = policy.act(obs, env)
        np.testing.assert_array_equal(a, expected)
        moved += int(a.sum())
        obs, *_ = env.step(a)
    assert moved > 0


def test_tuned_pout_beats_tuned_echelon_base_stock_on_poisson_training_paths():
    config = EnvConfig(episode_length=100)
    demand = sample_demand(DemandConfig(kind="stationary", stationary_mean=10.0), np.random.default_rng(6), 12, 100)
    base = tune("echelon_base_stock", config, demand)
    pout = tune("pout_echelon", config, demand)
    assert pout.mean_cost <= base.mean_cost
    assert pout.param_names[:2] == ["alpha", "k[retailer]"] and pout.param_names[-1] == "T[stage_2]"
    assert candidate_costs("pout_echelon", pout.params[None], config, demand)[0] == pytest.approx(pout.mean_cost)


def test_pout_rejects_bad_parameters_with_one_line():
    env, obs = state_after_one_period_of_demand_12()
    with pytest.raises(UserError, match="smoothing time"):
        make_baseline("pout_echelon", np.array([0.5, 5, 9, 13, 2, 0.5, 3])).act(obs, env)
    with pytest.raises(UserError, match="alpha"):
        make_baseline("pout_installation", np.array([1.5, 5, 9, 13, 2, 2, 3]))
    with pytest.raises(UserError, match="needs 7 parameters"):
        make_baseline("pout_echelon", np.array([0.5, 5, 9, 13])).act(obs, env)
    net = network_env()
    net_obs, _ = net.reset(demand=np.full((1, 200, 2), 2))
    with pytest.raises(UserError, match="needs a serial chain"):
        make_baseline("pout_echelon", np.zeros(7)).act(net_obs, net)


def test_explicit_parameters_of_the_pout_families():
    cfg = BaselinesConfig(pout_echelon=[0.2, 5, 10, 15, 8, 6, 1])
    assert explicit_params("pout_echelon", cfg, 7).tolist() == [0.2, 5, 10, 15, 8, 6, 1]
    assert explicit_params("pout_installation", cfg, 7) is None
    with pytest.raises(UserError, match="needs 4 parameters"):
        explicit_params("forecast_echelon_proportional", BaselinesConfig(forecast_echelon_proportional=[0.2, 5]), 4)


def test_network_baselines_include_pout():

    network, serial = policy_names(network_env().graph), policy_names(serial_env().graph)
    assert {"pout_installation", "forecast_installation_proportional"} <= set(network)
    assert "pout_echelon" not in network and "pout_echelon" in serial
    assert "s_S" not in network and serial == list(POLICIES)  # every family is defined on a chain
