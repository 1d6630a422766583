"""Clairvoyant lower bounds: linear programs that know the whole demand path.

A relaxation of the env's period that keeps every constraint the env's dynamics put on costs and drops
the rules that pick one trajectory (ship min(due, available), a named allocation rule, whole units). Every
trajectory the env can produce is then feasible in the LP and has the same cost there, so the LP optimum
is a lower bound on the cost of any policy on that path, including policies that see the future.

Serial chain (``envs/serial_env.py``). For one demand path d_0..d_{T-1} it chooses, with quantities
relaxed to real numbers, every stage's order a[i,t] in [0, cap] and shipment x[i,t] >= 0 to minimise
sum_{i,t} h_i I[i,t] + b_i B[i,t], period t, stage i, with I[i,-1] = initial on-hand and B[i,-1] = 0:

    B[i,t] = B[i,t-1] + r[i,t] - x[i,t] >= 0     r[0,t] = d_t, r[i,t] = a[i-1,t]  (ship at most what is due)
    I[i,t] = I[i,t-1] + y[i,t] - x[i,t] >= 0     (ship at most what is available)
    y[i,t] = initial pipeline (t < L_i);  x[i+1,t-L_i] (i < N-1);  a[N-1,t-L] (top stage)

(with lost sales the retailer's B[0,t] = d_t - x[0,t] is charged and not carried). Cost terms the LP
cannot express linearly are bounded from below: a fixed order cost by 0, an all-units discounted purchase
by the lowest price factor. Random shipping loss is not supported (a lost unit cannot be priced without
its draw).

Network (``envs/network_env.py``, any DAG the env accepts). A "source" k is what one supplier node serves:
a customer stream, or a node-to-node edge. For one demand path d[s,t] (S streams) it chooses the order
a[e,t] in [0, cap] on every supply edge, the shipment x[k,t] >= 0 to every source (the allocation rule
becomes a free choice), on-hand I[n,t] and unmet U[k,t] to minimise

    sum_t  sum_n h_n I[n,t]  +  sum_k p_{node(k)} U[k,t]  +  sum_e c_e z[e,t]

    U[k,t] = carry_k U[k,t-1] + r[k,t] - x[k,t] >= 0   r = d[s,t] (stream s) or a[e,t] (edge e): a node
                                                        ships at most what was asked this period plus owed
    I[n,t] = I[n,t-1] + y[n,t] - sum_{k served by n} x[k,t] >= 0
    y[n,t] = initial pipeline (t < longest lead into n) + sum_{e into n, t >= L_e} z[e, t - L_e]
    z[e,t] = a[e,t] on an edge from an outside source (it delivers in full), x[e,t] on a node's edge

carry_k = 0 where the supplier node loses unmet demand (then U is charged once), 1 where it is owed (then
U is the backlog, charged every period it stays owed). An order is served in the period it is placed, from
what the supplier has after this period's arrival, and reaches the customer L_e periods later; shipping
cost is charged to the receiver on what enters its pipeline. The network has no option the LP cannot
model; the constraint matrix depends only on the network, so it is built once and only the demand (the
right-hand side) changes from path to path.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from utils.config import EnvConfig, per_stage
from utils.errors import UserError


def clairvoyant_bound(env_config: EnvConfig, demand: np.ndarray) -> tuple[float, np.ndarray, dict]:
    """LP lower bound on the cost of one demand path, for either env kind.

    demand (T,) for a serial chain, (T, S) for a network (or (T,) with one stream)
    -> (total, per-agent cost (N,), solution); see ``serial_clairvoyant_bound`` and ``NetworkLP.solve``.
    """
    if env_config.kind == "network":
        return NetworkLP(env_config).solve(demand)
    return serial_clairvoyant_bound(env_config, demand)


def serial_clairvoyant_bound(env_config: EnvConfig, demand: np.ndarray) -> tuple[float, np.ndarray, dict]:
    """LP lower bound on the cost of one serial demand path.  demand (T,) -> (total, per-stage cost (N,), solution).

    solution holds the LP's orders (N, T), shipments (N, T), on-hand (N, T) and backlog (N, T).
    """
    if env_config.kind != "serial":
        raise UserError("serial_clairvoyant_bound is defined for the serial chain; set env.kind: serial or use clairvoyant_bound")
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
    """The bound for each path of a set.  demand (B, T) or (B, T, S) -> totals (B,), per-agent costs (B, N).

    A network's LP is built once for the whole set; only its right-hand side changes between paths.
    """
    demand = np.asarray(demand)
    if env_config.kind == "network":
        lp = NetworkLP(env_config)
        results = [lp.solve(path) for path in demand]
    else:
        if demand.ndim == 3:
            if demand.shape[2] != 1:
                raise UserError("the clairvoyant bound needs one customer stream (a serial demand set)")
            demand = demand[:, :, 0]
        results = [serial_clairvoyant_bound(env_config, path) for path in demand]
    return np.array([r[0] for r in results]), np.stack([r[1] for r in results])


@dataclass
class _Triplets:
    """Sparse-matrix entries collected block by block: (row, column, value) arrays."""

    rows: list[np.ndarray]
    cols: list[np.ndarray]
    vals: list[np.ndarray]

    def add(self, rows: np.ndarray, cols: np.ndarray, value: float) -> None:
        rows, cols = np.broadcast_arrays(np.asarray(rows), np.asarray(cols))
        self.rows.append(rows.ravel())
        self.cols.append(cols.ravel())
        self.vals.append(np.full(rows.size, value))

    def matrix(self, shape: tuple[int, int]) -> sparse.csr_matrix:
        """Duplicate entries add up (an edge's shipment may both leave one node and reach another's row)."""
        return sparse.csr_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))), shape=shape
        )


class NetworkLP:
    """The clairvoyant LP of one network config (module docstring), built once and solved per demand path.

    The graph is read from a ``NetworkEnv`` built from the same config, so the LP sees exactly the network
    the env simulates (preset resolution, edge order, per-supplier caps, initial pipeline slots).
    """

    def __init__(self, env_config: EnvConfig) -> None:
        if env_config.kind != "network":
            raise UserError("NetworkLP is defined for a network; set env.kind: network or use clairvoyant_bound")
        from envs.network_env import NetworkEnv  # agents know envs only through the env object

        env = NetworkEnv(env_config, n_envs=1)
        T, N, S = env.episode_length, env.n_agents, env.n_streams
        E = len(env.edge_supplier)
        internal = env.internal  # (E_int,) node-to-node edges
        K = S + len(internal)  # sources: streams, then node-to-node edges
        self.T, self.N, self.S, self.E, self.K = T, N, S, E, K
        self.agent_names = list(env.agent_names)
        lead = env.edge_lead  # (E,)
        ship_cost = env.ship_cost_matrix[np.arange(E), env.edge_customer]  # (E,)
        cap = env.action_nvec[env.edge_customer, env.edge_dim] - 1  # (E,) largest order on each edge
        source_node = np.concatenate([env.stream_node, env.edge_supplier[internal]])  # (K,) who serves it
        carry = np.concatenate([~env.stream_lost, ~env.edge_lost[internal]])  # (K,) unmet is owed, not lost

        # variable blocks: orders (E, T), shipments to sources (K, T), unmet (K, T), on-hand (N, T)
        n_var = (E + 2 * K + N) * T
        blocks = np.arange(n_var)
        self.orders = blocks[: E * T].reshape(E, T)
        self.x = blocks[E * T : (E + K) * T].reshape(K, T)
        self.unmet = blocks[(E + K) * T : (E + 2 * K) * T].reshape(K, T)
        self.on_hand = blocks[(E + 2 * K) * T :].reshape(N, T)
        # what enters each edge's customer's pipeline: the order itself from an outside source
        self.received = self.orders.copy()  # (E, T) variable index
        self.received[internal] = self.x[S:]
        self.edge_source = np.full(E, -1)
        self.edge_source[internal] = S + np.arange(len(internal))

        # rows: one owed balance per source and period, then one stock balance per node and period
        owed_row = np.arange(K * T).reshape(K, T)
        stock_row = K * T + np.arange(N * T).reshape(N, T)
        t = np.arange(T)
        m = _Triplets([], [], [])
        # U[k,t] - carry_k U[k,t-1] + x[k,t] - r[k,t] = 0   (r = demand on the right-hand side, or an order)
        m.add(owed_row, self.unmet, 1.0)
        m.add(owed_row, self.x, 1.0)
        for k in np.flatnonzero(carry):
            m.add(owed_row[k, 1:], self.unmet[k, :-1], -1.0)
        m.add(owed_row[S:], self.orders[internal], -1.0)
        # I[n,t] - I[n,t-1] + sum_k x[k,t] - sum_e z[e,t-L_e] = initial stock arriving at t
        m.add(stock_row, self.on_hand, 1.0)
        m.add(stock_row[:, 1:], self.on_hand[:, :-1], -1.0)
        m.add(stock_row[source_node], self.x, 1.0)
        for e in range(E):
            L = int(lead[e])
            if L < T:
                m.add(stock_row[env.edge_customer[e], L:], self.received[e, : T - L], -1.0)
        self.A_eq = m.matrix((K * T + N * T, n_var))

        # the right-hand side without demand: initial on-hand at t = 0, initial pipeline slots as arrivals
        self.b_base = np.zeros(K * T + N * T)  # (rows,)
        arrivals = np.where(env.slot_mask, env.initial_pipeline[:, None], 0).astype(np.float64)  # (N, L_max)
        n = min(T, arrivals.shape[1])
        self.b_base[stock_row[:, :n]] += arrivals[:, :n]
        self.b_base[stock_row[:, 0]] += env.initial_on_hand
        self.stream_rows = owed_row[:S]  # (S, T): their right-hand side is the stream's demand

        self.c = np.zeros(n_var)  # (vars,)
        self.c[self.on_hand] = env.holding_cost[:, None]
        self.c[self.unmet] = env.shortage_cost[source_node][:, None]
        self.c[self.received] += ship_cost[:, None]
        self.bounds = np.zeros((n_var, 2))  # (vars, 2)
        self.bounds[:, 1] = np.inf
        self.bounds[self.orders, 1] = cap[:, None]
        # per-node cost of a solution: holding + shortage of the sources it serves + shipping it receives
        self._holding = env.holding_cost  # (N,)
        self._shortage = env.shortage_cost  # (N,)
        self._source_node = source_node
        self._edge_customer = env.edge_customer
        self._ship_cost = ship_cost

    def solve(self, demand: np.ndarray) -> tuple[float, np.ndarray, dict]:
        """The bound on one demand path.  demand (T', S) or (T',) with one stream, T' >= T -> (total, per-node cost (N,), solution).

        solution: orders (E, T) per edge (edge order of the config), received (E, T) what enters each edge's
        customer's pipeline, sales (S, T) to each stream, unmet (K, T) per source (streams, then node-to-node
        edges in config order), on_hand (N, T).
        """
        T, S = self.T, self.S
        demand = np.asarray(demand, dtype=np.float64)
        if demand.ndim == 1:
            demand = demand[:, None]
        if demand.ndim != 2 or demand.shape[1] != S:
            raise UserError(f"demand has shape {demand.shape} but the network needs (T, {S}): one column per customer stream")
        if demand.shape[0] < T:
            raise UserError(f"demand covers {demand.shape[0]} periods but an episode has {T}")
        b_eq = self.b_base.copy()
        b_eq[self.stream_rows] = demand[:T].T
        result = linprog(self.c, A_eq=self.A_eq, b_eq=b_eq, bounds=self.bounds, method="highs")
        if result.status != 0:
            raise RuntimeError(f"clairvoyant network LP failed: {result.message}")
        z = result.x
        solution = {"orders": z[self.orders], "received": z[self.received], "sales": z[self.x[:S]], "unmet": z[self.unmet],
                    "on_hand": z[self.on_hand]}
        return float(result.fun), self.node_cost(z), solution

    def node_cost(self, z: np.ndarray) -> np.ndarray:
        """Each node's share of the objective at a point: holding, shortage of the sources it serves, shipping
        it receives (as the env charges them).  z (vars,) -> (N,)"""
        cost = self._holding * z[self.on_hand].sum(axis=1)
        np.add.at(cost, self._source_node, self._shortage[self._source_node] * z[self.unmet].sum(axis=1))
        np.add.at(cost, self._edge_customer, self._ship_cost * z[self.received].sum(axis=1))
        return cost
