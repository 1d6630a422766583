"""Classic inventory policies on the batched environments, and a batched tuner for their parameters.

The package by responsibility: ``common`` (parameter spaces and plumbing), ``policies`` (base-stock, (s, S),
pass-through, constant order), ``forecast`` (forecast-driven and POUT families), ``registry`` (names, given
parameters), ``tuning`` (coordinate search by batched simulation). The episode loop is ``agents.rollout``;
the settings are the ``baselines:`` section of the experiment config (``utils.config.BaselinesConfig``).

Every policy has the interface evaluation uses for any policy (``BatchedPolicy``): ``reset(env)`` at
the start of an episode batch, then ``act(obs, env) -> actions int (B, N, D)`` each period. Baselines
read the env's structured state (on-hand, backlog, pipeline, units owed) at the end of the previous
period; a trained policy reads only ``obs`` (``LearnedPolicy`` wraps one).

Parameters are per environment: a policy built with ``params`` of shape ``(B, P)`` runs B different
parameter sets side by side, which is what makes tuning fast (``tune`` simulates every candidate of a
coordinate on the same demand paths in one batch).

Every policy reads the env through its read API and ``env.graph`` (``envs/supply_graph.py``), so it runs on the
serial chain and on any DAG the graph describes; only the echelon families ask for a chain (``requires``), and
``policy_names(env.graph)`` lists the families defined on a graph. The families (formulas in each module):

* ``policies``: ``installation_base_stock`` (multi-index with several suppliers), ``echelon_base_stock`` (chain),
  ``s_S`` (one supplier per node), ``pass_through``, ``constant_order``
* ``forecast``: ``forecast_echelon`` (chain), ``forecast_base_stock``, and proportional order-up-to
  (``ProportionalOrderUpTo``, POUT, Disney & Towill 2003): q_i = clip(round(mu + (S_i - position_i - mu) / T_i), 0, cap),
  mu an exponentially smoothed demand, T_i >= 1 a smoothing time (T_i = 1 is base-stock), in the families
  ``forecast_echelon_proportional``, ``forecast_installation_proportional``, ``pout_echelon``,
  ``pout_echelon_static`` (echelon ones on a chain), ``pout_installation``, ``pout_installation_static``;
  ``forecast_s_S`` (one supplier per node): (s, S) with s_i = a_i mu_i and S_i = s_i + b_i mu_i on the own smoothed demand
"""
from __future__ import annotations

from agents.baselines.common import DemandSummary, ParamPolicy, ParamSpace, multi_index_orders
from agents.baselines.forecast import (
    ForecastBaseStock, ForecastEchelonBaseStock, ForecastEchelonProportional, ForecastInstallationProportional,
    ForecastSS, POUTEchelon, POUTEchelonStatic, POUTInstallation, POUTInstallationStatic, ProportionalOrderUpTo,
)
from agents.baselines.policies import ConstantOrder, EchelonBaseStock, InstallationBaseStock, PassThrough, SSPolicy
from agents.baselines.registry import POLICIES, explicit_params, make_baseline, policy_names
from agents.baselines.tuning import TuneResult, candidate_costs, coordinate_search, tune, tuning_demand
from agents.rollout import BatchedPolicy, LearnedPolicy, rollout
from utils.config import BaselinesConfig

__all__ = [
    "BaselinesConfig", "BatchedPolicy", "ConstantOrder", "DemandSummary", "EchelonBaseStock",
    "ForecastBaseStock", "ForecastEchelonBaseStock", "ForecastEchelonProportional", "ForecastInstallationProportional",
    "ForecastSS",
    "InstallationBaseStock", "LearnedPolicy", "POLICIES", "POUTEchelon",
    "POUTEchelonStatic", "POUTInstallation", "POUTInstallationStatic", "ParamPolicy", "ParamSpace", "PassThrough",
    "ProportionalOrderUpTo", "SSPolicy", "TuneResult", "candidate_costs", "coordinate_search", "explicit_params",
    "make_baseline", "multi_index_orders", "policy_names", "rollout", "tune", "tuning_demand",
]
