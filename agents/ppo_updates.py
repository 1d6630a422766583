"""PPO building blocks of the trainers: the clipped actor update (with HAPPO's factor M), the clipped value
loss, advantage normalisation, the optimizer and minibatch shuffles. ``agents.happo_agent`` composes them."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from agents.policy_networks import CategoricalActor
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
    clipped objective on the weighted advantage M*A.
    """
    weighted_adv = factor * advantages  # (M,)
    parameters = list(actor.parameters())
    step_stats = []  # per minibatch step: policy loss, entropy, approx KL, clip fraction, as a (4,) tensor
    kl_stop = 1.5 * cfg.target_kl  # 0: never stop early
    stopped = False
    for _ in range(cfg.ppo_epochs):
        for idx in minibatch_indices(obs.shape[0], cfg.n_minibatches, generator):
            # index_select gathers the same rows as obs[idx], several times faster than advanced indexing
            log_prob, entropy = actor.log_prob_entropy(obs.index_select(0, idx), actions.index_select(0, idx))
            log_ratio = log_prob - old_log_prob.index_select(0, idx)
            ratio = log_ratio.exp()
            kl = ((ratio - 1) - log_ratio).detach().mean()  # Schulman's unbiased KL estimate, before this step
            if kl_stop > 0 and float(kl) > kl_stop:
                stopped = True  # this agent has moved far enough from the policy that collected the batch
                break
            adv = weighted_adv.index_select(0, idx)
            surrogate = torch.min(ratio * adv, ratio.clamp(1 - cfg.clip_eps, 1 + cfg.clip_eps) * adv)
            policy_loss = -surrogate.mean()
            entropy_mean = entropy.mean()
            loss = policy_loss - cfg.entropy_coef * entropy_mean
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(parameters, cfg.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                clip_frac = ((ratio - 1).abs() > cfg.clip_eps).float().mean()
                step_stats.append(torch.stack([policy_loss, entropy_mean, kl, clip_frac]))
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
