"""The single-item lot-sizing model every solver in the package shares: plans, input checks, costs.

Model (one item, periods t = 0..T-1, all quantities real and non-negative):

    I_t = I_{t-1} + x_t - d_t,   I_{-1} = initial inventory,
    cost = sum_t  s_t [x_t > 0]  +  h_t max(I_t, 0)  +  b_t max(-I_t, 0),

with ``x_t`` the lot ordered (and received) in period t, ``s_t`` the setup cost, ``h_t`` the holding
cost charged on *end-of-period* inventory (the convention of Wagner & Whitin 1958, under which their
12-period example costs 864) and ``b_t`` the backlog cost per unit short at the end of period t.
Without backlogging ``I_t >= 0`` for every t; with backlogging every unit must still be delivered by
the end of the horizon (``I_{T-1} >= 0``). An optional capacity bounds each lot: ``x_t <= c_t``.

Setup, holding, backlog costs and capacities may each be a scalar (the same every period) or a
length-T array. Every solver returns a :class:`LotSizingPlan` whose cost is recomputed by
:func:`plan_cost` from the orders, so plans from different solvers are compared on one ruler.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from utils.errors import UserError

#: A cost or capacity given per period (length-T array) or once for all periods (scalar).
PeriodValue = Union[float, int, np.ndarray, list]

#: Relative tolerance of the feasibility checks: inventory may dip below zero by solver rounding
#: (HiGHS works to absolute tolerances near 1e-7), never by a meaningful fraction of a unit.
_FEAS_TOL = 1e-9
_ABS_TOL = 1e-6


@dataclass(frozen=True)
class LotSizingPlan:
    """A lot-sizing plan: what to order in each period and what it costs under :func:`plan_cost`."""

    orders: np.ndarray  # (T,) quantity ordered (and received) in each period
    cost: float  # setup + holding (+ backlog) cost of `orders`

    @property
    def setups(self) -> np.ndarray:
        """(T,) bool: periods in which an order is placed."""
        return self.orders > 0


# ----------------------------------------------------------------------------------------------
# Input checks shared by every solver in the package
# ----------------------------------------------------------------------------------------------
def as_demand(demand: np.ndarray | list, name: str = "demand") -> np.ndarray:
    """Check a demand vector: 1-D, at least one period, finite, non-negative. Returns float (T,)."""
    arr = np.asarray(demand, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise UserError(f"{name} must be a non-empty 1-D sequence of per-period quantities, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise UserError(f"{name} contains a NaN or infinite value; give finite quantities")
    if np.any(arr < 0):
        t = int(np.argmax(arr < 0))
        raise UserError(f"{name} is negative in period {t} ({arr[t]:g}); demand must be >= 0")
    return arr


def as_period_values(
    value: PeriodValue, n_periods: int, name: str, allow_inf: bool = False, per: str = "period"
) -> np.ndarray:
    """Broadcast a scalar or check a length-n array of non-negative values, one per `per` (a period, or
    a row of a batch). Returns float (n,)."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n_periods, float(arr))
    elif arr.ndim != 1 or arr.size != n_periods:
        raise UserError(f"{name} has {arr.size} values but there are {n_periods} {per}s; give one value or one per {per}")
    if np.any(np.isnan(arr)) or (not allow_inf and not np.all(np.isfinite(arr))):
        raise UserError(f"{name} must be finite numbers, got {value!r}")
    if np.any(arr < 0):
        raise UserError(f"{name} must be >= 0 in every {per}, got {arr.min():g}")
    return arr


def net_demand(demand: np.ndarray, initial_inventory: float) -> np.ndarray:
    """Demand left after the initial inventory is used up first-in-first-out. (T,) -> (T,)."""
    if initial_inventory < 0 or not np.isfinite(initial_inventory):
        raise UserError(f"initial_inventory must be a finite number >= 0, got {initial_inventory}")
    cum = np.cumsum(demand)
    covered = np.minimum(cum, initial_inventory)
    return demand - np.diff(covered, prepend=0.0)


# ----------------------------------------------------------------------------------------------
# Cost of a plan
# ----------------------------------------------------------------------------------------------
def plan_cost(
    demand: np.ndarray,
    orders: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    backlog_cost: Optional[PeriodValue] = None,
    initial_inventory: float = 0.0,
    capacity: Optional[PeriodValue] = None,
) -> float:
    """Cost of ordering `orders` against `demand`; raises ``UserError`` if the plan is infeasible.

    demand, orders: (T,). ``backlog_cost=None`` means backlogging is not allowed, so any period
    ending with negative inventory makes the plan infeasible; with a backlog cost, shortages are
    charged per unit per period but all demand must be met by the last period. ``capacity`` (when
    given) is checked against every order.
    """
    d = as_demand(demand)
    x = np.asarray(orders, dtype=float)
    T = d.size
    if x.shape != (T,):
        raise UserError(f"orders have shape {x.shape} but demand has {T} periods; give one order per period")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise UserError("orders must be finite and >= 0 in every period")
    s = as_period_values(setup_cost, T, "setup_cost")
    h = as_period_values(holding_cost, T, "holding_cost")
    scale = _ABS_TOL + _FEAS_TOL * (float(d.sum()) + initial_inventory)
    if capacity is not None:
        cap = as_period_values(capacity, T, "capacity", allow_inf=True)
        if np.any(x > cap + scale):
            t = int(np.argmax(x > cap + scale))
            raise UserError(f"order {x[t]:g} in period {t} exceeds the capacity {cap[t]:g}")
    inventory = initial_inventory + np.cumsum(x - d)  # (T,) end-of-period net inventory
    if backlog_cost is None:
        if np.any(inventory < -scale):
            t = int(np.argmax(inventory < -scale))
            raise UserError(f"plan is infeasible: inventory is {inventory[t]:g} at the end of period {t} and backlogging is not allowed")
        shortage_cost = 0.0
    else:
        b = as_period_values(backlog_cost, T, "backlog_cost")
        if inventory[-1] < -scale:
            raise UserError(f"plan is infeasible: {-inventory[-1]:g} units are still backlogged at the end of the horizon")
        shortage_cost = float(b @ np.maximum(-inventory, 0.0))
    return float(s @ (x > 0) + h @ np.maximum(inventory, 0.0) + shortage_cost)


