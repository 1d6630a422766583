"""Lot sizing: pure functions over numpy arrays (no environment, no agent).

``from lot_sizing import wagner_whitin`` and friends: exact and classic single-item rules
(:mod:`lot_sizing.classic`), an adaptive genetic algorithm for the capacitated and backlogging
cases (:mod:`lot_sizing.ga_lotsizing`), DALSA for a node with several suppliers
(:mod:`lot_sizing.dalsa_module`) and the rolling-horizon hybrid planner that re-times a policy's
orders with any of them (:mod:`lot_sizing.hybrid_planner`).
"""
from lot_sizing.classic import (
    LotSizingPlan,
    exact_lot_sizing,
    groff,
    least_unit_cost,
    lot_for_lot,
    part_period_balancing,
    plan_cost,
    silver_meal,
    wagner_whitin,
    zio_lot_sizing,
)
from lot_sizing.dalsa_module import (
    MultiSupplierPlan,
    Supplier,
    dalsa,
    exact_multi_supplier,
    multi_supplier_cost,
    single_supplier_plan,
)
from lot_sizing.ga_lotsizing import GAConfig, GALotSizingPlan, genetic_lot_sizing
from lot_sizing.hybrid_planner import (
    BACKENDS,
    arrival_requirements,
    first_lots,
    first_supplier_orders,
    rolling_requirements,
    silver_meal_first_lots,
    wagner_whitin_first_lots,
)

__all__ = [
    "LotSizingPlan",
    "plan_cost",
    "wagner_whitin",
    "zio_lot_sizing",
    "silver_meal",
    "least_unit_cost",
    "part_period_balancing",
    "groff",
    "lot_for_lot",
    "exact_lot_sizing",
    "GAConfig",
    "GALotSizingPlan",
    "genetic_lot_sizing",
    "Supplier",
    "MultiSupplierPlan",
    "dalsa",
    "exact_multi_supplier",
    "multi_supplier_cost",
    "single_supplier_plan",
    "BACKENDS",
    "first_lots",
    "first_supplier_orders",
    "rolling_requirements",
    "arrival_requirements",
    "wagner_whitin_first_lots",
    "silver_meal_first_lots",
]
