"""Orders as a learned correction to a classic rule: the policy starts from the rule and learns what it cannot express.

With the config section ``residual:`` enabled, an agent's action no longer is the order itself but a
correction delta in -width..width (action index a = delta + width) to the order a tuned classic rule
(``residual.policy``, any baseline family of :mod:`agents.baselines`) would place this period:

    order = clip(rule order + delta, 0, cap)            per agent and action dimension

The agent also observes the rule's order (divided by the env's observation scale), appended to its own
observation, and the centralized critic sees every agent's rule order appended to the state. A policy that
always picks delta = 0 *is* the rule, and ``start_from_rule`` sets the actors' output biases so that
greedy acting starts exactly there; learning can then only have to find where deviating pays.

``RuleCorrection`` keeps the rule and its orders of the current period; two thin adapters use it:

* ``ResidualEnv`` wraps a batched env with the same API, so ``train_main.py`` trains and validates the
  correction policy (obs_dim, state_dim and action_nvec are the wrapper's own);
* ``ResidualPolicy`` wraps a trained policy behind the baseline interface, so ``evaluate_main.py`` runs a
  correction policy on the plain env (its rule and parameters come from the model file's config).

The rule's parameters are tuned once at the start of training on training-generator paths
(``resolve_rule``) and stored in the run's config, so evaluation uses exactly the rule the policy learned on.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.baselines import make_baseline, policy_names, tune, tuning_demand
from envs import make_env
from envs.base_env import BatchedInventoryEnv
from utils.config import BaselinesConfig, ExperimentConfig, ResidualConfig
from utils.errors import UserError


class RuleCorrection:
    """The rule's orders of the current period, and corrections -> orders, for one batched env's shape."""

    def __init__(self, config: ResidualConfig, env: Any) -> None:
        """config: the residual settings with the rule's parameters given (see ``resolve_rule``);
        env: the plain batched env (its action space, order caps and observation scale are read here)."""
        self.width = int(config.width)
        self.rule = make_baseline(config.policy, np.asarray(config.params, dtype=np.float64))
        self.rule_name = config.policy
        self.n_envs, self.n_agents = int(env.n_envs), int(env.n_agents)
        self.cap = np.asarray(env.action_nvec, dtype=np.int64).reshape(self.n_agents, -1) - 1  # (N, D)
        # dimensions with no choice (a network node with fewer suppliers) keep one action: order 0
        self.action_nvec = np.where(self.cap > 0, 2 * self.width + 1, 1).astype(np.int64)  # (N, D)
        self.scale = float(env.obs_scale)
        self.rule_orders = np.zeros((self.n_envs,) + self.cap.shape, dtype=np.int64)  # (B, N, D)

    @property
    def n_dims(self) -> int:
        return int(self.cap.shape[1])

    def reset(self, env: Any) -> None:
        """After ``env.reset``: clear the rule's memory (e.g. its demand forecast)."""
        self.rule.reset(env)

    def propose(self, obs: np.ndarray, env: Any) -> None:
        """The rule's orders for the period about to be played.  obs (B, N, obs_dim) of the plain env."""
        orders = np.asarray(self.rule.act(obs, env), dtype=np.int64)
        self.rule_orders = orders.reshape(self.n_envs, self.n_agents, self.n_dims)  # (B, N, D)

    def observe(self, obs: np.ndarray) -> np.ndarray:
        """The plain observation with the rule's orders appended.  (B, N, obs_dim) -> (B, N, obs_dim + D)"""
        return np.concatenate([obs, self.rule_orders.astype(np.float32) / self.scale], axis=2)

    def orders(self, actions: np.ndarray) -> np.ndarray:
        """Corrections (action indices, delta + width) -> orders placed.  int (B, N, D) -> int (B, N, D)"""
        delta = np.asarray(actions, dtype=np.int64).reshape(self.rule_orders.shape) - self.width
        return np.clip(self.rule_orders + delta, 0, self.cap)


