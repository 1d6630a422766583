"""Batched multi-echelon inventory environments: ``make_env(config.env, n_envs, ...)`` builds either."""
from __future__ import annotations

from envs.base_env import BatchedInventoryEnv
from envs.network_env import NetworkEnv, paper_2x3_network
from envs.serial_env import SerialEnv
from utils.config import DemandConfig, EnvConfig

__all__ = ["BatchedInventoryEnv", "SerialEnv", "NetworkEnv", "paper_2x3_network", "make_env"]


def make_env(
    config: EnvConfig, n_envs: int = 1, demand_config: DemandConfig | None = None, seed: int | None = None
) -> BatchedInventoryEnv:
    """Build the environment a config describes, with ``n_envs`` chains in lockstep.

    demand_config: the training demand generator used when ``reset`` is called without demand
    (None: every ``reset`` must be given its demand). seed: seeds the generator of demand draws and
    shipping losses (``reset(seed=...)`` re-seeds it).
    """
    sampler = None
    if demand_config is not None:
        from utils.data_loader import sample_demand

        def sampler(rng, n, length, n_streams):  # -> (n, length, n_streams)
            return sample_demand(demand_config, rng, n, length, n_streams=n_streams)

    env_cls = SerialEnv if config.kind == "serial" else NetworkEnv
    return env_cls(config, n_envs=n_envs, demand_sampler=sampler, seed=seed)
