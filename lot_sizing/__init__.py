"""Lot sizing: pure functions over numpy arrays (no environment, no agent).

``from lot_sizing import wagner_whitin`` and friends: the shared model and plan costs
(:mod:`lot_sizing.core`), Wagner-Whitin and the classic single-item rules (:mod:`lot_sizing.classic`),
exact solvers for capacities and backlogging (:mod:`lot_sizing.exact`, :mod:`lot_sizing.capacitated_dp`:
a MIP and three dynamic programs, and ``optimal_lot_sizing`` that picks the fastest), a memetic genetic
algorithm (adaptive rates + local search) for the capacitated and backlogging
cases (:mod:`lot_sizing.ga_lotsizing`), DALSA for a node with several suppliers
(:mod:`lot_sizing.dalsa_module`; the model and exact MIP in :mod:`lot_sizing.multi_supplier`) and the rolling-horizon hybrid planner that re-times a policy's
orders with any of them (:mod:`lot_sizing.hybrid_planner`).
"""
from lot_sizing.capacitated_dp import florian_klein, inventory_dp_lot_sizing
from lot_sizing.classic import (
    groff,
    least_unit_cost,
    lot_for_lot,
    part_period_balancing,
    silver_meal,
    wagner_whitin,
    zio_lot_sizing,
)
from lot_sizing.core import LotSizingPlan, plan_cost
from lot_sizing.exact import backlogging_wagner_whitin, exact_lot_sizing, optimal_lot_sizing
from lot_sizing.dalsa_module import dalsa, single_supplier_plan
from lot_sizing.multi_supplier import MultiSupplierPlan, Supplier, exact_multi_supplier, multi_supplier_cost
from lot_sizing.ga_lotsizing import GAConfig, GALotSizingPlan, memetic_lot_sizing
from lot_sizing.setup_search import local_search_lot_sizing
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
    "backlogging_wagner_whitin",
    "florian_klein",
    "inventory_dp_lot_sizing",
    "optimal_lot_sizing",
    "GAConfig",
    "GALotSizingPlan",
    "memetic_lot_sizing",
    "local_search_lot_sizing",
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
