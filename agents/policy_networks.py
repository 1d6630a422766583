"""Actors: one MLP per agent with a categorical distribution per action dimension.

A serial stage has one action dimension (the order quantity, ``order_cap + 1`` choices); a network node
has one dimension per supplier. Every agent's head emits ``D x K`` logits, ``K`` = the largest number of
choices of any dimension of any agent, and the choices a dimension does not have are masked out. All
actors therefore share one architecture, which lets a rollout evaluate every agent in one batched matrix
product (``ActorGroup.act``) while each agent keeps its own parameters and optimizer (HAPPO updates them
one after the other).

Initialisation follows the PPO practice (CleanRL / stable-baselines3): orthogonal weights, gain sqrt(2)
on hidden layers and a small gain (0.01) on the output layer so the initial policy is close to uniform.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

#: logit given to choices a dimension does not have: exp() of it is exactly 0, and it stays finite so
#: that ``p * log p`` in the entropy is 0 * (-1e9) = 0 rather than 0 * inf = nan.
MASKED_LOGIT = -1e9


def tanh_via_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """tanh(x), computed as 2 sigmoid(2x) - 1: the hidden activation of every actor and critic.

    torch.tanh is accurate to about 1e-8 but, in the CPU builds measured here, several times slower
    than torch.sigmoid, and with it the activation took a fifth of a training iteration
    (docs/design_notes.md). The identity is within 2e-7 of tanh everywhere (the rounding of 2 sigmoid(2x)
    near 1), far below anything the networks resolve. Its gradient is tanh's, g * (1 - y^2), from the
    output; without gradient tracking (rollouts, evaluation) no graph node is made.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return _TanhViaSigmoid.apply(x)
    return _two_sigmoid_2x_minus_1(x)


#: 1 as a 0-dim tensor: an operation with a Python number first wraps and converts it into a tensor, four
#: extra small operations per call (about 5 us), which made a third of the activation's cost on rollout-sized inputs
_ONE = torch.ones(())


def _two_sigmoid_2x_minus_1(x: torch.Tensor) -> torch.Tensor:
    return tanh_of_half(x + x)  # x + x is 2x exactly, without a Python number


def tanh_of_half(doubled: torch.Tensor) -> torch.Tensor:
    """tanh(doubled / 2) as 2 sigmoid(doubled) - 1: the activation of a layer whose pre-activation was
    computed already doubled (``mlp_forward`` and ``ActorGroup.stacked_layers`` scale the affine map by 2,
    which is exact in floating point, and save the x + x pass; bit for bit the same as
    ``tanh_via_sigmoid`` of the undoubled value)."""
    s = torch.sigmoid(doubled)
    return s.add_(s).sub_(_ONE)  # in place on the fresh sigmoid output: no extra tensor


