"""Wagner-Whitin and the classic single-item lot-sizing rules (model: :mod:`lot_sizing.core`).

The uncapacitated rules (Silver-Meal, least unit cost, part-period balancing, Groff) build lots
forward: a lot starts at the first period with uncovered demand and is extended period by period
while the rule's criterion says so; Wagner-Whitin is the exact O(T^2) dynamic program over
zero-inventory-ordering plans (never order while stock is left), which contain an optimum when there
is no capacity (Wagner & Whitin 1958). Exact solvers for capacities and backlogging are in
:mod:`lot_sizing.exact`.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from lot_sizing.core import (
    _FEAS_TOL,
    LotSizingPlan,
    PeriodValue,
    _finish,
    _LotCosts,
    _plan_from_lots,
    _prepare,
    as_period_values,
)
from utils.errors import UserError


# ----------------------------------------------------------------------------------------------
# Wagner-Whitin and its lot-size-limited variant
# ----------------------------------------------------------------------------------------------
def zio_lot_sizing(
    demand: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    capacity: Optional[PeriodValue] = None,
    initial_inventory: float = 0.0,
) -> LotSizingPlan:
    """Best zero-inventory-ordering plan: every lot covers whole periods and fits the capacity.

    demand: (T,). Without capacity this is Wagner-Whitin (exact). With a capacity it is the
    O(T^2) dynamic program restricted to lots that cover consecutive periods in full and fit the
    capacity of their ordering period: always feasible when each period's net demand fits its own
    capacity, fast, but only a heuristic for the capacitated problem (:func:`exact_lot_sizing` is
    exact). DALSA uses it to lot-size capacitated supplier streams within its time budget.
    """
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    T = d.size
    cap = None if capacity is None else as_period_values(capacity, T, "capacity", allow_inf=True)
    if cap is not None and np.any(net > cap * (1 + _FEAS_TOL)):
        t = int(np.argmax(net > cap * (1 + _FEAS_TOL)))
        raise UserError(
            f"demand {net[t]:g} of period {t} exceeds that period's capacity {cap[t]:g}; "
            "use exact_lot_sizing, which can build stock ahead"
        )
    lots = _LotCosts(net, s, h)
    best = np.zeros(T + 1)  # best[j] = cheapest cost of covering periods 0..j-1
    arg = np.zeros(T + 1, dtype=int)
    for j in range(T):
        starts = np.arange(j + 1)
        cand = best[: j + 1] + lots.total(starts, j)  # (j+1,) cost when the last lot starts at i
        if cap is not None:
            cand = np.where(lots.quantity(starts, j) <= cap[starts] * (1 + _FEAS_TOL), cand, np.inf)
        # The latest start wins ties, so a zero-demand tail never opens an extra (free) lot.
        i = int(j - np.argmin(cand[::-1]))
        best[j + 1], arg[j + 1] = cand[i], i
    starts_rev, j = [], T
    while j > 0:
        starts_rev.append(arg[j])
        j = arg[j]
    return _finish(d, _plan_from_lots(starts_rev[::-1], net), s, h, initial_inventory, capacity=cap)


def wagner_whitin(
    demand: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    initial_inventory: float = 0.0,
) -> LotSizingPlan:
    """Exact uncapacitated lot sizing (Wagner & Whitin 1958) in O(T^2) time, O(T) memory.

    demand: (T,); setup and holding costs scalar or (T,). The initial inventory is used first, so
    the recursion runs on the net demand (an optimal plan never orders while stock is left).
    """
    return zio_lot_sizing(demand, setup_cost, holding_cost, None, initial_inventory)


# ----------------------------------------------------------------------------------------------
# The classic forward rules
# ----------------------------------------------------------------------------------------------
def _forward_rule(net: np.ndarray, extend) -> list[int]:
    """Lot starts chosen forward: a lot starts at the first uncovered period with demand and
    `extend(i, j)` decides whether the lot starting in i should also cover period j."""
    T, starts, i = net.size, [], 0
    while i < T:
        if net[i] <= 0:  # nothing to cover yet: no lot
            i += 1
            continue
        j = i
        while j + 1 < T and extend(i, j + 1):
            j += 1
        starts.append(i)
        i = j + 1
    return starts or [0]


def _lot_for_lot_starts(net: np.ndarray) -> list[int]:
    return _forward_rule(net, lambda i, j: False)


def lot_for_lot(demand, setup_cost, holding_cost, initial_inventory: float = 0.0) -> LotSizingPlan:
    """Order exactly each period's net demand: no holding cost, a setup in every period with demand."""
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    return _finish(d, _plan_from_lots(_lot_for_lot_starts(net), net), s, h, initial_inventory)


