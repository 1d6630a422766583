"""Exact dynamic programs for capacitated lot sizing (model: :mod:`lot_sizing.core`).

* :func:`inventory_dp_lot_sizing`: whole-unit demand, capacities and initial stock; any capacity per
  period, with or without backlogging. Once the setups are fixed the plan is a min-cost flow with
  whole-unit data, whose optimum is whole, so an optimal plan orders whole units and a DP over whole
  inventory levels is exact. It runs backward over value-to-go tables W_t(J) (cost of ending period
  t with net stock J, plus the best cost after it); the minimum over order sizes 1..c_t is a sliding
  window minimum (by doubling: O(log c) per state), so a period costs O(S log c) for S inventory
  levels. Pseudo-polynomial: fast when demand per period and capacity are small, as in the env
  (order cap 20). :func:`inventory_dp_first_orders` runs it over many rows at once for the planner.
* :func:`florian_klein`: constant capacity C, no backlogging, any (fractional) data. Florian & Klein
  (1971): some optimal plan splits the horizon into regeneration intervals (no stock at their ends) in
  each of which every lot is 0 or C except at most one; an inner DP prices each interval, an outer DP
  chains them. O(T^4) arithmetic in O(T^2) numpy steps.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from lot_sizing.core import (
    LotSizingPlan,
    PeriodValue,
    _finish,
    _prepare,
    as_demand,
    as_period_values,
    check_capacity_feasible,
)
from utils.errors import UserError


def is_whole(values) -> bool:
    """True when every value is a whole number (finite)."""
    arr = np.asarray(values, dtype=float)
    return bool(np.all(np.isfinite(arr)) and np.all(arr == np.rint(arr)))


def _window_min(values: np.ndarray, width: int) -> np.ndarray:
    """out[:, j] = min(values[:, j : j + width]) (inf beyond the end).  (R, S) -> (R, S).

    Doubling: after k rounds cur[:, j] is the minimum over 2^k values from j; two such windows that
    overlap cover any width, so O(S log width) work in a few whole-array operations."""
    R, S = values.shape
    width = max(1, min(int(width), S))
    cur = np.concatenate([values, np.full((R, width), np.inf)], axis=1)  # (R, S + width)
    span = 1
    while 2 * span <= width:
        cur[:, :-span] = np.minimum(cur[:, :-span], cur[:, span:])
        span *= 2
    return np.minimum(cur[:, :S], cur[:, width - span : width - span + S])


def _value_tables(demand, setup, holding, backlog, capacity, start, end_backlog_cost):
    """Backward DP over whole inventory levels for R rows sharing one capacity per period.

    demand, setup, holding (R, T); backlog (R, T) or None (no backlogging); capacity (T,) whole;
    start (R,) initial net stock; end_backlog_cost (R,) or None (no backlog left after period T-1).
    Returns (lo, W) with W (T, R, S): W[t, r, J - lo] = cost of ending period t at net stock J plus the
    best cost of the periods after it (inf where infeasible).
    """
    R, T = demand.shape
    total = demand.sum(axis=1)
    lo = int(min(0.0, np.min(start - total))) if backlog is not None else 0
    hi = int(max(np.max(start), np.max(total), 0.0))
    level = np.arange(lo, hi + 1, dtype=float)[None, :]  # (1, S) net stock at the end of a period
    S = level.shape[1]
    if end_backlog_cost is None:
        value_to_go = np.where(level >= 0, 0.0, np.inf).repeat(R, axis=0)  # (R, S)
    else:
        value_to_go = end_backlog_cost[:, None] * np.maximum(-level, 0.0)
    tables = np.empty((T, R, S))
    for t in range(T - 1, -1, -1):
        if backlog is None:
            period = holding[:, t, None] * np.maximum(level, 0.0) + np.where(level < 0, np.inf, 0.0)
        else:
            period = holding[:, t, None] * np.maximum(level, 0.0) + backlog[:, t, None] * np.maximum(-level, 0.0)
        tables[t] = period + value_to_go  # (R, S) W_t
        # Best of ordering nothing or 1..c_t units, from each level J0 = start stock - demand; J0 may
        # lie up to max demand below the grid (an order brings it back), hence the padding.
        pad = int(demand[:, t].max())
        padded = np.concatenate([np.full((R, pad), np.inf), tables[t]], axis=1)  # (R, pad + S)
        best_order = _window_min(padded, int(capacity[t]))  # min W_t(J0 + 0 .. J0 + c - 1)
        shifted = np.concatenate([best_order[:, 1:], np.full((R, 1), np.inf)], axis=1)  # min over x = 1..c
        act = np.minimum(padded, setup[:, t, None] + shifted) if capacity[t] > 0 else padded
        idx = np.arange(S)[None, :] + pad - demand[:, t, None].astype(np.int64)  # J0 index of each start level
        value_to_go = np.take_along_axis(act, idx, axis=1)
    return lo, tables


def _best_orders(table: np.ndarray, lo: int, stock: np.ndarray, demand: np.ndarray, setup: np.ndarray, cap: int):
    """Order (R,) minimising setup + W_t(stock - demand + x) over x = 0..cap (ties: the smallest x)."""
    x = np.arange(cap + 1)[None, :]  # (1, C+1)
    idx = (stock - demand - lo).astype(np.int64)[:, None] + x  # (R, C+1)
    ok = (idx >= 0) & (idx < table.shape[1])
    cand = np.where(ok, np.take_along_axis(table, np.clip(idx, 0, table.shape[1] - 1), axis=1), np.inf)
    cand = cand + np.where(x > 0, setup[:, None], 0.0)
    return np.argmin(cand, axis=1).astype(float), cand.min(axis=1)


def inventory_dp_lot_sizing(
    demand: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    capacity: PeriodValue,
    backlog_cost: Optional[PeriodValue] = None,
    initial_inventory: float = 0.0,
) -> LotSizingPlan:
    """Exact capacitated lot sizing, with or without backlogging, for whole-unit data.

    demand: (T,) whole units; capacity scalar or (T,) whole units; initial_inventory whole. Time and
    memory O(T * S), S = initial stock plus total demand (twice that with backlogging).
    """
    d = as_demand(demand)
    T = d.size
    s = as_period_values(setup_cost, T, "setup_cost")
    h = as_period_values(holding_cost, T, "holding_cost")
    cap = as_period_values(capacity, T, "capacity", allow_inf=True)
    b = None if backlog_cost is None else as_period_values(backlog_cost, T, "backlog_cost")
    if not (is_whole(d) and is_whole(np.minimum(cap, d.sum())) and is_whole(initial_inventory)):
        raise UserError("inventory_dp_lot_sizing needs whole-unit demand, capacity and initial inventory; "
                        "use exact_lot_sizing for fractional data")
    _, net, _, _ = _prepare(d, s, h, initial_inventory)
    check_capacity_feasible(net, cap, b is not None)
    cap_units = np.minimum(cap, d.sum()).astype(np.int64)
    lo, tables = _value_tables(d[None], s[None], h[None], None if b is None else b[None], cap_units,
                               np.array([float(initial_inventory)]), None)
    orders, stock = np.zeros(T), float(initial_inventory)
    for t in range(T):
        x, _ = _best_orders(tables[t], lo, np.array([stock]), d[t : t + 1], s[t : t + 1], int(cap_units[t]))
        orders[t] = x[0]
        stock += orders[t] - d[t]
    return _finish(d, orders, s, h, initial_inventory, b, cap)


def inventory_dp_first_orders(
    demand: np.ndarray,
    setup_cost: np.ndarray,
    holding_cost: np.ndarray,
    backlog_cost: np.ndarray,
    capacity: int,
    start: np.ndarray,
    end_backlog_cost: np.ndarray,
) -> np.ndarray:
    """First-period order of the optimal plan of every row, with backlogging.  -> (R,)

    demand (R, H) whole units; setup, holding, backlog, end_backlog_cost (R,) constant over the
    horizon; capacity: the most units one order may hold (same for every row and period); start (R,)
    whole net stock now (negative = backlog). Backlog still open after period H-1 costs
    end_backlog_cost per unit, so a row whose backlog cannot be cleared within the horizon still
    has a plan (order as much as pays).
    """
    R, H = demand.shape
    per_period = lambda v: np.repeat(np.asarray(v, dtype=float)[:, None], H, axis=1)  # noqa: E731
    setup = per_period(setup_cost)
    lo, tables = _value_tables(demand, setup, per_period(holding_cost), per_period(backlog_cost),
                               np.full(H, int(capacity)), np.asarray(start, dtype=float), np.asarray(end_backlog_cost, dtype=float))
    orders, _ = _best_orders(tables[0], lo, np.asarray(start, dtype=float), demand[:, 0], setup[:, 0], int(capacity))
    return orders


def florian_klein(
    demand: np.ndarray,
    setup_cost: PeriodValue,
    holding_cost: PeriodValue,
    capacity: float,
    initial_inventory: float = 0.0,
) -> LotSizingPlan:
    """Exact lot sizing with one constant capacity per order and no backlogging (Florian & Klein 1971).

    demand: (T,); setup and holding scalar or (T,); capacity: one number > 0. For each start i of a
    regeneration interval and every end j at once, the inner DP walks t = i..j with state (k full
    lots so far, whether the one partial lot f_j = D(i..j) - floor(D(i..j)/C) C is placed), requiring
    the units made so far to cover the demand so far; the outer DP chains the intervals.
    """
    d, net, s, h = _prepare(demand, setup_cost, holding_cost, initial_inventory)
    T = d.size
    C = float(capacity)
    if not (np.isfinite(C) and C > 0):
        raise UserError(f"florian_klein needs one finite capacity > 0, got {capacity}")
    check_capacity_feasible(net, np.full(T, C), False)
    tol = 1e-9 * max(1.0, C)
    cum = np.concatenate([[0.0], np.cumsum(net)])  # (T+1,)
    interval = np.full((T, T), np.inf)  # interval[i, j]: cheapest plan of periods i..j, no stock at either end
    moves = {}  # i -> (T - i, m, K, 2) int8 action per period: 0 none, 1 full lot, 2 partial lot
    for i in range(T):
        need = cum[i + 1 :] - cum[i]  # (m,) demand of i..j for each end j = i..T-1
        n_full = np.floor(need / C + 1e-9)
        part = need - n_full * C
        part = np.where(part > tol, part, 0.0)
        m, K = need.size, int(n_full.max()) + 1
        k = np.arange(K)[None, :, None]
        p = np.arange(2)[None, None, :]
        made = k * C + p * part[:, None, None]  # (m, K, 2) units made in state (k, p)
        allowed = (made <= need[:, None, None] + tol) & ((p == 0) | (part[:, None, None] > 0))
        value = np.full((m, K, 2), np.inf)
        value[:, 0, 0] = 0.0
        actions = np.zeros((m, m, K, 2), dtype=np.int8)
        for step, t in enumerate(range(i, T)):
            full = np.concatenate([np.full((m, 1, 2), np.inf), value[:, :-1, :]], axis=1) + s[t]
            partial = np.concatenate([np.full((m, K, 1), np.inf), value[:, :, :1]], axis=2) + s[t]
            options = np.stack([value, full, partial])  # (3, m, K, 2)
            actions[step] = np.argmin(options, axis=0)
            covered = need[step]  # demand of i..t
            stock = made - covered
            ok = allowed & (stock >= -tol)
            value = np.where(ok, options.min(axis=0) + h[t] * np.maximum(stock, 0.0), np.inf)
            end = value[step, int(n_full[step]), int(part[step] > 0)]  # the interval i..t ends here
            interval[i, t] = end
        moves[i] = (actions, n_full.astype(int), part)
    best = np.zeros(T + 1)
    start_of = np.zeros(T + 1, dtype=int)
    for j in range(T):
        cand = best[: j + 1] + interval[: j + 1, j]
        i = int(j - np.argmin(cand[::-1]))  # the latest start wins ties
        best[j + 1], start_of[j + 1] = cand[i], i
    if not np.isfinite(best[T]):
        raise RuntimeError("florian_klein found no feasible plan although the capacity check passed")
    orders, j = np.zeros(T), T
    while j > 0:
        i = start_of[j]
        actions, n_full, part = moves[i]
        row, k, p = j - 1 - i, n_full[j - 1 - i], int(part[j - 1 - i] > 0)
        for step in range(j - 1 - i, -1, -1):
            a = actions[step, row, k, p]
            if a == 1:
                orders[i + step], k = C, k - 1
            elif a == 2:
                orders[i + step], p = part[row], 0
        j = i
    return _finish(d, orders, s, h, initial_inventory, capacity=np.full(T, C))
