"""DALSA: demand allocation and lot sizing for a node that buys from several suppliers.

The node needs ``r_t`` units in period t (t = 0..T-1) and holds stock at ``h_t`` per unit per period
(end-of-period inventory, as in :mod:`lot_sizing.classic`). Supplier k delivers an order placed in
period tau in period tau + L_k, charges ``p_k`` per unit and ``A_k`` per order, and takes at most
``C_k`` units per order. Orders whose arrival would fall after the horizon are not allowed, and no
shortage is allowed. Plans are kept as arrivals ``q[k, t]`` (units from k arriving in t); the order
is placed L_k periods earlier. Cost = sum A_k [q_kt > 0] + p_k q_kt + sum_t h_t I_t.

This module's definition of DALSA (the project's own statement of the two-phase method, plus an
improvement phase):

Phase 1 - demand allocation. Periods are taken in time order; the requirement of period t goes to
    the (supplier, arrival period s <= t) pairs with capacity left, cheapest *landed* unit cost
    first: the supplier's landed cost plus the holding cost from s to t. A supplier's landed cost is
    its unit price plus its fixed-and-holding cost per unit when it alone lot-sizes (Wagner-Whitin)
    all the requirement it can reach in time, so a supplier that needs large lots to amortise its
    order cost is priced as such. Guarantee: the allocation is feasible whenever any plan is (a
    later period can use every source an earlier one can, so serving periods in order never strands
    one), which is exactly the cumulative-capacity test that otherwise raises ``UserError``.
Phase 2 - lot sizing. Each supplier's allocated stream is re-timed into lots on its own:
    Wagner-Whitin when the supplier is uncapacitated (exact for that stream), otherwise the best
    zero-inventory-ordering plan within its capacity (``phase2="zio"``, fast) or the exact
    capacitated MIP (``phase2="exact"``). Guarantee: per supplier never worse than phase 1's
    allocation ordered as it stands, optimal for the stream when uncapacitated or exact.
Phase 3 - improvement. Steepest descent over two moves while the total cost falls: transfer all or
    part of one lot into another existing lot (same or other supplier, earlier or, if stock allows,
    later), and switch a whole lot to a new order of another supplier arriving in the same period.
    Guarantee: the cost never rises and the result is a plan no single move improves.
Phases 1-3 are run from the landed-cost allocation and from each single-supplier allocation that
is feasible, and the cheapest result is returned: DALSA is therefore never worse than the best
naive single-supplier plan lot-sized by the same phase-2 solver. It is a heuristic; the exact
answer is :func:`exact_multi_supplier`, a mixed-integer program solved by HiGHS.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import numpy as np
from scipy.sparse import coo_array

from lot_sizing.classic import wagner_whitin, zio_lot_sizing
from lot_sizing.core import _ABS_TOL, _FEAS_TOL, PeriodValue, as_demand, as_period_values, net_demand
from lot_sizing.exact import exact_lot_sizing
from lot_sizing.mip import solve_fixed_charge
from utils.errors import UserError


@dataclass(frozen=True)
class Supplier:
    """One source the node can buy from."""

    lead_time: int  # periods from placing an order to its arrival (0 = same period)
    unit_price: float  # cost per unit bought (landed: include freight here)
    order_cost: float  # fixed cost of placing one order
    capacity: float = float("inf")  # most units one order can hold


@dataclass(frozen=True)
class MultiSupplierPlan:
    """Orders from several suppliers and their total cost."""

    arrivals: np.ndarray  # (K, T) units from supplier k arriving in period t
    orders: np.ndarray  # (K, T) units ordered from supplier k in period t (arrivals shifted by L_k)
    cost: float  # ordering + purchase + holding cost


# ----------------------------------------------------------------------------------------------
# Instance checks and cost
# ----------------------------------------------------------------------------------------------
def _check_suppliers(suppliers: Sequence[Supplier], n_periods: int) -> None:
    if len(suppliers) == 0:
        raise UserError("give at least one supplier")
    for k, sup in enumerate(suppliers):
        if int(sup.lead_time) != sup.lead_time or sup.lead_time < 0:
            raise UserError(f"supplier {k}: lead_time must be an integer >= 0, got {sup.lead_time}")
        if sup.unit_price < 0 or sup.order_cost < 0 or not np.isfinite(sup.unit_price + sup.order_cost):
            raise UserError(f"supplier {k}: unit_price and order_cost must be finite and >= 0")
        if not sup.capacity > 0:
            raise UserError(f"supplier {k}: capacity must be > 0 (inf for no limit), got {sup.capacity}")


def _arrival_capacity(suppliers: Sequence[Supplier], T: int) -> np.ndarray:
    """(K, T) most units supplier k can land in period t: 0 before its lead time allows."""
    cap = np.array([[s.capacity] * T for s in suppliers], dtype=float)
    for k, sup in enumerate(suppliers):
        cap[k, : min(sup.lead_time, T)] = 0.0
    return cap


def _check_feasible(net: np.ndarray, cap: np.ndarray) -> None:
    """Raise ``UserError`` when no plan meets the net requirement (T,) with arrival capacity (K, T)."""
    short = np.cumsum(cap.sum(axis=0)) < np.cumsum(net) * (1 - _FEAS_TOL) - _ABS_TOL
    if np.any(short):
        t = int(np.argmax(short))
        raise UserError(
            f"suppliers cannot deliver the requirement of periods 0..{t} in time (lead times and capacities); "
            "add initial inventory, shorten lead times or raise capacities"
        )


def _prepare(requirements, suppliers, holding_cost, initial_inventory):
    r = as_demand(requirements, "requirements")
    T = r.size
    _check_suppliers(suppliers, T)
    h = as_period_values(holding_cost, T, "holding_cost")
    net = net_demand(r, initial_inventory)
    cap = _arrival_capacity(suppliers, T)
    _check_feasible(net, cap)
    return r, net, h, cap


def _cost(arrivals: np.ndarray, net: np.ndarray, h: np.ndarray, price: np.ndarray, fixed: np.ndarray) -> float:
    """Cost of arrivals (K, T) against the net requirement (T,); initial stock is plan-independent."""
    inventory = np.cumsum(arrivals.sum(axis=0) - net)
    return float(fixed @ (arrivals > 0).sum(axis=1) + price @ arrivals.sum(axis=1) + h @ np.maximum(inventory, 0.0))


def multi_supplier_cost(
    requirements: np.ndarray,
    orders: np.ndarray,
    suppliers: Sequence[Supplier],
    holding_cost: PeriodValue,
    initial_inventory: float = 0.0,
) -> float:
    """Cost of placing `orders` (K, T) (by order period); ``UserError`` if the plan is infeasible."""
    r = as_demand(requirements, "requirements")
    T, K = r.size, len(suppliers)
    _check_suppliers(suppliers, T)
    h = as_period_values(holding_cost, T, "holding_cost")
    x = np.asarray(orders, dtype=float)
    if x.shape != (K, T):
        raise UserError(f"orders have shape {x.shape}; expected ({K}, {T}): one row per supplier, one column per period")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise UserError("orders must be finite and >= 0")
    tol = _ABS_TOL + _FEAS_TOL * (r.sum() + initial_inventory)
    arrivals = np.zeros_like(x)
    for k, sup in enumerate(suppliers):
        L = sup.lead_time
        if L > 0 and np.any(x[k, max(T - L, 0) :] > 0):
            raise UserError(f"supplier {k}: an order placed in the last {L} periods would arrive after the horizon")
        if np.any(x[k] > sup.capacity + tol):
            raise UserError(f"supplier {k}: an order exceeds its capacity {sup.capacity:g}")
        arrivals[k, L:] = x[k, : T - L]
    inventory = initial_inventory + np.cumsum(arrivals.sum(axis=0) - r)
    if np.any(inventory < -tol):
        t = int(np.argmax(inventory < -tol))
        raise UserError(f"plan is infeasible: the requirement of period {t} is not met")
    price = np.array([s.unit_price for s in suppliers])
    fixed = np.array([s.order_cost for s in suppliers])
    return float(fixed @ (x > 0).sum(axis=1) + price @ x.sum(axis=1) + h @ np.maximum(inventory, 0.0))


def _plan(arrivals: np.ndarray, suppliers, r, h, initial_inventory) -> MultiSupplierPlan:
    K, T = arrivals.shape
    orders = np.zeros_like(arrivals)
    for k, sup in enumerate(suppliers):
        orders[k, : T - sup.lead_time] = arrivals[k, sup.lead_time :]
    return MultiSupplierPlan(arrivals, orders, multi_supplier_cost(r, orders, suppliers, h, initial_inventory))


# ----------------------------------------------------------------------------------------------
# Phase 1: allocation
# ----------------------------------------------------------------------------------------------
def _landed_costs(net, h, suppliers, cap) -> np.ndarray:
    """(K,) unit price plus per-unit fixed and holding cost of lot-sizing alone what k can reach."""
    landed = np.full(len(suppliers), np.inf)
    for k, sup in enumerate(suppliers):
        reach = np.where(cap[k] > 0, net, 0.0)
        units = reach.sum()
        if units > 0:
            landed[k] = sup.unit_price + wagner_whitin(reach, sup.order_cost, h).cost / units
    return landed


def _allocate(net: np.ndarray, h: np.ndarray, cap: np.ndarray, landed: np.ndarray) -> np.ndarray:
    """Phase 1: arrivals (K, T) serving each period, in time order, from its cheapest sources."""
    K, T = cap.shape
    hp = np.concatenate([[0.0], np.cumsum(h)])
    left = cap.copy()
    q = np.zeros((K, T))
    for t in range(T):
        need = net[t]
        if need <= 0:
            continue
        # landed cost of every (supplier, arrival s <= t) pair, holding from s to t included
        unit = landed[:, None] + (hp[t] - hp[: t + 1])[None, :]  # (K, t+1)
        for flat in np.argsort(unit, axis=None, kind="stable"):
            k, s = divmod(int(flat), t + 1)
            take = min(need, left[k, s])
            if take > 0:
                q[k, s] += take
                left[k, s] -= take
                need -= take
            if need <= _ABS_TOL:
                break
    return q


# ----------------------------------------------------------------------------------------------
# Phase 2: lot sizing of each supplier's stream
# ----------------------------------------------------------------------------------------------
def _lot_size_stream(stream, sup: Supplier, h, cap_k, phase2: str) -> np.ndarray:
    """Arrivals (T,) re-timed into economical lots for one supplier's allocated stream (T,)."""
    if stream.sum() <= 0:
        return np.zeros_like(stream)
    if phase2 == "exact" and np.isfinite(sup.capacity):
        return exact_lot_sizing(stream, sup.order_cost, h, capacity=cap_k).orders
    # The capacity row (0 before the lead time) keeps every lot arriving when it can; without a
    # finite capacity this is Wagner-Whitin on the stream.
    return zio_lot_sizing(stream, sup.order_cost, h, capacity=cap_k).orders


