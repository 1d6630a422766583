"""The residual: and baselines: sections of an experiment config: classic policies as a starting point for
learning (agents/residual_action.py) and as the comparison (agents/baselines/, evaluate_main.py).

Kept apart from utils/config.py, which imports them into ExperimentConfig; every field carries its one-line
documentation, as there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class ResidualConfig:
    """Orders as a learned correction to a classic rule (agents/residual_action.py).

    The agent's action picks a correction delta in -width..width and the env receives
    clip(rule order + delta, 0, cap); the agent also observes the rule's order. A policy that always
    picks delta = 0 is the rule itself, so training starts from the rule and learns what it cannot express.
    """

    enabled: bool = False  # off: the agent's action is the order itself (the paper's flat action)
    policy: str = "pout_echelon"  # the rule: a baseline family of agents.baselines defined on the env's supply graph
    params: list[float] = field(default_factory=list)  # the rule's parameters; empty = tuned at the start of training (the run's config.yaml then lists them)
    width: int = 5  # corrections -width..width per action dimension
    start_prob: float = 0.5  # initial probability of delta = 0 (greedy acting starts exactly at the rule)
    tune_paths: int = 100  # training-generator paths the rule is tuned on when params is empty
    tune_seed: int = 777_000  # their seed (distinct from training, validation and test seeds)


@dataclass
class BaselinesConfig:
    """Classic baselines (agents/baselines/): how they are tuned, or their parameters when given (an empty list means: tune it)."""

    tune_paths: int = 100  # demand paths from the training generator the tuner simulates
    tune_seed: int = 777_000  # seed of those paths (distinct from training, validation and test seeds)
    in_sample: bool = False  # tune on the evaluation files themselves (the paper's protocol); rows get labelled in-sample
    tune_dir: str = ""  # tune on the files of this folder instead of the training generator (rows name the folder)
    max_sweeps: int = 40  # cap on coordinate-search sweeps over all parameters (each sweep is a few batched runs); also the residual rule's
    cache_dir: str = "results/tuning_cache"  # tuned parameters kept here and reused for identical inputs ("" = always search); also the residual rule's
    installation_levels: list[float] = field(default_factory=list)  # S_i per stage (serial) or per node and supplier (network)
    echelon_levels: list[float] = field(default_factory=list)  # echelon S_i per stage (chains only)
    reorder_points: list[float] = field(default_factory=list)  # s_i of the (s, S) policy per node (one supplier per node)
    order_up_to: list[float] = field(default_factory=list)  # S_i of the (s, S) policy per node (one supplier per node)
    constant_orders: list[float] = field(default_factory=list)  # units per period per stage (serial) or per node and supplier
    forecast_alpha: Optional[float] = None  # smoothing constant of the forecast-adaptive policy (None = tune)
    forecast_safety: list[float] = field(default_factory=list)  # safety term per stage of the forecast-adaptive policy
    forecast_base_stock: list[float] = field(default_factory=list)  # alpha, starting forecast mu_0, then safety per stage (serial) or per node and supplier
    # the forecast-proportional and POUT families: the full parameter vector, in the order of the family's docstring
    # (serial: alpha, one level per stage, then for pout_* one smoothing time T >= 1 per stage; network: alpha, mu_0,
    # one level per node and supplier fastest first, then for pout_* one T per node)
    forecast_echelon_proportional: list[float] = field(default_factory=list)  # alpha, k per stage: S_i = k_i * smoothed customer demand
    forecast_installation_proportional: list[float] = field(default_factory=list)  # alpha, [mu_0,] k per stage / node and supplier: S = k * own smoothed demand
    pout_echelon: list[float] = field(default_factory=list)  # alpha, k per stage, T per stage (echelon position, customer forecast)
    pout_echelon_static: list[float] = field(default_factory=list)  # alpha, S per stage, T per stage (constant echelon levels)
    pout_installation: list[float] = field(default_factory=list)  # alpha, [mu_0,] k per stage / node and supplier, T per stage / node
    pout_installation_static: list[float] = field(default_factory=list)  # alpha, [mu_0,] S per stage / node and supplier, T per stage / node
    forecast_s_S: list[float] = field(default_factory=list)  # alpha, [mu_0,] a per node, b per node: (s, S) with s = a * own smoothed demand, S = s + b * it
