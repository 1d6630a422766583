"""Clairvoyant lower bounds: linear programs that know the whole demand path.

A relaxation of the env's period that keeps every constraint the env's dynamics put on costs and drops
the rules that pick one trajectory (ship min(due, available), a named allocation rule, whole units). Every
trajectory the env can produce is then feasible in the LP and has the same cost there, so the LP optimum
is a lower bound on the cost of any policy on that path, including policies that see the future.

One LP for every supply graph (``env.graph``, ``envs/supply_graph.py``): the serial chain and any DAG the
network env accepts. A "source" k is what one supplier node serves:
a customer stream, or a node-to-node edge. For one demand path d[s,t] (S streams) it chooses the order
a[e,t] in [0, cap] on every supply edge, the shipment x[k,t] >= 0 to every source (the allocation rule
becomes a free choice), on-hand I[n,t] and unmet U[k,t] to minimise

    sum_t  sum_n h_n I[n,t]  +  sum_k p_{node(k)} U[k,t]  +  sum_e (c_e z[e,t] + f_e a[e,t])

    U[k,t] = carry_k U[k,t-1] + r[k,t] - x[k,t] >= 0   r = d[s,t] (stream s) or a[e,t] (edge e): a node
                                                        ships at most what was asked this period plus owed
    I[n,t] = I[n,t-1] + y[n,t] - sum_{k served by n} x[k,t] >= 0
    y[n,t] = initial pipeline (t < longest lead into n) + sum_{e into n, t >= L_e} z[e, t - L_e]
    z[e,t] = a[e,t] on an edge from an outside source (it delivers in full), x[e,t] on a node's edge

carry_k = 0 where the supplier node loses unmet demand (then U is charged once), 1 where it is owed (then
U is the backlog, charged every period it stays owed). An order is served in the period it is placed, from
what the supplier has after this period's arrival, and reaches the customer L_e periods later; shipping
cost is charged to the receiver on what enters its pipeline. Cost terms the LP cannot express linearly are
bounded from below: a fixed order cost by 0, an all-units discounted purchase by its lowest price f_e per unit
ordered (``edge_order_price_floor``). Random shipping loss is not supported (a lost unit cannot be priced
without its draw). The initial on-hand and pipeline are the env's state at reset. The constraint matrix
depends only on the graph, so it is built once and only the demand (the right-hand side) changes from path
to path.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from envs import make_env
from utils.config import EnvConfig
from utils.errors import UserError


def clairvoyant_bound(env_config: EnvConfig, demand: np.ndarray) -> tuple[float, np.ndarray, dict]:
    """LP lower bound on the cost of one demand path.  demand (T, S) (or (T,) with one stream)
    -> (total, per-agent cost (N,), solution); see ``ClairvoyantLP.solve``."""
    return ClairvoyantLP(env_config).solve(demand)


def clairvoyant_bounds(env_config: EnvConfig, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bound for each path of a set.  demand (B, T) or (B, T, S) -> totals (B,), per-agent costs (B, N).

    The LP is built once for the whole set; only its right-hand side changes between paths.
    """
    lp = ClairvoyantLP(env_config)
    results = [lp.solve(path) for path in np.asarray(demand)]
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


