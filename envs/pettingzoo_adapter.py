"""A single environment seen through PettingZoo's ``ParallelEnv`` interface (dicts keyed by agent name).

The batched engine is the real implementation; this thin adapter runs it with ``n_envs = 1`` so tools
built for PettingZoo (its API test, wrappers, other libraries' trainers) can drive our chains. It needs
``pettingzoo`` and ``gymnasium`` (development requirements), imported only when the adapter is built.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from envs.base_env import BatchedInventoryEnv
from utils.errors import UserError

try:
    from gymnasium import spaces
    from pettingzoo import ParallelEnv
except ImportError:  # the adapter is optional; the batched envs do not need it
    spaces = None
    ParallelEnv = object


class InventoryParallelEnv(ParallelEnv):
    """PettingZoo parallel API over one chain of a batched environment built with ``n_envs = 1``."""

    metadata = {"name": "multi_echelon_inventory_v0", "render_modes": []}

    def __init__(self, env: BatchedInventoryEnv) -> None:
        if spaces is None:
            raise UserError("the PettingZoo adapter needs pettingzoo; install it with pip install -r requirements-dev.txt")
        if env.n_envs != 1:
            raise UserError(f"the PettingZoo adapter wraps one chain; build the env with n_envs=1 (got {env.n_envs})")
        self.env = env
        self.possible_agents = list(env.agent_names)
        self.agents: list[str] = []
        self.render_mode = None
        self._observation_spaces = {
            name: spaces.Box(low=-np.inf, high=np.inf, shape=(env.obs_dim,), dtype=np.float32) for name in env.agent_names
        }
        self._action_spaces = {}
        for i, name in enumerate(env.agent_names):
            nvec = env.action_nvec[i]
            single = nvec.shape[0] == 1
            self._action_spaces[name] = spaces.Discrete(int(nvec[0])) if single else spaces.MultiDiscrete(nvec)
        self.state_space = spaces.Box(low=-np.inf, high=np.inf, shape=(env.state_dim,), dtype=np.float32)

    def observation_space(self, agent: str):
        return self._observation_spaces[agent]

    def action_space(self, agent: str):
        return self._action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        demand = (options or {}).get("demand")
        if demand is not None:
            demand = np.asarray(demand)[None]
        obs, _ = self.env.reset(seed=seed, demand=demand)
        self.agents = list(self.possible_agents)
        return self._per_agent(obs[0]), {name: {} for name in self.agents}

    def step(self, actions: dict[str, Any]):
        if set(actions) != set(self.agents):
            missing = sorted(set(self.agents) - set(actions))
            raise UserError(f"actions must name every live agent; missing {missing}")
        batch = np.stack(
            [np.atleast_1d(np.asarray(actions[name], dtype=np.int64)) for name in self.possible_agents]
        )[None]  # (1, N, D)
        obs, rewards, terminated, truncated, info = self.env.step(batch)
        names = self.possible_agents
        out = (
            self._per_agent(obs[0]),
            {n: float(rewards[0, i]) for i, n in enumerate(names)},
            {n: bool(terminated[0]) for n in names},
            {n: bool(truncated[0]) for n in names},
            {n: {"cost": float(info["cost"][0, i])} for i, n in enumerate(names)},
        )
        if terminated[0] or truncated[0]:
            self.agents = []
        return out

    def state(self) -> np.ndarray:
        return self.env.state()[0]

    def _per_agent(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {name: obs[i] for i, name in enumerate(self.possible_agents)}
