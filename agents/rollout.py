"""The one episode loop: any policy (classic rule, trained network, planner or correction wrapper) on a batched env.

Evaluation (``evaluate_main.py``), baseline tuning (``agents.baselines.tuning``) and the trainer's periodic
validation (``agents.happo_agent.evaluate_policy``) all run episodes through ``rollout``, so a number is
computed the same way wherever it is reported. Torch-free: baseline-only runs never import torch.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from utils.metrics import Rollout


class BatchedPolicy(Protocol):
    """Any policy evaluation can run: batched observations / env state in, integer orders out."""

    name: str

    def reset(self, env: Any) -> None:
        """Called after ``env.reset``: clear any memory."""

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        """obs (B, N, obs_dim) and the env (state at the end of the last period) -> actions int (B, N, D)."""


class LearnedPolicy:
    """A trained policy (``agents.happo_agent.load_policy``) behind the baseline interface.

    It acts greedily (argmax), as training selects models; ``deterministic=False`` samples each agent's
    distribution instead (from the policy's own seeded generator), to see what greedy acting costs."""

    def __init__(self, policy: Any, name: str = "happo", deterministic: bool = True) -> None:
        self.policy = policy
        self.name = name
        self.deterministic = deterministic

    def reset(self, env: Any) -> None:
        pass

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        return self.policy.act(obs, deterministic=self.deterministic)


def rollout(policy: BatchedPolicy, env: Any, demand: np.ndarray, seed: int | None = None, record: bool = True):
    """Run one episode per demand path, all in one batch.

    demand int (B, T, S) or (B, T) with B = env.n_envs. seed re-seeds the env's own draws (shipping loss).
    Returns a ``utils.metrics.Rollout`` when ``record``, else only the cost per episode and agent (B, N)
    (what tuning needs, without keeping T copies of the state).
    """
    obs, _ = env.reset(seed=seed, demand=demand)
    policy.reset(env)
    B, N, T = env.n_envs, env.n_agents, env.episode_length
    if not record:
        total = np.zeros((B, N))
        for _ in range(T):
            obs, _, _, _, info = env.step(policy.act(obs, env))
            total += info["cost"]
        return total  # (B, N)
    cost, orders, seen, unmet, on_hand = (np.zeros((B, T, N)) for _ in range(5))
    for t in range(T):
        actions = np.asarray(policy.act(obs, env))
        obs, _, _, _, info = env.step(actions)
        cost[:, t] = info["cost"]
        orders[:, t] = actions.reshape(B, N, -1).sum(axis=2)
        seen[:, t] = env.demand_seen
        unmet[:, t] = info["unmet"]
        on_hand[:, t] = env.on_hand
    customer = env.demand.astype(np.float64)  # (B, T, S)
    return Rollout(cost=cost, orders=orders, demand_seen=seen, unmet=unmet, on_hand=on_hand, customer_demand=customer)

