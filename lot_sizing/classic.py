"""Single-item dynamic lot sizing: the exact Wagner-Whitin recursion, the classic lot-sizing rules,
and an exact mixed-integer program for the capacitated case with optional backlogging.

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

The uncapacitated rules (Silver-Meal, least unit cost, part-period balancing, Groff) build lots
forward: a lot starts at the first period with uncovered demand and is extended period by period
while the rule's criterion says so; Wagner-Whitin is the exact O(T^2) dynamic program over
zero-inventory-ordering plans (never order while stock is left), which contain an optimum when there
is no capacity (Wagner & Whitin 1958).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

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


# ----------------------------------------------------------------------------------------------
# Exact: Wagner-Whitin and its lot-size-limited variant
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


# ----------------------------------------------------------------------------------------------
# Exact capacitated / backlogging lot sizing as a MIP
# ----------------------------------------------------------------------------------------------
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


def exact_lot_sizing(
    demand: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    capacity: Optional[PeriodValue] = None,
    backlog_cost: Optional[PeriodValue] = None,
    initial_inventory: float = 0.0,
    time_limit: Optional[float] = None,
) -> LotSizingPlan:
    """Optimal plan of the (capacitated, backlogging) lot-sizing problem, by MIP with HiGHS.

    demand: (T,). ``capacity=None`` means uncapacitated; ``backlog_cost=None`` forbids backlogs.
    Variables per period: order x_t, setup y_t in {0,1}, stock I_t >= 0 and backlog B_t >= 0, with
    I_{t-1} - B_{t-1} + x_t - d_t = I_t - B_t, x_t <= M_t y_t, B_{T-1} = 0. M_t is the capacity,
    tightened to the demand still to come (plus what may be backlogged) so the LP relaxation is
    close. ``time_limit`` (seconds) bounds HiGHS; if it stops before proving optimality a
    ``RuntimeError`` says so rather than returning a plan that is not known to be optimal.
    """
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    T = d.size
    cap = np.full(T, np.inf) if capacity is None else as_period_values(capacity, T, "capacity", allow_inf=True)
    backlogging = backlog_cost is not None
    b = as_period_values(backlog_cost, T, "backlog_cost") if backlogging else np.zeros(T)
    check_capacity_feasible(net, cap, backlogging)

    # A lot never needs to exceed the demand it can still serve: all later demand, plus all earlier
    # demand when backlogging.
    remaining = net[::-1].cumsum()[::-1]  # (T,) net demand of periods t..T-1
    big_m = np.minimum(cap, net.sum() if backlogging else remaining)
    # Variable blocks: x (T), y (T), I (T), B (T); I and B start from the netted initial stock 0.
    n_blocks = 4 if backlogging else 3
    n = n_blocks * T
    X, Y, INV, BACK = 0, T, 2 * T, 3 * T
    c = np.zeros(n)
    c[Y : Y + T], c[INV : INV + T] = s, h
    if backlogging:
        c[BACK : BACK + T] = b
    rows, cols, vals = [], [], []

    def put(r, col, v):
        rows.append(r), cols.append(col), vals.append(v)

    for t in range(T):  # balance: x_t + I_{t-1} - B_{t-1} - I_t + B_t = d_t
        put(t, X + t, 1.0)
        put(t, INV + t, -1.0)
        if t > 0:
            put(t, INV + t - 1, 1.0)
        if backlogging:
            put(t, BACK + t, 1.0)
            if t > 0:
                put(t, BACK + t - 1, -1.0)
    for t in range(T):  # linking: x_t - M_t y_t <= 0
        put(T + t, X + t, 1.0)
        put(T + t, Y + t, -big_m[t])
    a = coo_array((vals, (rows, cols)), shape=(2 * T, n)).tocsr()
    lower = np.concatenate([net, np.full(T, -np.inf)])
    upper = np.concatenate([net, np.zeros(T)])
    ub = np.full(n, np.inf)
    ub[X : X + T] = big_m
    ub[Y : Y + T] = 1.0
    if backlogging:
        ub[BACK + T - 1] = 0.0  # everything delivered by the end of the horizon
    integrality = np.zeros(n)
    integrality[Y : Y + T] = 1
    options = {"mip_rel_gap": 1e-9}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = milp(c, constraints=LinearConstraint(a, lower, upper), integrality=integrality,
               bounds=Bounds(np.zeros(n), ub), options=options)
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"HiGHS did not prove an optimal lot-sizing plan: {res.message}")
    orders = res.x[X : X + T]
    # Drop numerical dust so a setup is charged only where HiGHS really ordered.
    orders = np.where(orders > 1e-7 * max(1.0, net.max()), orders, 0.0)
    orders = np.minimum(orders, cap)
    return _finish(d, orders, s, h, initial_inventory, b if backlogging else None, None if capacity is None else cap)
