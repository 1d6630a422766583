"""The HAPPO actors as plain parameter dicts, rollouts of many tasks with different parameters side by side,
and the per-task batches (linear-feature-baseline advantages) that adaptation updates read.

Meta-learning differentiates through adaptation updates, so a policy is a dict of tensors named as
``agents.policy_networks.ActorGroup.named_parameters()`` (``actors.{agent}.net.{layer}.weight``), used by
functions rather than held in a module. ``to_actor_group`` / ``actor_params`` convert both ways, so a
meta-learned initialisation is an ordinary HAPPO actor group (``HAPPOTrainer`` can fine-tune it).

The advantage of an adaptation update comes from a linear baseline fitted by ridge regression to the task's
own returns (features of the global state and of time), as in Finn et al. (2017) and Duan et al. (2016): it
needs no learning, so every task (whatever its cost scale) gets a fitted baseline from its own rollout.
Serial chains only: one action dimension per agent and no missing choices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agents.policy_networks import ActorGroup, sample_categorical, tanh_via_sigmoid

Params = dict[str, torch.Tensor]


def actor_params(actors: ActorGroup) -> Params:
    """Detached copies of an actor group's parameters."""
    return {name: p.detach().clone() for name, p in actors.named_parameters()}


def to_actor_group(params: Params, obs_dim: int, action_nvec: np.ndarray, hidden_sizes: list[int]) -> ActorGroup:
    """An ``ActorGroup`` holding `params` (for HAPPO fine-tuning or a policy object)."""
    actors = ActorGroup(obs_dim, action_nvec, hidden_sizes, torch.Generator().manual_seed(0))
    actors.load_state_dict({k: v.detach() for k, v in params.items()})
    return actors


def layer_names(params: Params, agent: int) -> list[tuple[str, str]]:
    """(weight, bias) names of one agent's linear layers, input first."""
    prefix = f"actors.{agent}.net."
    layers = sorted({int(k[len(prefix):].split(".")[0]) for k in params if k.startswith(prefix)})
    return [(f"{prefix}{j}.weight", f"{prefix}{j}.bias") for j in layers]


def n_agents_of(params: Params) -> int:
    return len({k.split(".")[1] for k in params})


