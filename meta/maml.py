"""MAML (Finn et al., 2017) over the HAPPO actors: an initialisation that adapts to a new supply chain in a few
policy-gradient updates. Second order through ``torch.func``, first order (FOMAML) and Reptile (Nichol et
al., 2018) by ``meta.variant``.

Adaptation update (the inner loop, and what a user runs on a new task): one rollout of the task with the
current parameters, advantages from a linear baseline fitted to it (``meta.rollouts``), then one plain
gradient step theta <- theta - inner_lr * grad L(theta; D) on the policy-gradient surrogate

    L(theta; D) = - sum_agents mean_samples  exp(log pi_theta(a|o) - log pi_old(a|o)) * A

(at theta = the parameters that acted, its gradient is the policy gradient; every agent steps at once on
the team advantage, not in HAPPO's sequence). ``meta.inner_steps`` updates run one after the other, each on
a fresh rollout of the adapted policy.

Outer loop, per meta-iteration: ``meta_batch_tasks`` training tasks side by side in one env; each is adapted
from the initialisation, then rolled out once more with its adapted parameters theta'; the outer loss is
L(theta'(theta); D') averaged over tasks, minimised by Adam.
* maml: the exact gradient of theta -> L(theta'(theta); D') through the inner updates (Hessian-vector
  products of the inner loss, by nesting ``torch.func.grad``);
* fomaml: the same with d theta'/d theta replaced by the identity (the gradient of L at theta');
* reptile: no outer rollout; inner_steps + 1 updates (the same number of rollouts) and the pseudo-gradient
  theta - theta' fed to Adam.
As in Finn et al., the dependence of the inner rollouts' distribution on theta is not differentiated.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.func import grad

from meta.rollouts import Params, TaskBatch, collect, log_prob, task_batches
from utils.meta_config import MetaConfig


# ----------------------------------------------------------------------------------------------
# The inner loop and the three meta-gradients
# ----------------------------------------------------------------------------------------------
def pg_loss(params: Params, batch: TaskBatch) -> torch.Tensor:
    """The policy-gradient surrogate L(params; batch), summed over agents, mean over samples (scalar)."""
    ratio = torch.exp(log_prob(params, batch.obs, batch.actions) - batch.old_log_prob)  # (M, N)
    return -(ratio * batch.advantages).mean(0).sum()


def inner_update(params: Params, batch: TaskBatch, inner_lr: float, loss: Callable = pg_loss) -> Params:
    """One adaptation step, differentiable in params (under torch.func transforms): params - lr * grad loss."""
    g = grad(loss)(params, batch)
    return {k: params[k] - inner_lr * g[k] for k in params}


def adapted(params: Params, inner_batches: list, inner_lr: float, loss: Callable = pg_loss) -> Params:
    """The parameters after one update per inner batch, in order."""
    for batch in inner_batches:
        params = inner_update(params, batch, inner_lr, loss)
    return params


def maml_gradient(params: Params, inner_batches: list, outer_batch, inner_lr: float, loss: Callable = pg_loss) -> Params:
    """d/d params of loss(adapted(params); outer_batch), second-order terms included."""
    return grad(lambda p: loss(adapted(p, inner_batches, inner_lr, loss), outer_batch))(params)


def fomaml_gradient(params: Params, inner_batches: list, outer_batch, inner_lr: float, loss: Callable = pg_loss) -> Params:
    """The first-order approximation: grad loss at the adapted parameters (d theta'/d theta taken as I)."""
    with torch.no_grad():
        theta = adapted({k: v.detach() for k, v in params.items()}, inner_batches, inner_lr, loss)
    return grad(loss)(theta, outer_batch)


def reptile_gradient(params: Params, adapted_params: Params) -> Params:
    """Reptile's pseudo-gradient: params - adapted params (a step of -lr along it moves towards theta')."""
    return {k: params[k].detach() - adapted_params[k].detach() for k in params}


# ----------------------------------------------------------------------------------------------
# Meta-training
# ----------------------------------------------------------------------------------------------
@dataclass
class MetaStats:
    """What one meta-iteration measured."""

    pre_cost: float  # mean episode cost of the first (unadapted) rollout over the meta-batch
    post_cost: float  # mean episode cost of the last rollout (after inner_steps updates; reptile: before its last)
    grad_norm: float  # norm of the averaged outer gradient before clipping
    seconds: float  # wall time of the iteration


def meta_env_steps_per_iteration(meta: MetaConfig, episode_length: int) -> int:
    """Env periods one meta-iteration simulates: inner_steps + 1 rollouts of every task's episodes."""
    return meta.meta_batch_tasks * meta.episodes_per_update * episode_length * (meta.inner_steps + 1)


class MetaLearner:
    """Keeps one or several initialisations (each with its own Adam) and meta-trains them on batches of tasks.

    MAML uses one; the hierarchical learner (``meta.hierarchical_metalearning``) several, routing each task
    to one of them. ``step(tasks, assignment)`` runs one meta-iteration on `tasks` already placed in `env`.
    """

    def __init__(self, inits: list[Params], meta: MetaConfig, gamma: float, seed: int) -> None:
        self.meta = meta
        self.gamma = gamma
        self.inits = [{k: v.detach().clone().requires_grad_(True) for k, v in p.items()} for p in inits]
        self.optimizers = [torch.optim.Adam(list(p.values()), lr=meta.meta_lr) for p in self.inits]
        self.generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 7]).generate_state(1)[0]))
        self.seed = seed
        self.iteration = 0

    def rollout_seed(self, step: int) -> int:
        """Seed of the env draws of one rollout of one meta-iteration (a rerun replays the same demand)."""
        return int(np.random.SeedSequence([self.seed, 8, self.iteration, step]).generate_state(1)[0])

    def step(self, env, assignment: list[int]) -> MetaStats:
        """One meta-iteration on the tasks of `env` (``MultiTaskSerialEnv.set_tasks`` done); task i adapts
        from init assignment[i]."""
        start = time.perf_counter()
        meta = self.meta
        n_tasks = len(assignment)
        theta = [{k: v.detach() for k, v in self.inits[a].items()} for a in assignment]
        inner: list[list[TaskBatch]] = [[] for _ in range(n_tasks)]
        n_updates = meta.inner_steps + (1 if meta.variant == "reptile" else 0)
        costs = []
        for u in range(n_updates):
            roll = collect(env, theta, self.generator, self.rollout_seed(u))
            costs.append(float(roll.episode_cost.mean()))
            batches = task_batches(roll, theta, self.gamma, meta.baseline_ridge)
            for i in range(n_tasks):
                inner[i].append(batches[i])
                with torch.no_grad():
                    theta[i] = inner_update(theta[i], batches[i], meta.inner_lr)
        if meta.variant == "reptile":
            grads = [reptile_gradient(self.inits[a], theta[i]) for i, a in enumerate(assignment)]
        else:
            roll = collect(env, theta, self.generator, self.rollout_seed(n_updates))
            costs.append(float(roll.episode_cost.mean()))
            outer = task_batches(roll, theta, self.gamma, meta.baseline_ridge)
            gradient = maml_gradient if meta.variant == "maml" else fomaml_gradient
            grads = [gradient(self.inits[a], inner[i], outer[i], meta.inner_lr) for i, a in enumerate(assignment)]
        norms = []
        for a, (init, optimizer) in enumerate(zip(self.inits, self.optimizers)):
            mine = [g for g, owner in zip(grads, assignment) if owner == a]
            if not mine:
                continue
            for k, p in init.items():
                p.grad = torch.stack([g[k] for g in mine]).mean(0)
            norms.append(float(torch.nn.utils.clip_grad_norm_(list(init.values()), meta.max_grad_norm)))
            optimizer.step()
            optimizer.zero_grad()
        self.iteration += 1
        return MetaStats(costs[0], costs[-1], max(norms), time.perf_counter() - start)

    def initialisations(self) -> list[Params]:
        return [{k: v.detach().clone() for k, v in p.items()} for p in self.inits]
