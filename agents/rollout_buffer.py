"""On-policy rollout storage over the batched env, and generalised advantage estimation.

A rollout is one episode of every env (all envs run in lockstep and truncate together), stored as tensors
shaped (T, B, N, ...). ``compute_gae`` is a pure function so that its treatment of episode ends is pinned
by tests: a time limit (truncation) bootstraps from V(s_T), since the chain would have gone on; only a
true termination bootstraps from 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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
    discounts = gamma * lam * not_done  # computed once: the loop below then has no Python-number operations
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + discounts[t] * running
        advantages[t] = running
    return advantages, advantages + values


@dataclass
class Batch:
    """A rollout flattened over time and envs: M = T * B samples."""

    obs: torch.Tensor  # (M, N, obs_dim)
    state: torch.Tensor  # (M, state_dim)
    actions: torch.Tensor  # int64 (M, N, D)
    log_prob: torch.Tensor  # (M, N) each agent's log-probability of its action under the policy that acted
    values: torch.Tensor  # (M, N) raw (denormalised) critic values at collection time
    advantages: torch.Tensor  # (M, N) raw GAE advantages
    returns: torch.Tensor  # (M, N) lambda-returns, the critic's targets


class RolloutBuffer:
    """Preallocated storage for one rollout of T steps of B envs with N agents.

    Observations and states have T + 1 slots, s_0 .. s_T: the rollout never resets an env within itself,
    so the state a step leads to is the next step's state, and s_T is kept only for V(s_T). The critic's
    values are therefore set once for all T + 1 states after the rollout (``set_values``) rather than
    evaluated step by step: one large forward instead of T + 1 small ones. The numbers are the same as
    step by step when the matrix library computes each row of a product the same way whatever the number
    of rows, as MKL does here (checked bit for bit on the serial, network and IPPO presets).

    Steps are written from the env's numpy arrays through numpy views of the tensors (a plain copy, no
    tensor wrapping per step).
    """

    def __init__(self, T: int, B: int, N: int, obs_dim: int, state_dim: int, n_dims: int) -> None:
        self.T, self.B, self.N = T, B, N
        self.obs = torch.zeros(T + 1, B, N, obs_dim)  # s_0 .. s_T
        self.state = torch.zeros(T + 1, B, state_dim)
        self.actions = torch.zeros(T, B, N, n_dims, dtype=torch.long)
        self.log_prob = torch.zeros(T, B, N)  # of the sampled actions: each agent's old policy in the update
        self.rewards = torch.zeros(T, B, N)  # float32, rounded from the env's float64 rewards
        self.all_values = torch.zeros(T + 1, B, N)  # V(s_0) .. V(s_T), raw
        self.values = self.all_values[:-1]  # (T, B, N) V(s_t)
        self.next_values = self.all_values[1:]  # (T, B, N) V(s_{t+1}) of the step's own next state
        self.terminated = torch.zeros(T, B, dtype=torch.bool)
        self.truncated = torch.zeros(T, B, dtype=torch.bool)
        # numpy views of the same memory, written at every step
        self._np = {name: getattr(self, name).numpy() for name in
                    ("obs", "state", "actions", "rewards", "terminated", "truncated")}
        self.t = 0

    def add_observation(self, obs: np.ndarray, state: np.ndarray) -> torch.Tensor:
        """Store s_t (t = the step about to be taken, or T after the last step).  obs (B, N, obs_dim),
        state (B, S).  Returns the stored observation, a (B, N, obs_dim) float32 tensor view."""
        self._np["obs"][self.t] = obs
        self._np["state"][self.t] = state
        return self.obs[self.t]

    def add(
        self, actions: np.ndarray, log_prob: torch.Tensor, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray
    ) -> None:
        """Store step t's action and outcome, then move to step t + 1.  actions (B, N, D), log_prob (B, N)
        of those actions, rewards (B, N), terminated/truncated (B,)."""
        t = self.t
        self._np["actions"][t] = actions
        self.log_prob[t] = log_prob
        self._np["rewards"][t] = rewards
        self._np["terminated"][t] = terminated
        self._np["truncated"][t] = truncated
        self.t += 1

    def set_values(self, values: torch.Tensor) -> None:
        """Raw critic values of all stored states.  values ((T + 1) * B, N) or (T + 1, B, N)."""
        self.all_values.copy_(values.view_as(self.all_values))

    def full(self) -> bool:
        return self.t == self.T

    def batch(self, gamma: float, lam: float) -> Batch:
        """GAE over the stored steps, everything flattened to M = T * B samples (time-major: t * B + b)."""
        advantages, returns = compute_gae(
            self.rewards, self.values, self.next_values, self.terminated, self.truncated, gamma, lam
        )
        M = self.T * self.B
        return Batch(
            obs=self.obs[:-1].reshape(M, self.N, -1),
            state=self.state[:-1].reshape(M, -1),
            actions=self.actions.reshape(M, self.N, -1),
            log_prob=self.log_prob.reshape(M, self.N),
            values=self.values.reshape(M, self.N),
            advantages=advantages.reshape(M, self.N),
            returns=returns.reshape(M, self.N),
        )

    def reset(self) -> None:
        self.t = 0