def _silver_meal_starts(lots: _LotCosts, net: np.ndarray) -> list[int]:
    # Extend while the cost per period covered does not rise (Silver & Meal 1973); zero-demand
    # periods are absorbed for free, which is what lowers the per-period cost.
    return _forward_rule(net, lambda i, j: lots.total(i, j) / (j - i + 1) <= lots.total(i, j - 1) / (j - i))


def silver_meal(demand, setup_cost, holding_cost, initial_inventory: float = 0.0) -> LotSizingPlan:
    """Silver-Meal: extend each lot while its setup-plus-holding cost per period covered falls."""
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    return _finish(d, _plan_from_lots(_silver_meal_starts(_LotCosts(net, s, h), net), net), s, h, initial_inventory)


def _least_unit_cost_starts(lots: _LotCosts, net: np.ndarray) -> list[int]:
    return _forward_rule(
        net, lambda i, j: lots.total(i, j) / lots.quantity(i, j) <= lots.total(i, j - 1) / lots.quantity(i, j - 1)
    )


def least_unit_cost(demand, setup_cost, holding_cost, initial_inventory: float = 0.0) -> LotSizingPlan:
    """Least unit cost: extend each lot while its setup-plus-holding cost per unit ordered falls."""
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    return _finish(d, _plan_from_lots(_least_unit_cost_starts(_LotCosts(net, s, h), net), net), s, h, initial_inventory)


def _part_period_starts(lots: _LotCosts, net: np.ndarray) -> list[int]:
    def extend(i: int, j: int) -> bool:
        # Balance the lot's holding cost against its setup cost: take period j if that leaves the
        # holding cost at least as close to the setup cost as stopping before it (ties: shorter lot).
        return abs(lots.holding(i, j) - lots.setup[i]) < abs(lots.holding(i, j - 1) - lots.setup[i])

    return _forward_rule(net, extend)


def part_period_balancing(demand, setup_cost, holding_cost, initial_inventory: float = 0.0) -> LotSizingPlan:
    """Part-period balancing: choose each lot so that its holding cost is closest to its setup cost."""
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    return _finish(d, _plan_from_lots(_part_period_starts(_LotCosts(net, s, h), net), net), s, h, initial_inventory)


def _groff_starts(lots: _LotCosts, net: np.ndarray, holding: np.ndarray) -> list[int]:
    def extend(i: int, j: int) -> bool:
        # Groff (1979): with n periods covered after adding period j, the setup saved per period is
        # s/(n-1) - s/n = s/(n(n-1)) and the holding added per period is about h d_j / 2, so extend
        # while d_j n (n-1) h < 2 s. With time-varying costs h is the mean rate over the lot.
        n = j - i + 1
        h_bar = holding[i:j].mean()
        return net[j] * n * (n - 1) * h_bar < 2.0 * lots.setup[i]

    return _forward_rule(net, extend)


def groff(demand, setup_cost, holding_cost, initial_inventory: float = 0.0) -> LotSizingPlan:
    """Groff's marginal rule: extend a lot while the added holding cost per period is below the
    setup cost saved per period."""
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    return _finish(d, _plan_from_lots(_groff_starts(_LotCosts(net, s, h), net, h), net), s, h, initial_inventory)


def classic_rule_setups(demand, setup_cost, holding_cost, initial_inventory: float = 0.0) -> np.ndarray:
    """Setup vectors of the five classic rules (lot-for-lot, Silver-Meal, LUC, PPB, Groff).

    Returns (5, T) bool; the genetic algorithm seeds its population with them.
    """
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    lots = _LotCosts(net, s, h)
    rules = [
        _lot_for_lot_starts(net),
        _silver_meal_starts(lots, net),
        _least_unit_cost_starts(lots, net),
        _part_period_starts(lots, net),
        _groff_starts(lots, net, h),
    ]
    setups = np.zeros((len(rules), d.size), dtype=bool)
    for r, starts in enumerate(rules):
        setups[r, starts] = True
    return setups
