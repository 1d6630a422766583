"""PPO building blocks of the trainers: the clipped actor update (with HAPPO's factor M), the clipped value
loss, advantage normalisation, the optimizer and minibatch shuffles. ``agents.happo_agent`` composes them."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from agents.policy_networks import CategoricalActor, masked_log_softmax
from utils.config import TrainConfig


def n_iterations(total_env_steps: int, n_envs: int, episode_length: int) -> int:
    """Iterations a run of total_env_steps takes: one iteration is an episode of every env (the last
    may overshoot the total)."""
    return max(math.ceil(total_env_steps / (n_envs * episode_length)), 1)


def adam(parameters: Any, lr: float) -> torch.optim.Adam:
    """The optimizer of every network. fused=True updates all of a network's tensors in one kernel
    instead of a few small operations per tensor, which dominate with networks this small (measurement:
    docs/design_notes.md). Same Adam, rounded differently in the last bit. (A checkpoint stores the flag:
    a run resumed from an older checkpoint goes on with the per-tensor implementation it started with.)"""
    return torch.optim.Adam(parameters, lr=lr, eps=1e-5, fused=True)


def minibatch_indices(n: int, n_minibatches: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A random split of range(n) into n_minibatches nearly equal parts (one permutation per epoch)."""
    perm = torch.randperm(n, generator=generator)
    size = math.ceil(n / n_minibatches)
    return [perm[i : i + size] for i in range(0, n, size)]


