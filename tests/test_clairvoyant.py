"""The clairvoyant LP bounds: hand-solved optima, replay in the env, and bound <= every baseline on every path.

Network: every env trajectory is a feasible LP point of the same cost (checked variable by variable), the bound
is below baselines and random actions on the paper's preset and a custom DAG, hand-solved optima are reached
and replay in the env at the LP's cost, and a serial chain written as a network gets the serial LP's bound.
"""
from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import POLICIES, DemandSummary, make_baseline, policy_names, rollout
from agents.clairvoyant import ClairvoyantLP, clairvoyant_bound, clairvoyant_bounds
from envs import make_env
from utils.config import EnvConfig, NetworkConfig, NetworkEdgeConfig, NetworkNodeConfig, SerialConfig, per_stage
from utils.errors import UserError


def chain(T: int, **serial) -> EnvConfig:
    return EnvConfig(episode_length=T, serial=SerialConfig(**serial))


def test_single_stage_unavoidable_holding():
    # 10 on hand, nothing in the pipeline, demand 2 a period: the stock can only fall, 8 + 6 + 4 on hand
    config = chain(3, n_stages=1, lead_time=[1], initial_on_hand=10, initial_pipeline=0)
    total, per_stage, sol = clairvoyant_bound(config, np.array([2, 2, 2]))
    assert total == pytest.approx(18.0)
    np.testing.assert_allclose(sol["orders"], 0.0, atol=1e-9)


def test_single_stage_unavoidable_backlog_then_recovery():
    # nothing on hand or on the way: demand 3 in period 0 is backlogged (b = 2) and met from an order
    # placed in period 0 that arrives in period 1; cost 3 * 2 = 6 and nothing after
    config = chain(3, n_stages=1, lead_time=[1], initial_on_hand=0, initial_pipeline=0, backlog_cost=[2.0])
    total, per_stage, sol = clairvoyant_bound(config, np.array([3, 0, 0]))
    assert total == pytest.approx(6.0)
    assert sol["orders"][0, 0] == pytest.approx(3.0)


def test_two_stage_optimum_and_its_replay_in_the_env():
    # Demand 5 in period 1 only, L = 1 everywhere, empty chain, backlog costs 3 (retailer) and 1 (stage 1).
    # The retailer cannot get stock before period 2 (stage 1 has none before its own order arrives in
    # period 1), so 5 units are backlogged for one period: 5 * 3 = 15 at best.  Ordering from stage 1 in
    # period 0 would also create a backlog there; the optimum orders at stage 1 in period 0 and at the
    # retailer in period 1.
    config = chain(4, n_stages=2, lead_time=[1], initial_on_hand=0, initial_pipeline=0, backlog_cost=[3.0, 1.0])
    total, per_stage, sol = clairvoyant_bound(config, np.array([0, 5, 0, 0]))
    assert total == pytest.approx(15.0)
    np.testing.assert_allclose(per_stage, [15.0, 0.0], atol=1e-9)
    # the env, given that plan, costs exactly the bound
    env = make_env(config, n_envs=1)
    env.reset(demand=np.array([[0, 5, 0, 0]]))
    plan = [[0, 5], [5, 0], [0, 0], [0, 0]]  # (retailer, stage 1) orders per period
    cost = sum(env.step(np.array([p]))[4]["cost"].sum() for p in plan)
    assert cost == pytest.approx(15.0)


def test_lost_sales_are_charged_once():
    # lost sales at the retailer: the 3 units short in period 0 are charged once, not carried
    config = chain(3, n_stages=1, lead_time=[1], initial_on_hand=0, initial_pipeline=0, lost_sales=True)
    total, _, _ = clairvoyant_bound(config, np.array([3, 0, 0]))
    assert total == pytest.approx(3.0)


@pytest.mark.parametrize(
    "options",
    [{}, {"lost_sales": True}, {"fixed_order_cost": 5.0}, {"lead_time": [2, 3, 1]}, {"discount_factors": [1.0, 0.9, 0.8, 0.7, 0.6]}],
)
def test_bound_is_below_every_baseline_on_every_path(options):
    T, B = 40, 6
    config = chain(T, **options)
    rng = np.random.default_rng(11)
    demand = np.concatenate([rng.poisson(10, (3, T)), rng.integers(0, 21, (3, T))])  # (B, T)
    bounds, _ = clairvoyant_bounds(config, demand)
    env = make_env(config, n_envs=B)
    probe = make_env(config, n_envs=1)
    for name, cls in POLICIES.items():
        space = cls.param_space(probe, DemandSummary.of(demand))
        for _ in range(3):  # random parameter sets, one per path, drawn from each policy's own search grid
            params = np.stack([[v[rng.integers(len(v))] for v in space.values] for _ in range(B)]) if space.values else None
            cost = rollout(make_baseline(name, params), env, demand, record=False).sum(axis=1)
            assert (bounds <= cost + 1e-6).all(), (name, bounds, cost)


