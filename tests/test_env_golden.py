"""Replay every golden trajectory of the reference implementation and match it to the unit.

Each golden file stores demand and actions; replaying them open-loop must reproduce on-hand, backlog,
pipeline and cost for every period and stage (and, for the serial chain, the observations and the
derived arrivals and shipments). Costs match to 1e-9 (some are float sums such as 0.1 * 3).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from envs import NetworkEnv, SerialEnv
from utils.config import EnvConfig, SerialConfig

GOLDEN = Path(__file__).parent / "golden"
SERIAL_FILES = sorted(GOLDEN.glob("serial_*.json"))
NETWORK_FILES = sorted(GOLDEN.glob("network_*.json"))


def serial_config_from_golden(params: dict, T: int) -> EnvConfig:
    serial = SerialConfig(
        n_stages=params["stages"],
        lead_time=[params["lead_time"]],
        holding_cost=params["holding_cost"],
        backlog_cost=params["backlog_cost"],
        initial_on_hand=params["initial_on_hand"],
        initial_pipeline=params["initial_pipeline"],
        fixed_order_cost=float(params["fixed_cost_value"]) if params["fixed_cost"] else 0.0,
        discount_factors=params["discount_factors_by_tier"] or [],
        discount_tier_width=params["discount_tier_width"] or 5,
        unit_order_cost=params["unit_order_cost"] or [1.0],
        max_loss_percent=params["max_loss_percent"] or 0,
    )
    return EnvConfig(kind="serial", episode_length=T, order_cap=params["order_cap"], serial=serial)


def test_golden_files_are_all_covered():
    assert len(SERIAL_FILES) == 9 and len(NETWORK_FILES) == 2


@pytest.mark.parametrize("path", SERIAL_FILES, ids=lambda p: p.stem)
def test_serial_golden_trajectory(path: Path):
    g = json.loads(path.read_text())
    T = g["T"]
    env = SerialEnv(serial_config_from_golden(g["params"], T), n_envs=1)
    obs, _ = env.reset(demand=np.array(g["demand"])[None])
    scale = g["params"]["obs_normalizer"]
    np.testing.assert_array_equal(np.rint(obs[0] * scale), g["obs_reset"])
    total = np.zeros(env.n_agents)
    for t in range(T):
        loss = np.array(g["loss_percent"][t])[None] if "loss_percent" in g else None
        obs, rewards, terminated, truncated, info = env.step(np.array(g["actions"][t])[None], loss_percent=loss)
        np.testing.assert_array_equal(env.on_hand[0], g["on_hand"][t], err_msg=f"on_hand t={t}")
        np.testing.assert_array_equal(env.backlog[0], g["backlog"][t], err_msg=f"backlog t={t}")
        np.testing.assert_array_equal(env.pipeline[0], g["pipeline"][t], err_msg=f"pipeline t={t}")
        np.testing.assert_allclose(info["cost"][0], g["cost"][t], rtol=0, atol=1e-9, err_msg=f"cost t={t}")
        np.testing.assert_array_equal(np.rint(obs[0] * scale), g["obs"][t], err_msg=f"obs t={t}")
        np.testing.assert_allclose(obs[0] * scale, g["obs"][t], rtol=1e-6)
        np.testing.assert_array_equal(info["arrived"][0], g["arrived"][t], err_msg=f"arrived t={t}")
        np.testing.assert_array_equal(info["shipped"][0], g["shipped"][t], err_msg=f"shipped t={t}")
        if "extra_cost" in g:
            base = env.holding_cost * env.on_hand[0] + env.backlog_cost * env.backlog[0]
            np.testing.assert_allclose(info["cost"][0] - base, g["extra_cost"][t], rtol=0, atol=1e-9)
        assert not terminated[0] and truncated[0] == (t == T - 1)
        total += info["cost"][0]
    np.testing.assert_allclose(total, g["total_cost"], rtol=0, atol=1e-7)


def test_serial_basestock_golden_orders_follow_the_rule():
    """The stored base-stock orders are clip(S - (on_hand - backlog + pipeline), 0, 20) of the state before."""
    g = json.loads((GOLDEN / "serial_basestock.json").read_text())
    env = SerialEnv(serial_config_from_golden(g["params"], g["T"]), n_envs=1)
    env.reset(demand=np.array(g["demand"])[None])
    levels = np.array(g["base_stock_levels"])
    for t in range(g["T"]):
        position = env.on_hand[0] - env.backlog[0] + env.pipeline[0].sum(axis=1)
        np.testing.assert_array_equal(np.clip(levels - position, 0, 20), g["actions"][t])
        env.step(np.array(g["actions"][t])[None])


@pytest.mark.parametrize("path", NETWORK_FILES, ids=lambda p: p.stem)
def test_network_golden_trajectory(path: Path):
    g = json.loads(path.read_text())
    T = g["T"]
    env = NetworkEnv(EnvConfig(kind="network", episode_length=T), n_envs=1)
    env.reset(demand=np.array(g["demand"])[None])
    edge_of = {(int(s), int(c)): e for e, (s, c) in enumerate(zip(env.edge_supplier, env.edge_customer))}
    total = np.zeros(env.n_agents)
    for t in range(T):
        raw = np.array(g["actions"][t])
        decoded = np.stack([raw // 5, raw % 5], axis=1)
        np.testing.assert_array_equal(decoded, g["actions_decoded"][t])
        _, _, _, truncated, info = env.step(decoded[None])
        np.testing.assert_array_equal(env.on_hand[0], np.ravel(g["on_hand"][t]), err_msg=f"on_hand t={t}")
        np.testing.assert_array_equal(env.pipeline[0], np.reshape(g["pipeline"][t], (6, -1)), err_msg=f"pipeline t={t}")
        np.testing.assert_allclose(info["cost"][0], g["cost"][t], rtol=0, atol=1e-9, err_msg=f"cost t={t}")
        np.testing.assert_array_equal(info["customer_sales"][0], g["customer_sales"][t])
        for agent in range(6):
            level, node = divmod(agent, 2)
            if level == 0:  # retailer: unmet customer demand of its own stream, lost
                expected = [0, 0]
                expected[node] = int(info["unmet"][0, agent])
            else:  # what this node owes each downstream node
                expected = [int(env.owed_edge[0, edge_of[(agent, 2 * (level - 1) + d)]]) for d in range(2)]
            assert expected == g["backlog"][t][agent], f"backlog t={t} agent={agent}"
            received = [int(info["received"][0, e]) for e in env.in_edges[agent]]
            assert received == g["received"][t][agent], f"received t={t} agent={agent}"
        total += info["cost"][0]
        assert truncated[0] == (t == T - 1)
    np.testing.assert_allclose(total, g["total_cost"], rtol=0, atol=1e-7)


def test_batched_replay_equals_single_replays():
    """Stacking different golden runs into one batch gives each run's own trajectory (no cross-talk)."""
    files = [GOLDEN / "serial_random.json", GOLDEN / "serial_extremes.json", GOLDEN / "serial_basestock.json"]
    runs = [json.loads(f.read_text()) for f in files]
    env = SerialEnv(serial_config_from_golden(runs[0]["params"], 40), n_envs=3)
    env.reset(demand=np.array([r["demand"] for r in runs]))
    for t in range(40):
        _, _, _, _, info = env.step(np.array([r["actions"][t] for r in runs]))
        for b, r in enumerate(runs):
            np.testing.assert_array_equal(env.on_hand[b], r["on_hand"][t])
            np.testing.assert_allclose(info["cost"][b], r["cost"][t], atol=1e-9, rtol=0)