# ----------------------------------------------------------------------------------------------
# Phase 3: improvement by moving and merging lots
# ----------------------------------------------------------------------------------------------
def _improve(q: np.ndarray, net, h, cap, price, fixed, max_moves: int = 10_000) -> np.ndarray:
    """Phase 3: steepest descent over lot transfers and supplier switches; returns arrivals (K, T)."""
    K, T = q.shape
    q = q.copy()
    hp = np.concatenate([[0.0], np.cumsum(h)])
    tol = _ABS_TOL + _FEAS_TOL * net.sum()
    for _ in range(max_moves):
        inv = np.cumsum(q.sum(axis=0) - net)  # (T,) end-of-period stock
        # range_min[a, b] = min(inv[a..b-1]): stock that must stay >= m to delay m units from a to b
        upper = np.where(np.arange(T)[None, :] >= np.arange(T)[:, None], inv[None, :], np.inf)
        range_min = np.concatenate([np.full((T, 1), np.inf), np.minimum.accumulate(upper, axis=1)], axis=1)
        lk, ls = np.nonzero(q > tol)  # lots: supplier, arrival
        qty = q[lk, ls]  # (n,)
        best_delta, best_move = -1e-9 * max(1.0, abs(_cost(q, net, h, price, fixed))), None
        # Transfer from lot i into lot j: m = what fits in j.
        room = cap[lk, ls] - q[lk, ls]  # (n,) spare capacity of lot j
        m = np.minimum(qty[:, None], room[None, :])  # (n_i, n_j)
        s_i, s_j = ls[:, None], ls[None, :]
        hold = np.where(s_j <= s_i, hp[s_i] - hp[s_j], -(hp[s_j] - hp[s_i]))  # per unit, earlier costs more
        whole = m >= qty[:, None] - tol
        delta = (price[lk][None, :] - price[lk][:, None]) * m + hold * m - np.where(whole, fixed[lk][:, None], 0.0)
        later_ok = (s_j <= s_i) | (range_min[s_i, s_j] >= m - tol)
        valid = later_ok & (m > tol) & ~np.eye(lk.size, dtype=bool)
        delta = np.where(valid, delta, np.inf)
        if delta.size:
            i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
            if delta[i, j] < best_delta:
                best_delta, best_move = delta[i, j], ("transfer", i, j, m[i, j])
        # Switch lot i to a new order of supplier k2 arriving in the same period.
        for k2 in range(K):
            ok = (lk != k2) & (q[k2, ls] <= tol) & (cap[k2, ls] >= qty - tol)
            d_sw = np.where(ok, fixed[k2] - fixed[lk] + (price[k2] - price[lk]) * qty, np.inf)
            if d_sw.size and d_sw.min() < best_delta:
                i = int(np.argmin(d_sw))
                best_delta, best_move = d_sw[i], ("switch", i, k2, qty[i])
        if best_move is None:
            return q
        kind, i, target, amount = best_move
        q[lk[i], ls[i]] -= amount
        if kind == "transfer":
            q[lk[target], ls[target]] += amount
        else:
            q[target, ls[i]] += amount
        q[q <= tol] = 0.0
    return q


