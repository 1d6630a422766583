"""DALSA: demand allocation and lot sizing for a node that buys from several suppliers.

The model (lead times, unit prices, order costs, capacity per order, no shortage) is in
:mod:`lot_sizing.multi_supplier`. The method is named after what it does. Its two-level structure
(allocate the requirement to suppliers, then lot-size each supplier's share by dynamic programming)
is that of the hierarchical heuristic of Nguyen Van Hop (2023, "A hierarchical heuristic algorithm
for multi-objective order allocation problem subject to supply uncertainties", Journal of Industrial
and Production Engineering 40(5), 343-359); that paper treats several objectives and uncertain
supply, and the allocation rule, landed costs and improvement moves below are this project's own.

Phase 1 - demand allocation. Periods are taken in time order; the requirement of period t goes to
    the (supplier, arrival period s <= t) pairs with capacity left, cheapest *landed* unit cost
    first: the supplier's landed cost plus the holding cost from s to t. A supplier's landed cost is
    its unit price plus its order-and-holding cost per unit when it alone serves, as far as its
    capacity allows (building stock ahead), the requirement it can reach, lot-sized exactly within
    its capacity (Florian-Klein). Guarantee: the allocation is feasible whenever any plan is (a
    later period can use every source an earlier one can), the cumulative test that otherwise
    raises ``UserError``.
Phase 2 - lot sizing. Each supplier's allocated stream is re-timed into lots on its own, within its
    capacity: exactly (``phase2="exact"``: Wagner-Whitin without a capacity, Florian-Klein with one,
    stock may be built ahead) or by the best zero-inventory-ordering plan (``phase2="zio"``).
Phase 3 - improvement. Steepest descent while the total cost falls, over three moves: transfer all
    or part of a lot into another existing lot (any supplier; later only if stock allows), and open
    a new lot of any supplier in any period with all or part of an existing lot (which moves, splits
    or switches it). Guarantee: the cost never rises and no single move improves the result.
Phases 1-3 run from the landed-cost allocation and from every single-supplier plan that is
cumulatively feasible (the supplier alone can land the requirement in time, building stock ahead),
and the cheapest result is returned: DALSA is never worse than the best single-supplier plan
lot-sized by the same phase-2 solver. It is a heuristic; :func:`exact_multi_supplier` is exact.
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from lot_sizing.capacitated_dp import florian_klein
from lot_sizing.classic import wagner_whitin, zio_lot_sizing
from lot_sizing.core import _ABS_TOL, _FEAS_TOL, PeriodValue
from lot_sizing.multi_supplier import MultiSupplierPlan, Supplier, _cost, _plan, _prepare
from utils.errors import UserError


# ----------------------------------------------------------------------------------------------
# Streams one supplier can carry, and their exact lot sizing
# ----------------------------------------------------------------------------------------------
def _carried_stream(net: np.ndarray, cap_k: np.ndarray) -> np.ndarray:
    """(T,) the part of each period's requirement supplier k alone can serve, earliest first, with
    stock built ahead: cumulative service never exceeds cumulative arrival capacity."""
    served, carried = 0.0, np.zeros_like(net)
    room = np.cumsum(cap_k)
    for t in range(net.size):
        carried[t] = min(net[t], max(room[t] - served, 0.0))
        served += carried[t]
    return carried


def _lot_size_stream(stream: np.ndarray, sup: Supplier, h: np.ndarray, cap_k: np.ndarray, phase2: str) -> np.ndarray:
    """Arrivals (T,) of one supplier's stream (T,), lot-sized within its capacity.

    The stream must be cumulatively feasible for the supplier (nothing before its lead time, and no
    more by any period than its capacity can land by then)."""
    if stream.sum() <= 0:
        return np.zeros_like(stream)
    if phase2 == "zio":
        return zio_lot_sizing(stream, sup.order_cost, h, capacity=cap_k).orders
    L = sup.lead_time  # arrivals start at L: plan the periods from L on, where the capacity is constant
    out = np.zeros_like(stream)
    if np.isfinite(sup.capacity):
        out[L:] = florian_klein(stream[L:], sup.order_cost, h[L:], sup.capacity).orders
    else:
        out[L:] = wagner_whitin(stream[L:], sup.order_cost, h[L:]).orders
    return out


def _cumulatively_feasible(net: np.ndarray, cap_k: np.ndarray) -> bool:
    return bool(np.all(np.cumsum(cap_k) >= np.cumsum(net) * (1 - _FEAS_TOL) - _ABS_TOL))


# ----------------------------------------------------------------------------------------------
# Phase 1: allocation
# ----------------------------------------------------------------------------------------------
def _landed_costs(net, h, suppliers, cap) -> np.ndarray:
    """(K,) unit price plus per-unit order and holding cost of the exact capacitated plan of the
    requirement supplier k can carry alone."""
    landed = np.full(len(suppliers), np.inf)
    for k, sup in enumerate(suppliers):
        stream = _carried_stream(net, cap[k])
        units = stream.sum()
        if units > 0:
            arrivals = _lot_size_stream(stream, sup, h, cap[k], "exact")
            stock = np.cumsum(arrivals - stream)
            landed[k] = sup.unit_price + (sup.order_cost * np.count_nonzero(arrivals) + h @ stock) / units
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
# Phase 3: improvement by moving, merging, opening and splitting lots
# ----------------------------------------------------------------------------------------------
def _improve(q: np.ndarray, net, h, cap, price, fixed, max_moves: int = 10_000) -> np.ndarray:
    """Phase 3: steepest descent over lot transfers and new lots; returns arrivals (K, T)."""
    K, T = q.shape
    q = q.copy()
    hp = np.concatenate([[0.0], np.cumsum(h)])
    tol = _ABS_TOL + _FEAS_TOL * net.sum()
    slot_k, slot_s = np.divmod(np.arange(K * T), T)  # every (supplier, arrival period) slot
    for _ in range(max_moves):
        inv = np.cumsum(q.sum(axis=0) - net)  # (T,) end-of-period stock
        # range_min[a, b] = min(inv[a..b-1]): stock that must stay >= m to delay m units from a to b
        upper = np.where(np.arange(T)[None, :] >= np.arange(T)[:, None], inv[None, :], np.inf)
        range_min = np.concatenate([np.full((T, 1), np.inf), np.minimum.accumulate(upper, axis=1)], axis=1)
        lk, ls = np.nonzero(q > tol)  # lots: supplier, arrival
        qty = q[lk, ls]  # (n,)
        # Targets: every existing lot j (transfer into it) and every empty slot (open a new lot there).
        empty = (q.ravel() <= tol) & (cap.ravel() > tol)
        tk = np.concatenate([lk, slot_k[empty]])
        ts = np.concatenate([ls, slot_s[empty]])
        is_new = np.concatenate([np.zeros(lk.size, bool), np.ones(int(empty.sum()), bool)])
        room = cap[tk, ts] - q[tk, ts]  # (M,) what each target can still take
        m = np.minimum(qty[:, None], room[None, :])  # (n, M) units moved from lot i to target j
        s_i, s_j = ls[:, None], ts[None, :]
        hold = hp[s_i] - hp[s_j]  # per unit: arriving earlier costs more holding, later saves it
        whole = m >= qty[:, None] - tol
        delta = ((price[tk][None, :] - price[lk][:, None]) + hold) * m - np.where(whole, fixed[lk][:, None], 0.0) \
            + np.where(is_new, fixed[tk], 0.0)[None, :]
        later_ok = (s_j <= s_i) | (range_min[s_i, s_j] >= m - tol)
        same = (lk[:, None] == tk[None, :]) & (s_i == s_j)
        delta = np.where(later_ok & (m > tol) & ~same, delta, np.inf)
        if delta.size == 0:
            return q
        i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if delta[i, j] >= -1e-9 * max(1.0, abs(_cost(q, net, h, price, fixed))):
            return q
        q[lk[i], ls[i]] -= m[i, j]
        q[tk[j], ts[j]] += m[i, j]
        q[q <= tol] = 0.0
    return q


# ----------------------------------------------------------------------------------------------
# Public solvers
# ----------------------------------------------------------------------------------------------
def _phases_2_3(q1, net, h, cap, suppliers, phase2, price, fixed) -> np.ndarray:
    q2 = np.stack([_lot_size_stream(q1[k], sup, h, cap[k], phase2) for k, sup in enumerate(suppliers)])
    return _improve(q2, net, h, cap, price, fixed)


def _check_phase2(phase2: str) -> None:
    if phase2 not in ("zio", "exact"):
        raise UserError(f"phase2 must be 'zio' or 'exact', got {phase2!r}")


def dalsa(
    requirements: np.ndarray,
    suppliers: Sequence[Supplier],
    holding_cost: PeriodValue,
    initial_inventory: float = 0.0,
    phase2: Literal["zio", "exact"] = "exact",
) -> MultiSupplierPlan:
    """Demand allocation and lot sizing over several suppliers (see the module docstring).

    requirements: (T,) units needed at the node per period; holding cost scalar or (T,).
    ``phase2`` picks the lot sizing of each supplier stream: "exact" (Wagner-Whitin or Florian-Klein
    within the supplier's capacity) or "zio" (the faster DP over zero-inventory-ordering lots).
    Returns arrivals and orders (K, T).
    """
    _check_phase2(phase2)
    r, net, h, cap = _prepare(requirements, suppliers, holding_cost, initial_inventory)
    K, T = cap.shape
    price = np.array([s.unit_price for s in suppliers], dtype=float)
    fixed = np.array([s.order_cost for s in suppliers], dtype=float)
    starts = [_allocate(net, h, cap, _landed_costs(net, h, suppliers, cap))]
    for k in range(K):
        per_period = np.all(net <= cap[k] * (1 + _FEAS_TOL) + _ABS_TOL)  # what "zio" can plan
        if _cumulatively_feasible(net, cap[k]) and (phase2 == "exact" or per_period):
            single = np.zeros((K, T))
            single[k] = net
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
    phase2: Literal["zio", "exact"] = "exact",
) -> MultiSupplierPlan:
    """The naive plan: buy everything from supplier k, lot-sized by the phase-2 solver (no phase 3).

    Feasible when k alone can land the cumulative requirement in time (stock may be built ahead)."""
    _check_phase2(phase2)
    r, net, h, cap = _prepare(requirements, suppliers, holding_cost, initial_inventory)
    if not 0 <= k < len(suppliers):
        raise UserError(f"supplier index {k} is out of range 0..{len(suppliers) - 1}")
    if not _cumulatively_feasible(net, cap[k]):
        raise UserError(f"supplier {k} alone cannot deliver the requirement in time (lead time or capacity)")
    if phase2 == "zio" and np.any(net > cap[k] * (1 + _FEAS_TOL) + _ABS_TOL):
        raise UserError(f"supplier {k} alone needs stock built ahead, which phase2='zio' cannot plan; use phase2='exact'")
    q = np.zeros_like(cap)
    q[k] = _lot_size_stream(net, suppliers[k], h, cap[k], phase2)
    return _plan(q, suppliers, r, h, initial_inventory)