def log_probs_all(params: Params, obs: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of every order of every agent, differentiable in params.  obs (M, N, d) -> (M, N, K)."""
    out = []
    for k in range(obs.shape[1]):
        x = obs[:, k]
        layers = layer_names(params, k)
        for j, (w, b) in enumerate(layers):
            x = torch.nn.functional.linear(x, params[w], params[b])
            if j < len(layers) - 1:
                x = tanh_via_sigmoid(x)
        out.append(torch.log_softmax(x, dim=-1))
    return torch.stack(out, dim=1)


def log_prob(params: Params, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Log-probability of each agent's order.  obs (M, N, d), actions int64 (M, N) -> (M, N)."""
    return log_probs_all(params, obs).gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def stack_task_layers(params_per_task: list[Params]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer: weights (G, in, out) and biases (G, 1, out), G = tasks x agents (task-major), for baddbmm."""
    n_agents = n_agents_of(params_per_task[0])
    names = [layer_names(params_per_task[0], k) for k in range(n_agents)]
    stacked = []
    for j in range(len(names[0])):
        w = torch.stack([p[names[k][j][0]].detach().t() for p in params_per_task for k in range(n_agents)])
        b = torch.stack([p[names[k][j][1]].detach() for p in params_per_task for k in range(n_agents)]).unsqueeze(1)
        stacked.append((w, b))
    return stacked


def task_log_probs(layers: list[tuple[torch.Tensor, torch.Tensor]], obs: torch.Tensor, n_tasks: int) -> torch.Tensor:
    """Log-probabilities when chain b runs task b // E with its own parameters.  obs (B, N, d) -> (B, N, K)."""
    B, N, d = obs.shape
    E = B // n_tasks
    x = obs.view(n_tasks, E, N, d).transpose(1, 2).reshape(n_tasks * N, E, d)  # (G, E, d)
    for j, (w, b) in enumerate(layers):
        x = torch.baddbmm(b, x, w)
        if j < len(layers) - 1:
            x = tanh_via_sigmoid(x)
    logits = x.view(n_tasks, N, E, -1).transpose(1, 2).reshape(B, N, -1)
    return torch.log_softmax(logits, dim=-1)


@dataclass
class Rollout:
    """One episode of every chain: T steps of B = tasks x E chains."""

    obs: torch.Tensor  # (T, B, N, d)
    state: torch.Tensor  # (T, B, S)
    actions: torch.Tensor  # int64 (T, B, N)
    rewards: torch.Tensor  # (T, B, N) the env's training reward
    episode_cost: np.ndarray  # (B,) raw cost per episode, summed over agents


@torch.no_grad()
def collect(env, params_per_task: list[Params], generator: torch.Generator | None, seed: int,
            deterministic: bool = False, demand: np.ndarray | None = None) -> Rollout:
    """One episode of every chain of `env` (a ``MultiTaskSerialEnv`` with one task per block of chains), task
    i acting with params_per_task[i]; samples with `generator`, or argmax when deterministic."""
    layers = stack_task_layers(params_per_task)
    n_tasks = len(params_per_task)
    obs_np, _ = env.reset(seed=seed, demand=demand)
    T, B, N = env.episode_length, env.n_envs, env.n_agents
    obs = torch.zeros(T, B, N, env.obs_dim)
    state = torch.zeros(T, B, env.state_dim)
    actions = torch.zeros(T, B, N, dtype=torch.long)
    rewards = torch.zeros(T, B, N)
    cost = np.zeros(B)
    for t in range(T):
        obs[t] = torch.from_numpy(obs_np)
        state[t] = torch.from_numpy(env.state())
        logp = task_log_probs(layers, obs[t], n_tasks)  # (B, N, K)
        actions[t] = logp.argmax(-1) if deterministic else sample_categorical(logp, generator)
        obs_np, reward, _, _, info = env.step(actions[t].numpy())
        rewards[t] = torch.from_numpy(reward)
        cost += info["cost"].sum(1)
    return Rollout(obs, state, actions, rewards, cost)


@dataclass
class TaskBatch:
    """One task's rollout flattened to M = T x E samples, what an adaptation update reads."""

    obs: torch.Tensor  # (M, N, d)
    actions: torch.Tensor  # int64 (M, N)
    advantages: torch.Tensor  # (M, N) normalised per agent
    old_log_prob: torch.Tensor  # (M, N) under the parameters that acted


def returns_to_go(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """Discounted sum of the rewards from each step to the episode's end (no bootstrap).  (T, ...) -> (T, ...)"""
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def linear_baseline_advantages(state: torch.Tensor, rewards: torch.Tensor, gamma: float, ridge: float) -> torch.Tensor:
    """Returns-to-go minus a ridge fit of them on [s, s^2, t, t^2, t^3, 1], for one task's episodes; then
    normalised to mean 0 and standard deviation 1 per agent (so a step size means the same for every task,
    whatever its cost scale).  state (T, E, S), rewards (T, E, N) -> (T, E, N)."""
    T, E, _ = state.shape
    ret = returns_to_go(rewards.double(), gamma)  # (T, E, N)
    s = state.double()
    time = (torch.arange(T, dtype=torch.float64) / T)[:, None, None].expand(T, E, 1)
    X = torch.cat([s, s * s, time, time**2, time**3, torch.ones_like(time)], dim=2).reshape(T * E, -1)
    Y = ret.reshape(T * E, -1)
    # the scale of the returns does not change the fit's relative ridge: fit them in units of their spread
    scale = Y.std().clamp(min=1e-8)
    gram = X.T @ X + ridge * torch.eye(X.shape[1], dtype=torch.float64)
    beta = torch.linalg.solve(gram, X.T @ (Y / scale))
    adv = (Y / scale - X @ beta).reshape(T, E, -1)
    adv = (adv - adv.mean(dim=(0, 1))) / (adv.std(dim=(0, 1)) + 1e-8)
    return adv.float()


def task_batches(rollout: Rollout, params_per_task: list[Params], gamma: float, ridge: float) -> list[TaskBatch]:
    """Split a rollout into one batch per task (chains i*E .. i*E+E-1), with advantages and old log-probs."""
    n_tasks = len(params_per_task)
    T, B, N, d = rollout.obs.shape
    E = B // n_tasks
    batches = []
    for i, params in enumerate(params_per_task):
        chains = slice(i * E, (i + 1) * E)
        adv = linear_baseline_advantages(rollout.state[:, chains], rollout.rewards[:, chains], gamma, ridge)
        obs = rollout.obs[:, chains].reshape(T * E, N, d)
        actions = rollout.actions[:, chains].reshape(T * E, N)
        with torch.no_grad():
            old = log_prob({k: v.detach() for k, v in params.items()}, obs, actions)
        batches.append(TaskBatch(obs, actions, adv.reshape(T * E, N), old))
    return batches