def test_bound_rejects_what_it_cannot_model():
    with pytest.raises(UserError, match="shipping loss"):
        clairvoyant_bound(chain(10, max_loss_percent=10), np.zeros(10))
    with pytest.raises(UserError, match="one column per customer stream"):
        clairvoyant_bound(EnvConfig(kind="network", episode_length=10), np.zeros((10, 3)))  # the preset has 2 streams
    with pytest.raises(UserError, match="periods"):
        clairvoyant_bound(EnvConfig(kind="network", episode_length=10), np.zeros((9, 2)))


# ================================================================ network
def network(T: int, nodes: list[NetworkNodeConfig], edges: list[NetworkEdgeConfig], cap: int = 4, allocation: str = "last_customer_first") -> EnvConfig:
    return EnvConfig(kind="network", episode_length=T,
                     network=NetworkConfig(preset="custom", nodes=nodes, edges=edges, max_order_per_supplier=cap, allocation=allocation))


def node(name: str, **kw) -> NetworkNodeConfig:
    return NetworkNodeConfig(name=name, **kw)


def edge(supplier: str, customer: str, lead_time: int, shipping_cost: float = 0.0) -> NetworkEdgeConfig:
    return NetworkEdgeConfig(supplier=supplier, customer=customer, lead_time=lead_time, shipping_cost=shipping_cost)


def custom_dag(T: int, allocation: str = "last_customer_first") -> EnvConfig:
    """Four nodes, three streams: a plant that loses what it cannot ship to its three customers, a dc that serves a
    stream and ships to the shop, a shop on two suppliers of different lead times, a kiosk with an outside second
    source; uneven costs, leads, initial stocks, backlog and lost sales."""
    nodes = [
        node("plant", holding_cost=0.5, shortage_cost=2.0, initial_on_hand=5, initial_pipeline=3, lost_sales=True),
        node("dc", holding_cost=0.7, shortage_cost=1.5, initial_on_hand=4, initial_pipeline=1, customer_stream=1),
        node("shop", holding_cost=1.0, shortage_cost=3.0, initial_on_hand=2, initial_pipeline=2, customer_stream=0, lost_sales=True),
        node("kiosk", holding_cost=1.2, shortage_cost=2.5, initial_on_hand=0, initial_pipeline=1, customer_stream=2),
    ]
    edges = [
        edge("outside_a", "plant", 3, 0.05), edge("outside_b", "plant", 1, 0.3), edge("plant", "dc", 2, 0.1),
        edge("dc", "shop", 1, 0.2), edge("plant", "shop", 3, 0.05), edge("plant", "kiosk", 2, 0.1), edge("outside_c", "kiosk", 1, 0.5),
    ]
    return network(T, nodes, edges, cap=5, allocation=allocation)


