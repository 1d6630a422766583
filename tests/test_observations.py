"""The opt-in observation features equal their definitions, and never change the paper's part.

On a random run every feature is recomputed from the env's state (or from the observations of earlier
periods, for the demand history) and compared with what the observation shows.
"""
from __future__ import annotations

import numpy as np
import pytest

from envs import NetworkEnv, SerialEnv
from utils.config import EnvConfig

B, T, K = 8, 40, 3


def rng_demand(env) -> np.ndarray:
    return np.random.default_rng(99).integers(0, 15, size=(B, T, env.n_streams))  # (B, T, S)


def run(env, seed: int):
    """Random orders on random demand; yields the observation after reset and after every step."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(demand=rng_demand(env))
    yield obs
    for _ in range(T):
        actions = rng.integers(0, env.action_nvec[None], size=(B, *env.action_nvec.shape))
        obs, *_ = env.step(actions)
        yield obs


@pytest.mark.parametrize("env_cls,kind", [(SerialEnv, "serial"), (NetworkEnv, "network")])
def test_opt_in_features_match_their_definitions(env_cls, kind):
    paper = env_cls(EnvConfig(kind=kind, episode_length=T), n_envs=B)
    serial = kind == "serial"
    rich_config = EnvConfig(kind=kind, episode_length=T, obs_inventory_position=True, obs_supplier_owed=True,
                            obs_echelon_position=serial, obs_time_left=True, obs_demand_history=K, obs_shared_demand=K)
    rich = env_cls(rich_config, n_envs=B)
    base_dim = paper.obs_dim
    S = rich.n_streams
    assert rich.obs_dim == base_dim + 2 + serial + K + K * S + 1

    seen: list[np.ndarray] = []  # demand seen per period, in units, from the paper observation
    customer = rng_demand(rich)  # (B, T, S) the demand both runs are given
    for t, (obs_paper, obs_rich) in enumerate(zip(run(paper, 3), run(rich, 3))):
        scale = rich.obs_scale
        assert obs_rich.shape == (B, rich.n_agents, rich.obs_dim)
        np.testing.assert_array_equal(obs_rich[:, :, :base_dim], obs_paper)  # the paper's part is untouched
        np.testing.assert_allclose(obs_rich[:, :, base_dim] * scale, rich.inventory_position(), atol=1e-4)
        np.testing.assert_allclose(obs_rich[:, :, base_dim + 1] * scale, rich.supplier_owed(), atol=1e-4)
        col = base_dim + 2
        if serial:  # echelon position of stage i: stock on hand and in transit at and below i, minus the
            # retailer's backlog, plus what stage i's supplier owes it
            stock = np.cumsum(rich.on_hand + rich.pipeline.sum(axis=2), axis=1)
            echelon = stock - rich.backlog[:, :1] + rich.supplier_owed()
            np.testing.assert_allclose(obs_rich[:, :, col] * scale, echelon, atol=1e-3)
            col += 1
        seen.append(obs_paper[:, :, 2] * scale)
        history = obs_rich[:, :, col: col + K] * scale  # newest first
        for k in range(K):  # k periods before the previous one; before the start it repeats the reset value
            np.testing.assert_allclose(history[:, :, k], seen[max(t - 1 - k, 0)], atol=1e-4)
        shared = obs_rich[:, :, col + K: col + K + K * S].reshape(B, rich.n_agents, S, K) * scale
        for k in range(K):  # customer demand k periods before the last one; before the start the reset value
            expected = customer[:, t - 1 - k] if t - 1 - k >= 0 else np.full((B, S), rich.reset_customer_demand)
            np.testing.assert_allclose(shared[:, :, :, k], np.broadcast_to(expected[:, None], (B, rich.n_agents, S)), atol=1e-4)
        np.testing.assert_allclose(obs_rich[:, :, -1], 1.0 - t / T, atol=1e-6)


def test_bad_observation_options_are_clear_errors():
    from utils.errors import UserError

    with pytest.raises(UserError, match="obs_demand_history"):
        SerialEnv(EnvConfig(obs_demand_history=-1))
    with pytest.raises(UserError, match="obs_shared_demand"):
        SerialEnv(EnvConfig(obs_shared_demand=-2))
    with pytest.raises(UserError, match="where the supply graph is a chain"):
        NetworkEnv(EnvConfig(kind="network", obs_echelon_position=True))
