"""Hierarchical meta-learning: several initialisations, each meta-trained (MAML) on the tasks that resemble
one another, and a soft clustering of task embeddings that routes a new task to its initialisation.

Task embedding (what a chain manager observes before the policy acts, no action needed):
* customer demand of ``meta.embedding_periods`` periods, one path per adaptation episode (the task's demand
  history): its mean and standard deviation (over the order cap) and its lag-1 autocorrelation (near 0 for
  i.i.d. Poisson demand, near 1 for the Merton random walk);
* the lead times, read from the first observation: the stage's pipeline slots that hold stock at reset
  (every slot within the lead time starts with ``initial_pipeline`` units), mean over stages, over the
  longest lead time.

Clustering: features standardised by the fitting tasks' mean and spread, then a Gaussian mixture with K
equally weighted components and one shared isotropic variance, fitted by EM from a k-means++ start (seeded)
on ``meta.cluster_fit_tasks`` training tasks. During meta-training each task adapts from the initialisation
drawn with its responsibilities (soft assignment), and the outer gradient updates that initialisation only;
at test time a task adapts from the initialisation of its most responsible cluster.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from meta.tasks import MultiTaskSerialEnv, SerialTask
from utils.config import ExperimentConfig

#: lowest shared variance of the mixture (standardised units), so one-point clusters do not collapse
MIN_VARIANCE = 1e-3


def lag1_autocorrelation(paths: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each path (0 for a constant path).  (E, W) -> (E,)"""
    x = paths - paths.mean(axis=1, keepdims=True)
    denominator = (x * x).sum(axis=1)
    numerator = (x[:, 1:] * x[:, :-1]).sum(axis=1)
    return np.divide(numerator, denominator, out=np.zeros(len(paths)), where=denominator > 0)


def observed_lead_times(first_obs: np.ndarray, n_slots: int) -> np.ndarray:
    """Lead time of every stage read from the observation at reset: pipeline slots holding stock.
    first_obs (B, N, d) (the paper's layout: on-hand, backlog, demand seen, then the slots) -> (B, N)"""
    return (first_obs[:, :, 3 : 3 + n_slots] > 0).sum(axis=2)


def task_embeddings(config: ExperimentConfig, tasks: list[SerialTask], seed: int) -> np.ndarray:
    """The embedding of every task from episodes_per_update demand paths of embedding_periods periods and the
    first observation.  -> (n_tasks, 4): mean, std, lag-1 autocorrelation, mean lead time (scaled)."""
    meta = config.meta
    E, W = meta.episodes_per_update, meta.embedding_periods
    probe = dataclasses.replace(config, env=dataclasses.replace(config.env, episode_length=W))
    env = MultiTaskSerialEnv(probe, n_envs=len(tasks) * E, seed=seed)
    env.set_tasks(tasks, E)
    obs, _ = env.reset(seed=seed)
    demand = env.demand[:, :, 0].astype(np.float64).reshape(len(tasks), E, W)  # (n_tasks, E, W)
    lead = observed_lead_times(obs, env.n_slots).reshape(len(tasks), E, -1)[:, 0]  # (n_tasks, N)
    cap = float(config.env.order_cap)
    autocorrelation = np.stack([lag1_autocorrelation(d).mean() for d in demand])
    return np.stack(
        [demand.mean(axis=(1, 2)) / cap, demand.std(axis=2).mean(axis=1) / cap, autocorrelation, lead.mean(axis=1) / env.n_slots],
        axis=1,
    )


@dataclass
class SoftClustering:
    """Gaussian mixture over standardised task embeddings: K equal weights, one shared isotropic variance."""

    mean: np.ndarray  # (F,) feature means of the fitting tasks
    scale: np.ndarray  # (F,) feature standard deviations of the fitting tasks
    centers: np.ndarray  # (K, F) in standardised units
    variance: float  # shared variance per feature, standardised units

    def responsibilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Posterior probability of each cluster.  (M, F) -> (M, K)"""
        z = (embeddings - self.mean) / self.scale
        d2 = ((z[:, None, :] - self.centers[None]) ** 2).sum(axis=2)  # (M, K)
        logits = -d2 / (2 * self.variance)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {"mean": torch.from_numpy(self.mean), "scale": torch.from_numpy(self.scale),
                "centers": torch.from_numpy(self.centers), "variance": torch.tensor(self.variance, dtype=torch.float64)}

    @classmethod
    def from_tensors(cls, data: dict[str, torch.Tensor]) -> "SoftClustering":
        return cls(data["mean"].numpy(), data["scale"].numpy(), data["centers"].numpy(), float(data["variance"]))


def fit_soft_clustering(embeddings: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 100) -> SoftClustering:
    """EM for the mixture from a k-means++ start.  embeddings (M, F), M >= k."""
    mean = embeddings.mean(axis=0)
    scale = embeddings.std(axis=0) + 1e-8
    z = (embeddings - mean) / scale
    centers = [z[rng.integers(len(z))]]
    for _ in range(1, k):  # k-means++: the next center far from the chosen ones
        d2 = np.min([((z - c) ** 2).sum(axis=1) for c in centers], axis=0)
        centers.append(z[rng.choice(len(z), p=d2 / d2.sum())] if d2.sum() > 0 else z[rng.integers(len(z))])
    model = SoftClustering(mean, scale, np.stack(centers), 1.0)
    for _ in range(iterations):
        r = model.responsibilities(embeddings)  # (M, K) E-step
        weight = r.sum(axis=0) + 1e-12
        centers = (r.T @ z) / weight[:, None]
        d2 = ((z[:, None, :] - centers[None]) ** 2).sum(axis=2)
        variance = max(float((r * d2).sum() / (len(z) * z.shape[1])), MIN_VARIANCE)
        model = SoftClustering(mean, scale, centers, variance)
    return model


def draw_assignment(responsibilities: np.ndarray, rng: np.random.Generator) -> list[int]:
    """One initialisation per task drawn from its responsibilities (meta-training's soft assignment)."""
    return [int(rng.choice(len(r), p=r)) for r in responsibilities]


def select_inits(responsibilities: np.ndarray) -> list[int]:
    """The most responsible initialisation of each task (test time)."""
    return [int(i) for i in responsibilities.argmax(axis=1)]