class ResidualEnv:
    """A batched env whose actions are corrections to the rule's orders (same API as the wrapped env).

    ``info`` also holds ``rule_orders``, ``proposed`` (rule plus correction) and ``orders`` (what was placed:
    the proposal, or the planner's order when the wrapped env is a ``PlannerEnv``), all (B, N, D).
    """

    def __init__(self, env: Any, correction: RuleCorrection) -> None:
        self.env = env
        self.correction = correction
        self.action_nvec = correction.action_nvec  # (N, D)
        self.obs_dim = int(env.obs_dim) + correction.n_dims
        self.state_dim = int(env.state_dim) + correction.n_agents * correction.n_dims

    def reset(self, seed: int | None = None, demand: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """Reset the env and the rule.  -> obs (B, N, obs_dim + D), info"""
        obs, info = self.env.reset(seed=seed, demand=demand)
        self.correction.reset(self.env)
        self.correction.propose(obs, self.env)
        return self.correction.observe(obs), info

    def step(self, actions: np.ndarray):
        """actions: correction indices int (B, N, D) or (B, N), checked against this wrapper's action space."""
        actions = BatchedInventoryEnv.check_actions(self, actions)  # the env's own checks, on our action space
        rule_orders = self.correction.rule_orders
        placed = self.correction.orders(actions)
        obs, rewards, terminated, truncated, info = self.env.step(placed)
        self.correction.propose(obs, self.env)
        info = dict(info, rule_orders=rule_orders, proposed=placed, orders=info.get("orders", placed))
        return self.correction.observe(obs), rewards, terminated, truncated, info

    def state(self) -> np.ndarray:
        """The env's global state with every agent's rule order appended.  (B, state_dim)"""
        rule = self.correction.rule_orders.reshape(self.env.n_envs, -1).astype(np.float32) / self.correction.scale
        return np.concatenate([self.env.state(), rule], axis=1)

    def __getattr__(self, name: str) -> Any:
        if name in ("env", "correction"):  # not set yet (e.g. during copying): no recursion into self.env
            raise AttributeError(name)
        return getattr(self.env, name)


class ResidualPolicy:
    """A trained correction policy behind the baseline interface (reset(env), act(obs, env)), on the plain env."""

    def __init__(self, policy: Any, correction: RuleCorrection) -> None:
        """policy: baseline interface acting on observations with the rule's orders appended
        (``agents.baselines.LearnedPolicy``)."""
        self.policy = policy
        self.correction = correction
        self.name = f"{policy.name} (correction to {correction.rule_name})"

    def reset(self, env: Any) -> None:
        self.policy.reset(env)
        self.correction.reset(env)

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        """obs (B, N, obs_dim) of the plain env -> orders placed int (B, N, D)."""
        self.correction.propose(obs, env)
        return self.correction.orders(self.policy.act(self.correction.observe(obs), env))


def resolve_rule(config: ExperimentConfig, n_streams: int, log: Any = print) -> ExperimentConfig:
    """The config with the rule's parameters filled in: tuned on training-generator paths when not given.

    A no-op when ``residual`` is off or its parameters are given. The rule is tuned on ``residual.tune_paths``
    paths seeded by ``residual.tune_seed``, with the search settings of the ``baselines:`` section
    (``max_sweeps``, ``cache_dir``), as every baseline is, and through the planner when ``planner`` is on.
    The tuning is deterministic, and its result is written into the returned config, which the run saves.
    """
    res = config.residual
    if not res.enabled:
        return config
    applicable = policy_names(make_env(config.env).graph)
    if res.policy not in applicable:
        raise UserError(
            f"residual.policy '{res.policy}' is not a baseline defined on this env's supply graph; "
            f"choose one of {', '.join(applicable)}"
        )
    if res.params:
        return config
    # the paths and their seed are the residual section's own; the search settings are the baselines: section's
    bcfg = BaselinesConfig(tune_paths=res.tune_paths, tune_seed=res.tune_seed)
    demand = tuning_demand(config, bcfg, n_streams)  # (M, T, S)
    # the tuning's progress goes to the run's log too: on the network it takes minutes before the first iteration;
    # with the planner on, the rule is tuned with its orders placed by the planner, as it will act
    planner = config.planner if config.planner.enabled else None
    result = tune(res.policy, config.env, demand, config.baselines.max_sweeps, res.tune_seed, config.baselines.cache_dir or None,
                  log=log, planner=planner)
    how = "read from the tuning cache" if result.cached else f"in {result.seconds:.0f} s"
    log(f"residual rule {res.policy} tuned on {res.tune_paths} training-generator paths ({how}): "
        f"mean cost {result.mean_cost:,.1f}, params {np.round(result.params, 3).tolist()}")
    return dataclasses.replace(config, residual=dataclasses.replace(res, params=[float(p) for p in result.params]))


def with_residual(env: Any, config: ResidualConfig) -> Any:
    """The env itself when the residual action is off, else the env wrapped so actions correct the rule."""
    # an unknown rule name is refused by make_baseline (and, per supply graph, by resolve_rule)
    return ResidualEnv(env, RuleCorrection(config, env)) if config.enabled else env


@torch.no_grad()
def start_from_rule(actors: Any, action_nvec: np.ndarray, width: int, start_prob: float) -> None:
    """Set each actor's output bias so that delta = 0 has probability start_prob in every dimension with
    choices (the weights of the output layer are near 0 at initialisation, so greedy acting is the rule).

    actors: ``agents.policy_networks.ActorGroup``; action_nvec (N, D) of the residual action space.
    A bias b on one of n choices gives it probability e^b / (e^b + n - 1).
    """
    nvec = np.asarray(action_nvec).reshape(len(actors.actors), -1)
    for actor, n_choices in zip(actors.actors, nvec):
        last = [m for m in actor.net if isinstance(m, nn.Linear)][-1]
        bias = last.bias.view(actor.n_dims, actor.n_choices)  # (D, K)
        for d, n in enumerate(n_choices):
            if n > 1:
                bias[d, width] = math.log(start_prob * (n - 1) / (1 - start_prob))
