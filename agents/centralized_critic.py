"""Critics and value normalisation.

HAPPO and MAPPO use one centralized critic V(s) on the global state with one value head per agent: the
env's per-agent reward mixes own and team cost with weight alpha, so each agent needs its own value, and
with alpha = 0 all heads learn the same team value (the team-reward algorithm). IPPO instead gives every
agent a critic that sees only its own observation (``LocalCritics``).

Costs of an inventory episode are in the thousands, so the critics predict *normalised* values and a
``ValueNormalizer`` (running mean and variance of the returns, per head) maps them back.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from agents.policy_networks import mlp, orthogonal_linear, tanh_via_sigmoid


class ValueNormalizer(nn.Module):
    """Running mean / variance of the value targets, one pair per head (exact, not exponential).

    ``update`` merges a batch into the running moments with Chan et al.'s parallel formula, so the
    statistics equal those of all targets seen so far. Moments are kept in float64: summing millions of
    returns of size ~1e3 in float32 would lose the variance.
    """

    def __init__(self, n_heads: int, epsilon: float = 1e-5) -> None:
        """epsilon: floor of the variance, so that a constant target does not divide by zero."""
        super().__init__()
        self.epsilon = epsilon
        self.register_buffer("mean", torch.zeros(n_heads, dtype=torch.float64))
        self.register_buffer("var", torch.ones(n_heads, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge a batch of targets.  x (M, n_heads)."""
        x = x.reshape(-1, self.mean.shape[0]).to(torch.float64)
        n = float(x.shape[0])
        batch_mean = x.mean(0)
        batch_var = x.var(0, unbiased=False)
        total = self.count + n
        delta = batch_mean - self.mean
        if self.count == 0:
            self.mean.copy_(batch_mean)
            self.var.copy_(batch_var)
        else:
            m2 = self.var * self.count + batch_var * n + delta.square() * self.count * n / total
            self.mean.add_(delta * n / total)
            self.var.copy_(m2 / total)
        self.count.copy_(total)

    def std(self) -> torch.Tensor:
        """(n_heads,)"""
        return self.var.clamp(min=self.epsilon).sqrt()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw values -> normalised.  x (..., n_heads), same shape out, dtype of x."""
        return ((x.to(torch.float64) - self.mean) / self.std()).to(x.dtype)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised values -> raw.  x (..., n_heads), same shape out, dtype of x."""
        return (x.to(torch.float64) * self.std() + self.mean).to(x.dtype)


class CentralizedCritic(nn.Module):
    """V(s) for every agent from the global state: one shared MLP trunk, one output head per agent."""

    def __init__(self, state_dim: int, n_agents: int, hidden_sizes: list[int], generator: torch.Generator) -> None:
        super().__init__()
        self.net = mlp(state_dim, hidden_sizes, n_agents, 1.0, generator)

    def forward(self, state: torch.Tensor, obs: torch.Tensor | None) -> torch.Tensor:
        """Normalised values.  state (M, state_dim), obs (M, N, obs_dim) (unused) -> (M, N)."""
        return self.net(state)


class LocalCritics(nn.Module):
    """IPPO: agent i's critic sees only its own observation; the N critics are evaluated in one bmm."""

    def __init__(self, obs_dim: int, n_agents: int, hidden_sizes: list[int], generator: torch.Generator) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        width = obs_dim
        for j, h in enumerate(list(hidden_sizes) + [1]):
            gain = 1.0 if j == len(hidden_sizes) else math.sqrt(2.0)
            # one independently initialised layer per agent, stacked: (N, in, out)
            w = torch.stack([orthogonal_linear(width, h, gain, generator).weight.t() for _ in range(n_agents)])
            self.weights.append(nn.Parameter(w.detach().clone()))
            self.biases.append(nn.Parameter(torch.zeros(n_agents, 1, h)))
            width = h

    def forward(self, state: torch.Tensor | None, obs: torch.Tensor) -> torch.Tensor:
        """Normalised values.  state (M, state_dim) (unused), obs (M, N, obs_dim) -> (M, N)."""
        x = obs.transpose(0, 1)  # (N, M, obs_dim)
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if j < len(self.weights) - 1:
                x = tanh_via_sigmoid(x)
        return x.squeeze(-1).transpose(0, 1)