class ClairvoyantLP:
    """The clairvoyant LP of one env config (module docstring), built once and solved per demand path.

    The graph and the initial state are read from the env the config builds, so the LP sees exactly the chain
    or network the env simulates (preset resolution, edge order, per-supplier caps, initial pipeline slots).
    """

    def __init__(self, env_config: EnvConfig) -> None:
        env = make_env(env_config, n_envs=1)
        if env.random_shipping_loss:
            raise UserError("the clairvoyant bound does not model random shipping loss; set env.serial.max_loss_percent=0")
        g = env.graph
        T, N, S = env.episode_length, g.n_nodes, g.n_streams
        E = g.n_edges
        internal = g.internal  # (E_int,) node-to-node edges
        K = S + len(internal)  # sources: streams, then node-to-node edges
        self.T, self.N, self.S, self.E, self.K = T, N, S, E, K
        self.agent_names = list(g.node_names)
        lead = g.edge_lead  # (E,)
        ship_cost = g.edge_price  # (E,) per unit received
        price_floor = g.edge_order_price_floor  # (E,) per unit ordered
        source_node = np.concatenate([g.stream_node, g.edge_supplier[internal]])  # (K,) who serves it
        carry = np.concatenate([~g.stream_lost, ~g.edge_lost[internal]])  # (K,) unmet is owed, not lost
        # variable blocks: orders (E, T), shipments to sources (K, T), on-hand (N, T), unmet (K, T). The optimum's
        # total is unique, its split between agents is not (the LP is degenerate); this block order keeps the
        # split the tables of docs/ report for the serial chain
        n_var = (E + 2 * K + N) * T
        blocks = np.arange(n_var)
        self.orders = blocks[: E * T].reshape(E, T)
        self.x = blocks[E * T : (E + K) * T].reshape(K, T)
        self.on_hand = blocks[(E + K) * T : (E + K + N) * T].reshape(N, T)
        self.unmet = blocks[(E + K + N) * T :].reshape(K, T)
        # what enters each edge's customer's pipeline: the order itself from an outside source
        self.received = self.orders.copy()  # (E, T) variable index
        self.received[internal] = self.x[S:]
        self.edge_source = np.full(E, -1)
        self.edge_source[internal] = S + np.arange(len(internal))

        # rows: one owed balance per source and period, then one stock balance per node and period
        owed_row = np.arange(K * T).reshape(K, T)
        stock_row = K * T + np.arange(N * T).reshape(N, T)
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
                m.add(stock_row[g.edge_customer[e], L:], self.received[e, : T - L], -1.0)
        self.A_eq = m.matrix((K * T + N * T, n_var))

        # the right-hand side without demand: initial on-hand at t = 0, initial pipeline slots as arrivals
        self.b_base = np.zeros(K * T + N * T)  # (rows,)
        arrivals = env.pipeline[0].astype(np.float64)  # (N, L_max) the initial pipeline, slot t arriving in period t
        n = min(T, arrivals.shape[1])
        self.b_base[stock_row[:, :n]] += arrivals[:, :n]
        self.b_base[stock_row[:, 0]] += env.on_hand[0]
        self.stream_rows = owed_row[:S]  # (S, T): their right-hand side is the stream's demand

        self.c = np.zeros(n_var)  # (vars,)
        self.c[self.on_hand] = g.holding_cost[:, None]
        self.c[self.unmet] = g.shortage_cost[source_node][:, None]
        self.c[self.received] += ship_cost[:, None]
        self.c[self.orders] += price_floor[:, None]
        self.bounds = np.zeros((n_var, 2))  # (vars, 2)
        self.bounds[:, 1] = np.inf
        self.bounds[self.orders, 1] = g.edge_cap[:, None]
        # per-node cost of a solution: holding + shortage of the sources it serves + shipping it receives
        self._holding = g.holding_cost  # (N,)
        self._shortage = g.shortage_cost  # (N,)
        self._source_node = source_node
        self._edge_customer = g.edge_customer
        self._ship_cost = ship_cost
        self._price_floor = price_floor

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
            raise UserError(f"demand has shape {demand.shape} but the env needs (T, {S}): one column per customer stream")
        if demand.shape[0] < T:
            raise UserError(f"demand covers {demand.shape[0]} periods but an episode has {T}")
        b_eq = self.b_base.copy()
        b_eq[self.stream_rows] = demand[:T].T
        result = linprog(self.c, A_eq=self.A_eq, b_eq=b_eq, bounds=self.bounds, method="highs")
        if result.status != 0:
            raise RuntimeError(f"clairvoyant LP failed: {result.message}")
        z = result.x
        solution = {"orders": z[self.orders], "received": z[self.received], "sales": z[self.x[:S]], "unmet": z[self.unmet],
                    "on_hand": z[self.on_hand]}
        return float(result.fun), self.node_cost(z), solution

    def node_cost(self, z: np.ndarray) -> np.ndarray:
        """Each node's share of the objective at a point: holding, shortage of the sources it serves, shipping
        it receives and the price floor of what it orders (as the env charges them).  z (vars,) -> (N,)"""
        cost = self._holding * z[self.on_hand].sum(axis=1)
        np.add.at(cost, self._source_node, self._shortage[self._source_node] * z[self.unmet].sum(axis=1))
        np.add.at(cost, self._edge_customer, self._ship_cost * z[self.received].sum(axis=1))
        np.add.at(cost, self._edge_customer, self._price_floor * z[self.orders].sum(axis=1))
        return cost
