"""Baselines: each policy's orders on hand-computed states, the tuner against brute force, determinism."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from agents.baselines import (
    BaselinesConfig,
    ParamSpace,
    candidate_costs,
    coordinate_search,
    explicit_params,
    make_baseline,
    rollout,
    tune,
)
from agents.baselines.tuning import _tuning_key
from envs import make_env
from utils.config import DemandConfig, EnvConfig, PlannerConfig, SerialConfig
from utils.data_loader import sample_demand
from utils.errors import UserError


def serial_env(n_envs: int = 1, **kw) -> "object":
    env = make_env(EnvConfig(**kw), n_envs=n_envs)
    return env


def first_orders(name: str, params, demand_first: int = 10, env=None):
    env = env or serial_env()
    obs, _ = env.reset(demand=np.full((env.n_envs, env.episode_length), demand_first))
    policy = make_baseline(name, np.asarray(params, dtype=float))
    policy.reset(env)
    return policy, env, policy.act(obs, env)


# ---------------------------------------------------------------- serial, hand-checked
# At reset every stage holds 10 on hand and 4 pipeline slots of 10, nothing owed:
# installation positions 50, 50, 50; echelon positions 50, 100, 150.
def test_installation_base_stock_orders_up_to_its_level_and_respects_the_cap():
    _, _, a = first_orders("installation_base_stock", [55, 48, 90])
    assert a.shape == (1, 3, 1)
    assert a[0, :, 0].tolist() == [5, 0, 20]  # 90 - 50 = 40 is capped at order_cap 20


def test_installation_position_counts_units_the_supplier_owes():
    env = serial_env()
    env.reset(demand=np.full((1, 200), 10))
    env.step(np.array([[20, 0, 0]]))  # stage 1 ships all it has: 10 on hand + 10 arriving
    env.step(np.array([[20, 0, 0]]))  # 20 due again, only 10 arriving: stage 1 owes the retailer 10
    assert env.backlog[0, 1] == 10
    # retailer: 10 on hand (20 available - 10 demand, twice), pipeline 10 + 10 + 20 + 10 = 50, owed 10 -> 70
    assert env.inventory_position()[0, 0] == 70
    policy = make_baseline("installation_base_stock", np.array([75.0, 0.0, 0.0]))
    assert policy.act(None, env)[0, 0, 0] == 5


def test_echelon_base_stock_uses_echelon_positions():
    _, _, a = first_orders("echelon_base_stock", [55, 110, 149])
    assert a[0, :, 0].tolist() == [5, 10, 0]


def test_s_S_orders_only_at_or_below_the_reorder_point():
    # s = 50, 49, 50; S = 60, 60, 52: positions 50 -> order 10, no order (50 > 49), order 2
    _, _, a = first_orders("s_S", [50, 49, 50, 60, 60, 52])
    assert a[0, :, 0].tolist() == [10, 0, 2]


def test_forecast_echelon_smooths_demand_into_its_levels():
    env = serial_env()
    obs, _ = env.reset(demand=np.full((1, 200), 12))
    policy = make_baseline("forecast_echelon", np.array([0.5, 0.0, 0.0, 0.0]))
    policy.reset(env)
    # forecast starts at the demand shown at reset (10): levels 10 * (5, 9, 13) = 50, 90, 130 <= positions
    assert policy.act(obs, env)[0, :, 0].tolist() == [0, 0, 0]
    obs, *_ = env.step(np.array([[0, 0, 0]]))
    # demand 12 seen: mu = 0.5 * 12 + 0.5 * 10 = 11, levels 55, 99, 143.  Retailer: 10 + 10 - 12 = 8 on hand,
    # pipeline 10, 10, 10, 0 -> position 38; stages 1, 2: 20 on hand + 30 in pipeline = 50.  Echelon: 38, 88, 138.
    a = policy.act(obs, env)
    assert a[0, :, 0].tolist() == [17, 11, 5]
    # acting twice in the same period must not update the forecast twice
    assert policy.act(obs, env)[0, :, 0].tolist() == [17, 11, 5]


def test_forecast_base_stock_smooths_each_stages_own_demand():
    env = serial_env()
    obs, _ = env.reset(demand=np.full((1, 200), 12))
    # alpha 0.5, starting forecast 10, no safety: levels 10 * (4 + 1) = 50 = every installation position
    policy = make_baseline("forecast_base_stock", np.array([0.5, 10.0, 0.0, 0.0, 0.0]))
    policy.reset(env)
    assert policy.act(obs, env)[0, :, 0].tolist() == [0, 0, 0]
    obs, *_ = env.step(np.array([[0, 0, 0]]))
    # retailer saw 12: mu 11, level 55, position 38 -> 17; stages 1, 2 saw orders 0: mu 5, level 25 < 50 -> 0
    assert policy.act(obs, env)[0, :, 0].tolist() == [17, 0, 0]


def test_network_forecast_base_stock_starts_from_its_tuned_forecast():
    env = network_env()
    obs, _ = env.reset(demand=np.full((1, 200, 2), 2))
    # mu_0 = 1.6: fast level 1.6 * 3 + 3.2 = 8, slow 1.6 * 5 + 5 = 13 -> the multi-index case above
    params = np.concatenate([[0.5, 1.6], np.tile([3.2, 5.0], 6)])
    policy = make_baseline("forecast_base_stock", params)
    policy.reset(env)
    a = policy.act(obs, env)
    assert (a[0, :, 0] == 1).all() and (a[0, :, 1] == 2).all()


def test_pass_through_orders_last_periods_demand():
    policy, env, a = first_orders("pass_through", [], demand_first=12)
    assert a[0, :, 0].tolist() == [10, 10, 10]  # at reset the env shows the initial pipeline level as demand
    obs, *_ = env.step(np.array([[7, 9, 10]]))
    assert policy.act(obs, env)[0, :, 0].tolist() == [12, 7, 9]  # customer demand, then each downstream order


def test_constant_order():
    _, _, a = first_orders("constant_order", [3, 0, 20])
    assert a[0, :, 0].tolist() == [3, 0, 20]


# ---------------------------------------------------------------- network, hand-checked
def network_env(n_envs: int = 1):
    return make_env(EnvConfig(kind="network"), n_envs=n_envs)


def test_multi_index_base_stock_on_the_paper_network():
    env = network_env()
    obs, _ = env.reset(demand=np.full((1, 200, 2), 2))
    # every node: 2 on hand, pipeline slots 2, 2, 2, 2; dimension 0 = slow supplier (L=4), 1 = fast (L=2).
    # Fast first: position 2 + (2 + 2) = 6, level 8 -> order 2.  Slow: 2 + 8 + 2 just ordered = 12, level 13 -> 1.
    levels = np.tile([8.0, 13.0], 6)  # parameters per node, fastest supplier first
    policy = make_baseline("installation_base_stock", levels)
    a = policy.act(obs, env)
    assert a.shape == (1, 6, 2)
    assert (a[0, :, 0] == 1).all() and (a[0, :, 1] == 2).all()
    # a high level is capped at 4 per supplier
    assert (make_baseline("installation_base_stock", np.full(12, 99.0)).act(obs, env) == 4).all()


def test_network_pass_through_fills_the_cheapest_supplier_first():
    env = network_env()
    demand = np.zeros((1, 200, 2), dtype=int)
    demand[0, 0] = [6, 3]
    obs, _ = env.reset(demand=demand)
    policy = make_baseline("pass_through")
    obs, *_ = env.step(np.zeros((1, 6, 2), dtype=int))
    a = policy.act(obs, env)
    # retailer_0 saw 6: 4 from the cheap slow supplier (cap 4), 2 from the fast one; retailer_1 saw 3
    assert a[0, 0].tolist() == [4, 2] and a[0, 1].tolist() == [3, 0]
    assert a[0, 2:].sum() == 0  # upper levels saw no orders


def test_serial_only_baselines_refuse_a_network():
    env = network_env()
    obs, _ = env.reset(demand=np.full((1, 200, 2), 2))
    with pytest.raises(UserError, match="needs a serial chain"):
        make_baseline("echelon_base_stock", np.zeros(6)).act(obs, env)


# ---------------------------------------------------------------- tuner
def test_rollout_record_and_cost_only_agree():
    env = serial_env(n_envs=4)
    demand = sample_demand(DemandConfig(kind="stationary"), np.random.default_rng(0), 4, 200)
    policy = make_baseline("echelon_base_stock", np.array([50.0, 95.0, 140.0]))
    full = rollout(policy, env, demand)
    costs = rollout(policy, env, demand, record=False)
    np.testing.assert_allclose(full.cost.sum(axis=1), costs)


def test_candidate_costs_runs_each_candidate_on_the_same_paths():
    config = EnvConfig(episode_length=60)
    demand = sample_demand(DemandConfig(kind="stationary"), np.random.default_rng(1), 5, 60)
    params = np.array([[50.0, 95, 140], [40, 80, 120]])
    batched = candidate_costs("echelon_base_stock", params, config, demand)
    for k in range(2):
        env = make_env(config, n_envs=5)
        one = rollout(make_baseline("echelon_base_stock", params[k]), env, demand, record=False).sum(axis=1).mean()
        assert batched[k] == pytest.approx(one)


def test_coordinate_search_finds_the_minimum_of_a_separable_convex_function():
    space = ParamSpace(["a", "b"], [np.arange(0.0, 101.0), np.arange(-50.0, 51.0)], np.array([5.0, 40.0]))
    f = lambda X: (X[:, 0] - 73) ** 2 + 3 * (X[:, 1] + 17) ** 2  # noqa: E731
    x, best, _ = coordinate_search(f, space)
    assert x.tolist() == [73.0, -17.0] and best == 0.0


def test_tuned_echelon_base_stock_is_within_2_percent_of_brute_force_on_poisson_demand():
    config = EnvConfig(episode_length=100)
    demand = sample_demand(DemandConfig(kind="stationary", stationary_mean=10.0), np.random.default_rng(5), 16, 100)
    tuned = tune("echelon_base_stock", config, demand)
    # brute force on the same simulated demand: every point of a wide grid around the newsvendor-like levels
    grid = list(itertools.product(range(30, 75, 4), range(70, 125, 5), range(110, 171, 6)))
    costs = np.concatenate([
        candidate_costs("echelon_base_stock", np.array(grid[k:k + 600], dtype=float), config, demand)
        for k in range(0, len(grid), 600)
    ])
    best = int(np.argmin(costs))
    s0, s1, s2 = grid[best]
    assert 30 < s0 < 70 and 70 < s1 < 120 and 110 < s2 < 170  # the optimum is inside the grid
    assert tuned.mean_cost <= 1.02 * costs[best]
    # and the reported tuning cost is the cost of the returned levels on that demand
    assert candidate_costs("echelon_base_stock", tuned.params[None], config, demand)[0] == pytest.approx(tuned.mean_cost)


def test_s_S_beats_base_stock_when_orders_carry_a_fixed_cost():
    config = EnvConfig(episode_length=80, serial=SerialConfig(fixed_order_cost=25.0))
    demand = sample_demand(DemandConfig(kind="stationary"), np.random.default_rng(2), 12, 80)
    s_S = tune("s_S", config, demand)
    base = tune("installation_base_stock", config, demand)
    assert s_S.mean_cost < 0.85 * base.mean_cost  # batching orders saves more than 15% of the cost
    s, S = s_S.params[:3], s_S.params[3:]
    assert (S > s).all()  # reported as the levels actually used
    assert (S - s >= 5).any()  # it does batch: some stage orders well beyond its reorder point
    again = candidate_costs("s_S", s_S.params[None], config, demand)[0]
    assert again == pytest.approx(s_S.mean_cost)


def test_tuning_is_reproducible_bit_for_bit():
    config = EnvConfig(episode_length=50)
    demand = sample_demand(DemandConfig(kind="merton"), np.random.default_rng(3), 8, 50)
    a = tune("forecast_echelon", config, demand)
    b = tune("forecast_echelon", config, demand)
    assert a.params.tolist() == b.params.tolist() and a.mean_cost == b.mean_cost


def test_explicit_parameters_are_used_or_rejected_with_one_line():
    cfg = BaselinesConfig(echelon_levels=[45, 90, 140])
    assert explicit_params("echelon_base_stock", cfg, 3).tolist() == [45, 90, 140]
    assert explicit_params("installation_base_stock", cfg, 3) is None  # not given: tune it
    with pytest.raises(UserError, match="needs 6 parameters"):
        explicit_params("s_S", BaselinesConfig(reorder_points=[1, 2, 3]), 6)


def test_tuning_cache_returns_the_search_result_and_keys_on_its_inputs(tmp_path):
    config = EnvConfig(episode_length=20)
    demand = sample_demand(DemandConfig(kind="stationary", stationary_mean=10.0), np.random.default_rng(3), 2, 20)
    fresh = tune("installation_base_stock", config, demand, max_sweeps=1)
    first = tune("installation_base_stock", config, demand, max_sweeps=1, cache_dir=tmp_path)
    again = tune("installation_base_stock", config, demand, max_sweeps=1, cache_dir=tmp_path)
    assert not first.cached and again.cached
    assert again.params.tolist() == fresh.params.tolist() and again.mean_cost == fresh.mean_cost
    assert again.param_names == fresh.param_names and again.n_candidates == fresh.n_candidates
    # other demand paths, another env or other search settings are other entries
    other = tune("installation_base_stock", config, demand + 1, max_sweeps=1, cache_dir=tmp_path)
    assert not other.cached and len(list(tmp_path.glob("*.json"))) == 2
    costly = EnvConfig(episode_length=20, serial=SerialConfig(holding_cost=[2.0, 1.0, 1.0]))
    keys = {_tuning_key("installation_base_stock", c, demand, m, 0) for c, m in ((config, 1), (costly, 1), (config, 2))}
    assert len(keys) == 3
    # what only a learning agent sees or is rewarded by does not change a rule's tuning: the same entry
    agent_view = EnvConfig(episode_length=20, reward_alpha=0.0, obs_inventory_position=True, obs_shared_demand=4)
    assert tune("installation_base_stock", agent_view, demand, max_sweeps=1, cache_dir=tmp_path).cached
    searched = tune("installation_base_stock", agent_view, demand, max_sweeps=1)  # and a search finds the same
    assert searched.params.tolist() == fresh.params.tolist() and searched.mean_cost == fresh.mean_cost
    # a damaged entry is searched again and rewritten
    entry = tmp_path / f"installation_base_stock-{_tuning_key('installation_base_stock', config, demand, 1, 0)}.json"
    entry.write_text("{not json")
    repaired = tune("installation_base_stock", config, demand, max_sweeps=1, cache_dir=tmp_path)
    assert not repaired.cached and repaired.params.tolist() == fresh.params.tolist() and entry.read_text() != "{not json"


def test_a_rule_is_tuned_through_the_planner_when_given_one(tmp_path):
    """tune(planner=...) searches the rule's parameters with its orders placed by the planner: its cost is the
    planned rule's cost at those parameters (not the rule's alone); at fixed cost 0 the planner passes the
    orders through, so the search is the plain one; the cache keeps the two apart."""
    demand = sample_demand(DemandConfig(kind="stationary", stationary_mean=8.0), np.random.default_rng(4), 3, 30)
    planner = PlannerConfig(enabled=True)
    lots = EnvConfig(episode_length=30, serial=SerialConfig(fixed_order_cost=25.0))
    planned = tune("forecast_base_stock", lots, demand, max_sweeps=2, planner=planner, cache_dir=tmp_path)
    at_params = planned.params[None]
    assert planned.mean_cost == pytest.approx(candidate_costs("forecast_base_stock", at_params, lots, demand, 0, planner)[0])
    assert planned.mean_cost != pytest.approx(candidate_costs("forecast_base_stock", at_params, lots, demand)[0])
    alone = tune("forecast_base_stock", lots, demand, max_sweeps=2, cache_dir=tmp_path)
    assert not alone.cached and len(list(tmp_path.glob("*.json"))) == 2
    assert tune("forecast_base_stock", lots, demand, max_sweeps=2, planner=planner, cache_dir=tmp_path).cached
    # a planner section that is off is no planner: the rule alone, from the same cache entry
    assert tune("forecast_base_stock", lots, demand, max_sweeps=2, planner=PlannerConfig(), cache_dir=tmp_path).cached
    assert len(list(tmp_path.glob("*.json"))) == 2
    free = EnvConfig(episode_length=30)
    through = tune("forecast_base_stock", free, demand, max_sweeps=2, planner=planner)
    plain = tune("forecast_base_stock", free, demand, max_sweeps=2)
    assert through.params.tolist() == plain.params.tolist() and through.mean_cost == plain.mean_cost
