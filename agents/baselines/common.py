"""What every classic policy shares: parameter spaces, the demand summary that sizes them, the parameter plumbing,
and the multi-index layout of a node's suppliers."""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

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


def _level_grid(high: float) -> np.ndarray:
    return np.arange(0, int(math.ceil(high)) + 1, dtype=np.float64)

def is_serial(env: Any) -> bool:
    """A serial chain env (it has per-stage backlogs and installation positions); otherwise a network."""
    return hasattr(env, "backlog") and hasattr(env, "inventory_position")


def _require_serial(env: Any, name: str) -> None:
    if not is_serial(env):
        raise UserError(f"baseline '{name}' is defined for the serial chain only; use installation_base_stock on a network")


def _cumulative_coverage(env: Any) -> np.ndarray:
    """Periods an echelon order-up-to level must cover: sum of lead times at and below the stage, plus one.  (N,)"""
    return np.cumsum(env.lead_time) + 1.0


class _ParamPolicy:
    """Shared plumbing: parameters (P,) or (B, P) broadcast to the batch."""

    name = ""

    def __init__(self, params: np.ndarray) -> None:
        self.params = np.asarray(params, dtype=np.float64)

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


def _supplier_name(env: Any, e: int) -> str:
    s = int(env.edge_supplier[e])
    return env.agent_names[s] if s >= 0 else f"outside(L={int(env.edge_lead[e])})"


def _network_dims(env: Any, by: str = "lead") -> list[tuple[int, int, int]]:
    """(node, edge, action dimension) of every real action dimension; per node ordered by edge lead time
    (fastest first, the multi-index order) or by shipping cost (cheapest first)."""
    out = []
    for i, edges in enumerate(env.in_edges):
        if by == "lead":
            key = lambda e: (int(env.edge_lead[e]), e)  # noqa: E731
        else:
            key = lambda e: (float(env.ship_cost_matrix[e, i]), e)  # noqa: E731
        out.extend((i, e, int(env.edge_dim[e])) for e in sorted(edges, key=key))
    return out


@dataclass
class NetworkLayout:
    """Index arrays of a network's action dimensions in multi-index order, built once per env."""

    node: np.ndarray  # (P,) node of each real action dimension
    edge: np.ndarray  # (P,) its supply edge
    dim: np.ndarray  # (P,) its action dimension
    lead: np.ndarray  # (P,) its edge's lead time
    cap: np.ndarray  # (P,) largest order on it
    rank: np.ndarray  # (P,) position among the node's suppliers, fastest first
    upto: np.ndarray  # (P, P) 1 where p' is a supplier of the same node at or before p in that order
    slowest: np.ndarray  # (P,) bool: the node's last supplier in that order (its position is the node's whole position)


_LAYOUTS: "weakref.WeakKeyDictionary[Any, NetworkLayout]" = weakref.WeakKeyDictionary()


def network_layout(env: Any) -> NetworkLayout:
    """The (cached) layout of a network env."""
    layout = _LAYOUTS.get(env)
    if layout is None:
        dims = _network_dims(env)
        node, edge, dim = (np.array([x[k] for x in dims], dtype=np.int64) for k in range(3))
        rank = np.array([sum(1 for j, _, _ in dims[:p] if j == i) for p, (i, _, _) in enumerate(dims)])
        upto = ((node[:, None] == node[None, :]) & (rank[:, None] <= rank[None, :])).astype(np.float64)
        slowest = rank == np.array([rank[node == i].max() for i in node])
        layout = NetworkLayout(node, edge, dim, env.edge_lead[edge], env.action_nvec[node, dim] - 1, rank, upto, slowest)
        _LAYOUTS[env] = layout
    return layout


def _multi_index_orders(
    env: Any, levels: np.ndarray, feed_forward: np.ndarray | None = None, smoothing: np.ndarray | None = None
) -> np.ndarray:
    """Multi-index base-stock on a network.  levels (B, P) in ``_network_dims`` order -> actions (B, N, D).

    For supplier e of node i (fastest first): position = on-hand - owed to customers + pipeline arriving
    within L_e periods + units owed on this or faster edges + what was just ordered from faster ones;
    order clip(S_{i,e} - position, 0, cap).

    POUT form (``smoothing`` T (B, N) per node, ``feed_forward`` mu (B, N) per node): the gap is closed at
    1/T_i per period around the forecast, order clip(f + (S_{i,e} - position - f) / T_i, 0, cap) with f = mu_i
    on the node's slowest supplier and 0 on faster ones (T_i = 1 gives the plain orders above).
    """
    lay = network_layout(env)
    arriving = np.cumsum(env.pipeline, axis=2)[:, lay.node, lay.lead - 1]  # (B, P) pipeline within L_e
    owed = env.owed_edge[:, lay.edge] @ lay.upto  # (B, P) owed on this or faster edges of the node
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
    actions = np.zeros((env.n_envs,) + env.action_nvec.shape, dtype=np.int64)
    actions[:, lay.node, lay.dim] = q
    return actions


