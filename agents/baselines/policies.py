"""Base-stock, (s, S), pass-through and constant-order policies (static parameters).

With IP_i = on-hand_i - owed to customers_i + pipeline_i + owed to i by its suppliers (``env.inventory_position()``)
and, on a chain, the echelon position EIP_i = sum_{j <= i} IP_j:

* ``installation_base_stock``: q_i = clip(S_i - IP_i, 0, cap); with several suppliers a multi-index
  (dual-index for two) policy: suppliers fastest first, each with its own level S_{i,e} on the position that
  counts only the pipeline arriving within that supplier's lead time (plus what was just ordered from faster ones)
* ``echelon_base_stock`` (chain): q_i = clip(S_i - EIP_i, 0, cap) (Clark-Scarf form; optimal without order caps
  for a serial chain with backlogging and i.i.d. demand)
* ``s_S`` (one supplier per node): q_i = clip(S_i - IP_i, 0, cap) if IP_i <= s_i else 0 (for fixed order costs)
* ``pass_through``: order the demand seen last period, from the cheapest supplier first
* ``constant_order``: a constant per node and supplier
"""
from __future__ import annotations

from typing import Any

import numpy as np

from agents.baselines.common import DemandSummary, ParamPolicy, ParamSpace, level_grid, multi_index_orders, node_caps


class InstallationBaseStock(ParamPolicy):
    """Order up to S_i on the node's own inventory position; multi-index when a node has several suppliers."""

    name = "installation_base_stock"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        lay = env.graph.supplier_layout
        names = [f"S[{label}]" for label in lay.label]
        values = [level_grid(demand.high * (int(L) + 1) + int(cap)) for L, cap in zip(lay.lead, lay.cap)]
        return ParamSpace(names, values, np.array([demand.mean * (int(L) + 1) for L in lay.lead]))

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        return multi_index_orders(env, self.batch_params(env.n_envs))


class EchelonBaseStock(ParamPolicy):
    """Order up to S_i on the echelon inventory position of node i (chain)."""

    name = "echelon_base_stock"
    requires = "chain"

    @classmethod
    def param_space(cls, env: Any, demand: DemandSummary) -> ParamSpace:
        cls.check_graph(env)
        cover = env.graph.echelon_cover
        values = [level_grid(demand.high * c + cap) for c, cap in zip(cover, node_caps(env.graph))]
        return ParamSpace([f"S_echelon[{n}]" for n in env.agent_names], values, demand.mean * cover)

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        self.check_graph(env)
        S = self.batch_params(env.n_envs)  # (B, N)
        return self.order_up_to(S, env.echelon_position(), node_caps(env.graph))[:, :, None]


class SSPolicy(ParamPolicy):
    """(s, S): when the installation position is at or below s_i, order up to S_i (one supplier per node).

    params: s_0..s_{N-1}, S_0..S_{N-1}; an S below s + 1 is read as s + 1 so every candidate is a policy.
    """

    name = "s_S"
    requires = "single_supplier"

    @classmethod
    def param_space(cls, env: Any, demand: DemandSummary) -> ParamSpace:
        cls.check_graph(env)
        L = env.graph.node_lead.astype(np.float64)
        grids = [level_grid(demand.high * (lead + 1) + 2 * cap) for lead, cap in zip(L, node_caps(env.graph))]
        names = [f"s[{n}]" for n in env.agent_names] + [f"S[{n}]" for n in env.agent_names]
        base = demand.mean * (L + 1)
        return ParamSpace(names, grids + grids, np.concatenate([base - 1, base + demand.mean]))

    @staticmethod
    def canonical(params: np.ndarray) -> np.ndarray:
        """Report S as the level actually used, max(S, s + 1)."""
        n = len(params) // 2
        return np.concatenate([params[:n], np.maximum(params[n:], params[:n] + 1)])

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        self.check_graph(env)
        N = env.n_agents
        p = self.batch_params(env.n_envs)
        s, S = p[:, :N], np.maximum(p[:, N:], p[:, :N] + 1)
        position = env.inventory_position()
        q = self.order_up_to(S, position, node_caps(env.graph))
        return np.where(position <= s, q, 0)[:, :, None]


class PassThrough(ParamPolicy):
    """Order what was demanded of the node last period (the first period: what the env shows at reset), filling
    the cheapest supplier first up to its cap, then the next."""

    name = "pass_through"

    def __init__(self, params: np.ndarray | None = None) -> None:
        super().__init__(np.zeros(0) if params is None else params)

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        return ParamSpace([], [], np.zeros(0))

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        graph = env.graph
        actions = np.zeros((env.n_envs,) + graph.action_nvec.shape, dtype=np.int64)
        left = env.demand_seen.astype(np.int64).copy()  # (B, N)
        for i, e, d in graph.dims(by="price"):
            q = np.minimum(left[:, i], graph.edge_cap[e])
            actions[:, i, d] = q
            left[:, i] -= q
        return actions


class ConstantOrder(ParamPolicy):
    """Order a constant quantity every period from every supplier."""

    name = "constant_order"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        lay = env.graph.supplier_layout
        names = [f"q[{label}]" for label in lay.label]
        values = [np.arange(float(cap + 1)) for cap in lay.cap]
        per_node = np.bincount(lay.node, minlength=env.n_agents)[lay.node]  # (P,) suppliers of each dimension's node
        return ParamSpace(names, values, np.array([demand.mean / k for k in per_node]))

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        q = np.rint(self.batch_params(env.n_envs)).astype(np.int64)  # (B, P)
        lay = env.graph.supplier_layout
        actions = np.zeros((env.n_envs,) + env.graph.action_nvec.shape, dtype=np.int64)
        actions[:, lay.node, lay.dim] = np.clip(q, 0, lay.cap)
        return actions