# ----------------------------------------------------------------------------------------------
# Public solvers
# ----------------------------------------------------------------------------------------------
def _phases_2_3(q1, net, h, cap, suppliers, phase2, price, fixed) -> np.ndarray:
    q2 = np.stack([_lot_size_stream(q1[k], sup, h, cap[k], phase2) for k, sup in enumerate(suppliers)])
    return _improve(q2, net, h, cap, price, fixed)


def _single_supplier_allocation(net: np.ndarray, cap_k: np.ndarray) -> Optional[np.ndarray]:
    """Stream (T,) when supplier k alone can land every period's net requirement on time, else None."""
    if np.any(net > cap_k * (1 + _FEAS_TOL) + _ABS_TOL):
        return None
    return net.copy()


def dalsa(
    requirements: np.ndarray,
    suppliers: Sequence[Supplier],
    holding_cost: PeriodValue,
    initial_inventory: float = 0.0,
    phase2: Literal["zio", "exact"] = "zio",
) -> MultiSupplierPlan:
    """Demand allocation and lot sizing over several suppliers (see the module docstring).

    requirements: (T,) units needed at the node per period; holding cost scalar or (T,).
    ``phase2`` picks the capacitated lot-sizing of each supplier stream: "zio" (fast DP over
    zero-inventory-ordering lots) or "exact" (MIP per stream). Returns arrivals and orders (K, T).
    """
    if phase2 not in ("zio", "exact"):
        raise UserError(f"phase2 must be 'zio' or 'exact', got {phase2!r}")
    r, net, h, cap = _prepare(requirements, suppliers, holding_cost, initial_inventory)
    K, T = cap.shape
    price = np.array([s.unit_price for s in suppliers], dtype=float)
    fixed = np.array([s.order_cost for s in suppliers], dtype=float)
    starts = [_allocate(net, h, cap, _landed_costs(net, h, suppliers, cap))]
    for k in range(K):
        stream = _single_supplier_allocation(net, cap[k])
        if stream is not None:
            single = np.zeros((K, T))
            single[k] = stream
            starts.append(single)
    best_q, best_c = None, np.inf
    for q1 in starts:
        q = _phases_2_3(q1, net, h, cap, suppliers, phase2, price, fixed)
        c = _cost(q, net, h, price, fixed)
        if best_q is None or c < best_c - 1e-12 * abs(best_c):
            best_q, best_c = q, c
    return _plan(best_q, suppliers, r, h, initial_inventory)