def network_demand(rng: np.random.Generator, B: int, T: int, S: int, high: int) -> np.ndarray:
    """Half smooth, half erratic paths.  -> (B, T, S)"""
    smooth = rng.poisson(high / 2, (B - B // 2, T, S)).clip(0, high)
    return np.concatenate([smooth, rng.integers(0, high + 1, (B // 2, T, S))])


NETWORKS = {"paper_2x3": lambda T: EnvConfig(kind="network", episode_length=T), "custom_dag": custom_dag}


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize("allocation", ["last_customer_first", "first_customer_first", "proportional"])
def test_every_env_trajectory_is_a_feasible_lp_point_of_the_same_cost(name, allocation):
    # Record random-action episodes and write each as the LP's variables: orders, what enters each pipeline,
    # sales, unmet per source, on-hand.  The point must satisfy every equation and bound exactly, and the LP's
    # objective (and per-node cost) must equal the env's cost: then the LP optimum is below any policy's cost.
    T, B = 30, 4
    config = NETWORKS[name](T)
    config.network.allocation = allocation
    lp = ClairvoyantLP(config)
    env = make_env(config, n_envs=B)
    rng = np.random.default_rng(5)
    demand = network_demand(rng, B, T, env.n_streams, 6)  # (B, T, S)
    env.reset(demand=demand)
    S, E = env.n_streams, len(env.edge_supplier)
    orders, received, sales, on_hand = np.zeros((B, E, T)), np.zeros((B, E, T)), np.zeros((B, S, T)), np.zeros((B, env.n_agents, T))
    unmet, cost = np.zeros((B, lp.K, T)), np.zeros((B, env.n_agents))
    for t in range(T):
        actions = rng.integers(0, env.action_nvec[None], (B,) + env.action_nvec.shape)  # (B, N, D)
        owed_before = np.concatenate([env.owed_stream, env.owed_edge[:, env.internal]], axis=1)  # (B, K)
        _, _, _, _, info = env.step(actions)
        orders[:, :, t] = actions[:, env.edge_customer, env.edge_dim]
        received[:, :, t], sales[:, :, t], on_hand[:, :, t] = info["received"], info["customer_sales"], env.on_hand
        asked = np.concatenate([demand[:, t], orders[:, env.internal, t]], axis=1) + owed_before  # (B, K)
        unmet[:, :, t] = asked - np.concatenate([sales[:, :, t], received[:, env.internal, t]], axis=1)
        cost += info["cost"]
    for b in range(B):
        z = np.zeros(lp.c.size)
        z[lp.orders], z[lp.received], z[lp.x[:S]], z[lp.unmet], z[lp.on_hand] = orders[b], received[b], sales[b], unmet[b], on_hand[b]
        b_eq = lp.b_base.copy()
        b_eq[lp.stream_rows] = demand[b].T
        np.testing.assert_allclose(lp.A_eq @ z, b_eq, atol=1e-9)
        assert (z >= lp.bounds[:, 0]).all() and (z <= lp.bounds[:, 1]).all()
        assert lp.c @ z == pytest.approx(cost[b].sum(), abs=1e-9)
        np.testing.assert_allclose(lp.node_cost(z), cost[b], atol=1e-9)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_bound_is_below_baselines_and_random_actions(name):
    T, B = 40, 6
    config = NETWORKS[name](T)
    env = make_env(config, n_envs=B)
    rng = np.random.default_rng(3)
    demand = network_demand(rng, B, T, env.n_streams, 4)  # (B, T, S)
    bounds, per_node = clairvoyant_bounds(config, demand)
    assert bounds.shape == (B,) and per_node.shape == (B, env.n_agents)
    np.testing.assert_allclose(per_node.sum(axis=1), bounds, rtol=1e-9)
    summary = DemandSummary.of(demand)
    costs = []
    for policy_name in policy_names(env.graph):
        space = POLICIES[policy_name].param_space(env, summary)
        candidates = [None] if not space.values else [np.tile(space.value_of(space.index_of(space.start)[None])[0], (B, 1))] + [
            np.stack([[v[rng.integers(len(v))] for v in space.values] for _ in range(B)]) for _ in range(3)
        ]  # the textbook start, then random parameter sets from the policy's own search grid
        for params in candidates:
            costs.append(rollout(make_baseline(policy_name, params), env, demand, record=False).sum(axis=1))
    for _ in range(3):  # uniformly random integer actions
        env.reset(demand=demand)
        total = np.zeros(B)
        for t in range(T):
            total += env.step(rng.integers(0, env.action_nvec[None], (B,) + env.action_nvec.shape))[4]["cost"].sum(axis=1)
        costs.append(total)
    costs = np.stack(costs)  # (policies, B)
    assert (bounds <= costs + 1e-6).all(), (bounds, costs.min(axis=0))
    assert (bounds > 0).all()


def one_node(T: int, lost_sales: bool) -> EnvConfig:
    return network(T, [node("shop", holding_cost=1.0, shortage_cost=3.0, initial_on_hand=2, initial_pipeline=1,
                            customer_stream=0, lost_sales=lost_sales)],
                   [edge("outside", "shop", 2, 0.5)], cap=10)


def replay(config: EnvConfig, demand: np.ndarray, plan: np.ndarray) -> np.ndarray:
    """Env cost per node of a fixed order plan.  demand (T, S), plan (T, E) in edge order -> (N,)"""
    env = make_env(config, n_envs=1)
    env.reset(demand=demand[None])
    total = np.zeros(env.n_agents)
    for t in range(config.episode_length):
        actions = np.zeros((1,) + env.action_nvec.shape, dtype=np.int64)
        actions[0, env.edge_customer, env.edge_dim] = plan[t]
        total += env.step(actions)[4]["cost"][0]
    return total


@pytest.mark.parametrize("lost_sales, expected, plan", [(False, 12.5, [6, 0, 2, 5, 0, 0]), (True, 11.5, [4, 0, 2, 5, 0, 0])])
def test_one_node_optimum_by_hand_and_its_replay(lost_sales, expected, plan):
    # Lead time 2, shipping 0.5 a unit, shortage 3, holding 1; 2 on hand and 1 arriving in periods 0 and 1.
    # Period 0: 3 available for demand 3.  Period 1: 1 available for demand 3, so 2 units short (6) whatever
    # anyone does.  From period 2 on, ordering each period's demand 2 periods ahead meets it just in time at
    # 0.5 a unit, cheaper than any shortage or holding: with backlog the 2 owed units come in the period-0
    # order too (6 + 13 * 0.5 = 12.5); with lost sales they are gone (6 + 11 * 0.5 = 11.5).  Orders in the last
    # two periods would arrive after the horizon.
    config = one_node(6, lost_sales)
    demand = np.array([[3], [3], [4], [0], [2], [5]])
    total, per_node, sol = clairvoyant_bound(config, demand)
    assert total == pytest.approx(expected)
    np.testing.assert_allclose(sol["orders"][0], plan, atol=1e-9)
    assert replay(config, demand, np.rint(sol["orders"].T).astype(np.int64)).sum() == pytest.approx(total, abs=1e-9)


def test_order_cap_and_owed_units_between_nodes():
    # r (lost sales, 5 a unit) buys from w (lead 1), w from two outside sources (lead 1); every order at most 4;
    # both start empty, r must sell 8 in period 2.  Only what w ships in period 1 reaches r by then, and w may
    # ship only what r asked plus what w owes it.  The optimum: r asks 4 in period 0, which w cannot serve
    # (owed: 1 a unit, 4), and 4 more in period 1, when w ships 4 + 4 owed from its two outside orders of
    # period 0.  Asking 4 only in period 1 loses 4 units (20).  An LP that let w ship more than asked + owed, or
    # that let r order over the cap, would reach 0; one that lost w's owed units, 20.
    nodes = [node("r", holding_cost=1.0, shortage_cost=5.0, initial_on_hand=0, initial_pipeline=0, customer_stream=0, lost_sales=True),
             node("w", holding_cost=1.0, shortage_cost=1.0, initial_on_hand=0, initial_pipeline=0)]
    config = network(3, nodes, [edge("w", "r", 1), edge("outside_a", "w", 1), edge("outside_b", "w", 1)], cap=4)
    demand = np.array([[0], [0], [8]])
    total, per_node, _ = clairvoyant_bound(config, demand)
    assert total == pytest.approx(4.0)
    np.testing.assert_allclose(per_node, [0.0, 4.0], atol=1e-9)
    plan = np.array([[4, 4, 4], [4, 0, 0], [0, 0, 0]])  # (T, E) in edge order
    np.testing.assert_allclose(replay(config, demand, plan), per_node, atol=1e-9)


def serial_as_network(config: EnvConfig) -> EnvConfig:
    """The same chain as a network: stage i+1 supplies stage i with stage i's lead time, the top stage buys
    from an outside source, the retailer serves the one stream; backlog cost becomes shortage cost."""
    s, N = config.serial, config.serial.n_stages
    lead = per_stage(s.lead_time, N, "lead_time")
    h, b = per_stage(s.holding_cost, N, "holding_cost"), per_stage(s.backlog_cost, N, "backlog_cost")
    names = [f"stage_{i}" for i in range(N)]
    nodes = [node(names[i], holding_cost=h[i], shortage_cost=b[i], initial_on_hand=s.initial_on_hand, initial_pipeline=s.initial_pipeline,
                  customer_stream=0 if i == 0 else -1, lost_sales=s.lost_sales and i == 0) for i in range(N)]
    edges = [edge(names[i + 1] if i < N - 1 else "outside", names[i], lead[i]) for i in range(N)]
    return network(config.episode_length, nodes, edges, cap=config.order_cap)


SERIAL_CASES = [{}, {"lost_sales": True}, {"lead_time": [2, 3, 1], "holding_cost": [2.0, 1.0, 0.5], "backlog_cost": [4.0, 1.0, 2.0]},
                {"n_stages": 2, "lead_time": [1, 2], "initial_on_hand": 0, "initial_pipeline": 3}]


@pytest.mark.parametrize("options", SERIAL_CASES)
def test_serial_chain_as_a_network_gets_the_serial_bound(options):
    T, B = 30, 4
    serial = chain(T, **options)
    net = serial_as_network(serial)
    rng = np.random.default_rng(7)
    demand = np.concatenate([rng.poisson(10, (2, T)), rng.integers(0, 21, (2, T))])  # (B, T)
    # premise: the network env simulates this chain exactly (same costs per stage, period by period, under the
    # same random orders), so the two LPs describe the same problem
    serial_env, net_env = make_env(serial, n_envs=B), make_env(net, n_envs=B)
    serial_env.reset(demand=demand)
    net_env.reset(demand=demand[:, :, None])
    for _ in range(T):
        actions = rng.integers(0, serial.order_cap + 1, (B, serial.serial.n_stages, 1))
        np.testing.assert_array_equal(serial_env.step(actions)[4]["cost"], net_env.step(actions)[4]["cost"])
    serial_bounds, _ = clairvoyant_bounds(serial, demand)
    net_bounds, _ = clairvoyant_bounds(net, demand[:, :, None])
    np.testing.assert_allclose(net_bounds, serial_bounds, rtol=1e-9, atol=1e-6)
