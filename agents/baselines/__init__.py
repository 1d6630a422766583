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

Serial chain (stage 0 = retailer), with IP_i = on-hand_i - backlog_i + pipeline_i + owed to i by i+1
(``env.inventory_position()``) and the echelon position EIP_i = sum_{j <= i} IP_j:

* ``installation_base_stock``: q_i = clip(S_i - IP_i, 0, cap)
* ``echelon_base_stock``: q_i = clip(S_i - EIP_i, 0, cap) (Clark-Scarf form; optimal without order
  caps for a serial chain with backlogging and i.i.d. demand)
* ``s_S``: q_i = clip(S_i - IP_i, 0, cap) if IP_i <= s_i else 0 (for fixed order costs)
* ``forecast_echelon``: echelon base-stock whose levels follow the demand forecast:
  S_i(t) = mu(t) * (L_0 + ... + L_i + 1) + safety_i, mu(t) = alpha d(t-1) + (1 - alpha) mu(t-1)
* ``forecast_base_stock``: installation base-stock with levels mu_i(t) * (L_i + 1) + safety_i, mu_i
  the smoothed demand stage i itself sees
* ``pass_through``: q_i = the demand stage i saw last period
* ``constant_order``: q_i = c_i

Forecast-proportional levels and POUT (proportional order-up-to, Disney & Towill 2003), one class
(``ProportionalOrderUpTo``): q_i = clip(round(mu + (S_i - position_i - mu) / T_i), 0, cap), mu an
exponentially smoothed demand, T_i >= 1 a smoothing time (T_i = 1 is base-stock):

* ``forecast_echelon_proportional``: echelon base-stock with S_i = k_i mu(t), mu the smoothed customer demand
* ``forecast_installation_proportional``: installation base-stock with S_i = k_i mu_i(t), mu_i the smoothed
  demand stage i itself sees
* ``pout_echelon`` / ``pout_echelon_static``: POUT on EIP_i, levels k_i mu(t) / constant S_i
* ``pout_installation`` / ``pout_installation_static``: POUT on IP_i, levels k_i mu_i(t) / constant S_i

Network: ``installation_base_stock`` becomes a multi-index (dual-index for two suppliers) policy: a
node's suppliers are served fastest first, each with its own level S_{i,e} on the position that
counts only the pipeline arriving within that supplier's lead time (plus what was just ordered from
faster ones); ``forecast_base_stock`` is the same with levels that follow each node's smoothed
demand; ``forecast_installation_proportional`` with levels k_{i,e} mu_i(t); ``pout_installation`` adds
POUT smoothing per node (each supplier's gap divided by T_i, the forecast fed forward to the node's
slowest supplier); ``pass_through`` orders last period's demand from the cheapest supplier first;
``constant_order`` orders a constant per supplier.
"""
from __future__ import annotations

from agents.baselines.common import DemandSummary, NetworkLayout, ParamSpace, is_serial, network_layout
from agents.baselines.forecast import (
    ForecastBaseStock, ForecastEchelonBaseStock, ForecastEchelonProportional, ForecastInstallationProportional,
    POUTEchelon, POUTEchelonStatic, POUTInstallation, POUTInstallationStatic, ProportionalOrderUpTo,
)
from agents.baselines.policies import ConstantOrder, EchelonBaseStock, InstallationBaseStock, PassThrough, SSPolicy
from agents.baselines.registry import NETWORK_POLICIES, POLICIES, explicit_params, make_baseline, policy_names
from agents.baselines.tuning import TuneResult, candidate_costs, coordinate_search, tune, tuning_demand
from agents.rollout import BatchedPolicy, LearnedPolicy, rollout
from utils.config import BaselinesConfig

__all__ = [
    "BaselinesConfig", "BatchedPolicy", "ConstantOrder", "DemandSummary", "EchelonBaseStock",
    "ForecastBaseStock", "ForecastEchelonBaseStock", "ForecastEchelonProportional", "ForecastInstallationProportional",
    "InstallationBaseStock", "LearnedPolicy", "NETWORK_POLICIES", "NetworkLayout", "POLICIES", "POUTEchelon",
    "POUTEchelonStatic", "POUTInstallation", "POUTInstallationStatic", "ParamSpace", "PassThrough",
    "ProportionalOrderUpTo", "SSPolicy", "TuneResult", "candidate_costs", "coordinate_search", "explicit_params",
    "is_serial", "make_baseline", "network_layout", "policy_names", "rollout", "tune", "tuning_demand",
]