def single_supplier_plan(
    requirements: np.ndarray,
    suppliers: Sequence[Supplier],
    k: int,
    holding_cost: PeriodValue,
    initial_inventory: float = 0.0,
    phase2: Literal["zio", "exact"] = "zio",
) -> MultiSupplierPlan:
    """The naive plan: buy everything from supplier k, lot-sized by the phase-2 solver (no phase 3)."""
    r, net, h, cap = _prepare(requirements, suppliers, holding_cost, initial_inventory)
    if not 0 <= k < len(suppliers):
        raise UserError(f"supplier index {k} is out of range 0..{len(suppliers) - 1}")
    stream = _single_supplier_allocation(net, cap[k])
    if stream is None:
        raise UserError(f"supplier {k} alone cannot deliver every period's requirement in time (lead time or capacity)")
    q = np.zeros_like(cap)
    q[k] = _lot_size_stream(stream, suppliers[k], h, cap[k], phase2)
    return _plan(q, suppliers, r, h, initial_inventory)


def exact_multi_supplier(
    requirements: np.ndarray,
    suppliers: Sequence[Supplier],
    holding_cost: PeriodValue,
    initial_inventory: float = 0.0,
    time_limit: Optional[float] = None,
) -> MultiSupplierPlan:
    """Optimal multi-supplier plan by MIP (HiGHS): the yardstick DALSA is measured against.

    Variables: arrivals q_kt >= 0 (fixed to 0 before L_k), order indicators z_kt in {0,1}, stock
    I_t >= 0; I_{t-1} + sum_k q_kt - r_t = I_t and q_kt <= min(C_k, requirement still to come) z_kt.
    """
    r, net, h, cap = _prepare(requirements, suppliers, holding_cost, initial_inventory)
    K, T = cap.shape
    price = np.array([s.unit_price for s in suppliers], dtype=float)
    fixed = np.array([s.order_cost for s in suppliers], dtype=float)
    remaining = net[::-1].cumsum()[::-1]  # (T,)
    big_m = np.minimum(cap, remaining[None, :])  # (K, T)
    nq = K * T
    Q, Z, INV = 0, nq, 2 * nq  # variable blocks: q (K*T, row-major), z (K*T), I (T)
    n = 2 * nq + T
    c = np.concatenate([np.repeat(price, T), np.repeat(fixed, T), h])
    rows, cols, vals = [], [], []
    for t in range(T):  # balance
        for k in range(K):
            rows.append(t), cols.append(Q + k * T + t), vals.append(1.0)
        rows.append(t), cols.append(INV + t), vals.append(-1.0)
        if t > 0:
            rows.append(t), cols.append(INV + t - 1), vals.append(1.0)
    for i in range(nq):  # linking q <= M z
        rows += [T + i, T + i]
        cols += [Q + i, Z + i]
        vals += [1.0, -big_m.ravel()[i]]
    a = coo_array((vals, (rows, cols)), shape=(T + nq, n)).tocsr()
    lower = np.concatenate([net, np.full(nq, -np.inf)])
    upper = np.concatenate([net, np.zeros(nq)])
    ub = np.concatenate([big_m.ravel(), (big_m.ravel() > 0).astype(float), np.full(T, np.inf)])
    v = solve_fixed_charge(c, a, lower, upper, ub, np.arange(Z, Z + nq), time_limit, "multi-supplier plan")
    q = v[Q : Q + nq].reshape(K, T)
    open_lots = v[Z : Z + nq].reshape(K, T) > 0
    q = np.where(open_lots & (q > 1e-9 * max(1.0, net.max())), np.minimum(q, cap), 0.0)
    return _plan(q, suppliers, r, h, initial_inventory)
