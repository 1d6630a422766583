"""On-policy rollout storage over the batched env, and generalised advantage estimation.

A rollout is one episode of every env (all envs run in lockstep and truncate together), stored as tensors
shaped (T, B, N, ...). ``compute_gae`` is a pure function so that its treatment of episode ends is pinned
by tests: a time limit (truncation) bootstraps from V(s_T), since the chain would have gone on; only a
true termination bootstraps from 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(gamma, lambda) advantages and the lambda-returns (advantages + values).

    rewards, values, next_values: (T, ...) with next_values[t] = V(s_{t+1}) of the observation returned by
    step t (before any reset). terminated, truncated: bool (T, ...) or (T, B) broadcast over trailing dims.

        delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
        A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},  done = terminated or truncated

    The recursion stops at every episode end (the next step belongs to a new episode) and after the last
    stored step; only termination removes the bootstrap value. Returns advantages, returns: (T, ...).
    """
    def expand(flag: torch.Tensor) -> torch.Tensor:
        flag = flag.to(rewards.dtype)
        while flag.dim() < rewards.dim():
            flag = flag.unsqueeze(-1)
        return flag

    not_terminal = 1.0 - expand(terminated)
    not_done = 1.0 - expand(torch.logical_or(terminated.bool(), truncated.bool()))
    deltas = rewards + gamma * next_values * not_terminal - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * lam * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values


@dataclass
class Batch:
    """A rollout flattened over time and envs: M = T * B samples."""

    obs: torch.Tensor  # (M, N, obs_dim)
    state: torch.Tensor  # (M, state_dim)
    actions: torch.Tensor  # int64 (M, N, D)
    values: torch.Tensor  # (M, N) raw (denormalised) critic values at collection time
    advantages: torch.Tensor  # (M, N) raw GAE advantages
    returns: torch.Tensor  # (M, N) lambda-returns, the critic's targets


class RolloutBuffer:
    """Preallocated storage for one rollout of T steps of B envs with N agents."""

    def __init__(self, T: int, B: int, N: int, obs_dim: int, state_dim: int, n_dims: int) -> None:
        self.T, self.B, self.N = T, B, N
        self.obs = torch.zeros(T, B, N, obs_dim)
        self.state = torch.zeros(T, B, state_dim)
        self.actions = torch.zeros(T, B, N, n_dims, dtype=torch.long)
        self.rewards = torch.zeros(T, B, N)
        self.values = torch.zeros(T, B, N)  # V(s_t), raw
        self.next_values = torch.zeros(T, B, N)  # V(s_{t+1}) of the step's own next state, raw
        self.terminated = torch.zeros(T, B, dtype=torch.bool)
        self.truncated = torch.zeros(T, B, dtype=torch.bool)
        self.t = 0

    def add(
        self,
        obs: torch.Tensor,
        state: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        values: torch.Tensor,
        next_values: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
    ) -> None:
        """Store step t.  obs (B, N, obs_dim), state (B, S), actions (B, N, D), rewards/values/next_values
        (B, N), terminated/truncated (B,)."""
        t = self.t
        self.obs[t], self.state[t], self.actions[t] = obs, state, actions
        self.rewards[t], self.values[t], self.next_values[t] = rewards, values, next_values
        self.terminated[t], self.truncated[t] = terminated, truncated
        self.t += 1

    def full(self) -> bool:
        return self.t == self.T

    def batch(self, gamma: float, lam: float) -> Batch:
        """GAE over the stored steps, everything flattened to M = T * B samples."""
        advantages, returns = compute_gae(
            self.rewards, self.values, self.next_values, self.terminated, self.truncated, gamma, lam
        )
        M = self.T * self.B
        return Batch(
            obs=self.obs.reshape(M, self.N, -1),
            state=self.state.reshape(M, -1),
            actions=self.actions.reshape(M, self.N, -1),
            values=self.values.reshape(M, self.N),
            advantages=advantages.reshape(M, self.N),
            returns=returns.reshape(M, self.N),
        )

    def reset(self) -> None:
        self.t = 0
