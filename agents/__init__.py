"""Learning agents: HAPPO and its MAPPO / IPPO ablations (``HAPPOTrainer``), and loading trained policies."""
from agents.centralized_critic import CentralizedCritic, LocalCritics, ValueNormalizer
from agents.happo_agent import HAPPOPolicy, HAPPOTrainer, evaluate_policy, load_policy
from agents.policy_networks import ActorGroup, CategoricalActor
from agents.replay_buffer import RolloutBuffer, compute_gae

__all__ = [
    "ActorGroup",
    "CategoricalActor",
    "CentralizedCritic",
    "HAPPOPolicy",
    "HAPPOTrainer",
    "LocalCritics",
    "RolloutBuffer",
    "ValueNormalizer",
    "compute_gae",
    "evaluate_policy",
    "load_policy",
]