class _TanhViaSigmoid(torch.autograd.Function):
    generate_vmap_rule = True  # meta-learning evaluates the actors under torch.func transforms

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return _two_sigmoid_2x_minus_1(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


class Tanh(nn.Module):
    """``tanh_via_sigmoid`` as a layer of ``mlp``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tanh_via_sigmoid(x)


def orthogonal_linear(n_in: int, n_out: int, gain: float, generator: torch.Generator) -> nn.Linear:
    """A linear layer with orthogonal weights (scaled by `gain`) and zero bias."""
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
        layer.bias.zero_()
    return layer


def mlp(n_in: int, hidden_sizes: list[int], n_out: int, out_gain: float, generator: torch.Generator) -> nn.Sequential:
    """tanh MLP; `out_gain` scales the last layer (0.01 for policy logits, 1 for values)."""
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden_sizes:
        layers += [orthogonal_linear(width, h, math.sqrt(2.0), generator), Tanh()]
        width = h
    layers.append(orthogonal_linear(width, n_out, out_gain, generator))
    return nn.Sequential(*layers)


def mlp_forward(net: nn.Sequential, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """An ``mlp``'s forward pass without autograd, keeping what ``mlp_backward`` needs.

    x (M, n_in) -> (the input of every Linear layer: [x, h_1, ..., h_L], the output (M, n_out)).
    """
    linears = list(net)[::2]  # mlp: Linear, Tanh, Linear, Tanh, ..., Linear (slicing net itself builds a new Sequential)
    inputs = [x]
    for linear in linears[:-1]:  # alpha = beta = 2: the doubled pre-activation in the product itself
        inputs.append(tanh_of_half(torch.addmm(linear.bias, inputs[-1], linear.weight.t(), beta=2, alpha=2)))
    return inputs, torch.addmm(linears[-1].bias, inputs[-1], linears[-1].weight.t())


def mlp_backward(
    net: nn.Sequential, inputs: list[torch.Tensor], grad_output: torch.Tensor, out: list[torch.Tensor] | None = None
) -> list[torch.Tensor]:
    """Gradient of a loss with respect to an ``mlp``'s parameters, in ``net.parameters()`` order, from
    d loss / d output (M, n_out) and ``mlp_forward``'s saved inputs: the backward pass written out.

    out: tensors shaped like the parameters to write the gradients into (``ClippedAdam.grad_views``, so
    the optimizer needs no concatenation); None returns new tensors.
    Why by hand: for these small networks autograd's engine and per-operation overhead cost about as much
    as the arithmetic; the PPO steps (``agents.ppo_updates``) call this instead (docs/design_notes.md).
    """
    linears = list(net)[::2]
    out = out or [None] * (2 * len(linears))
    grads: list[torch.Tensor] = []
    grad_out = grad_output
    for j in range(len(linears) - 1, -1, -1):  # weight (out, in), bias (out,)
        grads[:0] = [torch.mm(grad_out.t(), inputs[j], out=out[2 * j]), torch.sum(grad_out, 0, out=out[2 * j + 1])]
        if j > 0:  # through the layer, then the tanh whose output is its input
            grad_out = torch.ops.aten.tanh_backward(grad_out @ linears[j].weight, inputs[j])
    return grads


def choice_mask(action_nvec: np.ndarray, n_choices: int) -> torch.Tensor:
    """True where a choice exists: mask[..., d, a] = a < nvec[..., d].  nvec (..., D) -> (..., D, K)."""
    nvec = torch.as_tensor(np.asarray(action_nvec), dtype=torch.long)
    return torch.arange(n_choices) < nvec[..., None]


def masked_log_softmax(logits: torch.Tensor, missing: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """Log-probabilities over the existing choices only.  logits (..., D, K), missing bool (D, K) -> (..., D, K).

    missing: True where a choice does not exist (``~choice_mask``), broadcastable to logits; None when every
    choice exists, which skips a copy of the logits (the serial chain and the paper's network have no missing
    choice). dim: the choices' dimension (the actor's update lays them out as (D, K, M), see
    ``agents.ppo_updates.surrogate_gradients``).
    """
    if missing is not None:
        logits = logits.masked_fill(missing, MASKED_LOGIT)
    return torch.log_softmax(logits, dim=dim)


def missing_choices(mask: torch.Tensor) -> torch.Tensor | None:
    """The argument of ``masked_log_softmax`` for a choice mask: its complement, or None if nothing is missing."""
    return None if bool(mask.all()) else ~mask


def sample_categorical(log_probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Inverse-CDF sample of each categorical.  log_probs (..., K) -> int64 (...).

    One uniform per categorical from `generator`, so the draws are reproducible and cheaper than
    ``torch.multinomial`` on many small distributions.
    """
    cdf = log_probs.exp().cumsum(-1)  # (..., K)
    u = torch.rand(cdf.shape[:-1] + (1,), generator=generator, dtype=cdf.dtype)
    # count the choices whose cumulative probability is below u; clamp guards against cdf[-1] < 1 by rounding
    action = (cdf < u * cdf[..., -1:]).sum(-1)
    return action.clamp_(max=log_probs.shape[-1] - 1)


