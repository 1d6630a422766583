"""HAPPO (Kuba et al., 2022, "Trust Region Policy Optimisation in Multi-Agent Reinforcement Learning") and
its two ablations, MAPPO and IPPO, over the batched inventory envs.

One iteration:
1. roll out one episode of every env in lockstep, sampling actions (``collect_rollout``);
2. compute GAE advantages once, from the critic's denormalised values, before any actor moves; normalise
   them per agent (each agent has its own value head and hence its own advantages);
3. draw a fresh random permutation of the agents (identity with ``train.fixed_order``); for each agent k
   in that order run PPO epochs on ``-mean(min(r*M*A, clip(r, 1-eps, 1+eps)*M*A)) - c_ent * entropy``,
   where M is the product of exp(new - old log-prob) of the agents already updated in this iteration,
   recomputed over the whole batch after each of their updates, as data without gradient (first agent:
   M = 1). MAPPO and IPPO keep M = 1, so the order is irrelevant to them;
4. train the critic after all actors on the lambda-returns: value clipping, Huber loss, value
   normalisation updated from this batch's returns.

A checkpoint is a dict of tensors, numbers and strings plus the resolved config as a dict, so it loads
with ``torch.load(path, weights_only=True)`` (a model file is data, never code). ``load_policy`` turns
one back into a policy object with ``act(obs, deterministic=True)``.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.centralized_critic import CentralizedCritic, LocalCritics, ValueNormalizer
from agents.policy_networks import ActorGroup, mlp_backward, mlp_forward
from agents.ppo_updates import (  # noqa: F401  (n_iterations, ppo_actor_update: imported from here by scripts)
    ClippedAdam, clipped_value_loss_gradient, minibatches, n_iterations, normalize_advantages, ppo_actor_update,
)
from agents.rollout import LearnedPolicy, rollout
from agents.rollout_buffer import Batch, RolloutBuffer
from utils.config import ExperimentConfig, config_to_dict
from utils.errors import UserError
from utils.files import atomic_write
from utils.memory import keep_freed_memory
from utils.registry import Registry
from utils.stored_config import stored_config

@dataclass(frozen=True)
class Algorithm:
    """What distinguishes the trainer variants ``train.algorithm`` names (one trainer, three ablations)."""

    local_critics: bool  # one critic per agent on its own observation (IPPO) instead of the centralized V(s)
    sequential_factor: bool  # each agent's advantage is weighted by the ratios of the agents updated before it (HAPPO)


#: the trainer variants by the name ``train.algorithm`` takes
ALGORITHMS: Registry[Algorithm] = Registry("train.algorithm")
ALGORITHMS.register("happo", Algorithm(local_critics=False, sequential_factor=True))
ALGORITHMS.register("mappo", Algorithm(local_critics=False, sequential_factor=False))
ALGORITHMS.register("ippo", Algorithm(local_critics=True, sequential_factor=False))

#: written into every checkpoint; load_policy refuses files without it (a wrong or foreign model file).
CHECKPOINT_FORMAT = "inventory-marl-happo-v1"


# ----------------------------------------------------------------------------------------------
# Policy object (what evaluation uses)
# ----------------------------------------------------------------------------------------------
class HAPPOPolicy:
    """The trained agents as one batched policy: numpy observations in, integer actions out."""

    def __init__(self, actors: ActorGroup, agent_names: list[str], seed: int = 0) -> None:
        """seed: of the generator used only when acting stochastically (deterministic=False)."""
        self.actors = actors
        self.agent_names = list(agent_names)
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def n_agents(self) -> int:
        return self.actors.n_agents

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """obs float (B, N, obs_dim) -> actions int64 (B, N, D); greedy (argmax) unless deterministic=False."""
        obs_t = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        actions, _ = self.actors.act(obs_t, deterministic, self.generator)
        return actions.numpy()


def evaluate_policy(policy: HAPPOPolicy, env: Any, demand: np.ndarray, seed: int | None = None) -> dict[str, Any]:
    """Run one greedy episode per demand path (``agents.rollout.rollout``, the loop evaluation uses) and
    measure raw costs (info["cost"]), never the training reward.

    demand int (n_envs, T, S) or (n_envs, T): one path per env of `env`. seed: re-seeds the env's own
    random draws (shipping losses) so that every evaluation of a run faces the same conditions.
    Returns mean_cost (float, per episode summed over agents and periods), agent_cost (N,) mean per
    episode per agent, and episode_cost (n_envs,).
    """
    cost = rollout(LearnedPolicy(policy), env, demand, seed=seed, record=False)  # (B, N)
    episode_cost = cost.sum(1)
    return {"mean_cost": float(episode_cost.mean()), "agent_cost": cost.mean(0), "episode_cost": episode_cost}


# ----------------------------------------------------------------------------------------------
# Trainer
# ----------------------------------------------------------------------------------------------
class HAPPOTrainer:
    """Rollouts, sequential actor updates and critic updates; also the checkpoint format."""

    def __init__(self, config: ExperimentConfig, env: Any) -> None:
        """config: the resolved experiment config (train.* is used here, seed seeds everything);
        env: a batched env (``envs.make_env``) with config.train.n_envs envs."""
        cfg = config.train
        torch.set_num_threads(cfg.torch_threads)
        keep_freed_memory()  # tensors freed in one step are reused in the next, without page faults
        self.config = config
        self.cfg = cfg
        self.env = env
        self.n_agents = int(env.n_agents)
        self.agent_names = list(env.agent_names)
        self.action_nvec = np.asarray(env.action_nvec, dtype=np.int64).reshape(self.n_agents, -1)  # (N, D)
        init_seed, sample_seed, order_seed = np.random.SeedSequence([config.seed, 0]).generate_state(3)
        init_gen = torch.Generator().manual_seed(int(init_seed))
        self.actors = ActorGroup(env.obs_dim, self.action_nvec, cfg.hidden_sizes, init_gen)
        self.algorithm = ALGORITHMS.get(cfg.algorithm)
        if self.algorithm.local_critics:
            self.critic: nn.Module = LocalCritics(env.obs_dim, self.n_agents, cfg.hidden_sizes, init_gen)
        else:
            self.critic = CentralizedCritic(env.state_dim, self.n_agents, cfg.hidden_sizes, init_gen)
        self.value_norm = ValueNormalizer(self.n_agents)
        self.actor_optimizers = [ClippedAdam(a.parameters(), cfg.lr_actor, cfg.max_grad_norm) for a in self.actors.actors]
        self.critic_optimizer = ClippedAdam(self.critic.parameters(), cfg.lr_critic, cfg.max_grad_norm)
        # action sampling and minibatch shuffles
        self.generator = torch.Generator().manual_seed(int(sample_seed))
        # the agents' update order
        self.order_rng = np.random.default_rng(int(order_seed))
        self.buffer = RolloutBuffer(
            env.episode_length, env.n_envs, self.n_agents, env.obs_dim, env.state_dim, self.action_nvec.shape[1]
        )
        self.iteration = 0  # completed iterations
        self.env_steps = 0  # env periods simulated so far, summed over envs
        self.last_order: list[int] = []  # agent order of the last update
        self.last_factors: dict[int, torch.Tensor] = {}  # agent -> the M its loss used in the last update (M,)

    @property
    def n_iterations(self) -> int:
        """Iterations of the whole run (train.total_env_steps over this trainer's env)."""
        return n_iterations(self.cfg.total_env_steps, self.env.n_envs, self.env.episode_length)

    # ------------------------------------------------------------------ acting
    def policy(self) -> HAPPOPolicy:
        """The current actors as a policy object (shares parameters with the trainer)."""
        return HAPPOPolicy(self.actors, self.agent_names, self.config.seed)

    @torch.no_grad()
    def raw_values(self, state: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """Denormalised critic values.  state (B, S), obs (B, N, obs_dim) -> (B, N)."""
        return self.value_norm.denormalize(self.critic(state, obs))

    def episode_seed(self, iteration: int) -> int:
        """Seed of the training episodes of one iteration: a resumed run replays exactly the same demand."""
        return int(np.random.SeedSequence([self.config.seed, 1, iteration]).generate_state(1)[0])

    def collect_rollout(self) -> float:
        """One lockstep episode of every env into the buffer; returns its mean episode cost (training
        demand, sampled actions)."""
        env, buf = self.env, self.buffer
        buf.reset()
        obs_np, _ = env.reset(seed=self.episode_seed(self.iteration))
        layers = self.actors.stacked_layers()  # the actors do not change within a rollout: stack them once
        cost = np.zeros(env.n_envs)
        for _ in range(env.episode_length):
            obs = buf.add_observation(obs_np, env.state())  # (B, N, obs_dim) float32
            actions, log_prob = self.actors.act(obs, False, self.generator, layers)  # (B, N, D), (B, N)
            actions_np = actions.numpy()
            obs_np, rewards, terminated, truncated, info = env.step(actions_np)
            buf.add(actions_np, log_prob, rewards, terminated, truncated)
            cost += info["cost"].sum(1)
        buf.add_observation(obs_np, env.state())  # s_T, before any reset: the bootstrap of the last step
        # V(s_0) .. V(s_T) in one forward pass ((T + 1) * B rows)
        buf.set_values(self.raw_values(buf.state.flatten(0, 1), buf.obs.flatten(0, 1)))
        self.env_steps += env.n_envs * env.episode_length
        return float(cost.mean())

    # ------------------------------------------------------------------ learning
    def update_order(self) -> list[int]:
        """This iteration's agent order: a fresh permutation from the seeded generator, or the identity."""
        if self.cfg.fixed_order:
            return list(range(self.n_agents))
        return [int(i) for i in self.order_rng.permutation(self.n_agents)]

    def update(self, batch: Batch) -> dict[str, float]:
        """Sequential actor updates (HAPPO) or independent ones (MAPPO, IPPO), then the critic."""
        cfg = self.cfg
        advantages = normalize_advantages(batch.advantages)  # (M, N), fixed for the whole iteration
        order = self.update_order()
        factor = torch.ones(batch.obs.shape[0])  # (M,) M of the next agent in the order
        self.last_order, self.last_factors = order, {}
        totals: dict[str, float] = {}
        for position, k in enumerate(order):
            actor = self.actors.actors[k]
            # this agent's columns, made contiguous once: every minibatch gathers its rows from them
            obs_k, actions_k = batch.obs[:, k].contiguous(), batch.actions[:, k].contiguous()  # (M, obs_dim), (M, D)
            # this agent's policy before its update is the one that acted: each agent moves once per iteration
            old_log_prob = batch.log_prob[:, k].contiguous()  # (M,)
            self.last_factors[k] = factor
            stats = ppo_actor_update(
                actor, self.actor_optimizers[k], obs_k, actions_k, advantages[:, k], factor, old_log_prob, cfg, self.generator
            )
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value / self.n_agents
            if self.algorithm.sequential_factor and position < len(order) - 1:  # no agent follows the last one
                with torch.no_grad():
                    new_log_prob = actor.log_prob(obs_k, actions_k)
                    factor = factor * torch.exp(new_log_prob - old_log_prob)
        last_factor = self.last_factors[order[-1]]
        totals["m_mean"] = float(last_factor.mean())
        totals["m_max"] = float(last_factor.max())
        totals.update(self.update_critic(batch))
        return totals

    def update_critic(self, batch: Batch) -> dict[str, float]:
        """Critic epochs on the lambda-returns in normalised units (statistics updated from this batch)."""
        cfg = self.cfg
        self.value_norm.update(batch.returns)
        targets = self.value_norm.normalize(batch.returns)  # (M, N)
        old_values = self.value_norm.normalize(batch.values)  # rollout predictions in the new units
        centralized = isinstance(self.critic, CentralizedCritic)
        parameters = None if centralized else list(self.critic.parameters())  # IPPO's autograd needs them
        critic_input = batch.state if centralized else batch.obs  # (M, state_dim) or (M, N, obs_dim)
        losses = []  # per minibatch step, as tensors: converted once at the end
        for _ in range(cfg.ppo_epochs):
            for input_b, old_values_b, targets_b in minibatches((critic_input, old_values, targets), cfg.n_minibatches, self.generator):
                if centralized:  # an mlp on the state: its backward pass by hand, so no autograd graph is recorded
                    with torch.no_grad():
                        inputs, values = mlp_forward(self.critic.net, input_b)  # values (m, N)
                        loss, grad_values = clipped_value_loss_gradient(values, old_values_b, targets_b, cfg.value_clip, cfg.huber_delta)
                        mlp_backward(self.critic.net, inputs, grad_values, self.critic_optimizer.grad_views)
                    grads = None  # in the optimizer's buffer
                else:  # LocalCritics (IPPO): autograd through the batched per-agent critics
                    values = self.critic(None, input_b)
                    loss, grad_values = clipped_value_loss_gradient(
                        values.detach(), old_values_b, targets_b, cfg.value_clip, cfg.huber_delta
                    )
                    grads = torch.autograd.grad(values, parameters, grad_values)
                self.critic_optimizer.step(grads)
                losses.append(loss)
        residual_var = (batch.returns - batch.values).var()
        explained = 1.0 - float(residual_var / batch.returns.var().clamp(min=1e-12))
        return {"critic_loss": sum(torch.stack(losses).tolist()) / len(losses), "explained_variance": explained}

    def set_learning_rates(self) -> float:
        """Step sizes of this iteration: constant, or falling linearly to 0 over total_env_steps (the
        schedule depends on the iteration count only, so a resumed run follows the same one)."""
        frac = 1.0
        if self.cfg.lr_schedule == "linear":
            frac = max(1.0 - self.iteration / self.n_iterations, 0.0)
        for optimizer in self.actor_optimizers:
            optimizer.lr = frac * self.cfg.lr_actor
        self.critic_optimizer.lr = frac * self.cfg.lr_critic
        return frac

    def train_iteration(self) -> dict[str, float]:
        """Rollout, GAE, update; returns the iteration's statistics (timings in seconds)."""
        lr_fraction = self.set_learning_rates()
        t0 = time.perf_counter()
        train_cost = self.collect_rollout()
        t1 = time.perf_counter()
        stats = self.update(self.buffer.batch(self.cfg.gamma, self.cfg.gae_lambda))
        t2 = time.perf_counter()
        self.iteration += 1
        stats.update(train_cost=train_cost, rollout_time=t1 - t0, update_time=t2 - t1, lr_fraction=lr_fraction)
        return stats

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Everything needed to act (and to resume training) as plain tensors, numbers and strings."""
        data = {
            "format": CHECKPOINT_FORMAT,
            "config": config_to_dict(self.config),
            "agent_names": list(self.agent_names),
            "obs_dim": int(self.env.obs_dim),
            "action_nvec": torch.from_numpy(self.action_nvec.copy()),
            "actors": self.actors.state_dict(),
            "critic": self.critic.state_dict(),
            "value_norm": self.value_norm.state_dict(),
            "actor_optimizers": [o.state_dict() for o in self.actor_optimizers],
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "order_rng": json.dumps(self.order_rng.bit_generator.state),  # big ints as text
            "iteration": self.iteration,
            "env_steps": self.env_steps,
        }
        data.update(extra or {})
        return data

    def load_checkpoint(self, data: dict[str, Any]) -> None:
        """Restore the state written by ``checkpoint`` (the env dimensions must match)."""
        self.actors.load_state_dict(data["actors"])
        self.critic.load_state_dict(data["critic"])
        self.value_norm.load_state_dict(data["value_norm"])
        for opt, state in zip(self.actor_optimizers, data["actor_optimizers"]):
            opt.load_state_dict(state)
        self.critic_optimizer.load_state_dict(data["critic_optimizer"])
        self.generator.set_state(data["generator"])
        self.order_rng.bit_generator.state = json.loads(data["order_rng"])
        self.iteration = int(data["iteration"])
        self.env_steps = int(data["env_steps"])


def save_checkpoint(data: dict[str, Any], path: str | os.PathLike) -> None:
    """torch.save to a temporary name, then rename: a crash never leaves half a model file."""
    with atomic_write(path, binary=True) as f:
        torch.save(data, f)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint as data (weights_only); every way it can be wrong is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "not found"
        raise UserError(f"model file '{path}' {problem}; train one with train_main.py or pass the right --model_path")
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # a corrupt file fails deep inside torch/pickle/zip with many exception types
        # torch's own message is long and differs by version: name the cause class, not a cut sentence
        raise UserError(
            f"model file '{path}' cannot be read as a torch file ({type(err).__name__}); it is truncated, corrupt or "
            "not a model file: train one with train_main.py or pass the right --model_path"
        ) from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"model file '{path}' is not a policy written by train_main.py (format {CHECKPOINT_FORMAT})")
    for part in ("actors", "critic"):
        tensors = data.get(part)
        bad = [k for k, v in tensors.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()] \
            if isinstance(tensors, dict) else []
        if bad:
            raise UserError(
                f"model file '{path}' holds non-finite weights ({part} {bad[0]}: NaN or infinity); it cannot act, "
                "use another model file or retrain"
            )
    return data


def load_policy(path: str | os.PathLike) -> tuple[HAPPOPolicy, ExperimentConfig]:
    """The policy stored in a checkpoint and the config it was trained with."""
    data = read_checkpoint(path)
    try:
        config = stored_config(data, path)
        nvec = data["action_nvec"].numpy()
        actors = ActorGroup(int(data["obs_dim"]), nvec, config.train.hidden_sizes, torch.Generator().manual_seed(0))
        actors.load_state_dict(data["actors"])
        names = [str(n) for n in data["agent_names"]]
    except UserError:
        raise
    except Exception as err:  # missing keys or mismatched shapes: a damaged or foreign file
        raise UserError(
            f"model file '{path}' does not hold a complete policy ({type(err).__name__}: missing or mis-shaped "
            "parts); use a file written by train_main.py"
        ) from None
    return HAPPOPolicy(actors, names, config.seed), config
