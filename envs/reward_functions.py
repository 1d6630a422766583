"""Training rewards built from the agents' raw per-period costs.

The environments always report each agent's raw cost (``info["cost"]``, positive money per period);
the reward an agent trains on is a choice: its own cost, the team's, or a mix. Liu et al. mix own and
team cost with a weight alpha (0.5 on the serial chain, 0.75 on the network) so that an agent cares
about its own stage without ignoring the chain.
"""
from __future__ import annotations

import numpy as np


def own_cost_reward(cost: np.ndarray) -> np.ndarray:
    """Each agent is rewarded by minus its own cost.  cost (B, N) -> reward (B, N)."""
    return -cost


def team_cost_reward(cost: np.ndarray) -> np.ndarray:
    """Every agent is rewarded by minus the mean cost of all agents.  cost (B, N) -> reward (B, N)."""
    return np.broadcast_to(-cost.mean(axis=1, keepdims=True), cost.shape).copy()


def mixed_reward(cost: np.ndarray, alpha: float) -> np.ndarray:
    """reward_i = -(alpha * cost_i + (1 - alpha) * mean_j cost_j).  cost (B, N) -> reward (B, N).

    alpha = 1 is ``own_cost_reward``, alpha = 0 is ``team_cost_reward``.
    """
    return -(alpha * cost + (1.0 - alpha) * cost.mean(axis=1, keepdims=True))