def surrogate_gradients(
    actor: CategoricalActor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    old_log_prob: torch.Tensor,
    weighted_adv: torch.Tensor,
    clip_eps: float,
    entropy_coef: float,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Gradient of the clipped surrogate loss ``-mean(min(r A, clip(r, 1-eps, 1+eps) A)) - c mean(H)`` with
    respect to the actor's parameters, derived by hand instead of by autograd.

    obs (M, obs_dim), actions int64 (M, D), old_log_prob (M,), weighted_adv (M,) (M * A for HAPPO) ->
    (one gradient per ``actor.parameters()`` tensor, the step's statistics (4,): policy loss, mean entropy,
    approximate KL to the old policy, clip fraction, all before the step).

    Why by hand: a minibatch step of these small networks spends about as long in the autograd engine and
    PyTorch's per-operation overhead as in arithmetic; the explicit backward pass below does the same
    arithmetic in fewer operations (a serial actor step 3.5-4.0 ms instead of 5.8-5.9 ms; docs/design_notes.md).
    It is the same gradient as autograd's to rounding, ties included (tests/test_happo_parts.py): where
    r is inside [1-eps, 1+eps] the two terms of the min are equal and autograd passes half the gradient
    through each, the clipped half through the clamp, so r gets the full -A/M; outside, only the smaller term
    passes, and the clipped one is constant there.
    """
    linears = actor.net[::2]  # policy_networks.mlp: Linear, Tanh, Linear, Tanh, ..., Linear
    with torch.no_grad():
        inputs = [obs]  # the input of every Linear layer (M, width): obs, then each tanh's output
        for linear, activation in zip(linears[:-1], actor.net[1::2]):
            inputs.append(activation(torch.addmm(linear.bias, inputs[-1], linear.weight.t())))
        logits = torch.addmm(linears[-1].bias, inputs[-1], linears[-1].weight.t())
        n, n_dims, n_choices = obs.shape[0], actor.n_dims, actor.n_choices
        log_p = masked_log_softmax(logits.view(n, n_dims, n_choices), actor.missing)  # (M, D, K)
        p = log_p.exp()
        chosen = F.one_hot(actions, n_choices).to(p.dtype)  # (M, D, K)
        log_prob = (log_p * chosen).sum((1, 2))  # (M,)
        entropy_per_dim = -(p * log_p).sum(-1)  # (M, D); masked choices: 0 * (-1e9) = 0
        log_ratio = log_prob - old_log_prob
        ratio = log_ratio.exp()
        clipped = ratio.clamp(1 - clip_eps, 1 + clip_eps)
        passes = (ratio == clipped) | (ratio * weighted_adv < clipped * weighted_adv)
        d_log_prob = torch.where(passes, -weighted_adv * ratio, 0.0) / n  # dL/d log_prob (M,)
        # d log_prob / d logits = onehot - p; d H_d / d logits = -p (log p + H_d) (softmax per dimension)
        d_logits = d_log_prob.view(n, 1, 1) * (chosen - p) + (entropy_coef / n) * p * (log_p + entropy_per_dim.unsqueeze(-1))
        grad_out = d_logits.view(n, n_dims * n_choices)
        grads: list[torch.Tensor] = []
        for j in range(len(linears) - 1, -1, -1):  # backwards through the layers
            grads[:0] = [grad_out.t() @ inputs[j], grad_out.sum(0)]  # weight (out, in), bias (out,)
            if j > 0:  # through the layer, then the tanh whose output is its input
                grad_out = torch.ops.aten.tanh_backward(grad_out @ linears[j].weight, inputs[j])
        stats = torch.stack([
            -torch.min(ratio * weighted_adv, clipped * weighted_adv).mean(),
            entropy_per_dim.sum(-1).mean(),
            ((ratio - 1) - log_ratio).mean(),  # Schulman's unbiased KL estimate
            ((ratio - 1).abs() > clip_eps).float().mean(),
        ])
    return grads, stats


def ppo_actor_update(
    actor: CategoricalActor,
    optimizer: torch.optim.Optimizer,
    obs: torch.Tensor,
    actions: torch.Tensor,
    advantages: torch.Tensor,
    factor: torch.Tensor,
    old_log_prob: torch.Tensor,
    cfg: TrainConfig,
    generator: torch.Generator,
) -> dict[str, float]:
    """PPO epochs of one agent on the clipped surrogate weighted by the HAPPO factor M.

    obs (M, obs_dim), actions (M, D), advantages (M,), factor (M,) (1 for PPO/MAPPO/IPPO),
    old_log_prob (M,) of this agent before its update. M > 0, so min(r*M*A, clip(r)*M*A) is the
    clipped objective on the weighted advantage M*A. The gradient comes from ``surrogate_gradients``.
    """
    weighted_adv = factor * advantages  # (M,)
    parameters = list(actor.parameters())
    step_stats = []  # per minibatch step: policy loss, entropy, approx KL, clip fraction, as a (4,) tensor
    kl_stop = 1.5 * cfg.target_kl  # 0: never stop early
    stopped = False
    for _ in range(cfg.ppo_epochs):
        for idx in minibatch_indices(obs.shape[0], cfg.n_minibatches, generator):
            # index_select gathers the same rows as obs[idx], several times faster than advanced indexing
            grads, step = surrogate_gradients(
                actor, obs.index_select(0, idx), actions.index_select(0, idx), old_log_prob.index_select(0, idx),
                weighted_adv.index_select(0, idx), cfg.clip_eps, cfg.entropy_coef,
            )
            if kl_stop > 0 and float(step[2]) > kl_stop:  # step[2]: the approximate KL
                stopped = True  # this agent has moved far enough from the policy that collected the batch
                break
            for parameter, grad in zip(parameters, grads):
                parameter.grad = grad
            nn.utils.clip_grad_norm_(parameters, cfg.max_grad_norm)
            optimizer.step()
            step_stats.append(step)
        if stopped:
            break
    # one conversion at the end instead of four .item() per step; averaged in Python floats, step by step
    rows = torch.stack(step_stats).tolist()  # (steps, 4)
    names = ("policy_loss", "entropy", "approx_kl", "clip_frac")
    stats = {name: sum(row[j] for row in rows) / len(rows) for j, name in enumerate(names)}
    stats["update_steps"] = float(len(rows))  # minibatch steps taken: ppo_epochs * n_minibatches unless the KL stop ended them
    return stats


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, targets: torch.Tensor, clip: float, huber_delta: float
) -> torch.Tensor:
    """Pessimistic (max) Huber loss of the new and the clipped prediction, all in normalised units.

    values, old_values, targets (M, N) -> scalar. Clipping keeps the critic within `clip` of its
    rollout-time prediction, as the policy is kept within clip_eps.
    """
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    loss = F.huber_loss(values, targets, reduction="none", delta=huber_delta)
    loss_clipped = F.huber_loss(clipped, targets, reduction="none", delta=huber_delta)
    return torch.max(loss, loss_clipped).mean()


def normalize_advantages(advantages: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit standard deviation over the batch, per agent.  (M, N) -> (M, N)."""
    return (advantages - advantages.mean(0)) / (advantages.std(0) + 1e-8)
