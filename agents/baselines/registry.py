"""The baseline registry: every classic policy by the name configs and the command line use, and its parameters
as given in the ``baselines:`` section of an experiment config."""
from __future__ import annotations

import numpy as np

from agents.baselines.forecast import (
    ForecastBaseStock, ForecastEchelonBaseStock, ForecastEchelonProportional, ForecastInstallationProportional,
    ForecastSS, POUTEchelon, POUTEchelonStatic, POUTInstallation, POUTInstallationStatic,
)
from agents.baselines.policies import ConstantOrder, EchelonBaseStock, InstallationBaseStock, PassThrough, SSPolicy
from agents.rollout import BatchedPolicy
from envs.supply_graph import SupplyGraph
from utils.config import BaselinesConfig
from utils.errors import UserError
from utils.registry import Registry

#: every classic policy by name, in the order tables list them
POLICIES: Registry[type] = Registry("baseline")
for _cls in (
    InstallationBaseStock, EchelonBaseStock, SSPolicy, ForecastSS, ForecastEchelonBaseStock, ForecastBaseStock,
    ForecastEchelonProportional, ForecastInstallationProportional, POUTEchelonStatic, POUTEchelon,
    POUTInstallationStatic, POUTInstallation, PassThrough, ConstantOrder,
):
    POLICIES.register(_cls.name, _cls)


def policy_names(graph: SupplyGraph) -> list[str]:
    """The baselines defined on a supply graph (``env.graph``), in registry order."""
    return [name for name, cls in POLICIES.items() if cls.applies_to(graph)]


def make_baseline(name: str, params: np.ndarray | None = None) -> BatchedPolicy:
    """A baseline by name with parameters (P,) or (B, P)."""
    return POLICIES.get(name)(np.zeros(0) if params is None else params)


def explicit_params(name: str, config: BaselinesConfig, n_params: int) -> np.ndarray | None:
    """The parameters given in the baseline config for `name`, or None when they are to be tuned."""
    given = {
        "installation_base_stock": config.installation_levels,
        "echelon_base_stock": config.echelon_levels,
        "s_S": config.reorder_points + config.order_up_to if (config.reorder_points or config.order_up_to) else [],
        "constant_order": config.constant_orders,
        "forecast_echelon": ([] if config.forecast_alpha is None else [config.forecast_alpha]) + config.forecast_safety,
        "forecast_base_stock": config.forecast_base_stock,
        "forecast_echelon_proportional": config.forecast_echelon_proportional,
        "forecast_installation_proportional": config.forecast_installation_proportional,
        "pout_echelon": config.pout_echelon,
        "pout_echelon_static": config.pout_echelon_static,
        "pout_installation": config.pout_installation,
        "pout_installation_static": config.pout_installation_static,
        "forecast_s_S": config.forecast_s_S,
    }.get(name, [])
    if n_params == 0:
        return np.zeros(0)
    if not given:
        return None
    if len(given) != n_params:
        raise UserError(
            f"baseline '{name}' needs {n_params} parameters but the baseline settings give {len(given)}; "
            f"give all of them (--set baselines.<key>=[...]) or none to tune them"
        )
    return np.asarray(given, dtype=np.float64)
