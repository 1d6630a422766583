"""Base-stock, (s, S), pass-through and constant-order policies (static parameters)."""
from __future__ import annotations

from typing import Any

import numpy as np

from agents.baselines.common import (
    DemandSummary, ParamSpace, _ParamPolicy, _cumulative_coverage, _level_grid, _multi_index_orders, _network_dims,
    _require_serial, _supplier_name, is_serial, network_layout,
)


class InstallationBaseStock(_ParamPolicy):
    """Order up to S_i on the stage's own inventory position (serial); multi-index on a network."""

    name = "installation_base_stock"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        if is_serial(env):
            L = env.lead_time.astype(np.float64)
            names = [f"S[{n}]" for n in env.agent_names]
            values = [_level_grid(demand.high * (l + 1) + env.order_cap) for l in L]
            return ParamSpace(names, values, demand.mean * (L + 1))
        names, values, start = [], [], []
        for i, e, d in _network_dims(env):
            L = int(env.edge_lead[e])
            cap = int(env.action_nvec[i, d]) - 1
            names.append(f"S[{env.agent_names[i]}<-{_supplier_name(env, e)}]")
            values.append(_level_grid(demand.high * (L + 1) + cap))
            start.append(demand.mean * (L + 1))
        return ParamSpace(names, values, np.array(start))

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        if not is_serial(env):
            return _multi_index_orders(env, self.batch_params(env.n_envs))
        S = self.batch_params(env.n_envs)  # (B, N)
        return self.order_up_to(S, env.inventory_position(), env.order_cap)[:, :, None]


class EchelonBaseStock(_ParamPolicy):
    """Order up to S_i on the echelon inventory position of stage i (serial)."""

    name = "echelon_base_stock"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        _require_serial(env, EchelonBaseStock.name)
        cover = _cumulative_coverage(env)
        values = [_level_grid(demand.high * c + env.order_cap) for c in cover]
        return ParamSpace([f"S_echelon[{n}]" for n in env.agent_names], values, demand.mean * cover)

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        _require_serial(env, self.name)
        S = self.batch_params(env.n_envs)  # (B, N)
        return self.order_up_to(S, env.echelon_position(), env.order_cap)[:, :, None]


class SSPolicy(_ParamPolicy):
    """(s, S): when the installation position is at or below s_i, order up to S_i (serial).

    params: s_0..s_{N-1}, S_0..S_{N-1}; an S below s + 1 is read as s + 1 so every candidate is a policy.
    """

    name = "s_S"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        _require_serial(env, SSPolicy.name)
        L = env.lead_time.astype(np.float64)
        grids = [_level_grid(demand.high * (l + 1) + 2 * env.order_cap) for l in L]
        names = [f"s[{n}]" for n in env.agent_names] + [f"S[{n}]" for n in env.agent_names]
        base = demand.mean * (L + 1)
        return ParamSpace(names, grids + grids, np.concatenate([base - 1, base + demand.mean]))

    @staticmethod
    def canonical(params: np.ndarray) -> np.ndarray:
        """Report S as the level actually used, max(S, s + 1)."""
        n = len(params) // 2
        return np.concatenate([params[:n], np.maximum(params[n:], params[:n] + 1)])

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        _require_serial(env, self.name)
        N = env.n_agents
        p = self.batch_params(env.n_envs)
        s, S = p[:, :N], np.maximum(p[:, N:], p[:, :N] + 1)
        position = env.inventory_position()
        q = self.order_up_to(S, position, env.order_cap)
        return np.where(position <= s, q, 0)[:, :, None]


class PassThrough(_ParamPolicy):
    """Order what was demanded of the agent last period (the first period: what the env shows at reset)."""

    name = "pass_through"

    def __init__(self, params: np.ndarray | None = None) -> None:
        super().__init__(np.zeros(0) if params is None else params)

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        return ParamSpace([], [], np.zeros(0))

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        if is_serial(env):
            return np.clip(env.demand_seen, 0, env.order_cap)[:, :, None].astype(np.int64)
        # network: fill the cheapest supplier first, up to its cap, then the next
        actions = np.zeros((env.n_envs,) + env.action_nvec.shape, dtype=np.int64)
        left = env.demand_seen.astype(np.int64).copy()  # (B, N)
        for i, e, d in _network_dims(env, by="cost"):
            q = np.minimum(left[:, i], env.action_nvec[i, d] - 1)
            actions[:, i, d] = q
            left[:, i] -= q
        return actions


class ConstantOrder(_ParamPolicy):
    """Order a constant quantity every period (per stage, or per node and supplier)."""

    name = "constant_order"

    @staticmethod
    def param_space(env: Any, demand: DemandSummary) -> ParamSpace:
        if is_serial(env):
            names = [f"q[{n}]" for n in env.agent_names]
            return ParamSpace(names, [np.arange(env.order_cap + 1.0)] * env.n_agents, np.full(env.n_agents, demand.mean))
        dims = _network_dims(env)
        names = [f"q[{env.agent_names[i]}<-{_supplier_name(env, e)}]" for i, e, d in dims]
        values = [np.arange(float(env.action_nvec[i, d])) for i, e, d in dims]
        per_node = {i: sum(1 for j, _, _ in dims if j == i) for i, _, _ in dims}
        return ParamSpace(names, values, np.array([demand.mean / per_node[i] for i, _, _ in dims]))

    def act(self, obs: np.ndarray, env: Any) -> np.ndarray:
        q = np.rint(self.batch_params(env.n_envs)).astype(np.int64)  # (B, P)
        if is_serial(env):
            return np.clip(q, 0, env.order_cap)[:, :, None]
        lay = network_layout(env)
        actions = np.zeros((env.n_envs,) + env.action_nvec.shape, dtype=np.int64)
        actions[:, lay.node, lay.dim] = np.clip(q, 0, lay.cap)
        return actions