class CategoricalActor(nn.Module):
    """The policy of one agent: obs -> an independent categorical per action dimension (factored head)."""

    def __init__(
        self,
        obs_dim: int,
        action_nvec: np.ndarray,
        n_choices: int,
        hidden_sizes: list[int],
        generator: torch.Generator,
    ) -> None:
        """action_nvec (D,): choices of each of this agent's action dimensions; n_choices: K >= max(nvec)
        (the same K for every agent so that actors can be stacked)."""
        super().__init__()
        self.n_dims = int(len(action_nvec))
        self.n_choices = int(n_choices)
        self.net = mlp(obs_dim, hidden_sizes, self.n_dims * self.n_choices, 0.01, generator)
        self.register_buffer("mask", choice_mask(action_nvec, self.n_choices), persistent=False)  # (D, K)
        self.register_buffer("missing", missing_choices(self.mask), persistent=False)  # (D, K) or None

    def log_probs_all(self, obs: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of every choice.  obs (M, obs_dim) -> (M, D, K)."""
        logits = self.net(obs).view(obs.shape[0], self.n_dims, self.n_choices)
        return masked_log_softmax(logits, self.missing)

    def log_prob(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Joint log-probability of the factored distribution, without the entropy (the update's
        before/after evaluations over the whole batch need only this).  obs (M, obs_dim), actions int64 (M, D) -> (M,)"""
        return self.log_probs_all(obs).gather(-1, actions.unsqueeze(-1)).squeeze(-1).sum(-1)

    def log_prob_entropy(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint log-probability and entropy of the factored distribution (sums over dimensions).

        obs (M, obs_dim), actions int64 (M, D) -> log_prob (M,), entropy (M,)
        """
        logp = self.log_probs_all(obs)  # (M, D, K)
        chosen = logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1)  # (M, D)
        entropy = -(logp.exp() * logp).sum(-1)  # (M, D); masked choices contribute 0 * (-1e9) = 0
        return chosen.sum(-1), entropy.sum(-1)


class ActorGroup(nn.Module):
    """All agents' actors; acting evaluates them together with batched matrix products over agents."""

    def __init__(
        self,
        obs_dim: int,
        action_nvec: np.ndarray,
        hidden_sizes: list[int],
        generator: torch.Generator,
    ) -> None:
        """action_nvec (N, D): choices per agent and dimension, as the env reports it."""
        super().__init__()
        action_nvec = np.asarray(action_nvec, dtype=np.int64)
        self.n_agents, self.n_dims = action_nvec.shape
        self.n_choices = int(action_nvec.max())
        self.actors = nn.ModuleList(
            CategoricalActor(obs_dim, action_nvec[i], self.n_choices, hidden_sizes, generator)
            for i in range(self.n_agents)
        )
        self.register_buffer("mask", choice_mask(action_nvec, self.n_choices), persistent=False)  # (N, D, K)
        self.register_buffer("missing", missing_choices(self.mask), persistent=False)  # (N, D, K) or None

    @torch.no_grad()
    def stacked_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer: weights (N, in, out) and biases (N, 1, out) of all agents, for torch.baddbmm; those of
        the hidden layers doubled, so that their products are the doubled pre-activations ``tanh_of_half``
        takes (exact: scaling by 2 commutes with rounding).

        A copy of the current parameters: a rollout stacks them once and passes them to every step's
        ``act`` (the actors do not change within a rollout) instead of restacking them at each step.
        """
        layers = []
        linears = [[m for m in a.net if isinstance(m, nn.Linear)] for a in self.actors]
        for j in range(len(linears[0])):
            w = torch.stack([lin[j].weight.t() for lin in linears])
            b = torch.stack([lin[j].bias for lin in linears]).unsqueeze(1)
            if j < len(linears[0]) - 1:
                w, b = w + w, b + b
            layers.append((w, b))
        return layers

    @torch.no_grad()
    def log_probs_all(
        self, obs: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> torch.Tensor:
        """Log-probabilities of every choice of every agent.  obs (B, N, obs_dim) -> (B, N, D, K).

        layers: ``stacked_layers()`` of the current parameters; None stacks them here.
        """
        x = obs.transpose(0, 1)  # (N, B, obs_dim): agents lead so one bmm serves them all
        layers = self.stacked_layers() if layers is None else layers
        for j, (w, b) in enumerate(layers):
            x = torch.baddbmm(b, x, w)
            if j < len(layers) - 1:
                x = tanh_of_half(x)
        logits = x.transpose(0, 1).reshape(obs.shape[0], self.n_agents, self.n_dims, self.n_choices)
        return masked_log_softmax(logits, self.missing)

    @torch.no_grad()
    def act(
        self,
        obs: torch.Tensor,
        deterministic: bool,
        generator: torch.Generator | None = None,
        layers: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions of all agents and their joint log-probabilities (summed over dimensions).

        obs (B, N, obs_dim) -> actions int64 (B, N, D), log_prob (B, N).
        deterministic: argmax (evaluation); otherwise a sample drawn with `generator` (training).
        layers: ``stacked_layers()`` of the current parameters (a rollout passes them); None stacks them here.
        """
        logp = self.log_probs_all(obs, layers)  # (B, N, D, K)
        actions = logp.argmax(-1) if deterministic else sample_categorical(logp, generator)
        return actions, logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1).sum(-1)
