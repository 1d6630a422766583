"""The single-env PettingZoo adapter passes PettingZoo's own API test and mirrors the batched env."""
from __future__ import annotations

import numpy as np
import pytest

from envs import make_env
from envs.pettingzoo_adapter import InventoryParallelEnv
from utils.config import DemandConfig, EnvConfig

pettingzoo_test = pytest.importorskip("pettingzoo.test")


@pytest.mark.parametrize("kind", ["serial", "network"])
def test_parallel_api_test(kind: str):
    demand = DemandConfig(kind="stationary", stationary_mean=10 if kind == "serial" else 2)
    env = make_env(EnvConfig(kind=kind, episode_length=60), n_envs=1, demand_config=demand, seed=0)
    pettingzoo_test.parallel_api_test(InventoryParallelEnv(env), num_cycles=100)


def test_adapter_matches_batched_env():
    demand = np.random.default_rng(0).poisson(10, size=30)
    batched = make_env(EnvConfig(episode_length=30), n_envs=1)
    adapter = InventoryParallelEnv(make_env(EnvConfig(episode_length=30), n_envs=1))
    obs_b, _ = batched.reset(demand=demand[None])
    obs_a, _ = adapter.reset(options={"demand": demand})
    rng = np.random.default_rng(1)
    for t in range(30):
        orders = rng.integers(0, 21, size=3)
        for i, name in enumerate(adapter.possible_agents):
            np.testing.assert_array_equal(obs_a[name], obs_b[0, i])
        obs_b, rew_b, _, trunc_b, info_b = batched.step(orders[None])
        obs_a, rew_a, _, trunc_a, info_a = adapter.step(dict(zip(adapter.possible_agents, orders.tolist())))
        assert [rew_a[n] for n in adapter.possible_agents] == rew_b[0].tolist()
        assert [info_a[n]["cost"] for n in adapter.possible_agents] == info_b["cost"][0].tolist()
    assert trunc_b[0] and all(trunc_a.values()) and adapter.agents == []
