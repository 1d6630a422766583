"""Invariants of the environments on long random runs, for every combination of options.

Units are conserved every period (per stage and for the whole chain), stock is never negative, backlog
exists only where backlogging is on, and every cost equals its definition recomputed from the state.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from envs import NetworkEnv, SerialEnv
from envs.reward_functions import mixed_reward, own_cost_reward, team_cost_reward
from utils.config import EnvConfig, NetworkConfig, NetworkEdgeConfig, NetworkNodeConfig, SerialConfig

B, T = 32, 300
SERIAL_OPTIONS = list(
    itertools.product(
        [0.0, 25.0],  # fixed order cost
        [False, True],  # price discount
        [0, 10],  # max shipping loss percent
        [False, True],  # lost sales at the retailer
        [[4], [1, 3, 2, 5]],  # lead times (uniform, or per stage with a 4-stage chain)
    )
)


def poisson_sampler(mean: float):
    def sample(rng: np.random.Generator, n: int, length: int, streams: int) -> np.ndarray:
        return rng.poisson(mean, size=(n, length, streams))

    return sample


@pytest.mark.parametrize("fixed,discount,loss,lost_sales,lead", SERIAL_OPTIONS)
def test_serial_invariants(fixed, discount, loss, lost_sales, lead):
    n = len(lead) if len(lead) > 1 else 3
    serial = SerialConfig(
        n_stages=n,
        lead_time=lead,
        holding_cost=[1.0 + 0.5 * i for i in range(n)],
        backlog_cost=[2.0 + i for i in range(n)],
        fixed_order_cost=fixed,
        discount_factors=[1.0, 0.95, 0.9, 0.85, 0.8] if discount else [],
        unit_order_cost=[1.0 + 0.25 * i for i in range(n)],
        max_loss_percent=loss,
        lost_sales=lost_sales,
    )
    config = EnvConfig(episode_length=T, serial=serial)
    env = SerialEnv(config, n_envs=B, demand_sampler=poisson_sampler(10), seed=3)
    rng = np.random.default_rng(7)
    env.reset()
    unit_price = np.array(serial.unit_order_cost)
    for t in range(T):
        before_on_hand, before_backlog = env.on_hand.copy(), env.backlog.copy()
        before_total = env.on_hand.sum(1) + env.pipeline.sum((1, 2))
        # mostly ordinary orders, sometimes long runs of 0 or 20 so stages run empty and overflow
        orders = rng.integers(0, 21, size=(B, n)) if t % 50 < 35 else rng.choice([0, 20], size=(B, n))
        _, rewards, terminated, truncated, info = env.step(orders)
        demand = env.demand[:, t, 0]
        seen = np.concatenate([demand[:, None], orders[:, :-1]], axis=1)
        lost = info.get("lost_in_transit", np.zeros_like(orders))
        # per-stage flow: stock before + arrival = shipped + stock after
        np.testing.assert_array_equal(before_on_hand + info["arrived"], info["shipped"] + env.on_hand)
        # what was due is shipped or becomes unmet
        np.testing.assert_array_equal(seen + before_backlog, info["shipped"] + info["unmet"])
        # whole chain: + top order - customer deliveries - shipping loss
        after_total = env.on_hand.sum(1) + env.pipeline.sum((1, 2))
        np.testing.assert_array_equal(after_total - before_total, orders[:, -1] - info["shipped"][:, 0] - lost.sum(1))
        assert (env.on_hand >= 0).all() and (env.backlog >= 0).all() and (env.pipeline >= 0).all()
        assert ((env.on_hand == 0) | (env.backlog == 0)).all(), "on-hand and backlog both positive"
        if lost_sales:
            assert (env.backlog[:, 0] == 0).all()
        assert (lost <= np.ceil((info["arrived"] + lost) * loss / 100)).all()
        # cost equals its definition
        expected = env.holding_cost * env.on_hand + env.backlog_cost * info["unmet"]
        expected += fixed * (info["inflow"] > 0)
        if discount:
            factor = np.array(serial.discount_factors)[orders // 5]
            expected += factor * unit_price * orders
        np.testing.assert_allclose(info["cost"], expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(rewards, mixed_reward(info["cost"], config.reward_alpha))
        assert not terminated.any() and truncated.all() == (t == T - 1)


def test_reward_mixing_definitions():
    cost = np.array([[1.0, 2.0, 6.0]])
    np.testing.assert_allclose(own_cost_reward(cost), [[-1, -2, -6]])
    np.testing.assert_allclose(team_cost_reward(cost), [[-3, -3, -3]])
    np.testing.assert_allclose(mixed_reward(cost, 0.5), [[-2, -2.5, -4.5]])
    np.testing.assert_allclose(mixed_reward(cost, 1.0), own_cost_reward(cost))
    np.testing.assert_allclose(mixed_reward(cost, 0.0), team_cost_reward(cost))


def diamond_network(allocation: str, retail_lost: bool) -> NetworkConfig:
    """A DAG that is not the preset: two retailers share a hub that buys from a factory and outside."""
    nodes = [
        NetworkNodeConfig(name="shop_a", customer_stream=0, lost_sales=retail_lost, initial_on_hand=5),
        NetworkNodeConfig(name="shop_b", customer_stream=1, lost_sales=retail_lost, holding_cost=0.5),
        NetworkNodeConfig(name="hub", shortage_cost=2.0, initial_pipeline=3),
        NetworkNodeConfig(name="factory", holding_cost=0.2),
    ]
    edges = [
        NetworkEdgeConfig(supplier="hub", customer="shop_a", lead_time=1, shipping_cost=0.3),
        NetworkEdgeConfig(supplier="factory", customer="shop_a", lead_time=3, shipping_cost=0.1),
        NetworkEdgeConfig(supplier="hub", customer="shop_b", lead_time=2, shipping_cost=0.3),
        NetworkEdgeConfig(supplier="factory", customer="hub", lead_time=2),
        NetworkEdgeConfig(supplier="outside_x", customer="hub", lead_time=5, shipping_cost=0.05),
        NetworkEdgeConfig(supplier="outside_y", customer="factory", lead_time=1),
    ]
    return NetworkConfig(preset="custom", nodes=nodes, edges=edges, max_order_per_supplier=6, allocation=allocation)


NETWORKS = [("paper", None)] + [(rule, lost) for rule in ["last_customer_first", "first_customer_first", "proportional"] for lost in [False, True]]


@pytest.mark.parametrize("allocation,retail_lost", NETWORKS)
def test_network_invariants(allocation, retail_lost):
    net = NetworkConfig() if allocation == "paper" else diamond_network(allocation, retail_lost)
    env = NetworkEnv(EnvConfig(kind="network", episode_length=T, network=net), n_envs=B, demand_sampler=poisson_sampler(2.5), seed=1)
    rng = np.random.default_rng(11)
    env.reset()
    for t in range(T):
        before_on_hand, before_owed = env.on_hand.copy(), env.owed_edge.copy()
        before_total = env.on_hand.sum(1) + env.pipeline.sum((1, 2))
        arriving = env.pipeline[:, :, 0].copy()
        actions = rng.integers(0, env.action_nvec[None], size=(B,) + env.action_nvec.shape)
        _, _, _, _, info = env.step(actions)
        outside = info["received"][:, env.external].sum(1)
        sales = info["customer_sales"].sum(1)
        after_total = env.on_hand.sum(1) + env.pipeline.sum((1, 2))
        np.testing.assert_array_equal(after_total - before_total, outside - sales)
        # each node: stock before + arrival = stock after + everything it shipped
        shipped_by_node = np.zeros_like(env.on_hand)
        np.add.at(shipped_by_node, (slice(None), env.edge_supplier[env.internal]), info["received"][:, env.internal])
        np.add.at(shipped_by_node, (slice(None), env.stream_node), info["customer_sales"])
        np.testing.assert_array_equal(before_on_hand + arriving, env.on_hand + shipped_by_node)
        assert (env.on_hand >= 0).all() and (env.pipeline >= 0).all() and (env.owed_edge >= 0).all()
        # an edge is never sent more than was asked of it (this period's order + what was owed)
        orders = actions[:, env.edge_customer, env.edge_dim]
        assert (info["received"] <= orders + before_owed).all()
        np.testing.assert_array_equal(info["received"][:, env.external], orders[:, env.external])
        if allocation == "paper" or retail_lost:
            assert (env.owed_stream == 0).all(), "lost sales must not be carried"
            assert (info["customer_sales"] <= env.demand[:, t]).all()
        # a node with stock left has served every customer in full
        assert ((env.on_hand == 0) | (info["unmet"] == 0)).all()
        holding = env.holding_cost * env.on_hand
        shipping = info["received"] @ env.ship_cost_matrix
        np.testing.assert_allclose(info["cost"], holding + env.shortage_cost * info["unmet"] + shipping, atol=1e-9, rtol=0)


@pytest.mark.parametrize(
    "rule,expected",
    [("last_customer_first", [1, 4]), ("first_customer_first", [3, 2]), ("proportional", [2, 3])],
)
def test_allocation_rules_by_hand(rule, expected):
    """A hub with 5 units, asked for 3 by shop_a and 4 by shop_b (its customer list order)."""
    nodes = [
        NetworkNodeConfig(name="shop_a", customer_stream=0, initial_on_hand=100, initial_pipeline=0),
        NetworkNodeConfig(name="shop_b", customer_stream=1, initial_on_hand=100, initial_pipeline=0),
        NetworkNodeConfig(name="hub", initial_on_hand=5, initial_pipeline=0),
    ]
    edges = [
        NetworkEdgeConfig(supplier="hub", customer="shop_a", lead_time=2),
        NetworkEdgeConfig(supplier="hub", customer="shop_b", lead_time=2),
        NetworkEdgeConfig(supplier="outside", customer="hub", lead_time=2),
    ]
    net = NetworkConfig(preset="custom", nodes=nodes, edges=edges, allocation=rule)
    env = NetworkEnv(EnvConfig(kind="network", episode_length=3, network=net), n_envs=1)
    env.reset(demand=np.zeros((1, 3, 2), dtype=int))
    _, _, _, _, info = env.step(np.array([[[3], [4], [0]]]))
    assert info["received"][0, :2].tolist() == expected
    assert env.owed_edge[0, :2].tolist() == [3 - expected[0], 4 - expected[1]]
    assert info["cost"][0, 2] == pytest.approx(2.0)  # the hub owes 2 units at shortage cost 1


def test_same_seed_same_numbers_different_seed_differs():
    serial = SerialConfig(max_loss_percent=10)
    runs = []
    for seed in (5, 5, 6):
        env = SerialEnv(EnvConfig(episode_length=60, serial=serial), n_envs=8, demand_sampler=poisson_sampler(10), seed=seed)
        env.reset()
        costs = [env.step(np.full((8, 3), 10))[4]["cost"] for _ in range(60)]
        runs.append((env.demand.copy(), np.array(costs)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])
    assert not np.array_equal(runs[0][1], runs[2][1])
    # reset(seed=...) re-seeds: the same episode again
    env = SerialEnv(EnvConfig(episode_length=60, serial=serial), n_envs=8, demand_sampler=poisson_sampler(10), seed=99)
    env.reset(seed=5)
    np.testing.assert_array_equal(env.demand, runs[0][0])


@pytest.mark.parametrize("kind", ["serial", "network"])
def test_state_is_the_latest_observation_and_the_time_left_whatever_the_caller_does_with_it(kind):
    # state() reuses the observation reset()/step() built; it must be that of the current period, and a
    # caller that changes the returned array in place must not change it
    if kind == "serial":
        env = SerialEnv(EnvConfig(episode_length=6, obs_demand_history=2), n_envs=4, demand_sampler=poisson_sampler(5), seed=1)
    else:
        env = NetworkEnv(EnvConfig(episode_length=6, obs_shared_demand=2), n_envs=4, demand_sampler=poisson_sampler(3), seed=1)
    rng = np.random.default_rng(0)
    fresh = env.state()  # before any reset: the initial chains
    assert fresh.shape == (4, env.state_dim)
    obs, _ = env.reset()
    for t in range(6):
        expected = np.concatenate([obs.reshape(4, -1), np.full((4, 1), 1 - t / 6, dtype=np.float32)], axis=1)
        obs[:] = -1.0  # the caller's copy, changed in place
        np.testing.assert_array_equal(env.state(), expected)
        actions = rng.integers(0, env.action_nvec[None], size=(4, env.n_agents, env.action_nvec.shape[1]))
        obs, *_ = env.step(actions)
