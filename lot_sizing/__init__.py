"""Lot sizing: pure functions over numpy arrays (no environment, no agent).

``from lot_sizing import wagner_whitin`` and friends: exact and classic single-item rules
(:mod:`lot_sizing.classic`), an adaptive genetic algorithm for the capacitated and backlogging
cases (:mod:`lot_sizing.ga_lotsizing`) and DALSA for a node with several suppliers
(:mod:`lot_sizing.dalsa_module`).
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
]
