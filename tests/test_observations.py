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


def run(env, seed: int):
    """Random orders on random demand; yields (obs, env) after reset and after every step."""
    rng = np.random.default_rng(seed)
    demand = rng.integers(0, 15, size=(B, T, env.n_streams))
    obs, _ = env.reset(demand=demand)
    yield obs
    for _ in range(T):
        actions = rng.integers(0, env.action_nvec[None], size=(B, *env.action_nvec.shape))
        obs, *_ = env.step(actions)
        yield obs


@pytest.mark.parametrize("env_cls,kind", [(SerialEnv, "serial"), (NetworkEnv, "network")])
def test_opt_in_features_match_their_definitions(env_cls, kind):
    paper = env_cls(EnvConfig(kind=kind, episode_length=T), n_envs=B)
    rich_config = EnvConfig(kind=kind, episode_length=T, obs_inventory_position=True, obs_supplier_owed=True,
                            obs_time_left=True, obs_demand_history=K)
    rich = env_cls(rich_config, n_envs=B)
    base_dim = paper.obs_dim
    assert rich.obs_dim == base_dim + 2 + K + 1

    seen: list[np.ndarray] = []  # demand seen per period, in units, from the paper observation
    for t, (obs_paper, obs_rich) in enumerate(zip(run(paper, 3), run(rich, 3))):
        scale = rich.obs_scale
        assert obs_rich.shape == (B, rich.n_agents, rich.obs_dim)
        np.testing.assert_array_equal(obs_rich[:, :, :base_dim], obs_paper)  # the paper's part is untouched
        np.testing.assert_allclose(obs_rich[:, :, base_dim] * scale, rich.inventory_position(), atol=1e-4)
        np.testing.assert_allclose(obs_rich[:, :, base_dim + 1] * scale, rich.supplier_owed(), atol=1e-4)
        seen.append(obs_paper[:, :, 2] * scale)
        history = obs_rich[:, :, base_dim + 2: base_dim + 2 + K] * scale  # newest first
        for k in range(K):  # k periods before the previous one; before the start it repeats the reset value
            np.testing.assert_allclose(history[:, :, k], seen[max(t - 1 - k, 0)], atol=1e-4)
        np.testing.assert_allclose(obs_rich[:, :, -1], 1.0 - t / T, atol=1e-6)


def test_negative_history_is_a_clear_error():
    from utils.errors import UserError

    with pytest.raises(UserError, match="obs_demand_history"):
        SerialEnv(EnvConfig(obs_demand_history=-1))
