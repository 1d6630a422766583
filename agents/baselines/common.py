"""What every classic policy shares: parameter spaces, the demand summary that sizes them, the parameter plumbing,
and multi-index ordering over a node's suppliers.

Policies read the env only through its read API and ``env.graph`` (``envs/supply_graph.py``), so one policy
runs on the serial chain and on any DAG. A policy that needs a shape of graph says so in ``requires``:
``"chain"`` (echelon stock is defined on a chain only) or ``"single_supplier"`` (a node's order is one number).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.supply_graph import SupplyGraph
from utils.errors import UserError


@dataclass
class ParamSpace:
    """The values each parameter may take, in increasing order (the tuner moves along these indices)."""

    names: list[str]  # one per parameter, e.g. "S[retailer]"
    values: list[np.ndarray]  # allowed values per parameter, sorted
    start: np.ndarray  # (P,) starting values (a textbook guess); snapped to the nearest allowed value

    def index_of(self, x: np.ndarray) -> np.ndarray:
        """Nearest allowed-value index of each parameter.  (P,) -> (P,) int."""
        return np.array([int(np.argmin(np.abs(v - xi))) for v, xi in zip(self.values, x)])

    def value_of(self, idx: np.ndarray) -> np.ndarray:
        """Values of index vectors.  (K, P) int -> (K, P) float."""
        return np.stack([self.values[p][idx[:, p]] for p in range(len(self.values))], axis=1)


@dataclass
class DemandSummary:
    """What a parameter space needs to know about demand: its per-period mean and a high value, per stream."""

    mean: float  # mean customer demand per period and stream
    high: float  # 99th percentile of customer demand per period and stream

    @staticmethod
    def of(demand: np.ndarray) -> "DemandSummary":
        return DemandSummary(float(demand.mean()), float(np.percentile(demand, 99)))


def level_grid(high: float) -> np.ndarray:
    """Whole-unit levels 0..ceil(high)."""
    return np.arange(0, int(math.ceil(high)) + 1, dtype=np.float64)


class ParamPolicy:
    """Shared plumbing: parameters (P,) or (B, P) broadcast to the batch, and the graph shape the policy needs."""

    name = ""
    requires = ""  # "", "single_supplier" or "chain": the supply graphs the policy is defined on

    def __init__(self, params: np.ndarray) -> None:
        self.params = np.asarray(params, dtype=np.float64)

    @classmethod
    def applies_to(cls, graph: SupplyGraph) -> bool:
        """Whether the policy is defined on this supply graph."""
        if cls.requires == "chain":
            return graph.is_chain
        if cls.requires == "single_supplier":
            return graph.single_sourced
        return True

    @classmethod
    def check_graph(cls, env: Any) -> None:
        """A one-line UserError when the env's graph is not one this policy is defined on."""
        if not cls.applies_to(env.graph):
            shape = "a serial chain" if cls.requires == "chain" else "one supplier per node"
            raise UserError(f"baseline '{cls.name}' needs {shape}; use installation_base_stock or pout_installation here")

    def batch_params(self, B: int) -> np.ndarray:
        return np.broadcast_to(self.params, (B, self.params.shape[-1]))  # (B, P)

    def reset(self, env: Any) -> None:
        pass

    @staticmethod
    def canonical(params: np.ndarray) -> np.ndarray:
        """The same policy written the way a reader expects (see SSPolicy).  (P,) -> (P,)"""
        return params

    @staticmethod
    def order_up_to(level: np.ndarray, position: np.ndarray, cap: np.ndarray | int) -> np.ndarray:
        """clip(level - position, 0, cap) as whole units."""
        return np.clip(np.rint(level - position), 0, cap).astype(np.int64)


def node_caps(graph: SupplyGraph) -> np.ndarray:
    """(N,) largest order of each node's only supplier (single-sourced graphs)."""
    return graph.edge_cap[[edges[0] for edges in graph.in_edges]]


def multi_index_orders(
    env: Any, levels: np.ndarray, feed_forward: np.ndarray | None = None, smoothing: np.ndarray | None = None
) -> np.ndarray:
    """Multi-index base-stock.  levels (B, P) in ``graph.supplier_layout`` order -> actions (B, N, D).

    For supplier e of node i (fastest first): position = on-hand - owed to customers + pipeline arriving
    within L_e periods + units owed on this or faster edges + what was just ordered from faster ones;
    order clip(S_{i,e} - position, 0, cap). With one supplier per node this is installation base-stock on
    the node's inventory position.

    POUT form (``smoothing`` T (B, N) per node, ``feed_forward`` mu (B, N) per node): the gap is closed at
    1/T_i per period around the forecast, order clip(f + (S_{i,e} - position - f) / T_i, 0, cap) with f = mu_i
    on the node's slowest supplier and 0 on faster ones (T_i = 1 gives the plain orders above).
    """
    graph = env.graph
    lay = graph.supplier_layout
    actions = np.zeros((env.n_envs,) + graph.action_nvec.shape, dtype=np.int64)
    if graph.single_sourced:
        # one supplier per node (P = N in node order): the position is the node's inventory position, computed
        # without the per-rank loop (the same numbers; this path carries serial tuning, the hot loop)
        gap = levels - env.inventory_position()  # (B, N)
        if smoothing is not None:
            gap = feed_forward + (gap - feed_forward) / smoothing
        actions[:, lay.node, lay.dim] = np.clip(np.rint(gap), 0, lay.cap)
        return actions
    arriving = np.cumsum(env.pipeline, axis=2)[:, lay.node, lay.lead - 1]  # (B, P) pipeline within L_e
    owed = env.owed_on_edges()[:, lay.edge] @ lay.upto  # (B, P) owed on this or faster edges of the node
    position = (env.on_hand - env.owed_to_customers())[:, lay.node] + arriving + owed
    q = np.zeros(levels.shape, dtype=np.int64)  # (B, P)
    placed = np.zeros((env.n_envs, env.n_agents))  # (B, N) ordered so far this period from faster suppliers
    for r in range(int(lay.rank.max()) + 1):  # a node appears once per rank, so the indexed add is safe
        sel = np.flatnonzero(lay.rank == r)
        gap = levels[:, sel] - position[:, sel] - placed[:, lay.node[sel]]  # (B, |sel|)
        if smoothing is not None:
            f = np.where(lay.slowest[sel], feed_forward[:, lay.node[sel]], 0.0)  # (B, |sel|)
            gap = f + (gap - f) / smoothing[:, lay.node[sel]]
        q[:, sel] = np.clip(np.rint(gap), 0, lay.cap[sel])
        placed[:, lay.node[sel]] += q[:, sel]
    actions[:, lay.node, lay.dim] = q
    return actions
