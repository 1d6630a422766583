"""PPO building blocks of the trainers: the clipped actor update (with HAPPO's factor M), the clipped value
loss, advantage normalisation, the optimizer and minibatch shuffles. ``agents.happo_agent`` composes them."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn import functional as F

from agents.policy_networks import CategoricalActor, masked_log_softmax, mlp_backward, mlp_forward
from utils.config import TrainConfig


def n_iterations(total_env_steps: int, n_envs: int, episode_length: int) -> int:
    """Iterations a run of total_env_steps takes: one iteration is an episode of every env (the last
    may overshoot the total)."""
    return max(math.ceil(total_env_steps / (n_envs * episode_length)), 1)


class ClippedAdam:
    """Adam (Kingma and Ba, 2015; PyTorch's update, eps added to the bias-corrected sqrt(v)) on the gradient
    clipped to a global norm, over one flat vector that holds all of a network's parameters.

    The constructor moves the parameters into that vector: each one becomes a view of a slice of it, so
    the module, ``state_dict``/``load_state_dict`` (in-place copies) and autograd see them as before, and a
    step updates them all with a handful of whole-vector operations. Why: an iteration makes 80 (serial)
    to 140 (network) minibatch steps on networks of a few thousand weights, where ``clip_grad_norm_`` and
    ``torch.optim.Adam.step`` spent about 0.7 ms per step in Python and per-tensor bookkeeping, more than
    the arithmetic (docs/design_notes.md). The result equals clip_grad_norm_ + torch.optim.Adam to rounding
    (tests/test_happo_parts.py). Assigning ``parameter.data`` afterwards would cut a parameter loose from
    the vector, which nothing in the library does.
    """

    def __init__(self, parameters: Any, lr: float, max_grad_norm: float, eps: float = 1e-5,
                 betas: tuple[float, float] = (0.9, 0.999)) -> None:
        """lr: step size (the trainer rescales it every iteration through ``lr``); max_grad_norm: the
        gradient is scaled down to this global L2 norm when above it, which bounds a step when a minibatch's
        advantages are extreme; eps: added to sqrt(v); 1e-5 as in common PPO implementations (PyTorch's default is 1e-8)."""
        self.parameters = list(parameters)
        self.lr = lr  # the only setting that may change between steps
        self._betas = betas
        with torch.no_grad():
            self.flat = torch.cat([p.detach().reshape(-1) for p in self.parameters])  # (P,)
            offset = 0
            for p in self.parameters:
                p.data = self.flat[offset : offset + p.numel()].view_as(p)
                offset += p.numel()
        self.exp_avg = torch.zeros_like(self.flat)  # first moment (P,)
        self.exp_avg_sq = torch.zeros_like(self.flat)  # second moment (P,)
        self.steps = 0
        # the step's gradient (P,), and one view of it per parameter: ``mlp_backward(..., out=grad_views)``
        # writes its products there, so a step needs no concatenation
        self.grad = torch.zeros_like(self.flat)
        self.grad_views = [g.view_as(p) for g, p in zip(self.grad.split([p.numel() for p in self.parameters]), self.parameters)]
        # the constants as 0-dim tensors, made once: an operation with a Python number wraps it into a tensor
        # first (~2 us each time)
        self._consts = {name: torch.tensor(value) for name, value in
                        (("max_norm", max_grad_norm), ("tiny", 1e-6), ("beta2", betas[1]), ("eps", eps))}

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor] | tuple[torch.Tensor, ...] | None = None) -> None:
        """One step on `grads`, one per parameter in order (``surrogate_gradients``, ``mlp_backward`` or
        ``torch.autograd.grad`` give them); None: on the gradient already written into ``grad_views``."""
        grad, c = self.grad, self._consts
        if grads is not None:
            torch.cat([g.reshape(-1) for g in grads], out=grad)  # (P,)
        # clip_grad_norm_'s rule: scale by max_norm / (norm + 1e-6) when that is below 1 (max_norm / x is
        # computed as 1 / x * max_norm, as Tensor.__rtruediv__ does)
        grad.mul_(torch.linalg.vector_norm(grad).add_(c["tiny"]).reciprocal_().mul_(c["max_norm"]).clamp_(max=1.0))
        self.steps += 1
        beta1, beta2 = self._betas
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(c["beta2"]).addcmul_(grad, grad, value=1 - beta2)
        denom = self.exp_avg_sq.sqrt().div_(math.sqrt(1 - beta2**self.steps)).add_(c["eps"])
        self.flat.addcdiv_(self.exp_avg, denom, value=-self.lr / (1 - beta1**self.steps))

    def state_dict(self) -> dict[str, Any]:
        """Moments and step count (the parameters themselves are saved with their module)."""
        return {"steps": self.steps, "exp_avg": self.exp_avg.clone(), "exp_avg_sq": self.exp_avg_sq.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; also takes a ``torch.optim.Adam`` state dict over the same parameters,
        which checkpoints written before this class hold, so their runs resume."""
        if "param_groups" in state:  # torch.optim.Adam: per-parameter moments keyed by position
            per_parameter = [state["state"][i] for i in range(len(self.parameters))] if state["state"] else []
            if not per_parameter:  # saved before its first step
                state = {"steps": 0, "exp_avg": torch.zeros_like(self.flat), "exp_avg_sq": torch.zeros_like(self.flat)}
            else:
                state = {
                    "steps": int(per_parameter[0]["step"]),
                    "exp_avg": torch.cat([s["exp_avg"].reshape(-1) for s in per_parameter]),
                    "exp_avg_sq": torch.cat([s["exp_avg_sq"].reshape(-1) for s in per_parameter]),
                }
        self.steps = int(state["steps"])
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])


def minibatches(tensors: tuple[torch.Tensor, ...], n_minibatches: int, generator: torch.Generator) -> list[tuple[torch.Tensor, ...]]:
    """One epoch's minibatches: a random split of the rows of `tensors` (all of M rows) into n_minibatches
    nearly equal parts, one permutation per epoch.

    Each tensor is gathered once in the permuted order (``index_select``, several times faster than
    advanced indexing) and the minibatches are consecutive row slices of it: the same rows as gathering
    each minibatch on its own, with a quarter of the gathers (one per tensor per epoch instead of one per
    minibatch). Returns one tuple per minibatch, the tensors in the order given.
    """
    n = tensors[0].shape[0]
    perm = torch.randperm(n, generator=generator)
    size = math.ceil(n / n_minibatches)
    shuffled = [t.index_select(0, perm) for t in tensors]
    return [tuple(t[i : i + size] for t in shuffled) for i in range(0, n, size)]


def surrogate_gradients(
    actor: CategoricalActor,
    obs: torch.Tensor,
    actions: torch.Tensor,
    old_log_prob: torch.Tensor,
    weighted_adv: torch.Tensor,
    clip_eps: float,
    entropy_coef: float,
    out: list[torch.Tensor] | None = None,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Gradient of the clipped surrogate loss ``-mean(min(r A, clip(r, 1-eps, 1+eps) A)) - c mean(H)`` with
    respect to the actor's parameters, derived by hand instead of by autograd.

    obs (M, obs_dim), actions int64 (M, D), old_log_prob (M,), weighted_adv (M,) (M * A for HAPPO) ->
    (one gradient per ``actor.parameters()`` tensor, the step's statistics (4,): policy loss, mean entropy,
    approximate KL to the old policy, clip fraction, all before the step). out: where to write the
    gradients (``mlp_backward``'s out; the optimizer's ``grad_views``), None for new tensors.

    Why by hand: a minibatch step of these small networks spends about as long in the autograd engine and
    PyTorch's per-operation overhead as in arithmetic; the backward pass written out does the same
    arithmetic in fewer operations (``mlp_backward``; a serial actor step 3.5-4.0 ms instead of 5.8-5.9 ms; docs/design_notes.md).
    It is the same gradient as autograd's to rounding, ties included (tests/test_happo_parts.py): where
    r is inside [1-eps, 1+eps] the two terms of the min are equal and autograd passes half the gradient
    through each, the clipped half through the clamp, so r gets the full -A/M; outside, only the smaller term
    passes, and the clipped one is constant there.
    """
    with torch.no_grad():
        inputs, logits = mlp_forward(actor.net, obs)  # logits (M, D * K)
        n, n_dims, n_choices = obs.shape[0], actor.n_dims, actor.n_choices
        # choices x samples, (D, K, M): a softmax over a middle dimension of M contiguous columns runs
        # several times faster than over a short last one (5 choices: 30 against 280 us on 1,600 rows)
        missing = None if actor.missing is None else actor.missing.unsqueeze(-1)  # (D, K, 1)
        log_p = masked_log_softmax(logits.t().contiguous().view(n_dims, n_choices, n), missing, dim=1)  # (D, K, M)
        p = log_p.exp()
        chosen = actions.t().unsqueeze(1)  # (D, 1, M): index of the chosen choice
        log_prob = log_p.gather(1, chosen).sum((0, 1))  # (M,)
        entropy_per_dim = -(p * log_p).sum(1)  # (D, M); masked choices: 0 * (-1e9) = 0
        log_ratio = log_prob - old_log_prob
        ratio = log_ratio.exp()
        clipped = ratio.clamp(1 - clip_eps, 1 + clip_eps)
        surrogate, surrogate_clipped = ratio * weighted_adv, clipped * weighted_adv  # the two terms of the min
        passes = (ratio == clipped) | (surrogate < surrogate_clipped)
        d_log_prob = torch.where(passes, surrogate, 0.0).div_(-n)  # dL/d log_prob (M,): -r A / M where it passes
        # d log_prob / d logits = onehot - p; d H_d / d logits = -p (log p + H_d) (softmax per dimension)
        if entropy_coef:
            d_logits = p * ((entropy_coef / n) * (log_p + entropy_per_dim.unsqueeze(1)) - d_log_prob.view(1, 1, n))
        else:
            d_logits = p * -d_log_prob.view(1, 1, n)
        d_logits.scatter_add_(1, chosen, d_log_prob.view(1, 1, n).expand(n_dims, 1, n))  # the onehot term
        # back to (M, D * K), made contiguous for mlp_backward's products
        grads = mlp_backward(actor.net, inputs, d_logits.view(n_dims * n_choices, n).t().contiguous(), out)
        change = ratio - 1
        stats = torch.stack([
            -torch.min(surrogate, surrogate_clipped).mean(),
            entropy_per_dim.sum(0).mean(),
            (change - log_ratio).mean(),  # Schulman's unbiased KL estimate
            (change.abs() > clip_eps).float().mean(),
        ])
    return grads, stats


def ppo_actor_update(
    actor: CategoricalActor,
    optimizer: ClippedAdam,
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
    step_stats = []  # per minibatch step: policy loss, entropy, approx KL, clip fraction, as a (4,) tensor
    kl_stop = 1.5 * cfg.target_kl  # 0: never stop early
    stopped = False
    for _ in range(cfg.ppo_epochs):
        for obs_b, actions_b, old_log_prob_b, weighted_adv_b in minibatches(
            (obs, actions, old_log_prob, weighted_adv), cfg.n_minibatches, generator
        ):
            _, step = surrogate_gradients(  # the gradient goes straight into the optimizer's buffer
                actor, obs_b, actions_b, old_log_prob_b, weighted_adv_b, cfg.clip_eps, cfg.entropy_coef, optimizer.grad_views
            )
            if kl_stop > 0 and float(step[2]) > kl_stop:  # step[2]: the approximate KL
                stopped = True  # this agent has moved far enough from the policy that collected the batch
                break
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


def clipped_value_loss_gradient(
    values: torch.Tensor, old_values: torch.Tensor, targets: torch.Tensor, clip: float, huber_delta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``clipped_value_loss`` and its gradient with respect to `values`, derived by hand (the critic's
    step then needs no autograd graph: ``mlp_backward`` takes it from there).

    values, old_values, targets (M, N) -> (loss (), d loss / d values (M, N)). Huber's derivative is the
    error clamped to +-huber_delta; the clipped prediction passes it only where the clamp is inactive
    (bounds included, as torch.clamp); where the two losses of the max are equal, each gets half, as
    autograd's max does. Equal to autograd's gradient to rounding (tests/test_happo_parts.py).
    """
    with torch.no_grad():
        change = values - old_values
        clipped = old_values + change.clamp(-clip, clip)
        loss_plain = F.huber_loss(values, targets, reduction="none", delta=huber_delta)
        loss_clipped = F.huber_loss(clipped, targets, reduction="none", delta=huber_delta)
        grad_plain = (values - targets).clamp(-huber_delta, huber_delta)
        grad_clipped = (clipped - targets).clamp(-huber_delta, huber_delta) * (change.abs() <= clip)
        grad = torch.where(
            loss_plain > loss_clipped, grad_plain,
            torch.where(loss_plain < loss_clipped, grad_clipped, 0.5 * (grad_plain + grad_clipped)),
        )
        return torch.max(loss_plain, loss_clipped).mean(), grad / values.numel()


def normalize_advantages(advantages: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit standard deviation over the batch, per agent.  (M, N) -> (M, N)."""
    return (advantages - advantages.mean(0)) / (advantages.std(0) + 1e-8)
