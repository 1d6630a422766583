"""Exact single-item lot sizing with capacities and backlogging (model: :mod:`lot_sizing.core`).

* :func:`exact_lot_sizing`: the mixed-integer program (HiGHS), any capacities, with or without
  backlogging; setups read from the binaries, orders re-solved with them fixed (:mod:`lot_sizing.mip`).
* :func:`backlogging_wagner_whitin`: uncapacitated with backlogging, the dynamic program of Zangwill
  (1969): some optimal plan splits the horizon into intervals with no stock and no backlog at their
  ends (regeneration points), each served by one order placed inside it; O(T^3) time in O(T) numpy
  steps.
* :mod:`lot_sizing.capacitated_dp`: constant capacity without backlogging (Florian & Klein 1971) and
  integer data with any capacity and backlogging (a DP over inventory levels).
* :func:`optimal_lot_sizing`: the fastest of these that is exact for the instance
  (``benchmarks/lotsizing_gaps.py`` measures the choice).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.sparse import coo_array

from lot_sizing.capacitated_dp import florian_klein, inventory_dp_lot_sizing, is_whole
from lot_sizing.classic import wagner_whitin
from lot_sizing.core import (
    LotSizingPlan,
    PeriodValue,
    _finish,
    _prepare,
    as_period_values,
    check_capacity_feasible,
)
from lot_sizing.mip import solve_fixed_charge


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
    close. Setups are read from the binaries and the orders re-solved with them fixed, so no
    plan pays a setup for numerical dust. ``time_limit`` (seconds) bounds HiGHS; if it stops before proving optimality a
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
    v = solve_fixed_charge(c, a, lower, upper, ub, np.arange(Y, Y + T), time_limit, "lot-sizing plan")
    # Only open setups order; an LP vertex may still leave round-off of ~1e-13 in an open period.
    orders = np.where((v[Y : Y + T] > 0) & (v[X : X + T] > 1e-9 * max(1.0, net.max())), np.minimum(v[X : X + T], cap), 0.0)
    return _finish(d, orders, s, h, initial_inventory, b if backlogging else None, None if capacity is None else cap)


def backlogging_wagner_whitin(
    demand: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    backlog_cost: PeriodValue,
    initial_inventory: float = 0.0,
) -> LotSizingPlan:
    """Exact uncapacitated lot sizing with backlogging (Zangwill 1969), all demand met by period T-1.

    demand: (T,); costs scalar or (T,). Some optimal plan has regeneration intervals [i, j] (no stock
    and no backlog at the end of i-1 and of j) each served by one lot ordered in a period k in [i, j]:
    periods i..k-1 wait for it (backlog), k..j are served from stock. With prefix sums the cost of
    that lot is O(1), and F(j+1) = min_{i <= k <= j} F(i) + lot(i, k, j) is solved one j at a time over
    the (i, k) matrix. The initial inventory covers the first demand (netted), which never costs more.
    """
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    T = d.size
    b = as_period_values(backlog_cost, T, "backlog_cost")
    zero = np.zeros(1)
    cum = np.concatenate([zero, np.cumsum(net)])  # (T+1,) D[m] = demand of periods < m
    hold_rate = np.concatenate([zero, np.cumsum(h)])  # (T+1,) Hp[m]: holding from period 0 to m
    back_rate = np.concatenate([zero, np.cumsum(b)])  # (T+1,) Bp[m]
    dh = np.concatenate([zero, np.cumsum(net * hold_rate[:-1])])  # (T+1,) sum_{t<m} d_t Hp[t]
    db = np.concatenate([zero, np.cumsum(net * back_rate[:-1])])  # (T+1,) sum_{t<m} d_t Bp[t]
    i, k = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")  # (T, T) lot start i, order period k
    # backlog of periods i..k-1 waiting for the lot ordered in k
    waiting = back_rate[k] * (cum[k] - cum[i]) - (db[k] - db[i])
    best = np.zeros(T + 1)  # best[j] = cheapest cost of covering periods 0..j-1
    choice = np.zeros((T + 1, 2), dtype=np.int64)  # (i, k) of the last lot of that plan
    for j in range(T):
        stored = (dh[j + 1] - dh[k]) - hold_rate[k] * (cum[j + 1] - cum[k])  # periods k..j held from k
        quantity = cum[j + 1] - cum[i]
        cand = best[i] + np.where(quantity > 0, s[k], 0.0) + stored + waiting  # (T, T)
        cand = np.where((i <= k) & (k <= j), cand, np.inf)
        flat = int(np.argmin(cand))
        best[j + 1], choice[j + 1] = cand.flat[flat], divmod(flat, T)
    orders, j = np.zeros(T), T
    while j > 0:
        start, order_period = choice[j]
        orders[order_period] = cum[j] - cum[start]
        j = start
    return _finish(d, orders, s, h, initial_inventory, b)


def optimal_lot_sizing(
    demand: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    capacity: Optional[PeriodValue] = None,
    backlog_cost: Optional[PeriodValue] = None,
    initial_inventory: float = 0.0,
) -> LotSizingPlan:
    """An optimal plan by the fastest exact method for the instance.

    No capacity: Wagner-Whitin, or Zangwill's DP with backlogging. A capacity with whole-unit demand,
    capacities and initial stock: the DP over inventory levels (pseudo-polynomial, fast for the
    planner's small horizons and order caps). A constant capacity without backlogging and fractional
    data: Florian-Klein. Otherwise the MIP. ``benchmarks/lotsizing_gaps.py`` times each on each class.
    """
    if capacity is None or np.all(np.isinf(np.asarray(capacity, dtype=float))):
        if backlog_cost is None:
            return wagner_whitin(demand, setup_cost, holding_cost, initial_inventory)
        return backlogging_wagner_whitin(demand, setup_cost, holding_cost, backlog_cost, initial_inventory)
    cap = np.asarray(capacity, dtype=float)
    if is_whole(demand) and is_whole(cap) and is_whole(initial_inventory):
        return inventory_dp_lot_sizing(demand, setup_cost, holding_cost, capacity, backlog_cost, initial_inventory)
    if backlog_cost is None and (cap.ndim == 0 or np.all(cap == cap.flat[0])):
        return florian_klein(demand, setup_cost, holding_cost, float(cap.flat[0]), initial_inventory)
    return exact_lot_sizing(demand, setup_cost, holding_cost, capacity, backlog_cost, initial_inventory)
