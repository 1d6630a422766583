"""Batched multi-echelon inventory environments: ``make_env(config.env, n_envs, ...)`` builds either."""
from __future__ import annotations

from envs.base_env import BatchedInventoryEnv
from envs.network_env import NetworkEnv, paper_2x3_network
from envs.serial_env import SerialEnv
from utils.config import DemandConfig, EnvConfig
from utils.registry import Registry

__all__ = ["BatchedInventoryEnv", "SerialEnv", "NetworkEnv", "paper_2x3_network", "make_env", "ENV_KINDS"]

#: the env classes by the name ``env.kind`` takes; both build a ``SupplyGraph`` (env.graph) that consumers read
ENV_KINDS: Registry[type] = Registry("env.kind")
ENV_KINDS.register("serial", SerialEnv)
ENV_KINDS.register("network", NetworkEnv)


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
        from utils.data_loader import demand_sampler

        sampler = demand_sampler(demand_config)  # (rng, n, length, n_streams) -> (n, length, n_streams); files are read once

    return ENV_KINDS.get(config.kind)(config, n_envs=n_envs, demand_sampler=sampler, seed=seed)
