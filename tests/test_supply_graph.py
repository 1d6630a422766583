"""The supply-graph model and its read API: one consumer code path for the serial chain and any DAG.

A custom 4-node DAG (a plant, two DCs, a retailer buying from both) runs every baseline defined on it, the
clairvoyant LP bound and a short training through the same consumer code as the paper's settings; a serial
chain written as a network is recognised as a chain and its echelon policies match the serial env's.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from agents.baselines import POLICIES, DemandSummary, make_baseline, policy_names, rollout, tune
from agents.clairvoyant import clairvoyant_bounds
from envs import make_env
from utils.config import EnvConfig, ExperimentConfig, NetworkConfig, NetworkEdgeConfig, NetworkNodeConfig, SerialConfig
from utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def diamond(T: int = 30) -> EnvConfig:
    """plant <- outside; dc_a, dc_b <- plant (different leads and prices); retailer <- dc_a and dc_b."""
    nodes = [
        NetworkNodeConfig(name="retailer", holding_cost=1.0, shortage_cost=3.0, initial_on_hand=4, initial_pipeline=2,
                          customer_stream=0, lost_sales=True),
        NetworkNodeConfig(name="dc_a", holding_cost=0.6, shortage_cost=1.0, initial_on_hand=3, initial_pipeline=1),
        NetworkNodeConfig(name="dc_b", holding_cost=0.8, shortage_cost=1.0, initial_on_hand=2, initial_pipeline=2),
        NetworkNodeConfig(name="plant", holding_cost=0.3, shortage_cost=0.5, initial_on_hand=6, initial_pipeline=3),
    ]
    edges = [
        NetworkEdgeConfig(supplier="dc_a", customer="retailer", lead_time=1, shipping_cost=0.3),
        NetworkEdgeConfig(supplier="dc_b", customer="retailer", lead_time=3, shipping_cost=0.1),
        NetworkEdgeConfig(supplier="plant", customer="dc_a", lead_time=2, shipping_cost=0.05),
        NetworkEdgeConfig(supplier="plant", customer="dc_b", lead_time=1, shipping_cost=0.05),
        NetworkEdgeConfig(supplier="outside", customer="plant", lead_time=2, shipping_cost=0.0),
    ]
    net = NetworkConfig(preset="custom", nodes=nodes, edges=edges, max_order_per_supplier=6)
    return EnvConfig(kind="network", episode_length=T, reward_alpha=0.5, network=net)


def test_the_graph_of_each_env_kind():
    serial = make_env(EnvConfig(serial=SerialConfig(lead_time=[2, 3, 1])), n_envs=1).graph
    assert serial.is_chain and serial.single_sourced
    assert serial.edge_supplier.tolist() == [1, 2, -1] and serial.node_lead.tolist() == [2, 3, 1]
    assert serial.echelon_cover.tolist() == [3.0, 6.0, 7.0]
    assert serial.supplier_layout.label == ["retailer", "stage_1", "stage_2"]
    dag = make_env(diamond(), n_envs=1).graph
    assert not dag.is_chain and not dag.single_sourced
    assert dag.in_edges == [[0, 1], [2], [3], [4]] and dag.out_edges == [[], [0], [1], [2, 3]]
    assert dag.action_nvec.tolist() == [[7, 7], [7, 1], [7, 1], [7, 1]]
    # multi-index order: the retailer's fast supplier (dc_a, L=1) first; single-supplier nodes by name alone
    assert dag.supplier_layout.label == ["retailer<-dc_a", "retailer<-dc_b", "dc_a", "dc_b", "plant"]
    assert [e for _, e, _ in dag.dims(by="price")][:2] == [1, 0]  # the retailer's cheapest supplier first
    paper = make_env(EnvConfig(kind="network"), n_envs=1).graph
    assert not paper.is_chain and len(paper.supplier_layout.node) == 12


def test_read_api_agrees_with_the_state_on_a_dag():
    """Owed units seen from both ends of every edge, and the inventory position by its definition."""
    env = make_env(diamond(40), n_envs=5)
    rng = np.random.default_rng(0)
    env.reset(demand=rng.integers(0, 9, (5, 40, 1)))
    g = env.graph
    owed_some = False
    for _ in range(40):
        env.step(rng.integers(0, g.action_nvec[None], (5,) + g.action_nvec.shape))
        edges = env.owed_on_edges()  # (B, E)
        by_customer = np.stack([edges[:, g.in_edges[i]].sum(axis=1) for i in range(g.n_nodes)], axis=1)
        np.testing.assert_array_equal(env.supplier_owed(), by_customer)
        by_supplier = np.stack([edges[:, g.out_edges[i]].sum(axis=1) for i in range(g.n_nodes)], axis=1)
        np.testing.assert_array_equal(env.owed_to_customers(), by_supplier)  # the retailer loses sales: owes none
        expected = env.on_hand - by_supplier + env.pipeline.sum(axis=2) + by_customer
        np.testing.assert_array_equal(env.inventory_position(), expected)
        owed_some |= bool(edges.any())
    assert owed_some  # the check saw units owed on some edge
    with pytest.raises(UserError, match="chain"):
        env.echelon_position()


def test_every_applicable_baseline_the_bound_and_training_run_on_the_dag():
    T, B = 30, 6
    config = diamond(T)
    env = make_env(config, n_envs=B)
    applicable = policy_names(env.graph)
    assert applicable == ["installation_base_stock", "forecast_base_stock", "forecast_installation_proportional",
                          "pout_installation_static", "pout_installation", "pass_through", "constant_order"]
    rng = np.random.default_rng(1)
    demand = rng.poisson(3, (B, T, 1))
    bounds, per_node = clairvoyant_bounds(config, demand)
    assert bounds.shape == (B,) and (bounds > 0).all()
    np.testing.assert_allclose(per_node.sum(axis=1), bounds, rtol=1e-9)
    tuning = rng.poisson(3, (4, T, 1))
    for name in applicable:
        result = tune(name, config, tuning, max_sweeps=1, seed=0)
        assert len(result.params) == len(result.param_names)
        cost = rollout(make_baseline(name, result.params), env, demand, record=False).sum(axis=1)  # (B,)
        assert np.isfinite(cost).all() and (bounds <= cost + 1e-6).all(), name
    for name in set(POLICIES.names()) - set(applicable):
        with pytest.raises(UserError, match="needs"):
            POLICIES[name].param_space(env, DemandSummary(3.0, 8.0))

    from agents.happo_agent import HAPPOTrainer, evaluate_policy

    experiment = ExperimentConfig(env=config)
    experiment.demand.kind, experiment.demand.stationary_mean, experiment.demand.max_demand = "stationary", 3.0, 8
    experiment.train.n_envs, experiment.train.total_env_steps, experiment.train.n_minibatches = 4, 2 * 4 * T, 2
    experiment.train.ppo_epochs = 1
    train_env = make_env(config, n_envs=4, demand_config=experiment.demand, seed=0)
    trainer = HAPPOTrainer(experiment, train_env)
    for _ in range(trainer.n_iterations):
        stats = trainer.train_iteration()
        assert np.isfinite(stats["train_cost"])
    result = evaluate_policy(trainer.policy(), env, demand, seed=0)
    assert (bounds <= result["episode_cost"] + 1e-6).all()


def test_a_chain_written_as_a_network_is_a_chain_and_its_echelon_policies_match_the_serial_env():
    from test_clairvoyant import serial_as_network

    T, B = 40, 4
    serial = EnvConfig(episode_length=T, serial=SerialConfig(lead_time=[2, 3, 1], holding_cost=[2.0, 1.0, 0.5]))
    net = serial_as_network(serial)
    serial_env, net_env = make_env(serial, n_envs=B), make_env(net, n_envs=B)
    assert net_env.graph.is_chain and set(policy_names(net_env.graph)) == set(POLICIES.names())
    demand = np.random.default_rng(2).poisson(10, (B, T))
    for name, params in [("echelon_base_stock", [40.0, 90.0, 120.0]), ("installation_base_stock", [35.0, 45.0, 30.0]),
                         ("s_S", [30.0, 40.0, 20.0, 45.0, 60.0, 35.0])]:
        a = rollout(make_baseline(name, np.array(params)), serial_env, demand, record=False)
        b = rollout(make_baseline(name, np.array(params)), net_env, demand[:, :, None], record=False)
        np.testing.assert_array_equal(a, b)


CONSUMERS = ["agents/*.py", "agents/baselines/*.py", "utils/metrics.py", "evaluate_main.py", "train_main.py"]


def test_consumers_never_ask_which_env_kind_they_face():
    """No consumer branches on the env kind or class; only echelon policies (requires = "chain") ask for a shape."""
    kind_branch = re.compile(r"\.kind\s*(==|!=|in\b)|is_serial|_require_serial|isinstance\([^)]*(SerialEnv|NetworkEnv)")
    files = sorted({p for pattern in CONSUMERS for p in ROOT.glob(pattern)})
    assert len(files) > 15
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in files for n, line in enumerate(p.read_text().splitlines(), 1)
                 if kind_branch.search(line)]
    assert offenders == []
    chain_policies = sorted(name for name, cls in POLICIES.items() if cls.requires == "chain")
    assert chain_policies == ["echelon_base_stock", "forecast_echelon", "forecast_echelon_proportional", "pout_echelon",
                              "pout_echelon_static"]
