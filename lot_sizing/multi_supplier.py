"""A node that buys from several suppliers: the model, plan costs and the exact MIP.

The node needs ``r_t`` units in period t (t = 0..T-1) and holds stock at ``h_t`` per unit per period
(end-of-period inventory, as in :mod:`lot_sizing.core`). Supplier k delivers an order placed in
period tau in period tau + L_k, charges ``p_k`` per unit and ``A_k`` per order, and takes at most
``C_k`` units per order. Orders whose arrival would fall after the horizon are not allowed, and no
shortage is allowed. Plans are kept as arrivals ``q[k, t]`` (units from k arriving in t); the order
is placed L_k periods earlier. Cost = sum A_k [q_kt > 0] + p_k q_kt + sum_t h_t I_t.
:func:`exact_multi_supplier` is the optimum (HiGHS); :mod:`lot_sizing.dalsa_module` the heuristic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from scipy.sparse import coo_array

from lot_sizing.core import _ABS_TOL, _FEAS_TOL, PeriodValue, as_demand, as_period_values, net_demand
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
