"""Learning agents: HAPPO and its MAPPO / IPPO ablations (``HAPPOTrainer``), and loading trained policies.

The names below are imported on first use (PEP 562), so that ``agents.baselines`` and a baseline-only
``evaluate_main.py`` run do not pay for importing torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "CentralizedCritic": "agents.centralized_critic",
    "LocalCritics": "agents.centralized_critic",
    "ValueNormalizer": "agents.centralized_critic",
    "HAPPOPolicy": "agents.happo_agent",
    "HAPPOTrainer": "agents.happo_agent",
    "evaluate_policy": "agents.happo_agent",
    "load_policy": "agents.happo_agent",
    "ActorGroup": "agents.policy_networks",
    "CategoricalActor": "agents.policy_networks",
    "RolloutBuffer": "agents.rollout_buffer",
    "compute_gae": "agents.rollout_buffer",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'agents' has no attribute '{name}'")
    return getattr(importlib.import_module(_WHERE[name]), name)
