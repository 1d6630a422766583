"""HAPPO rollout to batch, end to end: HAPPOTrainer.collect_rollout on the real serial chain and
RolloutBuffer.batch give the advantages and returns of an independent GAE computation from the env's
own rewards and the critic's denormalised values, and the log-probabilities of the actions taken.

The setting is chosen so that each of the ways this pipeline can silently go wrong changes the numbers:
- a value normaliser far from the identity (mean -500..-800, std 50..200, different per head), so values
  used in normalised units, or de-normalised with another head's statistics, are off by hundreds;
- reward_alpha = 0.5, so every agent's reward differs, and an agent reading another agent's column of
  rewards, values or advantages is wrong;
- a time limit inside the rollout as well as at its end, where a bootstrap of V(s_T) ~ -500 must be kept
  (treating the time limit as a termination drops it) and the recursion must not run across the cut.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.happo_agent import HAPPOTrainer
from envs import make_env
from utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]
T, B, CUT = 8, 3, 3  # periods per rollout, envs, the step (0-based) after which an extra time limit falls
MEAN = [-500.0, -300.0, -800.0]  # value normaliser statistics per head (retailer, distributor, manufacturer)
VAR = [1e4, 4e4, 2.5e3]


class RecordingTimeLimit:
    """The env as the trainer sees it, with every step recorded, and a time limit also after step CUT.

    The extra truncation ends an episode inside the rollout without resetting the chain: the state after
    step CUT is both the last state of one episode (its V is the bootstrap) and the first of the next.
    """

    def __init__(self, env) -> None:
        self.env = env
        self.steps: list[dict] = []
        self.first: dict = {}

    def __getattr__(self, name):  # n_envs, n_agents, obs_dim, state_dim, episode_length, ...
        return getattr(self.env, name)

    def reset(self, seed=None, demand=None):
        obs, info = self.env.reset(seed=seed, demand=demand)
        self.steps = []
        self.first = {"obs": obs.copy(), "state": self.env.state().copy()}
        return obs, info

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        truncated = truncated | (len(self.steps) == CUT)
        self.steps.append({
            "actions": np.array(actions), "rewards": rewards.copy(), "terminated": terminated.copy(),
            "truncated": truncated.copy(), "next_obs": obs.copy(), "next_state": self.env.state().copy(),
        })
        return obs, rewards, terminated, truncated, info


def reference_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Textbook GAE, one scalar at a time in float64.  rewards, values, next_values (T, B, N); flags (T, B)."""
    adv = np.zeros_like(rewards)
    n_t, n_b, n_n = rewards.shape
    for b in range(n_b):
        for i in range(n_n):
            following = 0.0  # A_{t+1} of the same episode
            for t in reversed(range(n_t)):
                bootstrap = 0.0 if terminated[t, b] else next_values[t, b, i]
                delta = rewards[t, b, i] + gamma * bootstrap - values[t, b, i]
                if terminated[t, b] or truncated[t, b]:
                    following = 0.0  # step t + 1 belongs to another episode
                following = delta + gamma * lam * following
                adv[t, b, i] = following
    return adv


def test_rollout_batch_matches_an_independent_gae_from_env_rewards_and_denormalised_values():
    config = load_config(ROOT / "configs" / "train_serial.yaml",
                         [f"env.episode_length={T}", f"train.n_envs={B}", "env.reward_alpha=0.5", "seed=4"])
    base = make_env(config.env, n_envs=B, demand_config=config.demand, seed=config.seed)
    env = RecordingTimeLimit(base)
    trainer = HAPPOTrainer(config, env)
    trainer.value_norm.mean.copy_(torch.tensor(MEAN, dtype=torch.float64))
    trainer.value_norm.var.copy_(torch.tensor(VAR, dtype=torch.float64))
    trainer.value_norm.count.fill_(1000.0)
    with torch.no_grad():  # policies far from uniform, so that log-probabilities differ by agent and step
        for actor in trainer.actors.actors:
            actor.net[-1].weight.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(9))

    trainer.collect_rollout()
    gamma, lam = config.train.gamma, config.train.gae_lambda
    batch = trainer.buffer.batch(gamma, lam)

    steps = env.steps
    assert len(steps) == T
    rewards = np.stack([s["rewards"] for s in steps]).astype(np.float64)  # (T, B, N)
    terminated = np.stack([s["terminated"] for s in steps])
    truncated = np.stack([s["truncated"] for s in steps])
    # the setting is the one the test is about: agents' rewards differ, time limits at CUT and at the end
    assert all(np.abs(rewards[:, :, i] - rewards[:, :, i + 1]).max() > 1.0 for i in range(2))
    assert not terminated.any() and truncated[CUT].all() and truncated[-1].all() and truncated.sum() == 2 * B

    states = np.stack([env.first["state"]] + [s["next_state"] for s in steps])  # (T+1, B, S)
    obs = np.stack([env.first["obs"]] + [s["next_obs"] for s in steps])  # (T+1, B, N, obs_dim)
    with torch.no_grad():
        normalised = trainer.critic(torch.from_numpy(states.reshape((T + 1) * B, -1)),
                                    torch.from_numpy(obs.reshape((T + 1) * B, *obs.shape[2:])))
    # de-normalised here with the statistics set above, per head
    v = normalised.double().numpy().reshape(T + 1, B, -1) * np.sqrt(VAR) + np.array(MEAN)
    values, next_values = v[:-1], v[1:]  # V(s_t), V(s_{t+1}): no reset inside the rollout
    assert np.abs(v).min() > 100.0  # values in raw units, so a missing de-normalisation shows
    adv = reference_gae(rewards, values, next_values, terminated, truncated, gamma, lam)

    M = T * B
    # the batch holds what the env saw and did, flattened time-major (sample t * B + b)
    np.testing.assert_array_equal(batch.obs.numpy(), obs[:-1].reshape(M, *obs.shape[2:]))
    np.testing.assert_array_equal(batch.state.numpy(), states[:-1].reshape(M, -1))
    actions = np.stack([s["actions"] for s in steps]).reshape(M, base.n_agents, -1)
    np.testing.assert_array_equal(batch.actions.numpy(), actions)
    # the stored log-probabilities (each agent's old policy in the update) are each agent's own of its own action
    with torch.no_grad():
        own = torch.stack([a.log_prob(batch.obs[:, k], batch.actions[:, k]) for k, a in enumerate(trainer.actors.actors)], 1)
    assert (own[:, 0] - own[:, 1]).abs().max() > 0.5 and (own[1:] - own[:-1]).abs().max() > 0.5
    torch.testing.assert_close(batch.log_prob, own, rtol=0, atol=1e-5)
    # float32 network and buffer against float64 reference: values ~1e3 carry ~1e-4 of rounding
    np.testing.assert_allclose(batch.values.numpy(), values.reshape(M, -1), rtol=0, atol=1e-2)
    np.testing.assert_allclose(batch.advantages.numpy(), adv.reshape(M, -1), rtol=0, atol=1e-2)
    np.testing.assert_allclose(batch.returns.numpy(), (adv + values).reshape(M, -1), rtol=0, atol=1e-2)