# ----------------------------------------------------------------------------------------------
# Cost of one lot: order in period i, covering the (net) demand of periods i..j
# ----------------------------------------------------------------------------------------------
class _LotCosts:
    """Prefix sums that price a lot ordered in period i covering periods i..j in O(1).

    Holding of a lot (i, j) = sum_{t=i}^{j-1} h_t * (D[j+1] - D[t+1]) with D the cumulative demand,
    which expands to D[j+1] (Hp[j] - Hp[i]) - (HD[j] - HD[i]) with Hp[k] = sum_{t<k} h_t and
    HD[k] = sum_{t<k} h_t D[t+1]. Every call broadcasts over numpy index arrays.
    """

    def __init__(self, demand: np.ndarray, setup: np.ndarray, holding: np.ndarray):
        self.demand, self.setup = demand, setup
        self.cum_demand = np.concatenate([[0.0], np.cumsum(demand)])  # (T+1,)
        self.cum_holding = np.concatenate([[0.0], np.cumsum(holding)])  # (T+1,)
        self.cum_holding_demand = np.concatenate([[0.0], np.cumsum(holding * self.cum_demand[1:])])  # (T+1,)

    def quantity(self, i, j):
        """Units ordered in i to cover periods i..j."""
        return self.cum_demand[j + 1] - self.cum_demand[i]

    def holding(self, i, j):
        """Holding cost of carrying the lot (i, j) until its units are used."""
        return self.cum_demand[j + 1] * (self.cum_holding[j] - self.cum_holding[i]) - (
            self.cum_holding_demand[j] - self.cum_holding_demand[i]
        )

    def total(self, i, j):
        """Setup (only if the lot is not empty) plus holding cost of the lot (i, j)."""
        return np.where(self.quantity(i, j) > 0, self.setup[i], 0.0) + self.holding(i, j)


def _prepare(demand, setup_cost, holding_cost, initial_inventory):
    """Validate inputs and net the demand of the initial inventory. Returns (demand, net, s, h)."""
    d = as_demand(demand)
    T = d.size
    s = as_period_values(setup_cost, T, "setup_cost")
    h = as_period_values(holding_cost, T, "holding_cost")
    return d, net_demand(d, initial_inventory), s, h


def _plan_from_lots(lot_starts: list[int], net: np.ndarray) -> np.ndarray:
    """Orders (T,) of a plan whose lot k is ordered in lot_starts[k] and covers up to the next start."""
    orders = np.zeros_like(net)
    bounds = list(lot_starts) + [net.size]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        orders[start] = net[start:stop].sum()
    return orders


def _finish(d, orders, s, h, initial_inventory, backlog=None, capacity=None) -> LotSizingPlan:
    orders = np.where(orders > 0, orders, 0.0)
    return LotSizingPlan(orders, plan_cost(d, orders, s, h, backlog, initial_inventory, capacity))


def check_capacity_feasible(net: np.ndarray, cap: np.ndarray, backlogging: bool) -> None:
    """Raise ``UserError`` if no plan can meet `net` demand within capacities `cap` (both (T,))."""
    if backlogging:
        if cap.sum() < net.sum() * (1 - _FEAS_TOL):
            raise UserError(
                f"total capacity {cap.sum():g} is below total demand {net.sum():g}; raise capacity"
            )
        return
    short = np.cumsum(cap) < np.cumsum(net) * (1 - _FEAS_TOL)
    if np.any(short):
        t = int(np.argmax(short))
        raise UserError(
            f"capacity cannot meet demand: cumulative capacity {np.cumsum(cap)[t]:g} is below cumulative "
            f"demand {np.cumsum(net)[t]:g} in period {t}; raise capacity or allow backlogging"
        )


def prepare_capacitated(demand, setup_cost, holding_cost, capacity, backlog_cost, initial_inventory):
    """Validated inputs of a (capacitated, backlogging) instance: (d, net, s, h, b, cap), all (T,).

    ``b`` is None when backlogging is not allowed; ``cap`` is inf where there is no capacity. Raises
    ``UserError`` when no plan can meet the demand within the capacities.
    """
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    T = d.size
    b = None if backlog_cost is None else as_period_values(backlog_cost, T, "backlog_cost")
    cap = np.full(T, np.inf) if capacity is None else as_period_values(capacity, T, "capacity", allow_inf=True)
    check_capacity_feasible(net, cap, b is not None)
    return d, net, s, h, b, cap
