"""The clairvoyant lower bound of a serial chain: a linear program that knows the whole demand path.

For one demand path d_0..d_{T-1} it chooses, with quantities relaxed to real numbers, every stage's
order a[i,t] in [0, cap] and shipment x[i,t] >= 0 to minimise sum_{i,t} h_i I[i,t] + b_i B[i,t] under
the env's dynamics (``envs/serial_env.py``), period t, stage i, with I[i,-1] = initial on-hand and
B[i,-1] = 0:

    B[i,t] = B[i,t-1] + r[i,t] - x[i,t] >= 0     r[0,t] = d_t, r[i,t] = a[i-1,t]  (ship at most what is due)
    I[i,t] = I[i,t-1] + y[i,t] - x[i,t] >= 0     (ship at most what is available)
    y[i,t] = initial pipeline (t < L_i);  x[i+1,t-L_i] (i < N-1);  a[N-1,t-L] (top stage)

(with lost sales the retailer's B[0,t] = d_t - x[0,t] is charged and not carried). The env forces every
stage to ship min(due, available) and orders to be whole units; the LP drops both requirements, so
every trajectory the env can produce is feasible here and the LP optimum is a lower bound on the cost of
any policy on that path, including policies that see the future. Cost terms the LP cannot express
linearly are bounded from below: a fixed order cost by 0, an all-units discounted purchase by the lowest
price factor. Random shipping loss is not supported (a lost unit cannot be priced without its draw).
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from utils.config import EnvConfig, per_stage
from utils.errors import UserError


def clairvoyant_bound(env_config: EnvConfig, demand: np.ndarray) -> tuple[float, np.ndarray, dict]:
    """LP lower bound on the cost of one demand path.  demand (T,) -> (total, per-stage cost (N,), solution).

    solution holds the LP's orders (N, T), shipments (N, T), on-hand (N, T) and backlog (N, T).
    """
    if env_config.kind != "serial":
        raise UserError("the clairvoyant bound is defined for the serial chain; set env.kind: serial")
    s = env_config.serial
    if s.max_loss_percent > 0:
        raise UserError("the clairvoyant bound does not model random shipping loss; set env.serial.max_loss_percent=0")
    N, T, cap = s.n_stages, env_config.episode_length, env_config.order_cap
    demand = np.asarray(demand, dtype=np.float64).reshape(-1)[:T]
    if demand.size < T:
        raise UserError(f"demand covers {demand.size} periods but an episode has {T}")
    L = per_stage(s.lead_time, N, "env.serial.lead_time")
    h = np.array(per_stage(s.holding_cost, N, "env.serial.holding_cost"), dtype=np.float64)
    b = np.array(per_stage(s.backlog_cost, N, "env.serial.backlog_cost"), dtype=np.float64)

    # variable blocks, each (N, T): orders a, shipments x, on-hand I, backlog B
    n_var = 4 * N * T
    A, X, I, Bk = (np.arange(k * N * T, (k + 1) * N * T).reshape(N, T) for k in range(4))
    rows, cols, vals, rhs = [], [], [], []
    row = 0

    def add(r: int, c: np.ndarray | int, v: float) -> None:
        rows.append(r)
        cols.append(int(c))
        vals.append(v)

    for i in range(N):
        carry = not (i == 0 and s.lost_sales)
        for t in range(T):
            # backlog balance: B[i,t] - B[i,t-1] + x[i,t] - r[i,t] = 0
            add(row, Bk[i, t], 1.0)
            if t > 0 and carry:
                add(row, Bk[i, t - 1], -1.0)
            add(row, X[i, t], 1.0)
            if i == 0:
                rhs.append(demand[t])
            else:
                add(row, A[i - 1, t], -1.0)
                rhs.append(0.0)
            row += 1
            # stock balance: I[i,t] - I[i,t-1] - y[i,t] + x[i,t] = 0
            add(row, I[i, t], 1.0)
            add(row, X[i, t], 1.0)
            constant = float(s.initial_on_hand) if t == 0 else 0.0
            if t > 0:
                add(row, I[i, t - 1], -1.0)
            if t < L[i]:
                constant += float(s.initial_pipeline)
            elif i < N - 1:
                add(row, X[i + 1, t - L[i]], -1.0)
            else:
                add(row, A[i, t - L[i]], -1.0)
            rhs.append(constant)
            row += 1
    A_eq = sparse.csr_matrix((vals, (rows, cols)), shape=(row, n_var))

    c = np.zeros(n_var)
    c[I.ravel()] = np.repeat(h, T)
    c[Bk.ravel()] = np.repeat(b, T)
    if s.discount_factors:
        unit = np.array(per_stage(s.unit_order_cost, N, "env.serial.unit_order_cost"), dtype=np.float64)
        c[A.ravel()] = np.repeat(min(s.discount_factors) * unit, T)  # lowest price: a lower bound on any purchase
    bounds = np.zeros((n_var, 2))
    bounds[:, 1] = np.inf
    bounds[A.ravel(), 1] = cap
    result = linprog(c, A_eq=A_eq, b_eq=np.array(rhs), bounds=bounds, method="highs")
    if result.status != 0:
        raise RuntimeError(f"clairvoyant LP failed: {result.message}")
    z = result.x
    on_hand, backlog = z[I], z[Bk]
    stage_cost = (h[:, None] * on_hand + b[:, None] * backlog).sum(axis=1)
    if s.discount_factors:
        stage_cost = stage_cost + (c[A] * z[A]).sum(axis=1)
    solution = {"orders": z[A], "shipped": z[X], "on_hand": on_hand, "backlog": backlog}
    return float(result.fun), stage_cost, solution


def clairvoyant_bounds(env_config: EnvConfig, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bound for each path of a set.  demand (B, T) or (B, T, 1) -> totals (B,), per-stage costs (B, N)."""
    demand = np.asarray(demand)
    if demand.ndim == 3:
        if demand.shape[2] != 1:
            raise UserError("the clairvoyant bound needs one customer stream (a serial demand set)")
        demand = demand[:, :, 0]
    results = [clairvoyant_bound(env_config, path) for path in demand]
    return np.array([r[0] for r in results]), np.stack([r[1] for r in results])
